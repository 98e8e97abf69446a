//! One Received trace field (RFC 5321 §4.4, RFC 5322 §3.6.7) read the way real servers write it. Host names come
//! from the clauses (`from`, `by`), never from comments — Postfix's "(Postfix, from userid 1000)" names no host
//! "userid", qmail's "(qmail 5 invoked from network)" none called "network". The sending address comes from the
//! clause or from the TCP-info the grammar puts in the comment after it ("(mail.example [192.0.2.1])"). Local
//! pick-ups (qmail, Postfix, Sendmail) are said as such; TLS is read in the Postfix, Exchange, Gmail, Sendmail and
//! Exim styles; the date is whatever follows the last `;`, read by [`crate::date`]. Total and linear: any input
//! gives a stamp.

use std::net::IpAddr;

/// The longest field read; the rest is kept as written but not parsed.
const MAX_LEN: usize = 8 * 1024;

/// What one Received field says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The sending host as the receiving one names it (the `from` clause: usually its HELO name).
    pub from: Option<String>,
    /// The sending host's address, from the `from` clause or its TCP-info.
    pub from_ip: Option<String>,
    /// The receiving host (the `by` clause).
    pub by: Option<String>,
    /// SMTP, ESMTPS, LMTP, "Microsoft SMTP Server" …
    pub with: Option<String>,
    /// The receiving host's queue id.
    pub id: Option<String>,
    /// The recipient the hop names (`for`), without angle brackets.
    pub recipient: Option<String>,
    /// TLS version and cipher, when the hop said ("TLSv1.3 TLS_AES_256_GCM_SHA384").
    pub tls: Option<String>,
    /// A message picked up on the receiving host itself rather than received from another ("qmail 5 invoked by
    /// uid 89", "Postfix, from userid 1000", "from root@localhost").
    pub pickup: Option<String>,
    /// Unix seconds.
    pub at: Option<i64>,
}

#[derive(Debug)]
enum Token<'a> {
    Word(&'a str),
    /// Inside the outer parentheses; nested ones kept as written.
    Comment(&'a str),
    Semicolon(usize),
}

fn tokens(value: &str) -> Vec<Token<'_>> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => {
                let (start, end) = (i + 1, comment_end(bytes, i));
                out.push(Token::Comment(value.get(start..end).unwrap_or("")));
                i = end + 1;
            }
            b';' => {
                out.push(Token::Semicolon(i));
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'(' | b';') && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if let Some(w) = value.get(start..i) {
                    out.push(Token::Word(w));
                }
            }
        }
    }
    out
}

/// Where the comment opening at `bytes[open]` (a `(`) closes: the index of its `)`, nested comments and
/// backslash escapes honoured, or the end of `bytes` when it never closes (RFC 5322 §3.2.2).
pub(crate) fn comment_end(bytes: &[u8], open: usize) -> usize {
    let (mut depth, mut i) = (0usize, open);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i.min(bytes.len())
}

#[derive(Default)]
struct Clause<'a> {
    value: Option<&'a str>,
    /// Words after the value, before any comment ("Microsoft SMTP Server").
    more: Vec<&'a str>,
    /// Words after a comment (Exim's "tls TLS_AES_256_GCM_SHA384").
    after: Vec<&'a str>,
    comments: Vec<&'a str>,
}

const KEYWORDS: [&str; 6] = ["from", "by", "via", "with", "id", "for"];

