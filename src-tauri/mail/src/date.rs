//! Dates as mail servers write them: RFC 5322 `date-time`, its obsolete forms (two-digit years, named zones,
//! no day of the week, no seconds) and the deviations real trace fields carry — a month before the day ("Fri,
//! Feb 15 2002 17:19:22 -0800", as RFC 8601's own examples write it), asctime's "Tue Nov 24 08:00:03 2026",
//! fractional seconds, a comment before or after the date, ISO 8601. Total: any input gives a time or `None`.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// The longest text read; a date is far shorter, the rest is ignored.
const MAX_LEN: usize = 256;

/// `text` as Unix seconds, or `None` when no date can be read from it. A date without a zone is taken as UTC
/// (RFC 5322 §4.3: "-0000" and unknown zones mean the local time is unknown).
pub fn parse(text: &str) -> Option<i64> {
    let text = match text.char_indices().nth(MAX_LEN) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let cleaned = without_comments(text).replace([',', '\t'], " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let (mut day, mut month, mut year, mut clock, mut zone) = (None, None, None, None, None);
    let mut numbers: Vec<u32> = Vec::new();
    for (i, &word) in words.iter().enumerate() {
        if let Some((y, m, d, rest)) = iso_date(word) {
            (year, month, day) = (Some(y), Some(m), Some(d));
            if let Some(rest) = rest {
                let (c, z) = clock_and_zone(rest)?;
                clock = Some(c);
                zone = zone.or(z);
            }
        } else if let Some(m) = month_named(word) {
            month = month.or(Some(m));
        } else if word.contains(':') && clock.is_none() {
            let (c, z) = clock_and_zone(word)?;
            clock = Some(c);
            zone = zone.or(z);
        } else if let Some(z) = zone_named(word, clock.is_some() || i + 1 == words.len()) {
            zone = zone.or(Some(z));
        } else if let Ok(n) = word.parse::<u32>() {
            numbers.push(n);
        }
    }
    // The numbers left are the day and the year, in either order: a day has one or two digits, a year four.
    for n in numbers {
        if day.is_none() && (1..=31).contains(&n) {
            day = Some(n as u8);
        } else if year.is_none() {
            year = Some(match n {
                0..=49 => 2000 + n as i32,
                50..=999 => 1900 + n as i32,
                _ => n as i32,
            });
        }
    }
    let date = Date::from_calendar_date(year?, month?, day?).ok()?;
    let at = PrimitiveDateTime::new(date, clock.unwrap_or(Time::MIDNIGHT));
    Some(at.assume_offset(zone.unwrap_or(UtcOffset::UTC)).unix_timestamp())
}

/// `text` with its parenthesised comments (nested, escapes honoured) replaced by a space.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut escaped) = (0u32, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if depth > 0 => escaped = true,
            '(' => depth += 1,
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `2026-11-24`, `2026-11-24T08:00:03Z`: the date, and what follows the `T` when there is a time.
fn iso_date(word: &str) -> Option<(i32, Month, u8, Option<&str>)> {
    let (date, rest) = match word.split_once(['T', 't']) {
        Some((d, r)) => (d, Some(r)),
        None => (word, None),
    };
    let mut it = date.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Some((y.parse().ok()?, month, d.parse().ok()?, rest))
}

/// `08:00`, `08:00:03`, `08:00:03.123`, optionally followed by a zone (`Z`, `+01:00`, `-0800`).
fn clock_and_zone(word: &str) -> Option<(Time, Option<UtcOffset>)> {
    let split = word.find(['+', '-', 'Z', 'z']).unwrap_or(word.len());
    let (clock, zone) = word.split_at(split);
    let mut parts = clock.split(':');
    let hour: u8 = parts.next()?.parse().ok()?;
    let minute: u8 = parts.next()?.parse().ok()?;
    let second = match parts.next() {
        // Fractional seconds are dropped; a leap second counts as the last one.
        Some(s) => s.split('.').next()?.parse::<u8>().ok()?.min(59),
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let zone = if zone.is_empty() { None } else { Some(numeric_zone(zone).or_else(|| zone_named(zone, true))?) };
    Some((Time::from_hms(hour, minute, second).ok()?, zone))
}

fn month_named(word: &str) -> Option<Month> {
    let w = word.get(..3)?.to_ascii_lowercase();
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let n = months.iter().position(|m| *m == w)?;
    // "Mar" but not "Marvel": a month name is its abbreviation or the whole name.
    let whole = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = word.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    (lower.len() == 3 || whole[n] == lower || lower == "sept").then(|| Month::try_from(n as u8 + 1).ok())?
}

/// `+0900`, `-08:00`, `+09`.
fn numeric_zone(word: &str) -> Option<UtcOffset> {
    let sign: i8 = match word.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = word[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i8 = digits[..2].parse().ok()?;
    let minutes: i8 = digits.get(2..).map_or(Ok(0), str::parse).ok()?;
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// A zone by number or by name (RFC 5322's obsolete US zones, and the names servers use beside them). Letters
/// alone are zones only where a zone can be (after the time, or last): elsewhere "A" or "M" are words.
fn zone_named(word: &str, in_place: bool) -> Option<UtcOffset> {
    if let Some(z) = numeric_zone(word) {
        return Some(z);
    }
    if !in_place {
        return None;
    }
    let hours = match word.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" | "WET" => 0,
        "BST" | "CET" | "MET" | "WEST" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" | "MSK" => 3,
        "IST" => return UtcOffset::from_hms(5, 30, 0).ok(),
        "JST" | "KST" => 9,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => return None,
    };
    UtcOffset::from_hms(hours, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn at(text: &str) -> Option<String> {
        parse(text).map(|t| time::OffsetDateTime::from_unix_timestamp(t).unwrap().to_string())
    }

    #[test]
    fn rfc_5322_and_its_obsolete_forms() {
        let utc = Some("2026-11-24 8:00:03.0 +00:00:00".to_owned());
        assert_eq!(at("Tue, 24 Nov 2026 08:00:03 +0000"), utc);
        assert_eq!(at("Tue, 24 Nov 2026 08:00:03 +0000 (UTC)"), utc);
        assert_eq!(at("24 Nov 2026 08:00:03 GMT"), utc);
        assert_eq!(at("Tue, 24 Nov 26 03:00:03 EST"), utc);
        // RFC 5322 Appendix A.4's trace field: no day of the week.
        assert_eq!(at("21 Nov 1997 10:05:43 -0600"), Some("1997-11-21 16:05:43.0 +00:00:00".to_owned()));
        assert_eq!(at("Tue, 24 Nov 2026 09:00 +0100"), Some("2026-11-24 8:00:00.0 +00:00:00".to_owned()));
    }

    #[test]
    fn what_real_trace_fields_write() {
        // RFC 8601 Appendix B.5 writes the month before the day.
        assert_eq!(at("Fri, Feb 15 2002 17:19:22 -0800"), Some("2002-02-16 1:19:22.0 +00:00:00".to_owned()));
        let utc = Some("2026-11-24 8:00:03.0 +00:00:00".to_owned());
        assert_eq!(at("Tue Nov 24 08:00:03 2026"), utc, "asctime");
        assert_eq!(at("Tue, 24 Nov 2026 08:00:03.482 +0000"), utc, "fractional seconds");
        assert_eq!(at("(envelope-from <a@b.example>) Tue, 24 Nov 2026 08:00:03 +0000"), utc, "comment first");
        assert_eq!(at("2026-11-24T08:00:03Z"), utc);
        assert_eq!(at("2026-11-24 09:00:03 +01:00"), utc);
        assert_eq!(at("Tuesday, 24 November 2026 17:00:03 JST"), utc);
    }

    #[test]
    fn nonsense_is_no_date() {
        for text in ["", "yesterday", "Tue, 31 Feb 2026 08:00:00 +0000", "99:99", "(((", "Nov", "1 2 3 4 5 6"] {
            assert_eq!(parse(text), None, "{text}");
        }
        let _ = parse(&"(".repeat(10_000));
        let _ = parse(&"12:".repeat(10_000));
    }
}
