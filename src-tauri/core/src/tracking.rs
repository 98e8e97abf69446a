//! Message tracking: searching the log of every message Mailproof sent or saw, paging it, and exporting it.
//!
//! Text filters match case-insensitively as substrings of each word typed (no wildcards), so they never scan the
//! table: the free-text fields (subject, Message-ID) through a trigram full-text index, the address fields
//! through their distinct values (few: mostly profile addresses), each with an index with time. When nothing
//! matches exactly, the search is repeated allowing one typo per word (two for words of eight letters or more)
//! and says so.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// The most rows an export writes.
pub const EXPORT_CAP: u64 = 50_000;
/// The largest page.
pub const MAX_PAGE: u32 = 1_000;
/// Longest text accepted in a filter.
pub const MAX_FILTER_LEN: usize = 256;
/// Candidates checked for typo-tolerant matches at most (newest first); beyond that the search says so.
const FUZZY_CANDIDATES: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum TrackStatus {
    Queued,
    Delivered,
    DeliveredToJunk,
    Unsuccessful,
    NotReceived,
    Modified,
    Deleted,
}

impl TrackStatus {
    pub const ALL: [TrackStatus; 7] = [
        TrackStatus::Queued,
        TrackStatus::Delivered,
        TrackStatus::DeliveredToJunk,
        TrackStatus::Unsuccessful,
        TrackStatus::NotReceived,
        TrackStatus::Modified,
        TrackStatus::Deleted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TrackStatus::Queued => "queued",
            TrackStatus::Delivered => "delivered",
            TrackStatus::DeliveredToJunk => "deliveredToJunk",
            TrackStatus::Unsuccessful => "unsuccessful",
            TrackStatus::NotReceived => "notReceived",
            TrackStatus::Modified => "modified",
            TrackStatus::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<TrackStatus> {
        TrackStatus::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
    pub fn label(self) -> &'static str {
        match self {
            TrackStatus::Queued => "Queued for delivery",
            TrackStatus::Delivered => "Delivered",
            TrackStatus::DeliveredToJunk => "Delivered to Junk",
            TrackStatus::Unsuccessful => "Delivery unsuccessful",
            TrackStatus::NotReceived => "Not received",
            TrackStatus::Modified => "Modified",
            TrackStatus::Deleted => "Deleted",
        }
    }
}

/// A search. Empty strings mean "no filter"; times are Unix milliseconds, UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct TrackQuery {
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub from_ms: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub to_ms: Option<i64>,
    /// One envelope recipient.
    pub recipient: String,
    pub to: String,
    /// The envelope sender.
    pub sender: String,
    /// The From header.
    pub from: String,
    pub subject: String,
    pub message_id: String,
    /// An address or its beginning (e.g. `192.0.2.`).
    pub source_ip: String,
    /// `high`, `medium`, `low`, or empty for all.
    pub risk: String,
    /// Any of these latest statuses; empty for all.
    pub statuses: Vec<TrackStatus>,
    /// From 0.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackedRow {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub id: i64,
    pub message_id: String,
    pub envelope_sender: String,
    pub from_header: String,
    pub recipients: String,
    pub to_header: String,
    pub subject: String,
    pub source_ip: Option<String>,
    pub risk: Option<String>,
    pub status: TrackStatus,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub received_ms: i64,
    pub job_action_id: Option<String>,
    pub job_id: Option<String>,
    pub verification_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackPage {
    /// Every matching message (not only this page's).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub total: u64,
    pub rows: Vec<TrackedRow>,
    /// Nothing matched exactly: these are close matches, one typo allowed per word.
    pub fuzzy: bool,
    /// Something the user should know about the search, in words.
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackEvent {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub at_ms: i64,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("{field}: {why}")]
    Filter { field: &'static str, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for TrackError {
    fn from(e: rusqlite::Error) -> Self {
        TrackError::Store(e.into())
    }
}

/// A text filter made ready: the words, as FTS5 phrases and as lower-case text for checking.
struct TextFilter {
    column: &'static str,
    words: Vec<String>,
}

fn text_filter(field: &'static str, column: &'static str, raw: &str) -> Result<Option<TextFilter>, TrackError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_FILTER_LEN {
        return Err(TrackError::Filter { field, why: format!("at most {MAX_FILTER_LEN} characters") });
    }
    let words: Vec<String> = raw
        .split(|c: char| c.is_whitespace() || c == '*' || c == '%')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Ok(None);
    }
    if words.iter().all(|w| w.chars().count() < 3) {
        return Err(TrackError::Filter { field, why: "type at least 3 characters".into() });
    }
    Ok(Some(TextFilter { column, words }))
}

