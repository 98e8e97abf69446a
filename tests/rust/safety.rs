//! Safety by construction: neither the source tree nor the build output carries the anti-virus or spam test
//! strings; they exist only in memory while a message is built.

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
