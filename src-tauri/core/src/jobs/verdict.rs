//! Deciding an action from what happened to its message. Pure functions: the runner feeds them facts.

use mailproof_mail::authres;
use mailproof_mail::bounce::{classify, enhanced_status, Bounce, Reason, ReasonClass};
use mailproof_mail::message::{Analysis, PartDigest};
use mailproof_mail::submit::Refusal;

use super::{Cause, Notice, Verdict};

/// A verdict with its reason in words and the observations behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub cause: Cause,
    pub reason: String,
    /// What changed in transit (attachment removed, link rewritten …).
    pub changes: Vec<String>,
    /// Signs the message was flagged (Junk folder, tagged subject, spam headers).
    pub flags: Vec<String>,
}

/// What was sent, to compare the received copy with.
#[derive(Debug, Clone)]
pub struct SentShape<'a> {
    pub subject: &'a str,
    pub parts: &'a [PartDigest],
    pub body_payload: &'a [String],
}

/// The server refused the message while we sent it.
pub fn refused(r: &Refusal) -> Decision {
    if r.stage.is_setup() || r.code.is_none() {
        return Decision {
            verdict: Verdict::Errored,
            cause: Cause::Setup,
            reason: format!("Could not send: {r}. This is a setup problem, not a defence at work."),
            changes: Vec::new(),
            flags: Vec::new(),
        };
    }
    // A refusal for a delivery reason (a 550 5.1.1 at RCPT) never met a defence.
    let why = classify(enhanced_status(&r.text).as_deref(), &r.text);
    if why.class() == ReasonClass::Delivery {
        return Decision {
            verdict: Verdict::Errored,
            cause: Cause::Setup,
            reason: format!(
                "Refused at SMTP ({}) for a delivery reason, not by a defence: {} ({}). To fix: {}.",
                r.stage.label(),
                why.label(),
                r.text,
                why.fix()
            ),
            changes: Vec::new(),
            flags: Vec::new(),
        };
    }
    Decision {
        verdict: Verdict::Prevented,
        cause: Cause::Rejected,
        reason: format!("Rejected at SMTP ({}){}: {}", r.stage.label(), named(why), r.text),
        changes: Vec::new(),
        flags: Vec::new(),
    }
}

/// ", virus detected" — a reason worth naming in a verdict; nothing for one nobody gave.
fn named(why: Reason) -> String {
    if why == Reason::Undefined {
        String::new()
    } else {
        format!(", {}", why.label())
    }
}

/// A permanent bounce came back: a defence's refusal is Prevented; a delivery failure (user unknown, mailbox full,
/// host not found, relaying denied, expired …) never met a defence and is Errored, with what to fix.
pub fn bounced(b: &Bounce) -> Decision {
    let why = b.reason();
    if why.class() == ReasonClass::Delivery {
        return Decision {
            verdict: Verdict::Errored,
            cause: Cause::Setup,
            reason: format!(
                "Bounced for a delivery reason, not by a defence: {} ({}). To fix: {}.",
                why.label(),
                b.summary(),
                why.fix()
            ),
            changes: Vec::new(),
            flags: Vec::new(),
        };
    }
    Decision {
        verdict: Verdict::Prevented,
        cause: Cause::Bounced,
        reason: format!("Bounced{}: {}", named(why), b.summary()),
        changes: Vec::new(),
        flags: Vec::new(),
    }
}

/// A bounce an email rule classified.
pub fn by_rule(b: &Bounce, rule: &crate::rules::EmailRule) -> Decision {
    let (verdict, cause, reason) = match rule.outcome {
        crate::rules::RuleOutcome::Blocked => {
            (Verdict::Prevented, Cause::Bounced, format!("Bounced (email rule \"{}\"): {}", rule.name, b.summary()))
        }
        crate::rules::RuleOutcome::Error => (
            Verdict::Errored,
            Cause::Setup,
            format!("Email rule \"{}\" marks this bounce as a setup problem: {}", rule.name, b.summary()),
        ),
    };
    Decision { verdict, cause, reason, changes: Vec::new(), flags: Vec::new() }
}

/// Nothing arrived and nothing came back in time.
pub fn not_delivered(wait_secs: u32) -> Decision {
    Decision {
        verdict: Verdict::Prevented,
        cause: Cause::NotDelivered,
        reason: format!(
            "Not delivered within {wait_secs} s and no bounce came back: held, quarantined or dropped on the way."
        ),
        changes: Vec::new(),
        flags: Vec::new(),
    }
}