/// An FTS5 phrase for `word`: quoted, inner quotes doubled.
fn phrase(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

struct Prepared {
    texts: Vec<TextFilter>,
    /// SQL conditions on `m` other than the text ones, and their parameters.
    conditions: Vec<String>,
    params: Vec<rusqlite::types::Value>,
}

fn prepare(q: &TrackQuery) -> Result<Prepared, TrackError> {
    use rusqlite::types::Value;
    let mut texts = Vec::new();
    for (field, column, raw) in [
        ("Recipients", "recipients", &q.recipient),
        ("To", "to_header", &q.to),
        ("Sender", "envelope_sender", &q.sender),
        ("From", "from_header", &q.from),
        ("Subject", "subject", &q.subject),
        ("Message ID", "message_id", &q.message_id),
    ] {
        // Message-IDs are stored without their angle brackets; people paste them with.
        let raw = if column == "message_id" { raw.trim().trim_start_matches('<').trim_end_matches('>') } else { raw };
        if let Some(t) = text_filter(field, column, raw)? {
            texts.push(t);
        }
    }
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let (Some(from), Some(to)) = (q.from_ms, q.to_ms) {
        if from > to {
            return Err(TrackError::Filter { field: "Period", why: "the start is after the end".into() });
        }
    }
    if let Some(from) = q.from_ms {
        conditions.push("m.received_at >= ?".into());
        params.push(Value::Integer(from));
    }
    if let Some(to) = q.to_ms {
        conditions.push("m.received_at < ?".into());
        params.push(Value::Integer(to));
    }
    let ip = q.source_ip.trim();
    if !ip.is_empty() {
        if ip.len() > 45 || !ip.chars().all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':') {
            return Err(TrackError::Filter {
                field: "Source IP",
                why: format!("\"{}\" is not an IP address or the beginning of one", truncate(ip, 40)),
            });
        }
        // A prefix range keeps this on the index.
        conditions.push("m.source_ip >= ? AND m.source_ip < ?".into());
        params.push(Value::Text(ip.to_owned()));
        params.push(Value::Text(format!("{ip}\u{10FFFF}")));
    }
    let risk = q.risk.trim().to_ascii_lowercase();
    if !risk.is_empty() {
        if !["high", "medium", "low"].contains(&risk.as_str()) {
            return Err(TrackError::Filter { field: "Risk level", why: "choose high, medium or low".into() });
        }
        conditions.push("m.risk = ?".into());
        params.push(Value::Text(risk));
    }
    if !q.statuses.is_empty() {
        conditions.push(format!("m.status IN ({})", vec!["?"; q.statuses.len()].join(", ")));
        params.extend(q.statuses.iter().map(|s| Value::Text(s.as_str().to_owned())));
    }
    Ok(Prepared { texts, conditions, params })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

const COLUMNS: &str = "m.id, m.message_id, m.envelope_sender, m.from_header, m.recipients, m.to_header, m.subject,
    m.source_ip, m.risk, m.status, m.received_at, m.job_action_id, g.job_id, m.verification_of";
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
    fuzzy(store, &p, period, page_size, offset)
}

/// Allowed typos for a word.
fn budget(word: &str) -> usize {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Candidate trigrams for a word typed with a typo: its own, and for words of up to eight letters those of
/// each neighbour swap and each single deletion (the intended word's trigrams when the typo was a swap or an
/// extra letter). A row holding none of them is not a close match in practice.
fn candidate_trigrams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut variants = vec![chars.clone()];
    if chars.len() <= 8 {
        for i in 0..chars.len().saturating_sub(1) {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            variants.push(v);
        }
        for i in 0..chars.len() {
            let mut v = chars.clone();
            v.remove(i);
            variants.push(v);
        }
    }
    let mut out: Vec<String> =
        variants.iter().flat_map(|v| v.windows(3).map(|w| w.iter().collect::<String>())).collect();
    out.sort();
    out.dedup();
    out
}

