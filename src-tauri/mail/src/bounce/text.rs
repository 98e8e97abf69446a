//! The human-written formats: who failed and why, by the markers each mail system uses, by lines that name an
//! address, and failing both by the returned message's own recipients.

use super::words::{address_word, enhanced_status, is_address, is_header_line, smtp_code, unfold_lines};
use super::{Bounce, FailedRecipient};

/// Reads the human-written formats: who failed and why, by the markers each MTA uses.
/// Where the returned message begins in a report's text (its length when no marker says).
pub(super) fn copy_start(text: &str) -> usize {
    let lower = text.to_ascii_lowercase();
    [
        "below this line is a copy",
        "below is a copy",
        "original message follows",
        "----- original message",
        "-------original message",
        "original message headers",
        "this is a copy of the message",
        "the header of the original message",
        "------ this is a copy",
        "included is a copy of the message",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    // Or the returned message's own first header, where a report gives it without a marker (Zoho's
    // "Received:from …" after "Transcript of session follows").
    .chain(["\nreceived:", "\nreturn-path:"].iter().filter_map(|m| lower.find(m).map(|at| at + 1)))
    .min()
    .unwrap_or(text.len())
}

pub(super) fn parse_text(text: &str, original: Option<&str>) -> Bounce {
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
    let copy_at = copy_start(text);
    let report = &text[..copy_at];
    // Sendmail's transcript gives each recipient its own line and reply: `550 <a@b>... User unknown`.
    let per_recipient = sendmail_lines(report);
    let mut failed: Vec<String> = per_recipient.iter().map(|(a, _)| a.clone()).collect();
    if failed.is_empty() {
        failed = failed_addresses(report);
    }
    if failed.is_empty() {
        // The report names no one (v5 Sendmail, some gateways): the returned message's recipients are the failed.
        // Without a marker, the copy follows the report in the same text.
        let copy = if copy_at < text.len() { &text[copy_at..] } else { text };
        failed = copy_recipients(original.unwrap_or(copy));
    }
    for address in failed {
        if !recipients.iter().any(|r| r.address.eq_ignore_ascii_case(&address)) {
            recipients.push(FailedRecipient {
                address,
                action: Some("failed".into()),
                status: None,
                diagnostic: None,
                remote_mta: None,
                ..Default::default()
            });
        }
    }
    let diagnostic = diagnostic_line(report);
    let status = diagnostic.as_deref().and_then(enhanced_status).or_else(|| enhanced_status(report));
    let temporary_words = lower[..copy_at].contains("warning only")
        || lower[..copy_at].contains("warning message only")
        || lower[..copy_at].contains("will be retried")
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
            ..Default::default()
        });
    }
    for r in &mut recipients {
        r.action = Some(if permanent { "failed" } else { "delayed" }.into());
        match per_recipient.iter().find(|(a, _)| a.eq_ignore_ascii_case(&r.address)) {
            Some((_, line)) => {
                // Its own line only: another recipient's code says nothing about this one.
                r.status = enhanced_status(line);
                r.diagnostic = Some(line.clone());
            }
            None => {
                r.status = status.clone();
                r.diagnostic = diagnostic.clone();
            }
        }
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
    let mut out = named_failed(report);
    if out.is_empty() {
        out = addressed_lines(report);
    }
    out
}

/// Lines of the report that begin with an address (`kijitora@example.jp on Thu …`, `a@b Invalid Address`, a bare
/// address) or end with one after a colon (`Unknown user: a@b`): where a report names its failed recipients without
/// a marker Mailproof knows.
fn addressed_lines(report: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in report.lines() {
        let t = line.trim();
        if is_header_line(t) {
            continue;
        }
        // `a@b<mailto:a@b>` is what HTML reports (Office 365) leave once their tags are gone.
        let first = t.split_whitespace().next().unwrap_or("").split("<mailto:").next().unwrap_or("");
        let last = t.rsplit_once(": ").map(|(_, a)| a.trim());
        let new = |a: &&str| !out.iter().any(|o| o.eq_ignore_ascii_case(a));
        if let Some(a) = [Some(first), last].into_iter().flatten().filter_map(address_word).find(new) {
            out.push(a.to_owned());
        }
    }
    out
}

