//! Reading a search out of the database: the most selective index drives — an address field's, the full-text
//! index, or time — so a page costs what it shows; when nothing matches exactly, close matches are read.

use super::filter::{phrase, prepare, Prepared, TextFilter};
use super::fuzzy::{budget, candidate_trigrams, close_substring};
use super::model::{TrackDirection, TrackError, TrackEvent, TrackPage, TrackQuery, TrackStatus, TrackedRow, MAX_PAGE};
use crate::store::jobs::track_event_row;
use crate::store::Store;

/// Candidates checked for typo-tolerant matches at most (newest first); beyond that the search says so.
const FUZZY_CANDIDATES: usize = 20_000;

/// One page of matching messages, newest recorded first (the order they were logged in, which is time order),
/// with the total. The most selective index drives — an address field's, the full-text index, or time — so a
/// page costs what it shows, not what matched. When text filters match nothing exactly, close matches are
/// looked for and the page says so.
pub fn query(store: &Store, q: &TrackQuery) -> Result<TrackPage, TrackError> {
    let p = prepare(q)?;
    let page_size = q.page_size.clamp(1, MAX_PAGE);
    let offset = u64::from(q.page) * u64::from(page_size);
    let period = q.from_ms.is_some() || q.to_ms.is_some();
    {
        let conn = store.conn();
        let values = match_values(&conn, &p, false)?;
        if values.iter().all(|v| !v.values.is_empty()) {
            let page = exact(&conn, &p, &values, period, page_size, offset)?;
            if page.total > 0 || p.texts.is_empty() {
                return Ok(page);
            }
        }
    }
    close_matches(store, &p, period, page_size, offset)
}

const COLUMNS: &str = "m.id, m.message_id, m.envelope_sender, m.from_header, m.recipients, m.to_header, m.subject,
    m.source_ip, m.risk, m.status, m.received_at, m.job_action_id, g.job_id, m.verification_of, m.direction, m.actor,
    g.destination_actor_name";
const FROM: &str = "tracked_messages m LEFT JOIN job_actions a ON a.id = m.job_action_id
    LEFT JOIN job_groups g ON g.id = a.group_id";

fn row(r: &rusqlite::Row) -> rusqlite::Result<TrackedRow> {
    let status: String = r.get(9)?;
    Ok(TrackedRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        envelope_sender: r.get(2)?,
        from_header: r.get(3)?,
        recipients: r.get(4)?,
        to_header: r.get(5)?,
        subject: r.get(6)?,
        source_ip: r.get(7)?,
        risk: r.get(8)?,
        status: TrackStatus::parse(&status).unwrap_or(TrackStatus::Queued),
        received_ms: r.get(10)?,
        job_action_id: r.get(11)?,
        job_id: r.get(12)?,
        verification_of: r.get(13)?,
        direction: TrackDirection::parse(&r.get::<_, String>(14)?).unwrap_or_default(),
        actor: r.get(15)?,
        read_by: r.get(16)?,
    })
}

/// Address fields and the index (with time) of each. They are searched through their distinct values, which
/// `tracked_values` keeps with how many messages carry each.
const VALUE_COLUMNS: [(&str, &str); 4] = [
    ("recipients", "tracked_messages_recipients"),
    ("to_header", "tracked_messages_to"),
    ("envelope_sender", "tracked_messages_sender"),
    ("from_header", "tracked_messages_from"),
];

fn value_index(column: &str) -> Option<&'static str> {
    VALUE_COLUMNS.iter().find(|(c, _)| *c == column).map(|(_, i)| *i)
}

/// The distinct values of one address field that a filter matched, and how many messages carry them.
struct ValueMatch {
    column: &'static str,
    values: Vec<String>,
    messages: i64,
}

impl ValueMatch {
    /// The values as one JSON array parameter, for `IN (SELECT value FROM json_each(?))`.
    fn param(&self) -> rusqlite::types::Value {
        rusqlite::types::Value::Text(serde_json::to_string(&self.values).unwrap_or_else(|_| "[]".into()))
    }
}

