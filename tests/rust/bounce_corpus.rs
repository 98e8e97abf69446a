//! Bounce reading against real bounces of many mail systems: the Sisimai project's `set-of-emails`, read in place
//! from `../shared/corpora/bounces-sisimai/` (BSD 2-Clause; not copied here) with Sisimai 4.25's reading of each in
//! `expected.json`. Prints the figures the bounce issue names and fails when one falls below what Mailproof
//! reached: the floors rise with the reader, up to the targets (>= 98% recipients, 0 non-bounces read as
//! bounces, 0 panics). Skipped with a message where the corpus is absent, as in a user's own clone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mailproof_mail::bounce::{self, ReasonClass};
use mailproof_tests::sisimai_corpus as corpus;

/// What this version reaches; a change that reads fewer right fails here.
const RECIPIENTS_FLOOR: f64 = 0.98;
/// Files of `not-bounces/` Mailproof reads as a bounce, and why each is not (yet) counted as a miss.
const DISPUTED: &[(&str, &str)] = &[(
    "rb-issue-368-bug.eml",
    "a postmaster's 'email bounce notification': 'rejected and discarded … Mailbox full', target address named — \
     it reads as a bounce to us; the corpus files it under not-bounces (Sisimai issue 368)",
)];
/// What reaches the reason class, and the floor under it.
const CLASS_FLOOR: f64 = 0.95;

/// Bounces whose reason Sisimai reads against the bounce's own words, with the class Mailproof gives each and
/// why. Left out of the reason-class share (and printed, with the share against Sisimai's reading of every file);
/// a file listed here that Mailproof reads in another class than the one given counts as wrong.
const CLASS_DISPUTED: &[(&str, ReasonClass, &str)] = &[
    ("rhost-zoho-03.eml", ReasonClass::Defence, "\"Email flagged as Spam\": a spam filter refused it (Sisimai: securityerror)"),
    ("rhost-zoho-02.eml", ReasonClass::Defence, "\"Email policy violation detected\" (5.7.7): a policy control (Sisimai: securityerror)"),
    ("lhost-postfix-80.eml", ReasonClass::Defence, "\"MailFrom domain is listed in Spamhaus\": a block list (Sisimai: userunknown, from 5.1.0)"),
    (
        "lhost-exim-56.eml",
        ReasonClass::Delivery,
        "\"You've reached your daily relay quota\": the sender's own allowance, no control on the message (Sisimai: blocked)",
    ),
    (
        "lhost-v5sendmail-05.eml",
        ReasonClass::Delivery,
        "\"Connection reset by peer during result wait\": the connection failed, nothing names a control (Sisimai: blocked)",
    ),
    (
        "lhost-sendmail-21.eml",
        ReasonClass::Delivery,
        "\"Deferred: Connection refused by mx… could not be delivered for 8 hours\": retries ran out against a closed \
         port (Sisimai: blocked)",
    ),
    (
        "rhost-google-04.eml",
        ReasonClass::Defence,
        "5.7.26 \"blocked because the sender is unauthenticated\": the receiver's sender-authentication control \
         refused it — for Mailproof the control spoofing actions test (Sisimai: securityerror, a sending problem)",
    ),
    (
        "rhost-microsoft-06.eml",
        ReasonClass::Defence,
        "5.7.515 \"sending domain doesn't meet the required authentication level\": the same control at Microsoft \
         (Sisimai: securityerror)",
    ),
    (
        "rhost-google-08.eml",
        ReasonClass::Defence,
        "\"not RFC 5322 compliant … multiple Subject headers\": a compliance control — what Sisimai itself calls \
         notcompliantrfc, a refusal (Sisimai here: securityerror)",
    ),
];

