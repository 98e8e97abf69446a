//! Reads any message — ours, a received copy, a bounce, a malformed one — into what Mailproof compares and
//! shows: identity headers, a digest of every content part, the links in its text, and the Received chain as
//! hops. Parsing never panics; what cannot be read is left out.

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

use crate::authres::{self, AuthResults};
use crate::received;

/// One content part (a body or an attachment): what it is called and a fingerprint of its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PartDigest {
    /// The attachment's file name, when it has one.
    pub filename: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// SHA-256 of the decoded bytes, lower-case hex.
    pub sha256: String,
    pub size: u32,
    /// An attachment (has a name or is not text), as opposed to a body.
    pub attachment: bool,
}

/// One Received header, read from the origin towards the final mailbox ([`received`] says how).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    /// The sending host as the receiving host names it (HELO name and/or address).
    pub from: Option<String>,
    pub from_ip: Option<String>,
    /// The receiving host.
    pub by: Option<String>,
    /// SMTP, ESMTPS, LMTP …
    pub with: Option<String>,
    /// TLS version and cipher when the hop said; `None` when it did not.
    pub tls: Option<String>,
    /// The receiving host's queue id.
    #[serde(default)]
    pub id: Option<String>,
    /// A message picked up on the host itself, not received from another ("Postfix, from userid 1000").
    #[serde(default)]
    pub pickup: Option<String>,
    /// The hop's timestamp as Unix seconds.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub at: Option<i64>,
    /// Seconds since the previous dated hop (negative when the two hosts' clocks disagree).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub delay_secs: Option<i64>,
    /// The header as written.
    pub raw: String,
}

/// What Mailproof reads out of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    /// The Date header as Unix seconds.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub date: Option<i64>,
    /// Every header in order, names as written, values raw (unfolded).
    pub headers: Vec<(String, String)>,
    pub parts: Vec<PartDigest>,
    /// http(s) URLs in the text and HTML bodies, in order, without duplicates.
    pub links: Vec<String>,
    /// Origin first.
    pub hops: Vec<Hop>,
    /// Authentication-Results headers, newest first as written.
    pub authentication_results: Vec<String>,
    /// Every Authentication-Results and ARC-Authentication-Results field read, in header order (newest first).
    #[serde(default)]
    pub authentication: Vec<AuthResults>,
    /// The parser met bytes it could not decode (bad base64, bad charset); what was readable is kept.
    pub encoding_problem: bool,
    /// The decoded text of every body part (text and HTML), joined; not serialized.
    #[serde(skip)]
    pub body_text: String,
}

impl Analysis {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    }

    /// The address of the MTA nearest the sender: the first hop that names an address.
    pub fn source_ip(&self) -> Option<&str> {
        self.hops.iter().find_map(|h| h.from_ip.as_deref())
    }
}

const MAX_BODY_TEXT: usize = 1 << 20;

