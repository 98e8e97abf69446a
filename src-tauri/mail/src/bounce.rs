//! Bounce reports: RFC 3464 delivery status notifications and the common non-standard formats (Postfix without
//! DSN, Exim, Exchange, qmail, Yahoo/AOL, Gmail, Sendmail). Reads who failed, whether for good, the status
//! codes, the diagnostic, the reporting MTA and the original Message-ID. Tolerant of anything; never panics.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FailedRecipient {
    pub address: String,
    /// DSN Action: failed, delayed, delivered, relayed, expanded.
    pub action: Option<String>,
    /// Enhanced status code such as `5.7.1`.
    pub status: Option<String>,
    /// The remote server's reply or the reporter's explanation.
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Bounce {
    /// Which format was recognised: `RFC 3464 DSN`, `Exim`, `Exchange`, …
    pub format: String,
    /// False for delay warnings and 4.x.x failures: the mail may still arrive.
    pub permanent: bool,
    pub recipients: Vec<FailedRecipient>,
    pub reporting_mta: Option<String>,
    /// Without angle brackets.
    pub original_message_id: Option<String>,
    pub original_subject: Option<String>,
}

impl Bounce {
    /// The first status code and diagnostic, for one-line summaries.
    pub fn summary(&self) -> String {
        let r = self.recipients.first();
        let status = r.and_then(|r| r.status.as_deref()).unwrap_or("no status code");
        let diag = r.and_then(|r| r.diagnostic.as_deref()).unwrap_or("no diagnostic given");
        let by = self.reporting_mta.as_deref().map(|m| format!(" reported by {m}")).unwrap_or_default();
        format!("{} {status}: {diag}{by}", if self.permanent { "bounced" } else { "delayed" })
    }
}

/// Reads `raw` as a bounce. `None` when it does not look like one.
pub fn parse(raw: &[u8]) -> Option<Bounce> {
    let msg = MessageParser::default().parse(raw)?;
    let subject = msg.subject().unwrap_or("").to_ascii_lowercase();
    let from = msg.from().and_then(|a| a.first()).and_then(|a| a.address.as_deref()).unwrap_or("").to_ascii_lowercase();
    let is_report = msg.content_type().is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report")));

    let mut status_block: Option<String> = None;
    let mut original: Option<String> = None;
    let mut text = String::new();
    for part in &msg.parts {
        let ct = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_default();
        let body = part_text(raw, part);
        if ct.ends_with("delivery-status") {
            status_block.get_or_insert(body);
        } else if ct == "message/rfc822" || ct == "text/rfc822-headers" || ct == "message/global" {
            original.get_or_insert(body);
        } else if let PartType::Text(t) = &part.body {
            if text.is_empty() {
                text = t.to_string();
            }
        } else if let PartType::Html(t) = &part.body {
            if text.is_empty() {
                text = strip_tags(t);
            }
        }
    }

    if let Some(block) = status_block.filter(|_| is_report) {
        let mut b = parse_dsn(&block);
        fill_original(&mut b, original.as_deref().or(Some(&text)));
        return Some(b);
    }

    let looks_like_bounce = from.starts_with("mailer-daemon")
        || from.starts_with("postmaster")
        || [
            "undeliver",
            "delivery status",
            "delivery fail",
            "failure notice",
            "returned mail",
            "delivery has failed",
            "mail delivery failed",
            "could not be delivered",
            "non remis",
            "nondeliverable",
            "delivery notification",
        ]
        .iter()
        .any(|s| subject.contains(s));
    if !looks_like_bounce {
        return None;
    }
    let mut b = parse_text(&text);
    fill_original(&mut b, original.as_deref().or(Some(&text)));
    Some(b)
}

/// The part's body as text: decoded for text parts, raw bytes for structured ones.
fn part_text(raw: &[u8], part: &mail_parser::MessagePart) -> String {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => {
            let (s, e) = (part.offset_body as usize, part.offset_end as usize);
            String::from_utf8_lossy(raw.get(s..e.min(raw.len())).unwrap_or_default()).into_owned()
        }
    }
}

