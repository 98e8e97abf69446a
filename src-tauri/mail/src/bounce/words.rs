//! The small readers the bounce formats share: addresses, SMTP reply codes, enhanced status codes, folded lines.

/// An address as reports write them: an RFC 5322 dot-atom local part (or a quoted one) and a domain of labels.
pub(super) fn is_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let local_ok = (local.len() > 2 && local.starts_with('"') && local.ends_with('"'))
        || (!local.is_empty() && local.chars().all(atext) && !local.starts_with('.') && !local.ends_with('.'));
    let label_ok = |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    local_ok && domain.contains('.') && domain.split('.').all(label_ok)
}

/// The address a report wrote as `word`, without the brackets and punctuation around it (`<a@b>,`, `a@b.`).
pub(super) fn address_word(word: &str) -> Option<&str> {
    let a = word.trim_matches(['<', '>', ',', ';', ':']).trim_end_matches('.').trim_matches(['<', '>']);
    is_address(a).then_some(a)
}

/// Header fields of a returned message, whose addresses are not failed recipients.
pub(super) fn is_header_line(line: &str) -> bool {
    let Some((name, _)) = line.split_once(':') else { return false };
    let name = name.trim().to_ascii_lowercase();
    [
        "message-id",
        "in-reply-to",
        "references",
        "from",
        "sender",
        "reply-to",
        "return-path",
        "received",
        "date",
        "subject",
        "to",
        "cc",
        "delivered-to",
        "envelope-to",
        "errors-to",
    ]
    .contains(&name.as_str())
        || name.starts_with("x-")
        // "Original Sender:", "Envelope-From:": whoever sent it did not fail.
        || name.contains("sender")
        || name.ends_with("from")
}

/// Where a three-digit SMTP reply code (4xx/5xx) starts in `s`.
pub(super) fn smtp_code(s: &str) -> Option<usize> {
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

pub(super) fn unfold_lines(s: &str) -> Vec<String> {
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

pub(super) fn strip_tags(html: &str) -> String {
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
}
