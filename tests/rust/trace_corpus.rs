//! The Received trace and the authentication results of real mail: every Received, Authentication-Results and
//! ARC-Authentication-Results field in the Sisimai project's `set-of-emails` (the bounces and the returned
//! messages inside them — many mail systems, many years), read in place from `../shared/corpora/bounces-sisimai/`
//! (BSD 2-Clause; not copied here). There is no reference reading of these fields, so each is checked against
//! what its own text says, read a second, simpler way: a host the reader names must stand outside the field's
//! comments; a field with a `;` has a date after it; every method a field's `;`-separated results name is read.
//! Prints the figures and fails when one falls below what the reader reaches. Skipped with a message where the
//! corpus is absent, as in a user's own clone.

use std::collections::BTreeMap;
use std::path::Path;

use mailproof_mail::{authres, received};
use mailproof_tests::sisimai_corpus as corpus;

/// Share of dated Received fields whose date is read.
const DATES_FLOOR: f64 = 0.999;

/// Every field called `name` (case-insensitive) anywhere in the corpus, headers of returned messages included,
/// unfolded, with the file it came from. Fields still in a returned part's transfer encoding ("=3D", a soft line
/// break "=" at the end, "&#43;") are left out: Mailproof reads headers decoded, never these.
/// How many were left out is the second number.
fn fields(dir: &Path, name: &str) -> (Vec<(String, String)>, usize) {
    let mut out = Vec::new();
    for sub in ["bounces", "not-bounces"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut current: Option<String> = None;
            for line in text.lines() {
                match &mut current {
                    Some(v) if line.starts_with([' ', '\t']) => {
                        v.push(' ');
                        v.push_str(line.trim());
                        continue;
                    }
                    Some(_) => out.push((file.clone(), current.take().unwrap())),
                    None => {}
                }
                let head = line.get(..name.len() + 1);
                if head.is_some_and(|h| h.eq_ignore_ascii_case(&format!("{name}:"))) {
                    current = Some(line[name.len() + 1..].trim().to_owned());
                }
            }
            out.extend(current.map(|v| (file.clone(), v)));
        }
    }
    let encoded = |v: &str| v.contains("=3D") || v.contains("&#") || v.ends_with('=') || v.ends_with("=20");
    let total = out.len();
    out.retain(|(_, v)| !encoded(v));
    let left_out = total - out.len();
    (out, left_out)
}

/// `text` without its parenthesised comments: the second, simpler reading.
fn outside_comments(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .map(|c| match c {
            '(' => {
                depth += 1;
                ' '
            }
            ')' => {
                depth = depth.saturating_sub(1);
                ' '
            }
            _ if depth > 0 => ' ',
            c => c,
        })
        .collect()
}

#[test]
fn real_received_fields_name_hosts_from_their_clauses_and_are_dated() {
    let Some(dir) = corpus() else { return };
    let (all, encoded) = fields(&dir, "Received");
    let (mut dated, mut dates_read, mut ips, mut tls, mut pickups) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut from_comments = Vec::new();
    let mut undated = Vec::new();
    for (file, value) in &all {
        let s = received::parse(value);
        let outside = outside_comments(value);
        let words: Vec<&str> = outside.split(|c: char| c.is_whitespace() || c == ';').collect();
        for host in [&s.from, &s.by].into_iter().flatten() {
            let stands = words.iter().any(|w| {
                let w = w.trim_matches(|c| matches!(c, '[' | ']' | ','));
                w == host || w.strip_prefix("IPv6:") == Some(host.as_str())
            });
            if !stands {
                from_comments.push(format!("{file}: {host:?} in {value}"));
            }
        }
        if outside.contains(';') {
            dated += 1;
            if s.at.is_some() {
                dates_read += 1;
            } else {
                undated.push(format!("{file}: {value}"));
            }
        }
        ips += usize::from(s.from_ip.is_some());
        tls += usize::from(s.tls.is_some());
        pickups += usize::from(s.pickup.is_some());
    }
    let share = dates_read as f64 / dated.max(1) as f64;
    println!("Received fields: {} (and {encoded} still transfer-encoded, left out)", all.len());
    println!("  dates read: {dates_read} of {dated} with a date ({:.1}%)", share * 100.0);
    println!("  sending addresses: {ips}; TLS stated: {tls}; local pick-ups: {pickups}");
    println!("  hosts taken from comments: {}", from_comments.len());
    for u in undated.iter().take(20) {
        println!("  not dated: {u}");
    }
    assert!(all.len() > 1_000, "the corpus holds over 2,000 Received fields; found {}", all.len());
    assert!(from_comments.is_empty(), "hosts read from comments:\n{}", from_comments.join("\n"));
    assert!(share >= DATES_FLOOR, "dates read {share:.3} < {DATES_FLOOR}");
}

#[test]
fn real_authentication_results_read_every_method_they_name() {
    let Some(dir) = corpus() else { return };
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    let (mut count, mut missed) = (0usize, Vec::new());
    let (mut policies, mut encoded) = (0usize, 0usize);
    for (name, arc) in [("Authentication-Results", false), ("ARC-Authentication-Results", true)] {
        let (all, left_out) = fields(&dir, name);
        encoded += left_out;
        for (file, value) in all {
            count += 1;
            let got = authres::parse(&value, arc);
            // The simpler reading: after the authserv-id (and ARC's instance), each `;` part begins `name=`: a
            // method, or a property some receivers write after its method's `;` (Yahoo's `header.i`, `from`).
            let outside = outside_comments(&value);
            let mut parts: Vec<&str> = outside.split(';').collect();
            let first_word = parts[0].split_whitespace().next().unwrap_or("");
            let skip = usize::from(!first_word.contains('=')) + usize::from(arc);
            parts.drain(..skip.min(parts.len()));
            for part in parts {
                let Some((method, _)) = part.split_once('=') else { continue };
                let method = method.split_whitespace().collect::<String>().to_ascii_lowercase();
                let method = method.split('/').next().unwrap_or("").to_owned();
                let read = got.results.iter().any(|r| r.method == method)
                    || got.results.iter().any(|r| r.properties.iter().any(|p| p.name == method));
                if !read && method != "none" {
                    missed.push(format!("{file}: {method:?} in {value}"));
                }
            }
            for r in &got.results {
                *methods.entry(format!("{} {}", r.method, r.result)).or_default() += 1;
                policies += usize::from(r.policy.is_some());
            }
        }
    }
    println!(
        "authentication fields: {count} (and {encoded} still transfer-encoded, left out); methods read: {}",
        methods.values().sum::<usize>()
    );
    println!("  DMARC policies read: {policies}");
    for (m, n) in &methods {
        println!("  {m}: {n}");
    }
    assert!(count > 200, "the corpus holds over 200 such fields; found {count}");
    assert!(missed.is_empty(), "methods not read:\n{}", missed.join("\n"));
}
