//! A search checked and made ready: the text filters split into lower-case words, the other filters as SQL
//! conditions with their parameters. Pure: nothing here reads the database.

use super::model::{TrackError, TrackQuery, MAX_FILTER_LEN};

/// A text filter made ready: the words, as FTS5 phrases and as lower-case text for checking.
pub(super) struct TextFilter {
    pub column: &'static str,
    pub words: Vec<String>,
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
pub(super) fn phrase(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

pub(super) struct Prepared {
    pub texts: Vec<TextFilter>,
    /// SQL conditions on `m` other than the text ones, and their parameters.
    pub conditions: Vec<String>,
    pub params: Vec<rusqlite::types::Value>,
}

pub(super) fn prepare(q: &TrackQuery) -> Result<Prepared, TrackError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> TrackQuery {
        TrackQuery { page_size: 50, ..TrackQuery::default() }
    }

    #[test]
    fn filters_are_checked_and_normalised_without_the_database() {
        let refused: [(&str, TrackQuery, &str); 6] = [
            ("Subject", TrackQuery { subject: "ab".into(), ..q() }, "type at least 3 characters"),
            ("Subject", TrackQuery { subject: "x".repeat(MAX_FILTER_LEN + 1), ..q() }, "at most 256 characters"),
            ("Period", TrackQuery { from_ms: Some(2), to_ms: Some(1), ..q() }, "the start is after the end"),
            ("Source IP", TrackQuery { source_ip: "10.0.0.1; DROP".into(), ..q() }, "is not an IP address"),
            ("Risk level", TrackQuery { risk: "severe".into(), ..q() }, "choose high, medium or low"),
            ("Message ID", TrackQuery { message_id: "<a>".into(), ..q() }, "type at least 3 characters"),
        ];
        for (field, query, why) in refused {
            match prepare(&query) {
                Err(TrackError::Filter { field: f, why: w }) => {
                    assert_eq!(f, field);
                    assert!(w.contains(why), "{field}: {w}");
                }
                other => panic!("{field}: expected a refusal, got {:?}", other.map(|p| p.conditions)),
            }
        }
        let p = prepare(&TrackQuery {
            subject: "  EICAR*Zip  ".into(),
            message_id: "<mp-1.x@example.test>".into(),
            risk: " HIGH ".into(),
            source_ip: "192.0.2.".into(),
            ..q()
        })
        .unwrap();
        let words: Vec<(&str, Vec<String>)> = p.texts.iter().map(|t| (t.column, t.words.clone())).collect();
        assert_eq!(
            words,
            [
                ("subject", vec!["eicar".to_owned(), "zip".to_owned()]),
                ("message_id", vec!["mp-1.x@example.test".to_owned()])
            ],
            "wildcards split words, case folds, angle brackets go"
        );
        assert_eq!(p.conditions, ["m.source_ip >= ? AND m.source_ip < ?", "m.risk = ?"]);
        assert_eq!(p.params[2], rusqlite::types::Value::Text("high".into()));
        assert!(
            prepare(&TrackQuery { subject: " * % ".into(), ..q() }).unwrap().texts.is_empty(),
            "only wildcards: no filter"
        );
    }
}