/// Sisimai's reason as a class: did a control refuse the message, or did it never meet one? Its `filtered` mixes
/// both ("rejected after DATA", for content or, as often, for an unknown user — its documentation says so), so it
/// is left out of the comparison and counted apart.
fn sisimai_class(reason: &str) -> ReasonClass {
    match reason {
        "spamdetected" | "virusdetected" | "policyviolation" | "blocked" | "rejected" | "contenterror"
        | "authfailure" | "badreputation" | "requireptr" | "notcompliantrfc" => ReasonClass::Defence,
        "userunknown" | "mailboxfull" | "hostunknown" | "notaccept" | "mesgtoobig" | "exceedlimit" | "norelaying"
        | "expired" | "networkerror" | "systemerror" | "systemfull" | "mailererror" | "suspend" | "hasmoved"
        | "securityerror" | "syntaxerror" | "toomanyconn" | "speeding" | "ratelimited" => ReasonClass::Delivery,
        _ => ReasonClass::Unknown,
    }
}

/// Sisimai's reasons for messages that are not failures.
const NOT_FAILURES: [&str; 3] = ["delivered", "vacation", "feedback"];

fn read(path: &Path) -> Result<Option<bounce::Bounce>, String> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::panic::catch_unwind(|| bounce::parse(&raw)).map_err(|_| format!("{} panicked", path.display()))
}