/// A gateway's notice about the message reached an alerts mailbox. In the order verdicts rank — a defence that
/// stopped it, then one that flagged it, then one that only reported it — a notice makes an untouched arrival
/// Alerted; a message stopped or flagged keeps its verdict (a quarantine that also tells someone is still a
/// quarantine), and the notice is said beside it. Applied once per notice, to a decision made or about to be.
pub fn with_notice(d: Decision, n: &Notice) -> Decision {
    let said = n.summary();
    let (verdict, cause, reason) = match d.verdict {
        Verdict::Missed => (
            Verdict::Alerted,
            Cause::Notified,
            format!("A gateway reported it: a notice about it reached {said}. {}", d.reason),
        ),
        Verdict::Alerted => (d.verdict, d.cause, format!("{} Another notice reached {said}.", d.reason)),
        Verdict::Prevented | Verdict::Detected => {
            (d.verdict, d.cause, format!("{} The gateway also sent a notice about it to {said}.", d.reason))
        }
        Verdict::Errored | Verdict::Incomplete => {
            (d.verdict, d.cause, format!("{} A gateway's notice about it reached {said}.", d.reason))
        }
    };
    Decision { verdict, cause, reason, ..d }
}

/// Where a received copy was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filed<'a> {
    pub folder: &'a str,
    /// The junk folder.
    pub junk: bool,
    /// Where deleted mail goes (Trash, Deleted Items, Recoverable Items).
    pub removed: bool,
}

impl<'a> Filed<'a> {
    /// An ordinary folder.
    pub fn in_folder(folder: &'a str) -> Self {
        Filed { folder, junk: false, removed: false }
    }
}

/// The message arrived: removed after delivery or modified → Prevented; flagged → Detected; untouched → Missed.
pub fn arrived(sent: &SentShape, got: &Analysis, filed: Filed) -> Decision {
    let Filed { folder, junk, removed } = filed;
    let changes = changes(sent, got);
    let flags = flags(sent, got, folder, junk);
    let (verdict, cause, reason) = if removed {
        let also =
            if changes.is_empty() { String::new() } else { format!(" It was also modified: {}.", changes.join("; ")) };
        (
            Verdict::Prevented,
            Cause::Removed,
            format!(
                "Removed after delivery: found in {folder}, where deleted mail goes — a defence (or someone with access \
                 to the mailbox) took it out of the folder it was delivered to.{also}"
            ),
        )
    } else if !changes.is_empty() {
        (Verdict::Prevented, Cause::Modified, format!("Modified in transit: {}.", changes.join("; ")))
    } else if !flags.is_empty() {
        let cause = if junk {
            Cause::Junk
        } else if flags.iter().any(|f| f.starts_with("subject")) {
            Cause::Tagged
        } else {
            Cause::Flagged
        };
        (Verdict::Detected, cause, format!("Arrived intact but flagged: {}.", flags.join("; ")))
    } else {
        (Verdict::Missed, Cause::Clean, format!("Arrived intact and unflagged in {folder}.{}", noticed(got)))
    };
    Decision { verdict, cause, reason, changes, flags }
}