fn fuzzy(store: &Store, p: &Prepared, period: bool, page_size: u32, offset: u64) -> Result<TrackPage, TrackError> {
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

/// Does `text` hold a substring within `k` edits of `pattern`? Edits are insertions, deletions, substitutions
/// and swaps of neighbours (Sellers' algorithm with transpositions: a free start and end in `text`).
pub fn close_substring(text: &str, pattern: &str, k: usize) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    if p.len() <= k {
        return true;
    }
    let m = p.len();
    let mut before: Vec<usize> = (0..=m).collect();
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0; m + 1];
    let mut last: Option<char> = None;
    for c in text.chars() {
        cur[0] = 0;
        for j in 1..=m {
            let cost = usize::from(p[j - 1] != c);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if j > 1 && last == Some(p[j - 1]) && c == p[j - 2] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        if cur[m] <= k {
            return true;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
        last = Some(c);
    }
    false
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
    let events = stmt
        .query_map([id], |r| Ok(TrackEvent { at_ms: r.get(0)?, kind: r.get(1)?, detail: r.get(2)? }))?
        .collect::<Result<_, _>>()?;
    Ok(Some((row, events)))
}

/// How an export went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ExportOutcome {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub written: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub total: u64,
    /// More matched than the cap: only the first `EXPORT_CAP` (newest) were written.
    pub capped: bool,
}

/// Writes the query's matches (newest first, at most `EXPORT_CAP`) as CSV with a header row. Times are UTC
/// (RFC 3339). Cells that a spreadsheet would run as formulas are prefixed with `'`.
pub fn export_csv(store: &Store, q: &TrackQuery, out: &mut dyn Write) -> Result<ExportOutcome, TrackError> {
    let io = |e: std::io::Error| TrackError::Filter { field: "Export", why: format!("cannot write: {e}") };
    let mut all = q.clone();
    all.page = 0;
    all.page_size = MAX_PAGE;
    let first = query(store, &all)?;
    let total = first.total;
    let mut w = std::io::BufWriter::new(out);
    writeln!(
        w,
        "received_utc,message_id,envelope_sender,from,recipients,to,subject,source_ip,risk,latest_status,job_id"
    )
    .map_err(io)?;
    let mut written = 0u64;
    let mut page = first;
    loop {
        for r in &page.rows {
            if written >= EXPORT_CAP {
                break;
            }
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.received_ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default();
            let cells = [
                at.as_str(),
                &r.message_id,
                &r.envelope_sender,
                &r.from_header,
                &r.recipients,
                &r.to_header,
                &r.subject,
                r.source_ip.as_deref().unwrap_or(""),
                r.risk.as_deref().unwrap_or(""),
                r.status.label(),
                r.job_id.as_deref().unwrap_or(""),
            ];
            writeln!(w, "{}", crate::csv::row(&cells)).map_err(io)?;
            written += 1;
        }
        if written >= EXPORT_CAP || written >= total || page.rows.is_empty() {
            break;
        }
        all.page += 1;
        page = query(store, &all)?;
    }
    w.flush().map_err(io)?;
    Ok(ExportOutcome { written, total, capped: total > EXPORT_CAP })
}