/// Matches every address filter against the distinct values of its field: each word a substring, or with
/// `close`, for a filter that matches nothing exactly, within the typos a word allows.
fn match_values(conn: &rusqlite::Connection, p: &Prepared, close: bool) -> Result<Vec<ValueMatch>, TrackError> {
    let mut out = Vec::new();
    for t in p.texts.iter().filter(|t| value_index(t.column).is_some()) {
        let mut stmt = conn.prepare_cached("SELECT value, messages FROM tracked_values WHERE field = ?1")?;
        let all: Vec<(String, i64)> =
            stmt.query_map([t.column], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let lower: Vec<String> = all.iter().map(|(v, _)| v.to_lowercase()).collect();
        let pick = |hit: &dyn Fn(&str, &str) -> bool| {
            let mut m = ValueMatch { column: t.column, values: Vec::new(), messages: 0 };
            for ((value, n), low) in all.iter().zip(&lower) {
                if t.words.iter().all(|w| hit(low, w)) {
                    m.values.push(value.clone());
                    m.messages += n;
                }
            }
            m
        };
        let mut m = pick(&|low, w| low.contains(w));
        if close && m.values.is_empty() {
            m = pick(&|low, w| close_substring(low, w, budget(w)));
        }
        out.push(m);
    }
    Ok(out)
}

/// Below this many messages an address filter reads its messages through its own index; above it, rows are read
/// newest first and checked, which fills a page sooner.
const VALUE_DRIVES_BELOW: i64 = 20_000;

/// Rows the non-text filters may leave for checking words on each: more, and the full-text index drives.
const ROW_CHECKS_UP_TO: i64 = 40_000;

/// Do the non-text filters alone leave at most `ROW_CHECKS_UP_TO` rows? Counts no further than that.
fn few_rows(conn: &rusqlite::Connection, p: &Prepared) -> Result<bool, TrackError> {
    let n: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM tracked_messages m WHERE {} LIMIT {})",
            p.conditions.join(" AND "),
            ROW_CHECKS_UP_TO + 1
        ),
        rusqlite::params_from_iter(p.params.iter()),
        |r| r.get(0),
    )?;
    Ok(n <= ROW_CHECKS_UP_TO)
}

/// Exact search: every word of every free-text filter as a substring (through the full-text index, or checked
/// on the row when an address filter drives), address fields among the values `values` matched, and the other
/// conditions. Newest first, with the total.
fn exact(
    conn: &rusqlite::Connection,
    p: &Prepared,
    values: &[ValueMatch],
    period: bool,
    page_size: u32,
    offset: u64,
) -> Result<TrackPage, TrackError> {
    use rusqlite::types::Value;
    let driver = values.iter().filter(|v| v.messages <= VALUE_DRIVES_BELOW).min_by_key(|v| v.messages);
    let words = p.texts.iter().any(|t| value_index(t.column).is_none());
    // When an address index or the other filters (a period, a risk, a status) leave few rows, words are checked
    // on those rows: cheaper than collecting every message a common word matches.
    let on_rows = driver.is_some() || (words && !p.conditions.is_empty() && few_rows(conn, p)?);
    let mut conditions = p.conditions.clone();
    let mut params = p.params.clone();
    // Free-text words: the full-text expression, or checks on the row.
    let mut fts = Vec::new();
    for t in p.texts.iter().filter(|t| value_index(t.column).is_none()) {
        for w in &t.words {
            // SQLite's lower() folds ASCII only; other words keep the index's own case folding.
            if w.chars().count() < 3 || (on_rows && w.is_ascii()) {
                conditions.push(format!("instr(lower(m.{}), ?) > 0", t.column));
                params.push(Value::Text(w.clone()));
            } else {
                fts.push(format!("{} : {}", t.column, phrase(w)));
            }
        }
    }
    let fts = (!fts.is_empty()).then(|| fts.join(" AND "));
    for v in values {
        // `+` keeps the planner off this field's index unless it is the driver.
        let plus = if driver.is_some_and(|d| d.column == v.column) { "" } else { "+" };
        conditions.push(format!("{plus}m.{} IN (SELECT value FROM json_each(?))", v.column));
        params.push(v.param());
    }
    let joins = "LEFT JOIN job_actions a ON a.id = m.job_action_id LEFT JOIN job_groups g ON g.id = a.group_id";
    let by_time = "m.received_at DESC, m.id DESC";
    let (source, order, all_params): (String, &str, Vec<Value>) = match (&fts, driver) {
        (None, Some(d)) => {
            let index = value_index(d.column).unwrap_or_default();
            (format!("tracked_messages m INDEXED BY {index} {{J}} WHERE {}", conditions.join(" AND ")), by_time, params)
        }
        // A period narrows by the time index better than the words do: then the rows drive and the index answers
        // membership; otherwise the index drives, newest first.
        (Some(expr), _) if period => {
            let mut all = params;
            all.push(Value::Text(expr.clone()));
            conditions.push("m.id IN (SELECT rowid FROM tracked_search WHERE tracked_search MATCH ?)".to_owned());
            (format!("tracked_messages m {{J}} WHERE {}", conditions.join(" AND ")), by_time, all)
        }
        (Some(expr), _) => {
            let mut all = vec![Value::Text(expr.clone())];
            all.extend(params);
            let mut clause = vec!["tracked_search MATCH ?".to_owned()];
            clause.extend(conditions.iter().cloned());
            (
                format!(
                    "tracked_search JOIN tracked_messages m ON m.id = tracked_search.rowid {{J}} WHERE {}",
                    clause.join(" AND ")
                ),
                "tracked_search.rowid DESC",
                all,
            )
        }
        (None, None) => {
            let clause =
                if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
            (format!("tracked_messages m {{J}} {clause}"), by_time, params)
        }
    };
    let only_values = p.conditions.is_empty() && fts.is_none() && conditions.len() == values.len();
    let total: i64 = match (&fts, conditions.is_empty() && !period) {
        // One address filter alone: its values' counts are the total.
        _ if only_values && values.len() == 1 => values[0].messages,
        // Only words: the index counts on its own.
        (Some(expr), true) => {
            conn.query_row("SELECT count(*) FROM tracked_search WHERE tracked_search MATCH ?", [expr], |r| r.get(0))?
        }
        _ => conn.query_row(
            &format!("SELECT count(*) FROM {}", source.replace("{J}", "")),
            rusqlite::params_from_iter(all_params.iter()),
            |r| r.get(0),
        )?,
    };
    let mut rows = Vec::new();
    if total > 0 {
        let joined = source.replace("{J}", joins);
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM {joined} ORDER BY {order} LIMIT {page_size} OFFSET {offset}"))?;
        rows = stmt.query_map(rusqlite::params_from_iter(all_params.iter()), row)?.collect::<Result<_, _>>()?;
    }
    Ok(TrackPage { total: total as u64, rows, fuzzy: false, notice: None })
}