/// A receiver that recorded a failed sender check and delivered anyway noticed and let it through. That stays
/// Missed: the result sits in a header nobody reads, the message reached the inbox untouched and unmarked —
/// nothing a recipient or an analyst would see acted on it. Said, so the analyst knows the gateway saw it.
fn noticed(got: &Analysis) -> String {
    let Some(field) = authres::newest(&got.authentication) else { return String::new() };
    let failed: Vec<String> = field.results.iter().filter(|r| r.failed()).map(|r| r.label()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let by = field.authserv_id.as_deref().map(|id| format!(" ({id})")).unwrap_or_default();
    format!(
        " The receiving gateway{by} recorded {} and delivered it anyway: it noticed, and did not act on it.",
        failed.join(", ")
    )
}

fn changes(sent: &SentShape, got: &Analysis) -> Vec<String> {
    let mut out = Vec::new();
    let sent_files: Vec<&PartDigest> = sent.parts.iter().filter(|p| p.filename.is_some()).collect();
    let got_files: Vec<&PartDigest> = got.parts.iter().filter(|p| p.filename.is_some()).collect();
    for s in &sent_files {
        let name = s.filename.as_deref().unwrap_or_default();
        match got_files.iter().find(|g| g.filename == s.filename) {
            Some(g) if g.sha256 == s.sha256 => {}
            Some(g) => {
                out.push(format!("attachment {name} replaced ({} bytes sent, {} bytes arrived)", s.size, g.size))
            }
            None => match got_files.iter().find(|g| g.sha256 == s.sha256) {
                Some(g) => out.push(format!("attachment {name} renamed to {}", g.filename.as_deref().unwrap_or("?"))),
                None => out.push(format!("attachment {name} removed")),
            },
        }
    }
    for g in &got_files {
        let known = sent_files.iter().any(|s| s.filename == g.filename || s.sha256 == g.sha256);
        if !known {
            out.push(format!("attachment {} added", g.filename.as_deref().unwrap_or("?")));
        }
    }
    let text = got.body_text.replace("\r\n", "\n");
    for marker in sent.body_payload {
        if text.contains(marker.as_str()) {
            continue;
        }
        let is_link = marker.starts_with("http://") || marker.starts_with("https://");
        if is_link {
            let replacement = got.links.iter().find(|l| !sent_links_contains(sent, l));
            match replacement {
                Some(l) => out.push(format!("link {marker} rewritten to {l}")),
                None => out.push(format!("link {marker} removed")),
            }
        } else {
            out.push("body altered: the test content was removed".to_owned());
        }
    }
    out
}

fn sent_links_contains(sent: &SentShape, link: &str) -> bool {
    sent.body_payload.iter().any(|m| m == link)
}

/// Spam and threat verdict headers gateways add, and the values that mean "flagged".
fn header_flag(name: &str, value: &str) -> Option<String> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    let flagged = match name.to_ascii_lowercase().as_str() {
        "x-spam-flag" | "x-spam" | "x-barracuda-spam-status" => lower.starts_with("yes") || lower.starts_with("true"),
        "x-spam-status" => lower.starts_with("yes"),
        "x-ms-exchange-organization-scl" => v.parse::<i32>().is_ok_and(|scl| scl >= 5),
        "x-forefront-antispam-report" => ["sfv:spm", "sfv:blk", "sfv:bulk"].iter().any(|m| lower.contains(m)),
        "x-virus-status" | "x-virus" => lower.contains("infected") || lower.starts_with("yes"),
        "x-phishing" | "x-phish" => lower.starts_with("yes") || lower.starts_with("true"),
        _ => false,
    };
    flagged.then(|| format!("{name}: {v}"))
}

