//! The fuzz targets (src-tauri/fuzz/targets.rs) on stable Rust: every saved input — the crashes campaigns found
//! (src-tauri/fuzz/regressions/<target>/), the fixtures, the real-world corpora in ../shared/corpora where they
//! are present — and inputs made here to be hostile (deep nesting, endless lines, every byte value), through every
//! target. A panic fails the test; how long the slowest input took is printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[allow(dead_code)] // the replay drives the targets through TARGETS
#[path = "../../src-tauri/fuzz/targets.rs"]
mod targets;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("README")) {
            out.push(p);
        }
    }
}

/// Inputs built to be hostile to a parser, whatever its format.
fn hostile() -> Vec<Vec<u8>> {
    let mut nested = b"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n".to_vec();
    for i in 1..2_000 {
        nested.extend_from_slice(
            format!("--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n", i - 1).as_bytes(),
        );
    }
    let mut headers = Vec::new();
    for i in 0..20_000 {
        headers.extend_from_slice(
            format!("Received: from h{i} (h{i} [10.0.0.{}]) by mx; 1 Jan 2026 00:00:00 +0000\r\n", i % 256).as_bytes(),
        );
    }
    let mut xml = String::from("<clientConfig>");
    xml.push_str(&"<emailProvider><incomingServer type=\"imap\">".repeat(5_000));
    vec![
        Vec::new(),
        (0..=255u8).collect(),
        vec![b'a'; 1 << 20],
        b"\r\n".repeat(100_000),
        nested,
        headers,
        xml.into_bytes(),
        b"* OK [CAPABILITY IMAP4rev1 ".iter().chain(b"(".repeat(50_000).iter()).copied().collect(),
        b"+OK\r\n+OK 1 ".iter().chain(b"9".repeat(100_000).iter()).copied().collect(),
        b"{\"mailbox\":".repeat(10_000),
    ]
}

#[test]
fn every_saved_and_hostile_input_passes_every_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut saved = Vec::new();
    files(&root.join("tests/fixtures"), &mut saved);
    let fixtures = saved.len();
    assert!(fixtures > 10, "the fixtures are found ({fixtures})");
    let regressions = root.join("src-tauri/fuzz/regressions");
    let before = saved.len();
    files(&regressions, &mut saved);
    let kept = saved.len() - before;
    let corpora = root.join("../shared/corpora");
    if corpora.is_dir() {
        files(&corpora, &mut saved);
    } else {
        eprintln!("../shared/corpora is absent (as in a user's clone): replaying the fixtures and regressions only");
    }
    let mut inputs: Vec<(String, Vec<u8>)> =
        saved.iter().map(|p| (p.display().to_string(), std::fs::read(p).unwrap())).collect();
    inputs.extend(hostile().into_iter().enumerate().map(|(i, h)| (format!("hostile input {i}"), h)));
    let mut slowest = (Duration::ZERO, String::new(), "");
    for (name, target) in targets::TARGETS {
        for (what, data) in &inputs {
            let started = Instant::now();
            let run = std::panic::catch_unwind(|| target(data));
            assert!(run.is_ok(), "{name} panicked on {what}");
            let took = started.elapsed();
            if took > slowest.0 {
                slowest = (took, what.clone(), name);
            }
        }
    }
    eprintln!(
        "{} inputs ({fixtures} fixtures, {kept} kept regressions) through {} targets; slowest: {} on {} in {:.0} ms",
        inputs.len(),
        targets::TARGETS.len(),
        slowest.2,
        slowest.1,
        slowest.0.as_secs_f64() * 1000.0
    );
}