fn close_matches(
    store: &Store,
    p: &Prepared,
    period: bool,
    page_size: u32,
    offset: u64,
) -> Result<TrackPage, TrackError> {
    use rusqlite::types::Value;
    let conn = store.conn();
    let values = match_values(&conn, p, true)?;
    let empty = TrackPage { total: 0, rows: Vec::new(), fuzzy: true, notice: None };
    if values.iter().any(|v| v.values.is_empty()) {
        return Ok(empty);
    }
    let close_notice = "No exact matches. Showing close matches: a typo allowed per word.";
    let texts: Vec<&TextFilter> = p.texts.iter().filter(|t| value_index(t.column).is_none()).collect();
    if texts.is_empty() {
        // Only address filters: their close values are the whole answer.
        let page = exact(&conn, p, &values, period, page_size, offset)?;
        return Ok(TrackPage { fuzzy: true, notice: Some(close_notice.to_owned()), ..page });
    }
    // Every word needs a piece that can use the index; otherwise there is no close match to find cheaply.
    let mut fts = Vec::new();
    for t in &texts {
        for w in &t.words {
            let grams = candidate_trigrams(w);
            if grams.is_empty() {
                continue;
            }
            let any: Vec<String> = grams.iter().map(|x| format!("{} : {}", t.column, phrase(x))).collect();
            fts.push(format!("({})", any.join(" OR ")));
        }
    }
    if fts.is_empty() {
        return Ok(empty);
    }
    let mut conditions = p.conditions.clone();
    let mut params = p.params.clone();
    conditions.insert(0, "m.id IN (SELECT rowid FROM tracked_search WHERE tracked_search MATCH ?)".into());
    params.insert(0, Value::Text(fts.join(" AND ")));
    for v in &values {
        conditions.push(format!("+m.{} IN (SELECT value FROM json_each(?))", v.column));
        params.push(v.param());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE {} ORDER BY m.id DESC LIMIT {}",
        conditions.join(" AND "),
        FUZZY_CANDIDATES + 1
    ))?;
    let candidates: Vec<TrackedRow> =
        stmt.query_map(rusqlite::params_from_iter(params.iter()), row)?.collect::<Result<_, _>>()?;
    let capped = candidates.len() > FUZZY_CANDIDATES;
    let matched: Vec<TrackedRow> = candidates
        .into_iter()
        .take(FUZZY_CANDIDATES)
        .filter(|r| {
            texts.iter().all(|t| {
                let field = field_of(r, t.column).to_lowercase();
                t.words.iter().all(|w| close_substring(&field, w, budget(w)))
            })
        })
        .collect();
    let total = matched.len() as u64;
    let rows = matched.into_iter().skip(offset as usize).take(page_size as usize).collect();
    let notice = Some(if capped {
        format!(
            "No exact matches. Close matches (a typo allowed per word) among the newest {FUZZY_CANDIDATES} candidates; narrow the period to look further back."
        )
    } else {
        close_notice.to_owned()
    });
    Ok(TrackPage { total, rows, fuzzy: true, notice })
}

fn field_of<'a>(r: &'a TrackedRow, column: &str) -> &'a str {
    match column {
        "recipients" => &r.recipients,
        "to_header" => &r.to_header,
        "envelope_sender" => &r.envelope_sender,
        "from_header" => &r.from_header,
        "subject" => &r.subject,
        _ => &r.message_id,
    }
}

/// A message's processing history, in order.
pub fn history(store: &Store, id: i64) -> Result<Option<(TrackedRow, Vec<TrackEvent>)>, TrackError> {
    let conn = store.conn();
    let found = conn.query_row(&format!("SELECT {COLUMNS} FROM {FROM} WHERE m.id = ?1"), [id], row);
    let row = match found {
        Ok(r) => r,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut stmt = conn.prepare("SELECT at, kind, detail FROM message_events WHERE message = ?1 ORDER BY at, id")?;
    let events = stmt.query_map([id], track_event_row)?.collect::<Result<_, _>>()?;
    Ok(Some((row, events)))
}
