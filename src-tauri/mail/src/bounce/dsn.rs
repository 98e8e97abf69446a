//! RFC 3464 delivery status blocks: one group per recipient, typed fields.

use super::words::{is_address, unfold_lines};
use super::{Bounce, FailedRecipient};

pub(super) fn parse_dsn(block: &str) -> Bounce {
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in unfold_lines(block) {
        if line.trim().is_empty() {
            if !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            // A field the group already has begins the next one: some reporters (AOL's) leave out the blank
            // line between recipients.
            if groups.last().is_some_and(|g| g.iter().any(|(n, _)| *n == name)) {
                groups.push(Vec::new());
            }
            groups.last_mut().expect("never empty").push((name, value.trim().to_owned()));
        }
    }
    let field = |g: &Vec<(String, String)>, name: &str| g.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let typed = |v: Option<String>| v.map(|v| v.split_once(';').map(|(_, a)| a.trim().to_owned()).unwrap_or(v));
    let reporting_mta = groups.first().and_then(|g| typed(field(g, "reporting-mta")));
    let recipients: Vec<FailedRecipient> = groups
        .iter()
        .filter_map(|g| {
            // The address the report failed; an Original-Recipient when the Final-Recipient is not one
            // (`rfc822; @mx.example.org`).
            let final_recipient = typed(field(g, "final-recipient"));
            let original = typed(field(g, "original-recipient"));
            let address = match (final_recipient, original) {
                (Some(f), Some(o))
                    if !is_address(f.trim_matches(['<', '>'])) && is_address(o.trim_matches(['<', '>'])) =>
                {
                    o
                }
                (Some(f), _) => f,
                (None, o) => o?,
            };
            Some(FailedRecipient {
                address: address.trim_matches(['<', '>']).to_owned(),
                action: field(g, "action").map(|a| a.to_ascii_lowercase()),
                status: field(g, "status").map(|s| s.split_whitespace().next().unwrap_or("").to_owned()),
                diagnostic: diagnostic(field(g, "diagnostic-code")),
                remote_mta: typed(field(g, "remote-mta")),
                ..Default::default()
            })
        })
        .collect();
    let permanent = recipients
        .iter()
        .any(|r| r.action.as_deref() == Some("failed") || r.status.as_deref().is_some_and(|s| s.starts_with('5')));
    Bounce {
        format: "RFC 3464 DSN".into(),
        permanent,
        recipients,
        reporting_mta,
        original_message_id: None,
        original_subject: None,
    }
}

/// A Diagnostic-Code's text: none when empty ("SMTP; " says nothing, and the report's words then say why); a
/// local delivery program's exit status (type X-Unix) in words.
fn diagnostic(value: Option<String>) -> Option<String> {
    let value = value?;
    let (kind, text) = value.split_once(';').map_or(("", value.as_str()), |(k, t)| (k.trim(), t.trim()));
    if text.is_empty() {
        return None;
    }
    if kind.eq_ignore_ascii_case("x-unix") && text.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("the local delivery program failed with exit status {text} (X-Unix; {text})"));
    }
    Some(text.to_owned())
}