/// Writes the export to a file at `path`; on failure no partial file is left behind.
pub fn export_csv_to(store: &Store, q: &TrackQuery, path: &std::path::Path) -> Result<ExportOutcome, TrackError> {
    let mut file = std::fs::File::create(path).map_err(|e| TrackError::Filter {
        field: "Export",
        why: format!("cannot create {}: {e}. Choose a folder you can write to.", path.display()),
    })?;
    let outcome = export_csv(store, q, &mut file);
    if outcome.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_substrings_allow_the_given_typos() {
        assert!(close_substring("eicar inside a zip", "eicar", 0));
        assert!(close_substring("eicar inside a zip", "eicra", 1), "a swap is one typo");
        assert!(close_substring("eicar inside a zip", "ecar", 1));
        assert!(close_substring("eicar inside a zip", "insdie", 1));
        assert!(close_substring("eicar inside a zip", "insxde", 1));
        assert!(!close_substring("eicar inside a zip", "gtube", 1));
        assert!(!close_substring("eicar inside a zip", "eixxr", 1));
        assert!(candidate_trigrams("crad").contains(&"car".to_owned()), "a swap's trigrams are candidates");
        assert!(candidate_trigrams("carrd").contains(&"ard".to_owned()), "a deletion's trigrams are candidates");
    }

    use crate::store::jobs::SeedTracked;

    const T0: i64 = 1_790_000_000_000; // 2026-09-21, UTC

    fn seed(store: &Store, n: usize) {
        let subjects =
            ["EICAR inside a zip", "GTUBE spam test string", "Payment card numbers", "Mailproof verification"];
        let statuses = ["delivered", "deliveredToJunk", "unsuccessful", "notReceived", "modified"];
        let risks = [Some("high"), Some("medium"), Some("low"), None];
        let mut rows = (0..n).map(|i| SeedTracked {
            message_id: format!("mp-{i:012}.x@example.test"),
            envelope_sender: format!("sender{}@example.test", i % 3),
            from_header: format!("From Person {} <from{}@example.test>", i % 5, i % 5),
            recipients: format!("rcpt{}@example.test", i % 7),
            to_header: format!("to{}@example.test", i % 7),
            subject: format!("[MP-{i:012}] {} ({i})", subjects[i % subjects.len()]),
            source_ip: Some(format!("192.0.2.{}", i % 250)),
            risk: risks[i % risks.len()],
            status: statuses[i % statuses.len()],
            received_ms: T0 + (i as i64) * 60_000,
        });
        store.seed_tracked(&mut rows).unwrap();
    }

    fn q() -> TrackQuery {
        TrackQuery { page_size: 50, ..TrackQuery::default() }
    }

    fn total(store: &Store, q: &TrackQuery) -> u64 {
        query(store, q).unwrap().total
    }

    #[test]
    fn every_filter_narrows_and_they_combine() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 420);
        assert_eq!(total(&store, &q()), 420);
        assert_eq!(total(&store, &TrackQuery { recipient: "RCPT3@example".into(), ..q() }), 60);
        assert_eq!(total(&store, &TrackQuery { to: "to3@".into(), ..q() }), 60);
        assert_eq!(total(&store, &TrackQuery { sender: "sender1".into(), ..q() }), 140);
        assert_eq!(total(&store, &TrackQuery { from: "person 2".into(), ..q() }), 84);
        assert_eq!(total(&store, &TrackQuery { subject: "eicar".into(), ..q() }), 105);
        assert_eq!(total(&store, &TrackQuery { subject: "zip EICAR".into(), ..q() }), 105, "words in any order");
        assert_eq!(total(&store, &TrackQuery { message_id: "mp-000000000007.".into(), ..q() }), 1);
        let whole = TrackQuery { message_id: "<mp-000000000007.x@example.test>".into(), ..q() };
        let page = query(&store, &whole).unwrap();
        assert_eq!((page.total, page.fuzzy), (1, false), "a whole Message-ID, brackets and all");
        let bare = TrackQuery { message_id: "mp-000000000007.x@example.test".into(), ..q() };
        assert!(!query(&store, &bare).unwrap().fuzzy);
        assert_eq!(total(&store, &TrackQuery { source_ip: "192.0.2.17".into(), ..q() }), 12, "17 and 170..179 twice");
        assert_eq!(total(&store, &TrackQuery { source_ip: "192.0.2.170".into(), ..q() }), 1);
        assert_eq!(total(&store, &TrackQuery { risk: "high".into(), ..q() }), 105);
        assert_eq!(
            total(&store, &TrackQuery { statuses: vec![TrackStatus::Delivered, TrackStatus::Modified], ..q() }),
            168
        );
        assert_eq!(total(&store, &TrackQuery { from_ms: Some(T0), to_ms: Some(T0 + 60 * 60_000), ..q() }), 60);
        // Combined: EICAR (i % 4 == 0), high risk (i % 4 == 0), delivered (i % 5 == 0), first 200 minutes.
        let combo = TrackQuery {
            subject: "eicar".into(),
            risk: "high".into(),
            statuses: vec![TrackStatus::Delivered],
            from_ms: Some(T0),
            to_ms: Some(T0 + 200 * 60_000),
            ..q()
        };
        assert_eq!(total(&store, &combo), 10);
        let page = query(&store, &combo).unwrap();
        assert!(page.rows.windows(2).all(|w| w[0].received_ms >= w[1].received_ms), "newest first");
        assert!(!page.fuzzy);
    }

    #[test]
    fn a_typo_finds_close_matches_and_says_so() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 40);
        let page = query(&store, &TrackQuery { subject: "eicra".into(), ..q() }).unwrap();
        assert!(page.fuzzy);
        assert_eq!(page.total, 10);
        assert!(page.rows.iter().all(|r| r.subject.contains("EICAR")));
        assert!(page.notice.unwrap().contains("close matches"));
        let page = query(&store, &TrackQuery { subject: "payment crad".into(), ..q() }).unwrap();
        assert_eq!((page.fuzzy, page.total), (true, 10));
        let none = query(&store, &TrackQuery { subject: "quarantine".into(), ..q() }).unwrap();
        assert_eq!(none.total, 0);
    }

    #[test]
    fn address_filters_read_their_own_index_and_combine_with_words() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 420);
        // rcpt3 is i % 7 == 3; EICAR is i % 4 == 0: i % 28 == 24.
        let both = TrackQuery { recipient: "rcpt3".into(), subject: "eicar zip".into(), ..q() };
        let page = query(&store, &both).unwrap();
        assert_eq!((page.total, page.fuzzy), (15, false));
        assert!(page.rows.iter().all(|r| r.recipients == "rcpt3@example.test" && r.subject.contains("EICAR")));
        assert!(page.rows.windows(2).all(|w| w[0].received_ms >= w[1].received_ms), "newest first");
        let period = TrackQuery { from_ms: Some(T0), to_ms: Some(T0 + 28 * 60_000), ..both.clone() };
        assert_eq!(total(&store, &period), 1);
        // Two address fields and a short word: sender1 is i % 3 == 1, "Person 2" is i % 5 == 2.
        let two = TrackQuery { sender: "sender1@".into(), from: "person 2".into(), ..q() };
        assert_eq!(total(&store, &two), 28);
        // An address with a typo finds its close values.
        let typo = query(&store, &TrackQuery { recipient: "@exmaple.test".into(), ..q() }).unwrap();
        assert_eq!((typo.total, typo.fuzzy), (420, true));
        let none = query(&store, &TrackQuery { recipient: "@elsewhere.test".into(), ..q() }).unwrap();
        assert_eq!((none.total, none.fuzzy), (0, true));
        // A typo in the subject while the address matches exactly.
        let mixed = query(&store, &TrackQuery { recipient: "rcpt3@".into(), subject: "eicra".into(), ..q() }).unwrap();
        assert_eq!((mixed.total, mixed.fuzzy), (15, true));
    }

    #[test]
    fn distinct_values_follow_inserts_updates_and_deletes() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 14);
        let count = |field: &str, value: &str| -> i64 {
            store
                .conn()
                .query_row(
                    "SELECT coalesce(sum(messages), 0) FROM tracked_values WHERE field = ?1 AND value = ?2",
                    [field, value],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(count("recipients", "rcpt0@example.test"), 2);
        store
            .conn()
            .execute(
                "UPDATE tracked_messages SET recipients = 'new@example.test' WHERE message_id LIKE 'mp-000000000000%'",
                [],
            )
            .unwrap();
        assert_eq!((count("recipients", "rcpt0@example.test"), count("recipients", "new@example.test")), (1, 1));
        assert_eq!(total(&store, &TrackQuery { recipient: "new@".into(), ..q() }), 1);
        store.conn().execute("DELETE FROM tracked_messages WHERE recipients = 'new@example.test'", []).unwrap();
        assert_eq!(count("recipients", "new@example.test"), 0);
        assert_eq!(total(&store, &TrackQuery { recipient: "new@".into(), ..q() }), 0);
        assert_eq!(count("envelope_sender", "sender0@example.test"), 4, "one of five left");
    }

    #[test]
    fn words_match_alike_whether_the_index_or_the_rows_drive() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 40);
        let mut rows = (0..2).map(|i| SeedTracked {
            message_id: format!("umlaut-{i}@example.test"),
            envelope_sender: "a@example.test".into(),
            from_header: "a@example.test".into(),
            recipients: "b@example.test".into(),
            to_header: "b@example.test".into(),
            subject: "ÄRGER mit der Zip-Datei".into(),
            source_ip: None,
            risk: Some("high"),
            status: "delivered",
            received_ms: T0 + 100 * 60_000 + i,
        });
        store.seed_tracked(&mut rows).unwrap();
        let period = (Some(T0 + 99 * 60_000), Some(T0 + 101 * 60_000));
        for (from_ms, to_ms) in [(None, None), period] {
            // A period leaves few rows (words checked on them); without it the index drives.
            let q = |subject: &str| TrackQuery { subject: subject.into(), from_ms, to_ms, ..q() };
            assert_eq!(total(&store, &q("ärger zip-datei")), 2, "{from_ms:?}");
            assert_eq!(total(&store, &q("ZIP-DATEI")), 2, "{from_ms:?}");
        }
    }

    #[test]
    fn pages_cover_the_result_exactly() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 105);
        let page = |n, size| query(&store, &TrackQuery { page: n, page_size: size, ..q() }).unwrap();
        assert_eq!(page(0, 50).rows.len(), 50);
        assert_eq!(page(2, 50).rows.len(), 5);
        assert_eq!(page(3, 50).rows.len(), 0);
        assert_eq!(page(3, 50).total, 105);
        assert_eq!(page(0, 0).rows.len(), 1, "a page holds at least one row");
        assert_eq!(page(0, 100_000).rows.len(), 105, "the page size is capped at MAX_PAGE, above 105");
        let mut ids: Vec<i64> = (0..3).flat_map(|n| page(n, 50).rows.into_iter().map(|r| r.id)).collect();
        ids.dedup();
        assert_eq!(ids.len(), 105, "no row twice, none left out");
    }

    #[test]
    fn periods_across_a_dst_change_are_plain_utc_ranges() {
        // Europe's 2026 spring change: 29 March 01:00 UTC. Local 00:00 → 04:00 (CET → CEST) is 3 h, not 4.
        let store = Store::open_in_memory().unwrap();
        let change = 1_774_746_000_000; // 2026-03-29T01:00:00Z
        let mut rows = (0..8).map(|i| SeedTracked {
            message_id: format!("dst-{i}@example.test"),
            envelope_sender: "a@example.test".into(),
            from_header: "a@example.test".into(),
            recipients: "b@example.test".into(),
            to_header: "b@example.test".into(),
            subject: format!("hour {i}"),
            source_ip: None,
            risk: None,
            status: "delivered",
            received_ms: change - 4 * 3_600_000 + i * 3_600_000,
        });
        store.seed_tracked(&mut rows).unwrap();
        // Local 2026-03-29 00:00 CET = 03-28T23:00Z; local 04:00 CEST = 03-29T02:00Z.
        let from = change - 2 * 3_600_000;
        let to = change + 3_600_000;
        assert_eq!(total(&store, &TrackQuery { from_ms: Some(from), to_ms: Some(to), ..q() }), 3);
    }

    #[test]
    fn bad_input_is_explained_never_scanned() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 10);
        let err = |q: TrackQuery| query(&store, &q).unwrap_err().to_string();
        assert!(err(TrackQuery { subject: "x".repeat(10_000), ..q() }).contains("at most 256"));
        assert!(err(TrackQuery { subject: "ab".into(), ..q() }).contains("at least 3"));
        assert!(err(TrackQuery { source_ip: "alice@example.test".into(), ..q() }).contains("not an IP address"));
        assert!(err(TrackQuery { risk: "severe".into(), ..q() }).contains("high, medium or low"));
        assert!(err(TrackQuery { from_ms: Some(10), to_ms: Some(5), ..q() }).contains("start is after the end"));
        // Wildcards and FTS syntax are just text.
        assert_eq!(total(&store, &TrackQuery { subject: "\"eicar* OR NEAR(".into(), ..q() }), 0);
        assert!(query(&store, &TrackQuery { subject: "eicar*".into(), ..q() }).unwrap().total > 0);
        // An address typed into the Subject field just finds nothing.
        assert_eq!(total(&store, &TrackQuery { subject: "rcpt1@example.test".into(), ..q() }), 0);
    }

    #[test]
    fn exports_are_capped_at_fifty_thousand_rows_and_say_so() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, EXPORT_CAP as usize + 7);
        let mut out = Vec::new();
        let outcome = export_csv(&store, &q(), &mut out).unwrap();
        assert_eq!(outcome, ExportOutcome { written: EXPORT_CAP, total: EXPORT_CAP + 7, capped: true });
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count() as u64, EXPORT_CAP + 1);
        assert!(text.starts_with("received_utc,message_id,"));
        let mut small = Vec::new();
        let outcome =
            export_csv(&store, &TrackQuery { message_id: "mp-000000000003.".into(), ..q() }, &mut small).unwrap();
        assert_eq!((outcome.written, outcome.capped), (1, false));
        let line = String::from_utf8(small).unwrap().lines().nth(1).unwrap().to_owned();
        assert!(line.contains("2026-09-21T") && line.contains("mp-000000000003.x@example.test"), "{line}");
    }
}
