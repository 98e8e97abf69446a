//! Bounce reports: RFC 3464 delivery status notifications (dsn.rs), the same fields written into a text, the
//! X-Failed-Recipients header, and the human-written formats of many mail systems (text.rs: Postfix without DSN,
//! Exim, Exchange, qmail, Yahoo/AOL, Gmail, Sendmail, OpenSMTPD, Zoho …). Reads who failed, whether for good, the
//! status codes, the diagnostic, the reporting MTA and the original Message-ID. Tolerant of anything; never panics.
//! Measured against real bounces by `cargo test -p mailproof-tests --test bounce_corpus -- --nocapture`.

mod dsn;
mod reason;
mod ses;
mod text;
mod words;

use std::borrow::Cow;

use mail_parser::{MimeHeaders, PartType};

use dsn::parse_dsn;
pub use reason::{classify, Reason, ReasonClass};
use serde::{Deserialize, Serialize};
use text::parse_text;
pub use words::enhanced_status;
use words::{is_address, strip_tags, unfold_lines};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Why, from the status code, the reply and the words (`bounce::classify`).
    #[serde(default)]
    pub reason: Reason,
    /// Whether a defence refused it or it never met one.
    #[serde(default)]
    pub reason_class: ReasonClass,
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

    /// The reason of the first failed recipient (a test message has one).
    pub fn reason(&self) -> Reason {
        self.recipients.first().map_or(Reason::Undefined, |r| r.reason)
    }
}

/// Reads `raw` as a bounce. `None` when it does not look like one.
pub fn parse(raw: &[u8]) -> Option<Bounce> {
    let (mut b, text, more) = read(raw)?;
    // Without a diagnostic, the report's own words say why — not the returned message after them.
    let report = &text[..text::copy_start(&text)];
    let report = &jis(report);
    for r in &mut b.recipients {
        if let Some(d) = r.diagnostic.as_mut() {
            if let Cow::Owned(decoded) = jis(d) {
                *d = decoded;
            }
        }
        let said = r.diagnostic.as_deref().unwrap_or(report);
        // "Expired" (X.4.7) is the reporter giving up; the remote server's last reply says why it kept refusing.
        let expired = r.status.as_deref().is_some_and(|s| s.ends_with(".4.7"));
        let own = if expired { words::enhanced_status(said) } else { None };
        r.reason = classify(own.as_deref().or(r.status.as_deref()), said);
        if r.reason == Reason::Undefined && r.diagnostic.is_none() && !more.is_empty() {
            r.reason = classify(r.status.as_deref(), &more[..text::copy_start(&more)]);
        }
        // A final failure with a transient code (RFC 3464: the retries ran out) says the message expired.
        let failed = r.action.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("failed"));
        if r.reason == Reason::Undefined && failed && r.status.as_deref().is_some_and(|s| s.starts_with("4.")) {
            r.reason = Reason::Expired;
        }
        r.reason_class = r.reason.class();
    }
    Some(b)
}

/// Text a Japanese mail system wrote in ISO-2022-JP without saying so (Domino's and Notes' reports): decoded,
/// so its words can be read. Any other text comes back as it is.
fn jis(text: &str) -> Cow<'_, str> {
    match mail_parser::decoders::charsets::map::charset_decoder(b"iso-2022-jp") {
        Some(decode) if text.contains("\u{1b}$B") => Cow::Owned(decode(text.as_bytes())),
        _ => Cow::Borrowed(text),
    }
}