fn parse_dsn(block: &str) -> Bounce {
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in unfold_lines(block) {
        if line.trim().is_empty() {
            if !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            groups.last_mut().expect("never empty").push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let field = |g: &Vec<(String, String)>, name: &str| g.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let typed = |v: Option<String>| v.map(|v| v.split_once(';').map(|(_, a)| a.trim().to_owned()).unwrap_or(v));
    let reporting_mta = groups.first().and_then(|g| typed(field(g, "reporting-mta")));
    let recipients: Vec<FailedRecipient> = groups
        .iter()
        .filter_map(|g| {
            let address = typed(field(g, "final-recipient").or_else(|| field(g, "original-recipient")))?;
            Some(FailedRecipient {
                address: address.trim_matches(['<', '>']).to_owned(),
                action: field(g, "action").map(|a| a.to_ascii_lowercase()),
                status: field(g, "status").map(|s| s.split_whitespace().next().unwrap_or("").to_owned()),
                diagnostic: typed(field(g, "diagnostic-code")),
                remote_mta: typed(field(g, "remote-mta")),
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

/// Reads the human-written formats: who failed and why, by the markers each MTA uses.
fn parse_text(text: &str) -> Bounce {
    let lower = text.to_ascii_lowercase();
    let (format, reporter_marker) = if lower.contains("this is the mail system at host") {
        ("Postfix", Some("this is the mail system at host "))
    } else if lower.contains("qmail-send program") {
        ("qmail", Some("qmail-send program at "))
    } else if lower.contains("message was created automatically by mail delivery software") {
        ("Exim", None)
    } else if lower.contains("delivery has failed to these recipients") || lower.contains("generating server:") {
        ("Exchange", Some("generating server: "))
    } else if lower.contains("sorry, we were unable to deliver your message") {
        ("Yahoo/AOL", None)
    } else if lower.contains("address not found") || lower.contains("wasn't delivered to") {
        ("Gmail", None)
    } else if lower.contains("transcript of session follows") || lower.contains("permanent fatal errors") {
        ("Sendmail", None)
    } else {
        ("unrecognised bounce text", None)
    };
    let reporting_mta = reporter_marker.and_then(|m| {
        let at = lower.find(m)? + m.len();
        let rest = &text[at..];
        let word = rest.split(|c: char| c.is_whitespace() || c == ',').next()?.trim_end_matches('.');
        (!word.is_empty()).then(|| word.to_owned())
    });

    let mut recipients: Vec<FailedRecipient> = Vec::new();
    let copy_at = [
        "below this line is a copy",
        "original message follows",
        "----- original message",
        "original message headers",
        "this is a copy of the message",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min()
    .unwrap_or(text.len());
    let report = &text[..copy_at];
    for address in failed_addresses(report) {
        if !recipients.iter().any(|r| r.address.eq_ignore_ascii_case(&address)) {
            recipients.push(FailedRecipient {
                address,
                action: Some("failed".into()),
                status: None,
                diagnostic: None,
                remote_mta: None,
            });
        }
    }
    let diagnostic = diagnostic_line(report);
    let status = diagnostic.as_deref().and_then(enhanced_status).or_else(|| enhanced_status(report));
    let temporary_words = lower[..copy_at].contains("warning only")
        || lower[..copy_at].contains("temporary")
        || lower[..copy_at].contains("will retry")
        || lower[..copy_at].contains("will keep trying")
        || lower[..copy_at].contains("delayed");
    let permanent_words = lower[..copy_at].contains("permanent") || lower[..copy_at].contains("given up");
    let permanent = match status.as_deref().and_then(|s| s.chars().next()) {
        Some('4') => false,
        Some('5') => true,
        _ => permanent_words || !temporary_words,
    };
    if recipients.is_empty() {
        recipients.push(FailedRecipient {
            address: String::new(),
            action: None,
            status: None,
            diagnostic: None,
            remote_mta: None,
        });
    }
    for r in &mut recipients {
        r.action = Some(if permanent { "failed" } else { "delayed" }.into());
        r.status = status.clone();
        r.diagnostic = diagnostic.clone();
    }
    Bounce {
        format: format.into(),
        permanent,
        recipients,
        reporting_mta,
        original_message_id: None,
        original_subject: None,
    }
}

/// Addresses the report names as failed: `<a@b>:` lines (Postfix, qmail, Yahoo), indented lines after
/// "failed:" (Exim), lines after "recipients or groups:" (Exchange), "delivered to a@b" (Gmail), and the line
/// after "fatal errors" (Sendmail).
fn failed_addresses(report: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = report.lines().collect();
    let mut after_marker = false;
    for line in &lines {
        let t = line.trim();
        let tl = t.to_ascii_lowercase();
        if tl.ends_with("failed:") || tl.contains("recipients or groups:") || tl.contains("permanent fatal errors") {
            after_marker = true;
            continue;
        }
        if let Some(rest) = t.strip_prefix('<') {
            if let Some((addr, _)) = rest.split_once(">:").or_else(|| rest.split_once('>')) {
                if is_address(addr) {
                    out.push(addr.to_owned());
                    continue;
                }
            }
        }
        if after_marker {
            let first = t.trim_matches(['<', '>']).split_whitespace().next().unwrap_or("");
            let first = first.trim_matches(['<', '>', ':']);
            if is_address(first) {
                out.push(first.to_owned());
            } else if !t.is_empty() && !out.is_empty() {
                after_marker = false;
            }
        }
        if let Some(at) = tl.find("wasn't delivered to ") {
            let rest = &t[at + "wasn't delivered to ".len()..];
            if let Some(addr) = rest.split_whitespace().next().map(|a| a.trim_matches(['<', '>', '.', ','])) {
                if is_address(addr) {
                    out.push(addr.to_owned());
                }
            }
        }
    }
    out
}

fn is_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && !domain.ends_with('.')
        }
        None => false,
    }
}

/// The line carrying the remote server's reply: it holds an SMTP code, preferring the markers MTAs use.
fn diagnostic_line(report: &str) -> Option<String> {
    let markers = [
        "said:",
        "smtp error",
        "remote server returned",
        "remote host said",
        "diagnostic-code",
        "response from the remote server",
    ];
    let unfolded = unfold_lines(report);
    let lines: Vec<&str> = unfolded.iter().map(|l| l.trim()).collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        if markers.iter().any(|m| lower.contains(m)) {
            // The reply may follow on the same line or the next ones (Exim, Gmail).
            let mut joined = line.to_string();
            for next in lines.iter().skip(i + 1).take(3) {
                if smtp_code(&joined).is_some() {
                    break;
                }
                if next.is_empty() {
                    continue;
                }
                joined.push(' ');
                joined.push_str(next);
            }
            if smtp_code(&joined).is_some() {
                return Some(reply_from(&joined));
            }
        }
    }
    lines.iter().find(|l| smtp_code(l).is_some() && enhanced_status(l).is_some()).map(|l| reply_from(l))
}

/// From the SMTP code on: "host x said: 550 5.1.1 …" → "550 5.1.1 …".
fn reply_from(line: &str) -> String {
    match smtp_code(line) {
        Some(at) => line[at..].trim().to_owned(),
        None => line.trim().to_owned(),
    }
}

/// Where a three-digit SMTP reply code (4xx/5xx) starts in `s`.
fn smtp_code(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(2)).find(|&i| {
        matches!(b[i], b'4' | b'5')
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'.')
            && b.get(i + 3).is_none_or(|c| matches!(c, b' ' | b'-' | b'\t'))
    })
}

/// The first enhanced status code (RFC 3463: class.subject.detail) in `s`.
pub fn enhanced_status(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for i in 0..b.len() {
        if !matches!(b[i], b'2' | b'4' | b'5') || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')) {
            continue;
        }
        if b.get(i + 1) != Some(&b'.') {
            continue;
        }
        let mut j = i + 2;
        let subject_start = j;
        while j < b.len() && b[j].is_ascii_digit() && j - subject_start < 3 {
            j += 1;
        }
        if j == subject_start || b.get(j) != Some(&b'.') {
            continue;
        }
        j += 1;
        let detail_start = j;
        while j < b.len() && b[j].is_ascii_digit() && j - detail_start < 3 {
            j += 1;
        }
        if j == detail_start || b.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.') {
            continue;
        }
        return Some(s[i..j].to_owned());
    }
    None
}