fn flags(sent: &SentShape, got: &Analysis, folder: &str, junk: bool) -> Vec<String> {
    let mut out = Vec::new();
    if junk {
        out.push(format!("filed in the junk folder {folder}"));
    }
    match got.subject.as_deref() {
        Some(s) if s == sent.subject => {}
        Some(s) if s.contains(sent.subject) => {
            let added = s.replacen(sent.subject, "", 1);
            out.push(format!("subject tagged \"{}\"", added.trim()));
        }
        Some(s) => out.push(format!("subject changed to \"{s}\"")),
        None => out.push("subject removed".to_owned()),
    }
    for (name, value) in &got.headers {
        if let Some(f) = header_flag(name, value) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailproof_mail::message::analyse;

    fn part(name: Option<&str>, sha: &str) -> PartDigest {
        PartDigest {
            filename: name.map(str::to_owned),
            content_type: "application/octet-stream".into(),
            sha256: sha.into(),
            size: 3,
            attachment: name.is_some(),
        }
    }

    fn got(headers: &str, files: &[(&str, &str)], body: &str) -> Analysis {
        let mut a = analyse(format!("{headers}Subject: [MP-x] T\r\n\r\n{body}").as_bytes());
        a.parts.extend(files.iter().map(|(n, s)| part(Some(n), s)));
        a
    }

    #[test]
    fn a_failed_check_recorded_and_let_through_stays_missed_and_is_said() {
        let parts = [part(None, "b")];
        let payload = vec![];
        let sent = SentShape { subject: "[MP-x] T", parts: &parts, body_payload: &payload };
        let headers = "Authentication-Results: mx.example.test; spf=softfail smtp.mailfrom=example.test;\r\n dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=ceo.example\r\n\
ARC-Authentication-Results: i=1; relay.example; dmarc=fail header.from=x.example\r\n";
        let d = arrived(&sent, &got(headers, &[], "hi"), Filed::in_folder("INBOX"));
        assert_eq!(d.verdict, Verdict::Missed, "{d:?}");
        assert!(
            d.reason.ends_with(
                "The receiving gateway (mx.example.test) recorded SPF softfail, DMARC fail (p=reject) and delivered it \
                 anyway: it noticed, and did not act on it."
            ),
            "{}",
            d.reason
        );
        let passing = "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test\r\n";
        let d = arrived(&sent, &got(passing, &[], "hi"), Filed::in_folder("INBOX"));
        assert_eq!(d.reason, "Arrived intact and unflagged in INBOX.");
    }

    #[test]
    fn untouched_is_missed_flagged_is_detected_changed_is_prevented() {
        let parts = [part(None, "b"), part(Some("a.zip"), "h1")];
        let payload = vec![];
        let sent = SentShape { subject: "[MP-x] T", parts: &parts, body_payload: &payload };

        let d = arrived(&sent, &got("", &[("a.zip", "h1")], "hi"), Filed::in_folder("INBOX"));
        assert_eq!((d.verdict, d.cause), (Verdict::Missed, Cause::Clean), "{d:?}");

        let d =
            arrived(&sent, &got("", &[("a.zip", "h1")], "hi"), Filed { folder: "Junk", junk: true, removed: false });
        assert_eq!((d.verdict, d.cause), (Verdict::Detected, Cause::Junk));

        let d = arrived(&sent, &got("X-Spam-Flag: YES\r\n", &[("a.zip", "h1")], "hi"), Filed::in_folder("INBOX"));
        assert_eq!((d.verdict, d.cause), (Verdict::Detected, Cause::Flagged));

        let mut tagged = got("", &[("a.zip", "h1")], "hi");
        tagged.subject = Some("[SUSPICIOUS] [MP-x] T".into());
        let d = arrived(&sent, &tagged, Filed::in_folder("INBOX"));
        assert_eq!((d.verdict, d.cause), (Verdict::Detected, Cause::Tagged));
        assert!(d.reason.contains("[SUSPICIOUS]"), "{}", d.reason);

        let d = arrived(&sent, &got("", &[], "hi"), Filed::in_folder("INBOX"));
        assert_eq!((d.verdict, d.cause), (Verdict::Prevented, Cause::Modified));
        assert!(d.reason.contains("attachment a.zip removed"), "{}", d.reason);

        let d = arrived(&sent, &got("", &[("a.zip", "other")], "hi"), Filed::in_folder("INBOX"));
        assert!(d.reason.contains("replaced"), "{}", d.reason);
        let d = arrived(&sent, &got("", &[("a.zip.txt", "h1")], "hi"), Filed::in_folder("INBOX"));
        assert!(d.reason.contains("renamed to a.zip.txt"), "{}", d.reason);
    }

    #[test]
    fn a_bounce_or_refusal_for_a_delivery_reason_is_errored_and_a_defence_s_is_prevented() {
        use mailproof_mail::submit::Stage;
        let refusal = |text: &str| Refusal { stage: Stage::RcptTo, code: Some(550), text: text.into() };
        let d = refused(&refusal("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"));
        assert_eq!((d.verdict, d.cause), (Verdict::Errored, Cause::Setup), "{}", d.reason);
        assert!(d.reason.contains("user unknown") && d.reason.contains("destination address"), "{}", d.reason);
        let d = refused(&refusal("554 5.7.1 Message rejected: virus found"));
        assert_eq!((d.verdict, d.cause), (Verdict::Prevented, Cause::Rejected), "{}", d.reason);
        assert!(d.reason.contains("virus detected"), "{}", d.reason);

        // Real DSNs: Postfix's for an unknown user, the lab gateway's policy bounce.
        let dsn = |status: &str, diag: &str| {
            mailproof_mail::bounce::parse(
                format!(
                    "From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
                     Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n\
                     Content-Type: text/plain\r\n\r\nI'm sorry to have to inform you.\r\n--b\r\n\
                     Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
                     Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: {status}\r\n\
                     Diagnostic-Code: smtp; {diag}\r\n--b--\r\n"
                )
                .as_bytes(),
            )
            .expect("a DSN")
        };
        let d = bounced(&dsn("5.2.2", "552 5.2.2 <bob@example.org>: Mailbox full"));
        assert_eq!(d.verdict, Verdict::Errored, "{}", d.reason);
        assert!(d.reason.starts_with("Bounced for a delivery reason, not by a defence: mailbox full"), "{}", d.reason);
        let d = bounced(&dsn("5.7.1", "X-Postfix; 5.7.1 Lab gateway policy: message refused after acceptance"));
        assert_eq!((d.verdict, d.cause), (Verdict::Prevented, Cause::Bounced), "{}", d.reason);
        assert!(d.reason.starts_with("Bounced, policy violation: bounced 5.7.1"), "{}", d.reason);
    }

    #[test]
    fn a_copy_found_where_deleted_mail_goes_was_removed_after_delivery() {
        let parts = [part(None, "b")];
        let payload = vec![];
        let sent = SentShape { subject: "[MP-x] T", parts: &parts, body_payload: &payload };
        let trash = Filed { folder: "Deleted Items", junk: false, removed: true };
        let d = arrived(&sent, &got("", &[], "hi"), trash);
        assert_eq!((d.verdict, d.cause), (Verdict::Prevented, Cause::Removed), "{d:?}");
        assert!(d.reason.starts_with("Removed after delivery: found in Deleted Items"), "{}", d.reason);
        // Removed wins over flags: the defence acted after flagging it.
        let d = arrived(&sent, &got("X-Spam-Flag: YES\r\n", &[], "hi"), trash);
        assert_eq!(d.cause, Cause::Removed);
    }

    #[test]
    fn a_notice_makes_an_untouched_arrival_alerted_and_is_said_beside_a_block() {
        let parts = [part(None, "b")];
        let payload = vec![];
        let sent = SentShape { subject: "[MP-x] T", parts: &parts, body_payload: &payload };
        let notice = Notice {
            mailbox: "alerts@example.test".into(),
            from: "gateway@example.test".into(),
            subject: "Incident report: [MP-x] T".into(),
            ..Notice::default()
        };
        let missed = arrived(&sent, &got("", &[], "hi"), Filed::in_folder("INBOX"));
        let d = with_notice(missed, &notice);
        assert_eq!((d.verdict, d.cause), (Verdict::Alerted, Cause::Notified), "{d:?}");
        assert_eq!(
            d.reason,
            "A gateway reported it: a notice about it reached alerts@example.test from gateway@example.test: \
             \"Incident report: [MP-x] T\". Arrived intact and unflagged in INBOX."
        );
        let twice = with_notice(d, &notice);
        assert_eq!(twice.verdict, Verdict::Alerted);
        assert!(twice.reason.ends_with(
            "Another notice reached alerts@example.test from gateway@example.test: \"Incident report: [MP-x] T\"."
        ));

        // Held and reported: still Prevented — the notice does not rank a stopped message lower.
        let d = with_notice(not_delivered(30), &notice);
        assert_eq!((d.verdict, d.cause), (Verdict::Prevented, Cause::NotDelivered));
        assert!(
            d.reason.ends_with(
                "The gateway also sent a notice about it to alerts@example.test from \
             gateway@example.test: \"Incident report: [MP-x] T\"."
            ),
            "{}",
            d.reason
        );
        let junk = arrived(&sent, &got("", &[], "hi"), Filed { folder: "Junk", junk: true, removed: false });
        assert_eq!(with_notice(junk, &notice).verdict, Verdict::Detected);
    }

    #[test]
    fn body_payloads_must_survive() {
        let parts = [part(None, "b")];
        let payload = vec!["http://test.example/p".to_owned()];
        let sent = SentShape { subject: "[MP-x] T", parts: &parts, body_payload: &payload };
        let d = arrived(&sent, &got("", &[], "go to http://test.example/p now"), Filed::in_folder("INBOX"));
        assert_eq!(d.verdict, Verdict::Missed);
        let d = arrived(&sent, &got("", &[], "go to https://safe.example/r?u=1 now"), Filed::in_folder("INBOX"));
        assert_eq!(d.verdict, Verdict::Prevented);
        assert!(d.reason.contains("rewritten to https://safe.example/r?u=1"), "{}", d.reason);
    }

    #[test]
    fn exchange_and_defender_verdict_headers_count_as_flags() {
        assert!(header_flag("X-MS-Exchange-Organization-SCL", "9").is_some());
        assert!(header_flag("X-MS-Exchange-Organization-SCL", "1").is_none());
        assert!(header_flag("X-Forefront-Antispam-Report", "CIP:1.2.3.4;SFV:SPM;").is_some());
        assert!(header_flag("X-Spam-Status", "No, score=0.1").is_none());
    }
}