/// Sendmail's per-recipient lines, `554 <a@b>... 550 Host unknown`: each address and what follows its `...`.
fn sendmail_lines(report: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in report.lines() {
        let t = line.trim();
        let Some((code, rest)) = t.split_once(' ') else { continue };
        if code.len() != 3 || !code.starts_with(['4', '5']) || !code.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // An enhanced status code may come between: `550 5.1.1 <a@b>... User unknown`.
        let (status, rest) = match rest.split_once(' ') {
            Some((s, r)) if enhanced_status(s).as_deref() == Some(s) => (Some(s), r),
            _ => (None, rest),
        };
        let Some((addr, why)) = rest.strip_prefix('<').and_then(|r| r.split_once(">...")) else { continue };
        if is_address(addr) && !out.iter().any(|(a, _)| a.eq_ignore_ascii_case(addr)) {
            let why = why.trim();
            out.push((addr.to_owned(), status.map_or_else(|| why.to_owned(), |s| format!("{s} {why}"))));
        }
    }
    out
}

/// Markers followed, on the same line, by the failed recipient's address.
const SAME_LINE_MARKERS: [&str; 5] = [
    "returned permanent errors: ",
    "could not be delivered to: ",
    "rejected recipient ",
    "undeliverable to ",
    "wasn't delivered to ",
];

/// The recipients the report names after the markers MTAs use.
fn named_failed(report: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = report.lines().collect();
    let (mut after_marker, mut saw_marker, mut alias_next) = (false, false, false);
    for line in &lines {
        let t = line.trim();
        let tl = t.to_ascii_lowercase();
        // Postfix's `<final> (expanded from` folded before `<alias>): …`: the alias is not a second recipient.
        if std::mem::replace(&mut alias_next, tl.ends_with("(expanded from")) && t.starts_with('<') {
            continue;
        }
        // Exchange 2003 lists `a@b on <date>`, each with its reason below it, after the marker.
        let mut words = t.split_whitespace();
        if let (true, Some(first), Some("on")) = (saw_marker, words.next(), words.next()) {
            if is_address(first) && !out.iter().any(|o: &String| o.eq_ignore_ascii_case(first)) {
                out.push(first.to_owned());
                continue;
            }
        }
        if tl.ends_with("failed:")
            || tl.ends_with("failed permanently:")
            || tl.ends_with("recipient(s):")
            || tl.ends_with("following recipients:")
            || tl.ends_with("following recipient:")
            || tl.ends_with("following addresses:")
            || tl.ends_with("following address:")
            || tl.ends_with("the following recip ients:")
            || tl.contains("recipients or groups:")
            || tl.contains("permanent fatal errors")
        {
            (after_marker, saw_marker) = (true, true);
            continue;
        }
        // The address on the marker's own line: "The following recipients returned permanent errors: a@b.
        // Reason: …", "Could not be delivered to: <a@b>", "… rejected recipient <a@b> (…)", "undeliverable to a@b",
        // Gmail's "wasn't delivered to a@b because …".
        for marker in SAME_LINE_MARKERS {
            if let Some(at) = tl.find(marker) {
                if let Some(addr) = t[at + marker.len()..].split_whitespace().next().and_then(address_word) {
                    out.push(addr.to_owned());
                }
            }
        }
        // `address: 550 …`, `address: Domain does not exist` (OpenSMTPD, some gateways).
        if let Some((addr, rest)) = t.split_once(": ") {
            let addr = addr.trim_matches(['<', '>']);
            if is_address(addr) && !rest.trim().is_empty() {
                out.push(addr.to_owned());
                continue;
            }
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
    }
    out
}

/// The To (else Cc) addresses of a returned message's header.
fn copy_recipients(copy: &str) -> Vec<String> {
    let lines = unfold_lines(copy);
    let header = |name: &str| {
        lines.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
    };
    let Some(value) = header("to").or_else(|| header("cc")) else { return Vec::new() };
    value
        .split(',')
        .filter_map(|part| {
            let a = match (part.rfind('<'), part.rfind('>')) {
                (Some(l), Some(r)) if l < r => &part[l + 1..r],
                _ => part.trim(),
            };
            is_address(a.trim()).then(|| a.trim().to_owned())
        })
        .collect()
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
