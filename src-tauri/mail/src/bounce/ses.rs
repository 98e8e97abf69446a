//! Amazon SES bounce notifications, as SNS mails them: a JSON document in the body
//! (`{"notificationType":"Bounce","bounce":{"bouncedRecipients":[{"emailAddress":…}]…}}`). Read field by field
//! rather than parsed whole, since mail relays fold its long line (Sendmail breaks it with `!` and a newline).

use super::{Bounce, FailedRecipient};

pub(super) fn parse_ses(text: &str) -> Option<Bounce> {
    let text: String = text.replace("!\r\n ", "").replace("!\n ", "");
    let mut compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Without raw message delivery, SNS wraps the notification as an escaped string in its own JSON.
    if compact.contains("\\\"notificationType\\\":\\\"Bounce\\\"") {
        compact = compact.replace("\\\"", "\"");
    }
    if !compact.contains("\"notificationType\":\"Bounce\"") {
        return None;
    }
    let list_at = compact.find("\"bouncedRecipients\":[")? + "\"bouncedRecipients\":[".len();
    let list = &compact[list_at..list_at + compact[list_at..].find(']')?];
    let recipients: Vec<FailedRecipient> = list
        .split('}')
        .filter_map(|entry| {
            let address = string_field(entry, "emailAddress")?;
            Some(FailedRecipient {
                address,
                action: string_field(entry, "action").or_else(|| Some("failed".into())),
                status: string_field(entry, "status"),
                diagnostic: string_field(entry, "diagnosticCode")
                    .map(|d| d.split_once(';').map_or(d.clone(), |(_, t)| t.trim().to_owned())),
                ..Default::default()
            })
        })
        .collect();
    if recipients.is_empty() {
        return None;
    }
    Some(Bounce {
        format: "Amazon SES notification".into(),
        permanent: string_field(&compact, "bounceType").is_none_or(|t| t != "Transient"),
        recipients,
        reporting_mta: string_field(&compact, "reportingMTA").map(|m| m.trim_start_matches("dsn; ").to_owned()),
        original_message_id: string_field(&compact, "messageId"),
        original_subject: None,
    })
}

/// The first `"name":"value"` in `json`, unescaped for the plain cases SES writes.
fn string_field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let at = json.find(&key)? + key.len();
    let rest = &json[at..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_read_even_when_a_relay_folded_its_line() {
        // The shape of AWS's documented example (docs.aws.amazon.com, SES notification contents), folded.
        let text = "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"bob@example.test\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unk!\n nown\"}],\"reportingMTA\":\"dsn; a1.smtp-out.example.test\"},\"mail\":{\"messageId\":\"0101-abc\"}}";
        let b = parse_ses(text).unwrap();
        assert!(b.permanent);
        assert_eq!(b.recipients[0].address, "bob@example.test");
        assert_eq!(b.recipients[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(b.recipients[0].diagnostic.as_deref(), Some("550 5.1.1 user unknown"));
        assert_eq!(b.reporting_mta.as_deref(), Some("a1.smtp-out.example.test"));
        assert_eq!(parse_ses("{\"notificationType\":\"Delivery\"}"), None, "a delivery notice is no bounce");
        // Inside SNS's own JSON, as a string.
        let wrapped = format!("{{\"Type\" : \"Notification\", \"Message\" : {:?}}}", text.replace("!\n ", ""));
        assert_eq!(parse_ses(&wrapped).unwrap().recipients, b.recipients);
        assert_eq!(parse_ses("{\"notificationType\":\"Bounce\",\"bouncedRecipients\":[{\"emailAddress\":\""), None);
    }
}