/// Reads `raw`. Always returns an analysis; a message that is not mail at all gives an empty one.
pub fn analyse(raw: &[u8]) -> Analysis {
    let Some(msg) = parse_mime(raw) else { return Analysis::default() };
    let mut out = Analysis {
        message_id: msg.message_id().map(str::to_owned),
        subject: msg.subject().map(str::to_owned),
        from: msg.from().and_then(first_address),
        to: msg.to().map(all_addresses).unwrap_or_default(),
        date: msg.date().map(|d| d.to_timestamp()),
        headers: msg.headers_raw().map(|(n, v)| (n.to_owned(), unfold(v))).collect(),
        ..Analysis::default()
    };
    for part in &msg.parts {
        out.encoding_problem |= part.is_encoding_problem;
        let bytes: &[u8] = match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b,
            // A nested message is digested as a whole attachment; multipart containers have no content.
            PartType::Message(m) => m.raw_message(),
            PartType::Multipart(_) => continue,
        };
        if let PartType::Text(t) | PartType::Html(t) = &part.body {
            collect_links(t, &mut out.links);
            if out.body_text.len() < MAX_BODY_TEXT {
                out.body_text.push_str(t);
                out.body_text.push('\n');
            }
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "text/plain".into())
            .to_ascii_lowercase();
        let filename = part.attachment_name().map(str::to_owned);
        let attachment = filename.is_some()
            || part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
            || !matches!(part.body, PartType::Text(_) | PartType::Html(_));
        out.parts.push(PartDigest {
            filename,
            content_type,
            sha256: sha256_hex(bytes),
            size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            attachment,
        });
    }
    // The trace fields in header order (newest first: each hop prepends its own).
    let trace: Vec<(&str, String)> = msg
        .headers()
        .iter()
        .filter_map(|h| {
            let name = h.name.as_str();
            let kind = ["received", "authentication-results", "arc-authentication-results"]
                .into_iter()
                .find(|k| name.eq_ignore_ascii_case(k))?;
            let value = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
            Some((kind, unfold(&String::from_utf8_lossy(value))))
        })
        .collect();
    let stamps = trace.iter().filter(|(kind, _)| *kind == "received").count();
    let mut previous: Option<i64> = None;
    // Reversed, to read from the origin.
    for (_, raw) in trace.iter().rev().filter(|(kind, _)| *kind == "received") {
        let s = received::parse(raw);
        let hop = Hop {
            from: s.from,
            from_ip: s.from_ip,
            by: s.by,
            with: s.with,
            tls: s.tls,
            id: s.id,
            pickup: s.pickup,
            at: s.at,
            delay_secs: previous.zip(s.at).map(|(p, a)| a - p),
            raw: raw.clone(),
        };
        previous = s.at.or(previous);
        out.hops.push(hop);
    }
    // Received fields above each authentication field, counted from the top: the rest are below it.
    let mut above = 0;
    for (kind, value) in &trace {
        if *kind == "received" {
            above += 1;
            continue;
        }
        let mut field = authres::parse(value, *kind == "arc-authentication-results");
        field.hop = hop_of(&out.hops, &field, stamps - above);
        out.authentication.push(field);
    }
    out.authentication_results =
        trace.iter().filter(|(kind, _)| *kind == "authentication-results").map(|(_, v)| v.clone()).collect();
    out
}

/// The hop (origin first) that added an authentication field: the one whose host is the field's authserv-id,
/// else the hop whose Received field is the nearest below it (`below` Received fields are older than it) —
/// receivers add their results and their Received field together.
fn hop_of(hops: &[Hop], field: &AuthResults, below: usize) -> Option<u32> {
    let named = field
        .authserv_id
        .as_deref()
        .and_then(|id| hops.iter().rposition(|h| h.by.as_deref().is_some_and(|by| by.eq_ignore_ascii_case(id))));
    let nearest = below.checked_sub(1);
    named.or(nearest).and_then(|i| u32::try_from(i).ok())
}

fn first_address(a: &Address) -> Option<String> {
    all_addresses(a).into_iter().next()
}

fn all_addresses(a: &Address) -> Vec<String> {
    a.iter()
        .map(|addr| match (&addr.name, &addr.address) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (None, Some(email)) => email.to_string(),
            (Some(name), None) => name.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// `raw` parsed as MIME, or `None` when it is not a message. The parser (mail-parser) checks some of its own
/// states with debug assertions that malformed input can trip (a fuzz campaign found nested multiparts that do):
/// in a debug build that is a panic, caught here and taken as "not a message" — never a crash of the engine.
pub fn parse_mime(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| MessageParser::default().parse(raw))).ok().flatten()
}

/// Joins folded header lines into one.
pub fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if i > 0 {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    out.trim().to_owned()
}

/// Adds the http(s) URLs in `text` to `links`, once each.
fn collect_links(text: &str, links: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = find_scheme(rest) {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']'))
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ',', ';']);
        if url.len() > "https://".len() && !links.iter().any(|l| l == url) {
            links.push(url.to_owned());
        }
        rest = &candidate[end.max(1)..];
    }
}