/// Reads one Received field's value (unfolded or not).
pub fn parse(value: &str) -> Stamp {
    let value = match value.char_indices().nth(MAX_LEN) {
        Some((i, _)) => &value[..i],
        None => value,
    };
    let tokens = tokens(value);
    let date_at = tokens.iter().rev().find_map(|t| match t {
        Token::Semicolon(at) => Some(*at),
        _ => None,
    });
    let mut clauses: [Clause; 6] = Default::default();
    let mut leading: Vec<&str> = Vec::new();
    let (mut current, mut wants_value) = (None::<usize>, false);
    let mut last_value_end = 0;
    for t in &tokens {
        match *t {
            Token::Semicolon(at) if Some(at) == date_at => break,
            Token::Semicolon(_) => {}
            Token::Word(w) => {
                let key = KEYWORDS.iter().position(|k| k.eq_ignore_ascii_case(w));
                match (key, current) {
                    (Some(k), _) if !wants_value && clauses[k].value.is_none() => {
                        current = Some(k);
                        wants_value = true;
                    }
                    (_, Some(c)) if wants_value => {
                        clauses[c].value = Some(w);
                        wants_value = false;
                        last_value_end = w.as_ptr() as usize - value.as_ptr() as usize + w.len();
                    }
                    (_, Some(c)) if clauses[c].comments.is_empty() => clauses[c].more.push(w),
                    (_, Some(c)) => clauses[c].after.push(w),
                    (_, None) => {}
                }
            }
            Token::Comment(c) => match current {
                Some(k) => clauses[k].comments.push(c),
                None => leading.push(c),
            },
        }
    }
    let [from, by, _via, with, id, recipient] = &clauses;
    let date_text = match date_at {
        Some(at) => &value[at + 1..],
        None => &value[last_value_end..],
    };
    let pickup = if from.value.is_some() {
        None
    } else {
        leading
            .first()
            .copied()
            .or_else(|| by.comments.iter().copied().find(|c| c.to_ascii_lowercase().contains("from userid")))
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    // Without a `;` the date follows the last clause, and words after `with` may be the date's.
    let with_more = if date_at.is_some() { &with.more[..] } else { &[] };
    let with_text = with.value.map(|v| std::iter::once(v).chain(with_more.iter().copied()).collect::<Vec<_>>());
    Stamp {
        from: from.value.map(|v| bare_host(v).to_owned()),
        from_ip: from.value.and_then(ip_of).or_else(|| from.comments.iter().find_map(|c| ip_in_comment(c))),
        by: by.value.map(|v| bare_host(v).to_owned()),
        with: with_text.map(|w| w.join(" ").trim_end_matches(',').to_owned()),
        id: id.value.map(|v| v.trim_end_matches(',').to_owned()),
        recipient: recipient.value.map(|v| v.trim_matches(|c| matches!(c, '<' | '>' | ',')).to_owned()),
        tls: tls(&clauses, &leading),
        pickup,
        at: crate::date::parse(date_text),
    }
}

/// `[192.0.2.1]` → `192.0.2.1`; `[IPv6:2001:db8::1]` → `2001:db8::1`; a name stays as written.
fn bare_host(v: &str) -> &str {
    let v = v.trim_end_matches(',');
    let inner = v.strip_prefix('[').and_then(|s| s.split(']').next()).unwrap_or(v);
    inner.strip_prefix("IPv6:").or_else(|| inner.strip_prefix("ipv6:")).unwrap_or(inner)
}

/// The address a word names: `192.0.2.1`, `[192.0.2.1]`, `[192.0.2.1]:25`, `[IPv6:…]`.
fn ip_of(word: &str) -> Option<String> {
    let w = word.trim_matches(|c| matches!(c, ',' | '"'));
    let w = w.strip_prefix("ip=").unwrap_or(w);
    let host = bare_host(w);
    host.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

/// The first address in a TCP-info comment: "host [192.0.2.1]", "[192.0.2.1]:4321 helo=x", "192.0.2.5".
fn ip_in_comment(comment: &str) -> Option<String> {
    comment.split(|c: char| c.is_whitespace() || c == '(' || c == ')').find_map(ip_of)
}

fn tls(clauses: &[Clause], leading: &[&str]) -> Option<String> {
    let comments = clauses.iter().flat_map(|c| c.comments.iter()).chain(leading);
    for c in comments {
        let words: Vec<&str> = c.split(|ch: char| ch.is_whitespace() || ch == ',').filter(|w| !w.is_empty()).collect();
        // Postfix: "using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)".
        if words.first().is_some_and(|w| w.eq_ignore_ascii_case("using")) {
            let cipher = words.iter().position(|w| w.eq_ignore_ascii_case("cipher")).and_then(|i| words.get(i + 1));
            return Some(joined(words.get(1).copied(), cipher.copied()));
        }
        // Exchange, Gmail, Sendmail: "version=TLS1_2, cipher=TLS_ECDHE_…" (Sendmail adds bits= and verify=).
        let field = |name: &str| words.iter().find_map(|w| w.strip_prefix(name));
        if let Some(version) = field("version=") {
            return Some(joined(Some(version), field("cipher=")));
        }
        // Exim: "(TLS1.2)" followed by "tls CIPHER", or "(TLSv1:AES256-SHA:256)"; Exchange: "(TLS)".
        if let [one] = words[..] {
            let mut parts = one.split(':');
            let version = parts.next().unwrap_or("");
            if is_tls_version(version) {
                let exim = clauses.iter().find_map(|cl| {
                    cl.after.iter().position(|w| w.eq_ignore_ascii_case("tls")).and_then(|i| cl.after.get(i + 1))
                });
                return Some(joined(Some(version), parts.next().or(exim.copied())));
            }
        }
    }
    None
}

fn is_tls_version(w: &str) -> bool {
    let upper = w.to_ascii_uppercase();
    (upper.starts_with("TLS") || upper.starts_with("SSL"))
        && upper[3..].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/'))
}

/// `TLS1_2` and `TLS1.2` as `TLSv1.2`, then the cipher.
fn joined(version: Option<&str>, cipher: Option<&str>) -> String {
    let version = version.map(|v| match v.strip_prefix("TLS") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("TLSv{}", rest.replace('_', ".")),
        _ => v.to_owned(),
    });
    [version.as_deref(), cipher].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(t: Option<i64>) -> String {
        t.map(|t| time::OffsetDateTime::from_unix_timestamp(t).unwrap().to_string()).unwrap_or_default()
    }

    #[test]
    fn rfc_5322_appendix_a4_trace_fields() {
        let s = parse("from x.y.test\r\n   by example.net\r\n   via TCP\r\n   with ESMTP\r\n   id ABC12345\r\n   for <mary@example.net>;  21 Nov 1997 10:05:43 -0600");
        assert_eq!(s.from.as_deref(), Some("x.y.test"));
        assert_eq!(s.by.as_deref(), Some("example.net"));
        assert_eq!(s.with.as_deref(), Some("ESMTP"));
        assert_eq!(s.id.as_deref(), Some("ABC12345"));
        assert_eq!(s.recipient.as_deref(), Some("mary@example.net"));
        assert_eq!(utc(s.at), "1997-11-21 16:05:43.0 +00:00:00");
        let s = parse("from node.example by x.y.test; 21 Nov 1997 10:01:22 -0600");
        assert_eq!((s.from.as_deref(), s.by.as_deref()), (Some("node.example"), Some("x.y.test")));
    }

    #[test]
    fn rfc_8601_appendix_b5_month_first_dates_and_tcp_info() {
        let s = parse(
            "from mail-router.example.com\n              (mail-router.example.com [192.0.2.1])\n          by auth-checker.example.com (8.11.6/8.11.6)\n              with ESMTP id i7PK0sH7021929;\n          Fri, Feb 15 2002 17:19:22 -0800",
        );
        assert_eq!(s.from.as_deref(), Some("mail-router.example.com"));
        assert_eq!(s.from_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(s.by.as_deref(), Some("auth-checker.example.com"));
        assert_eq!(s.id.as_deref(), Some("i7PK0sH7021929"));
        assert_eq!(utc(s.at), "2002-02-16 1:19:22.0 +00:00:00");
    }

    #[test]
    fn local_pickups_name_no_host_from_their_comments() {
        // Postfix's pickup of a local sendmail(1) call, as the lab writes it.
        let s = parse("by mx.example.test (Postfix, from userid 0)\n\tid 4A1; Tue, 24 Nov 2026 08:00:00 +0000 (UTC)");
        assert_eq!((s.from, s.from_ip), (None, None));
        assert_eq!(s.by.as_deref(), Some("mx.example.test"));
        assert_eq!(s.pickup.as_deref(), Some("Postfix, from userid 0"));
        // qmail's two stamps: invoked by a local user, and by its SMTP daemon.
        let s = parse("(qmail 12345 invoked by uid 89); 24 Nov 2026 08:00:00 -0000");
        assert_eq!((s.from, s.by, s.pickup.as_deref()), (None, None, Some("qmail 12345 invoked by uid 89")));
        assert!(s.at.is_some());
        let s = parse("(qmail 5 invoked from network); 24 Nov 2026 08:00:00 -0000");
        assert_eq!(s.pickup.as_deref(), Some("qmail 5 invoked from network"));
        let s = parse(
            "(from root@localhost)\n\tby host.example (8.15.2/8.15.2/Submit) id 2AO80; Tue, 24 Nov 2026 08:00:00 GMT",
        );
        assert_eq!((s.by.as_deref(), s.pickup.as_deref()), (Some("host.example"), Some("from root@localhost")));
    }

    #[test]
    fn tls_in_each_style() {
        let postfix = parse("from [192.0.2.7] (unknown [192.0.2.7])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4AB\r\n\tfor <bob@example.test>; Tue, 24 Nov 2026 08:00:01 +0000 (UTC)");
        assert_eq!(postfix.tls.as_deref(), Some("TLSv1.3 TLS_AES_256_GCM_SHA384"));
        assert_eq!((postfix.from.as_deref(), postfix.from_ip.as_deref()), (Some("192.0.2.7"), Some("192.0.2.7")));
        let exchange = parse("from AM6PR01MB1.eurprd01.prod.exchangelabs.com (2603:10a6:20b:1::1) by AM0PR01MB2.eurprd01.prod.exchangelabs.com (2603:10a6:208:2::2) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7677.26 via Frontend Transport; Tue, 24 Nov 2026 08:00:01 +0000");
        assert_eq!(exchange.tls.as_deref(), Some("TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
        assert_eq!(exchange.with.as_deref(), Some("Microsoft SMTP Server"));
        assert_eq!(exchange.from_ip.as_deref(), Some("2603:10a6:20b:1::1"));
        assert_eq!(exchange.id.as_deref(), Some("15.20.7677.26"));
        let gmail = parse("from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id a1sor for <bob@example.test> (Google Transport Security); Tue, 24 Nov 2026 08:00:01 -0800 (PST)");
        assert_eq!(gmail.from_ip.as_deref(), Some("209.85.220.41"));
        let gmail = parse("from mx.example.test by mx.google.com with ESMTPS id x for <b@example.test> (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256 bits=128/128); Tue, 24 Nov 2026 08:00:01 -0800 (PST)");
        assert_eq!(gmail.tls.as_deref(), Some("TLSv1.3 TLS_AES_128_GCM_SHA256"));
        let exim = parse("from [192.0.2.9] (helo=client.example) by smtp.example with esmtps (TLS1.2) tls TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (Exim 4.96) (envelope-from <a@client.example>) id 1q-00; Tue, 24 Nov 2026 08:00:01 +0000");
        assert_eq!(exim.tls.as_deref(), Some("TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert_eq!(exim.with.as_deref(), Some("esmtps"));
        let old_exim = parse("from host.example ([192.0.2.9]:4242) by smtp.example with esmtp (TLSv1:AES256-SHA:256) (Exim 4.69) id 1K; Tue, 24 Nov 2026 08:00:01 +0000");
        assert_eq!(old_exim.tls.as_deref(), Some("TLSv1 AES256-SHA"));
        assert_eq!(old_exim.from_ip.as_deref(), Some("192.0.2.9"));
    }

    #[test]
    fn broken_fields_give_what_they_can() {
        let s = parse("from 192.0.2.5  (EHLO localhost) (192.0.2.5) by mx90.mail.example.com\n    with SMTP; Thu, 09 Apr 2008 23:34:45 -0800");
        assert_eq!((s.from_ip.as_deref(), s.by.as_deref()), (Some("192.0.2.5"), Some("mx90.mail.example.com")));
        assert!(s.at.is_some());
        let s = parse("from a by b with SMTP Tue, 24 Nov 2026 08:00:01 +0000");
        assert_eq!(utc(s.at), "2026-11-24 8:00:01.0 +00:00:00", "no semicolon before the date");
        for v in ["", ";", "((((", "from", "from (", ")))", "by by by by", "from [", "from [IPv6:"] {
            let _ = parse(v);
        }
        let _ = parse(&"(".repeat(100_000));
        let _ = parse(&"from x ".repeat(100_000));
    }
}
