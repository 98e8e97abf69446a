//! The rooms of `core` keep their layering: the store imports model files only, the mailbox seam imports none of
//! the engines that use it, the agent does not import verification, and no two core files import each other.
//! Read from the `crate::` and `super::` paths of each file, as `safety.rs` reads the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn core_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src-tauri/core/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's module path, e.g. `jobs/run/send.rs` → ["jobs", "run", "send"]; `jobs/mod.rs` → ["jobs"].
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The code outside `#[cfg(test)]` modules (tests may reach anywhere) and outside comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every module path a file names through `crate::` or `super::`, made absolute. `pub use` lines of a folder's
/// `mod.rs` (its face: they hand names on) are not counted.
fn named_paths(module: &[String], is_mod_file: bool, code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    let mut skip_face = false;
    for line in lines {
        let t = line.trim_start();
        if is_mod_file && t.starts_with("pub use ") {
            skip_face = !t.trim_end().ends_with(';');
            continue;
        }
        if skip_face {
            skip_face = !t.trim_end().ends_with(';');
            continue;
        }
        for (marker, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
            let mut rest = line;
            while let Some(at) = rest.find(marker) {
                let before = rest[..at].chars().last();
                rest = &rest[at + marker.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut path = base.clone();
                let mut tail = rest;
                loop {
                    let name: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if name.is_empty() {
                        // `crate::{a, b}`: each name of the group.
                        if let Some(group) = tail.strip_prefix('{') {
                            let end = group.find('}').unwrap_or(group.len());
                            for item in group[..end].split(',') {
                                let item: String =
                                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                                if !item.is_empty() {
                                    let mut p = path.clone();
                                    p.push(item);
                                    out.push(p);
                                }
                            }
                        }
                        break;
                    }
                    path.push(name.clone());
                    tail = &tail[name.len()..];
                    match tail.strip_prefix("::") {
                        Some(t) => tail = t,
                        None => break,
                    }
                }
                out.push(path);
            }
        }
    }
    out
}

/// What `super` names in module `module`: in `a/b.rs` and in `a/b/mod.rs` (both module a::b) it is `a`.
fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// Which file of `files` (by module path) a named path lands in: the longest module path that prefixes it.
fn file_for(path: &[String], modules: &BTreeMap<Vec<String>, String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]).cloned())
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = core_src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 40, "the core tree is read ({} files)", files.len());
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            (module_of(rel), rel.to_string_lossy().into_owned())
        })
        .collect();
    let mut edges = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let name = rel.to_string_lossy().into_owned();
        let is_mod_file = rel.ends_with("mod.rs") || rel.ends_with("lib.rs");
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        let targets: BTreeSet<String> = named_paths(&module_of(rel), is_mod_file, &code)
            .iter()
            .filter_map(|p| file_for(p, &modules))
            .filter(|t| *t != name && t != "lib.rs")
            .collect();
        edges.insert(name, targets);
    }
    edges
}

/// Files that hold only types (and their small pure methods): what the store may import.
const MODEL_FILES: &[&str] = &[
    "profiles/mod.rs",
    "directory.rs",
    "jobs/mod.rs",
    "actions/mod.rs",
    "actions/catalogue.rs",
    "actions/files.rs",
    "tracking/model.rs",
    "store/error.rs",
    "secrets.rs",
    "clock.rs",
    "ids.rs",
];

#[test]
fn no_two_core_files_import_each_other() {
    let edges = edges();
    let mut pairs = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                pairs.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(pairs.is_empty(), "core files that import each other:\n{}", pairs.join("\n"));
}

#[test]
fn the_store_imports_model_files_only() {
    let edges = edges();
    let mut wrong = Vec::new();
    for (file, targets) in edges.iter().filter(|(f, _)| f.starts_with("store/")) {
        for t in targets.iter().filter(|t| !t.starts_with("store/") && !MODEL_FILES.contains(&t.as_str())) {
            wrong.push(format!("{file} imports {t}"));
        }
    }
    assert!(wrong.is_empty(), "the store reaches into service code:\n{}", wrong.join("\n"));
}

#[test]
fn the_mailbox_seam_and_the_agent_import_none_of_their_callers() {
    let edges = edges();
    let mut wrong = Vec::new();
    for (file, targets) in &edges {
        let forbidden: &[&str] = if file.starts_with("mailbox/") {
            &["verification/", "agent/", "jobs/"]
        } else if file.starts_with("agent/") {
            &["verification/", "jobs/"]
        } else {
            &[]
        };
        for t in targets.iter().filter(|t| forbidden.iter().any(|f| t.starts_with(f))) {
            wrong.push(format!("{file} imports {t}"));
        }
    }
    assert!(wrong.is_empty(), "the layering is broken:\n{}", wrong.join("\n"));
    assert!(edges["verification/actor.rs"].iter().any(|t| t.starts_with("mailbox/")), "the reader sees the seam");
}

/// A file a newcomer can read in one sitting: no source file of core or mail over 700 lines (tests included),
/// and no `match` on a protocol in diagnose outside its dialect table and the password dialogue.
#[test]
fn files_stay_small_and_diagnose_matches_on_the_protocol_in_its_table_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src-tauri");
    let mut long = Vec::new();
    for crate_src in ["core/src", "mail/src"] {
        let mut files = Vec::new();
        rust_files(&root.join(crate_src), &mut files);
        for f in files {
            let lines = std::fs::read_to_string(&f).unwrap().lines().count();
            if lines > 700 {
                long.push(format!("{} ({lines} lines)", f.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(long.is_empty(), "split these by concept:\n{}", long.join("\n"));

    let mut files = Vec::new();
    rust_files(&root.join("mail/src/diagnose"), &mut files);
    assert!(files.len() >= 5, "diagnose is a folder");
    let matching: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("dialect.rs") && !f.ends_with("login.rs"))
        .filter(|f| code_of(&std::fs::read_to_string(f).unwrap()).contains("Protocol::Imap =>"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(matching.is_empty(), "these match on the protocol instead of reading the dialect table: {matching:?}");
}

/// Model files hold types and their small pure methods: they import other model files only (and the `mail`
/// crate's types), never a service, so the store and every engine can share them.
#[test]
fn model_files_import_model_files_only() {
    let edges = edges();
    let mut wrong = Vec::new();
    for file in MODEL_FILES {
        let targets = edges.get(*file).unwrap_or_else(|| panic!("{file} is a core file"));
        for t in targets.iter().filter(|t| !MODEL_FILES.contains(&t.as_str()) && !t.starts_with("cancel")) {
            wrong.push(format!("{file} imports {t}"));
        }
    }
    assert!(wrong.is_empty(), "model files reach into service code:\n{}", wrong.join("\n"));
}