fn find_scheme(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIVED: &str = "Return-Path: <alice@example.test>\r\n\
Received: from mx.example.test (localhost [127.0.0.1])\r\n\tby mail.example.test (Postfix) with LMTP id Q2\r\n\tfor <bob@example.test>; Tue, 24 Nov 2026 08:00:03 +0000 (UTC)\r\n\
Received: from [192.0.2.7] (unknown [192.0.2.7])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4AB\r\n\tfor <bob@example.test>; Tue, 24 Nov 2026 08:00:01 +0000 (UTC)\r\n\
Message-ID: <m1@mailproof.test>\r\nFrom: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: Hello\r\n\
Date: Tue, 24 Nov 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSee https://example.test/a?b=1.\r\n\
--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n";

    #[test]
    fn reads_identity_parts_links_and_hops_from_the_origin() {
        let a = analyse(RECEIVED.as_bytes());
        assert_eq!(a.message_id.as_deref(), Some("m1@mailproof.test"));
        assert_eq!(a.subject.as_deref(), Some("Hello"));
        assert_eq!(a.from.as_deref(), Some("Alice <alice@example.test>"));
        assert_eq!(a.to, vec!["bob@example.test"]);
        assert_eq!(a.parts.len(), 2, "{:?}", a.parts);
        assert!(!a.parts[0].attachment);
        assert_eq!(a.parts[1].filename.as_deref(), Some("x.bin"));
        assert_eq!(a.parts[1].sha256, sha256_hex(&[0, 1, 2]));
        assert_eq!(a.links, vec!["https://example.test/a?b=1"]);
        assert_eq!(a.hops.len(), 2);
        assert_eq!(a.hops[0].from_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(a.hops[0].by.as_deref(), Some("mx.example.test"));
        assert!(a.hops[0].tls.as_deref().unwrap_or("").contains("TLS"), "{:?}", a.hops[0]);
        assert_eq!(a.hops[1].delay_secs, Some(2));
        assert_eq!(a.source_ip(), Some("192.0.2.7"));
        assert!(a.hops[0].raw.starts_with("from [192.0.2.7]"), "{}", a.hops[0].raw);
    }

    // RFC 8601 Appendix B.5 (its DKIM-Signature left out): two receivers, each adding its results with its Received
    // field; the dates month first.
    const RFC8601_B5: &str = "Authentication-Results: example.com;\r\n          dkim=pass (good signature) header.d=example.com\r\n\
Received: from mail-router.example.com\r\n              (mail-router.example.com [192.0.2.1])\r\n          by auth-checker.example.com (8.11.6/8.11.6)\r\n              with ESMTP id i7PK0sH7021929;\r\n          Fri, Feb 15 2002 17:19:22 -0800\r\n\
Authentication-Results: example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n          spf=fail smtp.mailfrom=example.com\r\n\
Received: from dialup-1-2-3-4.example.net\r\n              (dialup-1-2-3-4.example.net [192.0.2.200])\r\n          by mail-router.example.com (8.11.6/8.11.6)\r\n              with ESMTPA id g1G0r1kA003489;\r\n          Fri, Feb 15 2002 17:19:07 -0800\r\n\
From: sender@example.com\r\nDate: Fri, Feb 15 2002 16:54:30 -0800\r\nTo: receiver@example.com\r\n\
Message-Id: <12345.abc@example.com>\r\nSubject: here's a sample\r\n\r\nHello!  Goodbye!\r\n";

    #[test]
    fn authentication_results_belong_to_the_hop_that_wrote_them() {
        let a = analyse(RFC8601_B5.as_bytes());
        assert_eq!(a.hops.len(), 2);
        assert_eq!(a.hops[0].from_ip.as_deref(), Some("192.0.2.200"));
        assert_eq!(a.hops[1].by.as_deref(), Some("auth-checker.example.com"));
        assert_eq!(a.hops[1].delay_secs, Some(15), "{:?}", a.hops);
        assert_eq!(a.authentication.len(), 2);
        assert_eq!((a.authentication[0].summary.as_str(), a.authentication[0].hop), ("DKIM pass", Some(1)));
        assert_eq!(
            (a.authentication[1].summary.as_str(), a.authentication[1].hop),
            ("SMTP AUTH pass · SPF fail", Some(0))
        );
        assert_eq!(a.authentication_results.len(), 2);
    }

    #[test]
    fn garbage_never_panics() {
        for raw in
            [&b""[..], b"\xff\xfe\x00", b"Subject: x\r\n", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n"]
        {
            let _ = analyse(raw);
        }
        let mut long = b"Received: ".to_vec();
        long.extend(std::iter::repeat_n(b'(', 100_000));
        let _ = analyse(&long);
    }
}
