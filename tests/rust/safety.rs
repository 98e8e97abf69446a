//! Safety by construction: neither the source tree nor the build output carries the anti-virus or spam test
//! strings (they exist only in memory while a message is built), and no network connection is opened without a
//! deadline on what it reads.

use std::path::{Path, PathBuf};

use mailproof_core::actions::files::{eicar, gtube};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        if matches!(name.to_str(), Some("target" | "node_modules" | ".git" | "dist")) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_carries_the_test_strings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() > 100, "the whole tree is scanned ({})", files.len());
    let (e, g) = (eicar(), gtube().into_bytes());
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!contains(&bytes, &e), "{} contains the EICAR string", f.display());
        assert!(!contains(&bytes, &g), "{} contains the GTUBE string", f.display());
    }
}

#[test]
fn no_binary_carries_the_test_strings() {
    // This test's own executable links the whole core (the action library included); the command and the app
    // are scanned too when they have been built.
    let me = std::env::current_exe().unwrap();
    let dir = me.parent().unwrap().parent().unwrap().to_owned();
    let mut binaries = vec![me];
    for name in ["mailproof", "mailproof-desktop"] {
        for profile in ["debug", "release"] {
            let p = dir.parent().unwrap().join(profile).join(name);
            if p.exists() {
                binaries.push(p);
            }
        }
    }
    let (e, g) = (eicar(), gtube().into_bytes());
    for b in &binaries {
        let bytes = std::fs::read(b).unwrap();
        assert!(!contains(&bytes, &e), "{} contains the EICAR string", b.display());
        assert!(!contains(&bytes, &g), "{} contains the GTUBE string", b.display());
    }
    eprintln!("scanned {} binaries: {binaries:?}", binaries.len());
}

/// What opens a connection or a listener, or sends requests.
const NETWORK_OPENERS: &[&str] = &[
    "TcpStream::connect(",
    "TcpListener::bind(",
    "UdpSocket::bind(",
    "std::net::TcpStream",
    "reqwest::Client::builder(",
    "reqwest::Client::new(",
    "async_imap::Client::new(",
];

/// Every place in the product's code that opens one, and how its reads and writes are bounded in time. A new one
/// fails `every_network_opener_has_its_deadline` until it has a deadline and is named here.
const BOUNDED: &[(&str, &str, &str)] = &[
    ("mail/src/stream.rs", "TcpStream::connect(", "connects within the limit; stream::Tcp bounds every read and write"),
    ("mail/src/diagnose/steps.rs", "TcpStream::connect(", "the connection test; wrapped in stream::Tcp at once"),
    ("mail/src/discover/guess.rs", "TcpStream::connect(", "a port probe within the limit; reads nothing"),
    ("core/src/agent/client.rs", "TcpStream::connect(", "connect, handshake and answer each under a timeout"),
    ("mail/src/http.rs", "reqwest::Client::builder(", "every request has .timeout(); bodies read by read_capped"),
    ("mail/src/discover/http.rs", "reqwest::Client::builder(", "the client's own .timeout()"),
    (
        "mail/src/oauth/loopback.rs",
        "TcpListener::bind(",
        "accepts until the consent deadline; requests read within REQUEST_WAIT",
    ),
    ("cli/src/agent.rs", "TcpListener::bind(", "agent::serve: TLS handshake and request within PRE_AUTH_LIMIT"),
    (
        "mail/src/imap.rs",
        "async_imap::Client::new(",
        "over a MailStream (its patience); whole operations by imap::within",
    ),
];

/// The part of a source file that is not its unit tests.
fn product_code(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |at| &text[..at])
}

#[test]
fn every_network_opener_has_its_deadline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src-tauri");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut seen = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "rs")) {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("tests/") || rel.contains("/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for line in product_code(&text).lines() {
            for opener in NETWORK_OPENERS.iter().filter(|o| line.contains(*o)) {
                let known = BOUNDED.iter().find(|(file, o, _)| *file == rel && o == opener);
                assert!(
                    known.is_some(),
                    "{rel} opens the network with `{opener}` in `{}`: bound its reads and writes in time (stream::Tcp, \
                     a request .timeout(), tokio::time::timeout) and name it in BOUNDED",
                    line.trim()
                );
                if opener.contains("connect(") {
                    assert!(line.contains("timeout"), "{rel}: the connect in `{}` has no time limit", line.trim());
                }
                seen.push((rel.clone(), *opener));
            }
        }
    }
    for (file, opener, _) in BOUNDED {
        assert!(
            seen.iter().any(|(f, o)| f == file && o == opener),
            "{file} no longer uses `{opener}`: drop it from BOUNDED"
        );
    }
}