/// The original Message-ID and Subject: from the returned message or headers, else from the body text.
fn fill_original(b: &mut Bounce, original: Option<&str>) {
    let Some(original) = original else { return };
    for line in unfold_lines(original) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name.eq_ignore_ascii_case("message-id") && b.original_message_id.is_none() {
            let id = value.trim().trim_start_matches('<');
            let id = id.split('>').next().unwrap_or(id).trim();
            if !id.is_empty() {
                b.original_message_id = Some(id.to_owned());
            }
        } else if name.eq_ignore_ascii_case("subject") && b.original_subject.is_none() {
            b.original_subject = Some(value.trim().to_owned());
        }
    }
}

fn unfold_lines(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in s.lines() {
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            if let Some(last) = out.last_mut() {
                if !last.is_empty() {
                    last.push(' ');
                    last.push_str(line.trim());
                    continue;
                }
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_status_codes_are_found_and_versions_are_not() {
        assert_eq!(enhanced_status("550 5.1.1 user unknown").as_deref(), Some("5.1.1"));
        assert_eq!(enhanced_status("Status: 4.4.7").as_deref(), Some("4.4.7"));
        assert_eq!(enhanced_status("Postfix 3.7.10 on 192.168.1.5"), None);
        assert_eq!(enhanced_status("TLSv1.2"), None);
        assert_eq!(smtp_code("host said: 550 5.7.1 no"), Some(11));
        assert_eq!(smtp_code("port 5500 open"), None);
    }

    /// (fixture, format, permanent, failed address, status, words in the diagnostic, original Message-ID, reporter)
    type Case = (
        &'static str,
        &'static str,
        bool,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    );

    const CASES: &[Case] = &[
        (
            "dsn-postfix",
            "RFC 3464 DSN",
            true,
            "grace@example.test",
            "5.7.1",
            "refused after acceptance",
            "a1b2c3@mailproof.test",
            Some("mx.example.test"),
        ),
        (
            "dsn-delayed",
            "RFC 3464 DSN",
            false,
            "bob@remote.example",
            "4.4.1",
            "Connection timed out",
            "delayed-1@mailproof.test",
            Some("mail.example.net"),
        ),
        (
            "postfix-plain",
            "Postfix",
            true,
            "nobody@example.com",
            "5.1.1",
            "User unknown",
            "pf-plain@mailproof.test",
            Some("relay.example.org"),
        ),
        ("exim", "Exim", true, "someone@example.com", "5.7.1", "virus found", "exim-1@mailproof.test", None),
        (
            "exchange",
            "Exchange",
            true,
            "someone@contoso.example",
            "5.1.10",
            "RecipientNotFound",
            "exch-1@mailproof.test",
            Some("BN8PR12MB1234.namprd12.prod.outlook.example"),
        ),
        (
            "qmail",
            "qmail",
            true,
            "user@example.org",
            "5.1.1",
            "Recipient address rejected",
            "qmail-1@mailproof.test",
            Some("mail.example.net"),
        ),
        ("yahoo", "Yahoo/AOL", true, "ghost@yahoo.example", "", "554 delivery error", "yahoo-1@mailproof.test", None),
        ("sendmail-aol", "Sendmail", true, "lost@aol.example", "5.1.1", "User unknown", "aol-1@mailproof.test", None),
        ("gmail", "Gmail", true, "missing@example.com", "5.1.1", "does not exist", "gmail-1@mailproof.test", None),
    ];

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../tests/fixtures/bounces/{name}.eml", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn real_world_bounce_formats_are_read() {
        for &(name, format, permanent, address, status, diag, original, reporter) in CASES {
            let b = parse(&fixture(name)).unwrap_or_else(|| panic!("{name}: not recognised as a bounce"));
            assert_eq!(b.format, format, "{name}");
            assert_eq!(b.permanent, permanent, "{name}");
            let r = &b.recipients[0];
            assert_eq!(r.address, address, "{name}: {b:?}");
            assert_eq!(r.status.as_deref().unwrap_or(""), status, "{name}: {b:?}");
            assert!(r.diagnostic.as_deref().unwrap_or("").contains(diag), "{name}: {:?}", r.diagnostic);
            assert_eq!(b.original_message_id.as_deref(), Some(original), "{name}");
            assert_eq!(b.reporting_mta.as_deref(), reporter, "{name}");
        }
    }

    #[test]
    fn ordinary_mail_is_not_a_bounce_and_garbage_never_panics() {
        assert_eq!(parse(&fixture("not-a-bounce")), None);
        for raw in [&b""[..], b"From: MAILER-DAEMON\r\nSubject: failure notice\r\n\r\n<", b"\xff\xfe"] {
            let _ = parse(raw);
        }
        let b = parse(b"From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail\r\n\r\nsomething failed").unwrap();
        assert!(b.permanent);
        assert_eq!(b.format, "unrecognised bounce text");
    }
}
