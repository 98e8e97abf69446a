//! Authentication-Results (RFC 8601) and ARC-Authentication-Results (RFC 8617) read into methods, results,
//! reasons and properties. Comments may stand between any two elements ("dkim (Because I like it) / 1 = fail",
//! RFC 8601 B.7) and are kept apart as text, never read as values; a value may be a quoted string. What real
//! receivers write beside the grammar is read too: Microsoft's field without an authserv-id and its `action=`,
//! Gmail's DMARC policy in a comment ("(p=REJECT sp=REJECT dis=NONE)"), Yahoo's orphan `header.i=` after a
//! `dkim=`. Total and linear: any input gives a reading, what does not fit is left out.

use serde::{Deserialize, Serialize};

/// The longest field read.
const MAX_LEN: usize = 16 * 1024;
/// Methods kept per field, at most.
const MAX_RESULTS: usize = 64;

/// One Authentication-Results or ARC-Authentication-Results field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AuthResults {
    /// Who checked (the authserv-id, usually the receiving host's name); Microsoft leaves it out.
    pub authserv_id: Option<String>,
    /// The ARC instance (`i=`) of an ARC-Authentication-Results field; `None` for Authentication-Results.
    pub arc_instance: Option<u32>,
    /// The hop that added the field, as an index into the Received trace (origin first), when it can be told.
    pub hop: Option<u32>,
    pub results: Vec<MethodResult>,
    /// "SPF pass · DKIM none · DMARC fail (p=reject)": each method once, in the field's order; "none" when the
    /// field names no method.
    pub summary: String,
}

/// What one method found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct MethodResult {
    /// `spf`, `dkim`, `dmarc`, `arc`, `iprev`, `auth`, … lower case.
    pub method: String,
    /// `pass`, `fail`, `softfail`, `none`, `neutral`, `temperror`, `permerror`, … lower case.
    pub result: String,
    /// The `reason=` value.
    pub reason: Option<String>,
    /// `smtp.mailfrom`, `header.d`, `header.from`, `policy.dmarc`, … in order, names lower case.
    pub properties: Vec<Property>,
    /// DMARC's published policy (`reject`, `quarantine`, `none`) when the field says it.
    pub policy: Option<String>,
    /// The comments beside the result, joined (Gmail's "google.com: domain of … designates …").
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub name: String,
    pub value: String,
}

impl MethodResult {
    /// The first value of property `name` (`header.from`, `smtp.mailfrom`).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|p| p.name == name).map(|p| p.value.as_str())
    }

    /// A sender-authentication check that did not pass for a reason of the message (not a lookup failure).
    pub fn failed(&self) -> bool {
        matches!(self.method.as_str(), "spf" | "dkim" | "dmarc" | "arc" | "sender-id" | "compauth" | "iprev")
            && matches!(self.result.as_str(), "fail" | "softfail" | "hardfail" | "permerror")
    }

    /// "DMARC fail (p=reject)".
    pub fn label(&self) -> String {
        let name = match self.method.as_str() {
            "spf" => "SPF",
            "dkim" => "DKIM",
            "dmarc" => "DMARC",
            "arc" => "ARC",
            "auth" => "SMTP AUTH",
            "sender-id" => "Sender ID",
            "domainkeys" => "DomainKeys",
            other => other,
        };
        match &self.policy {
            Some(p) => format!("{name} {} (p={p})", self.result),
            None => format!("{name} {}", self.result),
        }
    }
}

