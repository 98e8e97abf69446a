//! The `mailproof` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn mailproof(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(args)
        .env("MAILPROOF_DATA_DIR", data_dir)
        .output()
        .expect("the mailproof binary runs")
}

/// `mailproof doctor` where no D-Bus session (so no Secret Service) can be reached.
fn doctor_without_keyring(data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .arg("doctor")
        .env("MAILPROOF_DATA_DIR", data_dir)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mailproof-test-bus")
        .env_remove("DISPLAY")
        .output()
        .expect("the mailproof binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_prints_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailproof(dir.path(), &["--version"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), format!("mailproof {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn doctor_creates_a_missing_database_and_reports_a_missing_keyring_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let out = doctor_without_keyring(&data);
    let text = stdout(&out);
    assert!(!out.status.success(), "a missing keyring is a failure:\n{text}");
    assert!(text.contains("ok   Database:") && text.contains("created; schema version 1"), "{text}");
    assert!(text.contains("FAIL OS keyring: cannot reach the OS keyring"), "{text}");
    assert!(text.contains("did not save this one anywhere") && text.contains("unlock your keyring"), "{text}");
    assert!(data.join("mailproof.db").exists());
}

#[test]
fn doctor_moves_a_corrupt_database_aside_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mailproof.db"), "not a database at all".repeat(300)).unwrap();
    let text = stdout(&doctor_without_keyring(dir.path()));
    assert!(text.contains("was damaged: moved aside to") && text.contains("mailproof.db.corrupt-"), "{text}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("mailproof.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
}

#[test]
fn doctor_explains_a_data_folder_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = doctor_without_keyring(&file.join("data"));
    let text = stdout(&out);
    assert!(!out.status.success());
    assert!(text.contains("FAIL Database: cannot create the data folder"), "{text}");
}

#[test]
fn doctor_json_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(["doctor", "--json"])
        .env("MAILPROOF_DATA_DIR", dir.path())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mailproof-test-bus")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.trim_start().starts_with('{'), "{text}");
    for needle in ["\"checks\"", "\"name\": \"Database\"", "\"name\": \"OS keyring\"", "\"ok\": false"] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
}