#[test]
fn real_bounces_are_read_as_sisimai_reads_them_and_nothing_else_is_read_as_one() {
    let Some(dir) = corpus() else { return };
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut panics = Vec::new();
    let (mut right, mut counted) = (0usize, 0usize);
    let (mut class_right, mut class_counted) = (0usize, 0usize);
    let mut class_confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut delays = 0usize;
    let mut disputed = 0usize;
    let mut filtered: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut wrong_by_system: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut beyond_sisimai = Vec::new();
    let mut misread = Vec::new();
    for entry in expected.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let results = entry["results"].as_array().unwrap();
        let got = match read(&dir.join(file)) {
            Ok(b) => b,
            Err(p) => {
                panics.push(p);
                continue;
            }
        };
        let got_addresses: BTreeSet<String> = got
            .iter()
            .flat_map(|b| &b.recipients)
            .filter(|r| !r.address.is_empty())
            .map(|r| r.address.to_ascii_lowercase())
            .collect();
        if results.is_empty() {
            // Sisimai could not read it: a reading here is a gain, when it names someone.
            if !got_addresses.is_empty() {
                beyond_sisimai.push(file.to_owned());
            }
            continue;
        }
        let failures: BTreeSet<String> = results
            .iter()
            .filter(|r| !NOT_FAILURES.contains(&r["reason"].as_str().unwrap()))
            .map(|r| r["recipient"].as_str().unwrap().to_ascii_lowercase())
            .collect();
        if failures.is_empty() {
            // An auto-reply, a feedback report or a success notice: never a permanent bounce.
            if got.as_ref().is_some_and(|b| b.permanent) {
                misread.push(file.to_owned());
            }
            continue;
        }
        let system = file.trim_start_matches("bounces/").rsplit_once('-').map_or(file, |(s, _)| s).to_owned();
        let tally = wrong_by_system.entry(system).or_default();
        tally.1 += 1;
        counted += 1;
        if got_addresses == failures {
            right += 1;
        } else {
            tally.0 += 1;
        }
        // The class of each recipient both read, where Sisimai names one.
        for r in results {
            let theirs = r["reason"].as_str().unwrap();
            let want = sisimai_class(theirs);
            let address = r["recipient"].as_str().unwrap();
            let mine = got.iter().flat_map(|b| &b.recipients).find(|m| m.address.eq_ignore_ascii_case(address));
            let Some(mine) = mine else { continue };
            if theirs == "filtered" {
                let ours = match mine.reason_class {
                    ReasonClass::Defence => "defence",
                    ReasonClass::Delivery => "delivery",
                    ReasonClass::Unknown => "unknown",
                };
                *filtered.entry(ours).or_default() += 1;
            }
            if want == ReasonClass::Unknown {
                continue;
            }
            // A delay notice is not final here (the message may still arrive), so it has no reason yet; Sisimai
            // calls it expired. Counted apart.
            if theirs == "expired" && got.as_ref().is_some_and(|b| !b.permanent) {
                delays += 1;
                continue;
            }
            let name = file.trim_start_matches("bounces/");
            if mine.reason_class != want && CLASS_DISPUTED.iter().any(|(f, c, _)| *f == name && *c == mine.reason_class)
            {
                disputed += 1;
                continue;
            }
            class_counted += 1;
            if mine.reason_class == want {
                class_right += 1;
            } else {
                let key = (r["reason"].as_str().unwrap().to_owned(), mine.reason.label().to_owned());
                *class_confusion.entry(key).or_default() += 1;
                // MAILPROOF_CORPUS_DETAIL=1 names each file and what the reader saw, for whoever works on it.
                if std::env::var_os("MAILPROOF_CORPUS_DETAIL").is_some() {
                    println!(
                        "  class: {file} {address}: Sisimai {theirs}, here {} (status {:?}, diagnostic {:?})",
                        mine.reason.label(),
                        mine.status,
                        mine.diagnostic.as_deref().map(|d| d.chars().take(160).collect::<String>())
                    );
                }
            }
        }
    }
    for f in std::fs::read_dir(dir.join("not-bounces")).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        match read(&f.path()) {
            Err(p) => panics.push(p),
            Ok(Some(_)) if !DISPUTED.iter().any(|(d, _)| *d == name) => misread.push(format!("not-bounces/{name}")),
            Ok(_) => {}
        }
    }
    let share = right as f64 / counted as f64;
    println!("bounce corpus: {counted} bounces Sisimai reads with a failed recipient");
    println!("  recipients right: {right} of {counted} = {:.1}% (target >= 98%)", share * 100.0);
    let class_share = class_right as f64 / class_counted.max(1) as f64;
    println!(
        "  reason class right (defence or delivery, against Sisimai's reason): {class_right} of {class_counted} = \
         {:.1}% (target >= 95%), {disputed} disputed left out (below); against Sisimai's reading of every file: \
         {class_right} of {} = {:.1}%",
        class_share * 100.0,
        class_counted + disputed,
        class_right as f64 / (class_counted + disputed).max(1) as f64 * 100.0
    );
    for (f, c, why) in CLASS_DISPUTED {
        println!("    disputed: bounces/{f} ({c:?} here): {why}");
    }
    println!("  Sisimai's 'filtered' (left out above), as Mailproof reads it: {filtered:?}");
    println!("  delay notices Sisimai calls expired (not final here, left out above): {delays}");
    let mut confusion: Vec<_> = class_confusion.into_iter().collect();
    confusion.sort_by_key(|c| std::cmp::Reverse(c.1));
    for ((theirs, ours), n) in confusion.iter().take(15) {
        println!("    Sisimai {theirs}, Mailproof {ours}: {n}");
    }
    println!("  read where Sisimai 4.25 reads nothing: {} files {beyond_sisimai:?}", beyond_sisimai.len());
    println!("  non-bounces read as permanent bounces: {} {misread:?} (target 0)", misread.len());
    println!("  panics: {} (target 0)", panics.len());
    for (d, why) in DISPUTED {
        println!("  disputed: not-bounces/{d}: {why}");
    }
    println!("  still wrong, by mail system (wrong/all):");
    for (system, (wrong, all)) in wrong_by_system.iter().filter(|(_, (w, _))| *w > 0) {
        println!("    {system}: {wrong}/{all}");
    }
    assert!(panics.is_empty(), "{panics:?}");
    assert!(misread.is_empty(), "read as bounces: {misread:?}");
    assert!(share >= RECIPIENTS_FLOOR, "recipients right fell to {:.1}%", share * 100.0);
    assert!(class_share >= CLASS_FLOOR, "reason class right fell to {:.1}%", class_share * 100.0);
}