impl AuthResults {
    /// Each method once, in the field's order; a method that reports twice with different results shows both
    /// ("DKIM pass/fail").
    fn summarise(&self) -> String {
        if self.results.is_empty() {
            return "none".into();
        }
        let mut shown: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.results {
            let label = r.label();
            match shown.iter_mut().find(|(m, _)| *m == r.method) {
                Some((_, labels)) if !labels.contains(&label) => labels.push(label),
                Some(_) => {}
                None => shown.push((r.method.clone(), vec![label])),
            }
        }
        shown
            .into_iter()
            .map(|(_, labels)| match labels.split_first() {
                Some((first, rest)) if !rest.is_empty() => {
                    let results: Vec<&str> = rest.iter().filter_map(|l| l.rsplit(' ').next()).collect();
                    format!("{first}/{}", results.join("/"))
                }
                _ => labels.concat(),
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The field a message's own receiver added last: the first Authentication-Results in header order (ARC's
/// copies are older hops' readings sealed for later ones).
pub fn newest(fields: &[AuthResults]) -> Option<&AuthResults> {
    fields.iter().find(|f| f.arc_instance.is_none())
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Quoted(String),
    Comment(&'a str),
    Equals,
    Semicolon,
}

fn tokens(value: &str) -> Vec<Token<'_>> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => {
                let (start, end) = (i + 1, crate::received::comment_end(bytes, i));
                out.push(Token::Comment(value.get(start..end).unwrap_or("").trim()));
                i = end + 1;
            }
            b'"' => {
                let mut text = String::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        i += 1;
                    }
                    let len = utf8_len(bytes[i]);
                    text.push_str(value.get(i..i + len).unwrap_or(""));
                    i += len;
                }
                out.push(Token::Quoted(text));
                i += 1;
            }
            b'=' => {
                out.push(Token::Equals);
                i += 1;
            }
            b';' => {
                out.push(Token::Semicolon);
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !b"()\";=".contains(&bytes[i]) && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                out.push(Token::Word(value.get(start..i).unwrap_or("")));
            }
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Reads one field's value. `arc` for ARC-Authentication-Results, whose value begins with `i=N;`.
pub fn parse(value: &str, arc: bool) -> AuthResults {
    let value = match value.char_indices().nth(MAX_LEN) {
        Some((i, _)) => &value[..i],
        None => value,
    };
    let tokens = tokens(value);
    let mut segments = tokens.split(|t| *t == Token::Semicolon);
    let mut out = AuthResults::default();
    let mut first = segments.next().unwrap_or(&[]);
    if arc {
        out.arc_instance =
            pairs(first).into_iter().find(|(k, _)| k.eq_ignore_ascii_case("i")).and_then(|(_, v)| v.parse().ok());
        first = segments.next().unwrap_or(&[]);
    }
    // The authserv-id, unless the field starts with a result (Microsoft writes none).
    let mut pending: Vec<&[Token]> = Vec::new();
    let mut ahead = Vec::new();
    let mut significant = first.iter().filter(|t| !matches!(t, Token::Comment(_)));
    if matches!((significant.next(), significant.next()), (Some(Token::Word(_)), Some(Token::Equals))) {
        pending.push(first);
    } else {
        out.authserv_id = first.iter().find_map(|t| match t {
            Token::Word(w) => Some((*w).to_owned()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        });
        // Yahoo: "mta.example  from=example.jp; domainkeys=…": the identity the next method checked.
        ahead.extend(pairs(first).into_iter().map(|(name, value)| Property { name: name.to_ascii_lowercase(), value }));
    }
    for segment in pending.into_iter().chain(segments) {
        read_resinfo(segment, &mut out.results, &mut ahead);
        if out.results.len() >= MAX_RESULTS {
            break;
        }
    }
    out.summary = out.summarise();
    out
}

/// `smtp.mailfrom`, `header.i`, `policy.dmarc`: a ptype and a property, as opposed to a host name.
fn is_property_name(w: &str) -> bool {
    matches!(w.split('.').next().map(str::to_ascii_lowercase).as_deref(), Some("smtp" | "header" | "body" | "policy"))
        && w.matches('.').count() == 1
}

/// `key = value` pairs of a segment with comments dropped; a key may be spread over words ("policy . expired",
/// "dkim / 1"), a value is one word or quoted string.
fn pairs(segment: &[Token]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut key = String::new();
    let mut iter = segment.iter().filter(|t| !matches!(t, Token::Comment(_))).peekable();
    while let Some(t) = iter.next() {
        match t {
            Token::Word(w) => {
                let joins = key.ends_with(['.', '/']) || w.starts_with(['.', '/']);
                if !key.is_empty() && !joins {
                    key.clear();
                }
                key.push_str(w);
            }
            Token::Equals => {
                let value = match iter.peek() {
                    Some(Token::Word(v)) => (*v).to_owned(),
                    Some(Token::Quoted(q)) => q.clone(),
                    _ => {
                        out.push((std::mem::take(&mut key), String::new()));
                        continue;
                    }
                };
                iter.next();
                out.push((std::mem::take(&mut key), value));
            }
            Token::Quoted(_) | Token::Comment(_) | Token::Semicolon => key.clear(),
        }
    }
    out
}

/// Reads one `;`-separated part into `results`. `ahead` holds properties written before their method (Yahoo's
/// `from=`), given to the next one.
fn read_resinfo(segment: &[Token], results: &mut Vec<MethodResult>, ahead: &mut Vec<Property>) {
    let comment: Vec<&str> = segment
        .iter()
        .filter_map(|t| match t {
            Token::Comment(c) if !c.is_empty() => Some(*c),
            _ => None,
        })
        .collect();
    let mut pairs = pairs(segment).into_iter();
    let Some((method, result)) = pairs.next() else { return };
    let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
    if method.is_empty() {
        return;
    }
    if method == "none" {
        return;
    }
    if method == "from" {
        ahead.push(Property { name: method, value: result });
        return;
    }
    // A property after its method's semicolon: Yahoo's "dkim=pass (ok); header.i=@example", or SPF's
    // "client-ip=…; envelope-from=…; helo=…" as some receivers copy them from Received-SPF.
    let keyword = result.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_property_name(&method) || !keyword {
        if let Some(last) = results.last_mut() {
            last.properties.push(Property { name: method, value: result });
            last.properties.extend(pairs.map(|(name, value)| Property { name: name.to_ascii_lowercase(), value }));
        }
        return;
    }
    let mut r = MethodResult { method, result: result.to_ascii_lowercase(), ..MethodResult::default() };
    r.properties.append(ahead);
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        if name == "reason" {
            r.reason = Some(value);
        } else if !name.is_empty() {
            r.properties.push(Property { name, value });
        }
    }
    if r.method == "dmarc" {
        let stated = r.property("policy.dmarc").or_else(|| r.property("policy.published-domain-policy"));
        let in_comment = comment.iter().flat_map(|c| c.split_whitespace()).find_map(|w| w.strip_prefix("p="));
        r.policy = stated.or(in_comment).map(|p| p.trim_end_matches([',', ';']).to_ascii_lowercase());
    }
    if !comment.is_empty() {
        r.comment = Some(comment.join("; "));
    }
    results.push(r);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(a: &AuthResults) -> Vec<(String, String)> {
        a.results.iter().map(|r| (r.method.clone(), r.result.clone())).collect()
    }

    fn pair(m: &str, r: &str) -> (String, String) {
        (m.to_owned(), r.to_owned())
    }

    // The examples of RFC 8601 Appendix B, as the RFC writes them.
    #[test]
    fn rfc_8601_appendix_b() {
        let b2 = parse("example.org 1; none", false);
        assert_eq!((b2.authserv_id.as_deref(), b2.results.len()), (Some("example.org"), 0));

        let b3 = parse("example.com;\n          spf=pass smtp.mailfrom=example.net", false);
        assert_eq!(methods(&b3), [pair("spf", "pass")]);
        assert_eq!(b3.results[0].property("smtp.mailfrom"), Some("example.net"));

        let b4 = parse(
            "example.com;\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\n          spf=pass smtp.mailfrom=example.net",
            false,
        );
        assert_eq!(methods(&b4), [pair("auth", "pass"), pair("spf", "pass")]);
        assert_eq!(b4.results[0].comment.as_deref(), Some("cram-md5"));
        assert_eq!(b4.results[0].property("smtp.auth"), Some("sender@example.net"));
        let b4b = parse("example.com; iprev=pass\n          policy.iprev=192.0.2.200", false);
        assert_eq!(b4b.results[0].property("policy.iprev"), Some("192.0.2.200"));

        let b6 = parse(
            "example.com;\n    dkim=pass reason=\"good signature\"\n      header.i=@mail-router.example.net;\n    dkim=fail reason=\"bad signature\"\n      header.i=@newyork.example.com",
            false,
        );
        assert_eq!(methods(&b6), [pair("dkim", "pass"), pair("dkim", "fail")]);
        assert_eq!(b6.results[1].reason.as_deref(), Some("bad signature"));
        assert_eq!(b6.results[1].property("header.i"), Some("@newyork.example.com"));
        assert_eq!(b6.summary, "DKIM pass/fail");

        let b7 = parse(
            "foo.example.net (foobar) 1 (baz);\n    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\n      policy (A dot can go here) . (like that) expired\n      (this surprised me) = (as I wasn't expecting it) 1362471462",
            false,
        );
        assert_eq!(b7.authserv_id.as_deref(), Some("foo.example.net"));
        assert_eq!(methods(&b7), [pair("dkim", "fail")]);
        assert_eq!(b7.results[0].property("policy.expired"), Some("1362471462"));
        assert_eq!(b7.results[0].properties.len(), 1);
    }

    #[test]
    fn what_big_receivers_write() {
        // Gmail: the DMARC policy in a comment, a comment with a colon and an address.
        let gmail = parse("mx.google.com;\n       dkim=pass header.i=@googlemail.com header.s=20161025 header.b=MfBfLLZS;\n       spf=pass (google.com: best guess record for domain of postmaster@mail-sor-f69.google.com designates 209.85.220.69 as permitted sender) smtp.helo=mail-sor-f69.google.com;\n       dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=example.com", false);
        assert_eq!(gmail.summary, "DKIM pass · SPF pass · DMARC fail (p=reject)");
        assert!(gmail.results[1].comment.as_deref().unwrap().starts_with("google.com: best guess"));
        assert_eq!(gmail.results[2].property("header.from"), Some("example.com"));
        // Microsoft: no authserv-id, `action=`, compauth with a reason code.
        let ms = parse("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=none (message not signed) header.d=none;dmarc=fail action=quarantine header.from=example.com;compauth=fail reason=000", false);
        assert_eq!(ms.authserv_id, None);
        assert_eq!(ms.summary, "SPF pass · DKIM none · DMARC fail · compauth fail");
        assert_eq!(ms.results[2].property("action"), Some("quarantine"));
        assert_eq!(ms.results[3].reason.as_deref(), Some("000"));
        // Yahoo's property after its method's semicolon.
        let yahoo = parse("mta514.mail.example.co.jp  from=example.co.jp; domainkeys=pass (ok); dkim=pass (ok); header.i=@example.co.jp", false);
        assert_eq!(yahoo.authserv_id.as_deref(), Some("mta514.mail.example.co.jp"));
        assert_eq!(methods(&yahoo), [pair("domainkeys", "pass"), pair("dkim", "pass")]);
        assert_eq!(yahoo.results[0].property("from"), Some("example.co.jp"));
        assert_eq!(yahoo.results[1].property("header.i"), Some("@example.co.jp"));
        let arc = parse("i=2; lists.example.org; spf=pass smtp.mfrom=jqd@d1.example; dkim=pass (1024-bit key) header.i=@d1.example; dmarc=pass", true);
        assert_eq!((arc.arc_instance, arc.authserv_id.as_deref()), (Some(2), Some("lists.example.org")));
        assert_eq!(arc.results.len(), 3);
        assert!(newest(std::slice::from_ref(&arc)).is_none());
    }

    #[test]
    fn anything_gives_a_reading() {
        for v in ["", ";", "=", "a=", "=b", "x; =;=;", "(", "\"", "\\", "a; b=\"c", "a; ((((", "a; b/=c", "é; ü=ö"] {
            let _ = parse(v, false);
            let _ = parse(v, true);
        }
        let long = format!("a;{}", " dkim=pass".repeat(100_000));
        assert!(parse(&long, false).results.len() <= MAX_RESULTS);
        let _ = parse(&"(".repeat(100_000), false);
        let _ = parse(&"\"".repeat(100_001), false);
    }
}