/// The bounce as read, and its human-readable text (what classifies a failure without a diagnostic).
/// Also the report's further text parts (a gateway's notice above the mail server's own report, as InterScan
/// sends it), read for why only when the first says nothing.
fn read(raw: &[u8]) -> Option<(Bounce, String, String)> {
    let msg = crate::message::parse_mime(raw)?;
    let subject = msg.subject().unwrap_or("").to_ascii_lowercase();
    // A bare `From: mailer-daemon` is read as a name without an address.
    let from = msg.from().and_then(|a| a.first()).and_then(|a| a.address.as_deref().or(a.name.as_deref()));
    let from = from.unwrap_or("").to_ascii_lowercase();
    let is_report = msg.content_type().is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report")));
    // Exim, Gmail and Google Groups name the failed recipients in a header of their own.
    let x_failed: Vec<String> = msg
        .header_values("X-Failed-Recipients")
        .filter_map(|v| v.as_text())
        .flat_map(|v| v.split(',').map(|a| a.trim().trim_matches(['<', '>']).to_owned()).collect::<Vec<_>>())
        .filter(|a| is_address(a))
        .collect();

    let mut status_block: Option<String> = None;
    let mut original: Option<String> = None;
    let mut text = String::new();
    let mut more = String::new();
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
            } else if original.is_none() {
                more.push_str(t);
                more.push('\n');
            }
        } else if let PartType::Html(t) = &part.body {
            if text.is_empty() {
                text = strip_tags(t);
            }
        }
    }

    // A gateway that returns the mail server's own bounce as the attached message (InterScan): that report's
    // words are the further text.
    if more.is_empty() {
        if let Some(o) = original.as_deref().filter(|o| {
            let lower = o.to_ascii_lowercase();
            lower.contains("session follows") || lower.contains("permanent fatal errors")
        }) {
            // Its words, after its own header.
            let body = o.find("\r\n\r\n").map(|i| i + 4).or_else(|| o.find("\n\n").map(|i| i + 2));
            more = o[body.unwrap_or(0)..].to_owned();
        }
    }
    // A part the parser could not take apart (a boundary parameter not folded as a header continuation, as
    // Verizon's gateways write it) leaves no text: the body as it stands is read instead.
    if text.trim().is_empty() {
        if let Some(root) = msg.parts.first() {
            text = part_text(raw, root);
        }
    }
    if let Some(block) = status_block.filter(|_| is_report) {
        let mut b = parse_dsn(&block);
        // A DSN without recipient fields (Postfix's, cut short), or whose one recipient is not an address
        // (Sendmail's "permanent fatal errors" above a broken Final-Recipient): the report's text, or the
        // returned message's recipients, say who failed.
        let broken = matches!(&b.recipients[..], [only] if !is_address(&only.address));
        if b.recipients.is_empty() || broken {
            let read = parse_text(&text, original.as_deref());
            let named: Vec<FailedRecipient> = read.recipients.into_iter().filter(|r| is_address(&r.address)).collect();
            match (&mut b.recipients[..], &named[..]) {
                ([], _) => (b.recipients, b.permanent) = (named, read.permanent),
                ([only], [one]) => only.address = one.address.clone(),
                _ => {}
            }
        }
        fill_original(&mut b, original.as_deref().or(Some(&text)));
        return Some((b, text, more));
    }

    if let Some(b) = ses::parse_ses(&text) {
        return Some((b, text, more));
    }
    let looks_like_bounce = from.starts_with("mailer-daemon")
        || from.starts_with("postmaster")
        // Verizon's gateways sign as post_master, under a "Re:" subject.
        || from.starts_with("post_master")
        || !x_failed.is_empty()
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
        .any(|s| subject.contains(s))
        // A notice in the recipient's language (au one net's), saying so in English beside the returned message.
        || (original.is_some() && text.to_ascii_lowercase().contains("could not be delivered to:"));
    if !looks_like_bounce {
        return None;
    }
    let mut b = parse_text(&text, original.as_deref());
    // A delivery-status block written into the text (Amazon WorkMail and SES, some gateways): its recipients and
    // codes are the machine-readable ones.
    if let Some(at) = text.to_ascii_lowercase().find("final-recipient:") {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let start = text[..line_start].rfind("\n\n").map_or(0, |i| i + 2);
        let dsn = parse_dsn(&text[start..]);
        if !dsn.recipients.is_empty() {
            b = Bounce { format: format!("{} (delivery status in the text)", b.format), ..dsn };
        }
    }
    if !x_failed.is_empty() {
        let known = std::mem::take(&mut b.recipients);
        let template = known.first().cloned();
        b.recipients = x_failed
            .iter()
            .map(|a| {
                known.iter().find(|r| r.address.eq_ignore_ascii_case(a)).cloned().unwrap_or_else(|| FailedRecipient {
                    address: a.clone(),
                    ..template.clone().unwrap_or(FailedRecipient {
                        address: String::new(),
                        action: Some("failed".into()),
                        status: None,
                        diagnostic: None,
                        remote_mta: None,
                        reason: Reason::Undefined,
                        reason_class: ReasonClass::Unknown,
                    })
                })
            })
            .collect();
    }
    fill_original(&mut b, original.as_deref().or(Some(&text)));
    Some((b, text, more))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn sendmail_transcript_lines_give_each_recipient_its_own_reply() {
        let raw = b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.test>\r\nSubject: Returned mail: \
            see transcript for details\r\n\r\n   ----- Transcript of session follows -----\r\n\
            550 5.1.1 <bob@example.test>... User unknown\r\n\
            554 <carol@example.org>... 550 Host unknown (Authoritative answer from name server)\r\n\r\n\
            \x20  ----- Original message follows -----\r\nTo: dan@example.test\r\n";
        let b = parse(raw).unwrap();
        let got: Vec<_> = b.recipients.iter().map(|r| (r.address.as_str(), r.reason)).collect();
        assert_eq!(got, [("bob@example.test", Reason::UserUnknown), ("carol@example.org", Reason::HostUnknown)]);
        assert_eq!(b.recipients[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            b.recipients[1].diagnostic.as_deref(),
            Some("550 Host unknown (Authoritative answer from name server)")
        );
    }

    /// A DSN of one recipient with these per-recipient fields, as RFC 3464 lays it out.
    fn dsn(fields: &str) -> Vec<u8> {
        format!(
            "From: MAILER-DAEMON@mx.example.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n--b\r\n\
             Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\n\
             Final-Recipient: rfc822; bob@example.test\r\n{fields}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn recipients_without_a_blank_line_between_them_are_still_two() {
        let b = parse(&dsn("Action: failed\r\nStatus: 5.2.2\r\nFinal-Recipient: rfc822; carol@example.test\r\n\
                             Action: failed\r\nStatus: 5.1.1\r\n"))
        .unwrap();
        let got: Vec<_> = b.recipients.iter().map(|r| (r.address.as_str(), r.reason)).collect();
        assert_eq!(got, [("bob@example.test", Reason::MailboxFull), ("carol@example.test", Reason::UserUnknown)]);
    }

    #[test]
    fn a_final_failure_with_a_transient_code_expired_and_an_empty_or_program_diagnostic_says_so() {
        let r = |fields| parse(&dsn(fields)).unwrap().recipients.remove(0);
        // The retries ran out (RFC 3464: Action failed, a 4.x.x status): expired, a delivery problem.
        let gave_up = r("Action: failed\r\nStatus: 4.0.0\r\nDiagnostic-Code: smtp; \r\n");
        assert_eq!((gave_up.reason, gave_up.diagnostic), (Reason::Expired, None), "an empty code says nothing");
        // Still being retried: not called expired.
        assert_eq!(r("Action: delayed\r\nStatus: 4.0.0\r\n").reason, Reason::Undefined);
        // Sendmail's local mailer exited with a status: the receiving system failed.
        let program = r("Action: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: X-Unix; 255\r\n");
        assert_eq!(program.reason, Reason::SystemError);
        assert!(program.diagnostic.unwrap().contains("exit status 255"));
    }
}
