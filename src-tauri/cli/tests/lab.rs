//! `mailproof lab …` as a user runs it: the demo gateway started from the binary's own copy of the gateway files,
//! the demo workspace readied beside the real one, and the demo job's verdicts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mailproof_tests::{real_keyring, Lab};

fn lab(gateway: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(args)
        .env("MAILPROOF_DATA_DIR", data)
        .env("MAILPROOF_DEMO_GATEWAY_DIR", gateway)
        .output()
        .expect("the mailproof binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stops the test's gateway however the test ends.
struct Stopped(PathBuf, PathBuf);

impl Drop for Stopped {
    fn drop(&mut self) {
        lab(&self.0, &self.1, &["lab", "stop"]);
    }
}

#[test]
fn the_demo_job_ends_prevented_detected_and_missed_in_a_workspace_of_its_own() {
    // A running lab says this machine has the gateway's programs and root; the demo starts a gateway of its own.
    let Some(_lab) = Lab::running() else { return };
    let Some(_keyring) = real_keyring("mailproof-cli-lab-probe") else { return };
    let gateway = tempfile::Builder::new().prefix("mailproof-demo-test").tempdir_in("/tmp").unwrap();
    let data = tempfile::tempdir().unwrap();
    let (gw, data) = (gateway.path().join("gw"), data.path());
    let _stop = Stopped(gw.clone(), data.to_owned());

    let out = lab(&gw, data, &["lab", "status"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("Not started yet."), "{}", text(&out.stdout));

    let started = std::time::Instant::now();
    let out = lab(&gw, data, &["lab", "run", "--quiet"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", text(&out.stderr));
    eprintln!("DEMO | mailproof lab run from a stopped gateway: {} ms", started.elapsed().as_millis());
    for (verdict, who) in [("Missed", "bob"), ("Detected", "erin"), ("Prevented", "frank")] {
        let lines = said.lines().filter(|l| l.contains(&format!("{who}@example.test"))).collect::<Vec<_>>();
        assert_eq!(lines.len(), 3, "{said}");
        assert!(lines.iter().all(|l| l.starts_with(verdict)), "{who}: {lines:?}");
    }
    assert!(said.contains("Junk"), "erin's copies are found in Junk: {said}");
    assert!(said.contains("mail for frank is refused"), "{said}");
    assert!(
        said.trim_end()
            .ends_with("completed: 9 actions — 3 Prevented, 3 Detected, 0 Alerted, 3 Missed, 0 Errored, 0 Incomplete"),
        "{said}"
    );

    // The demo's profiles live in the demo workspace only.
    let out = lab(&gw, data, &["profile", "list"]);
    assert!(text(&out.stdout).contains("No email profiles"), "{}", text(&out.stdout));
    let out = lab(&gw, data, &["--demo", "profile", "list"]);
    let list = text(&out.stdout);
    assert_eq!(list.lines().filter(|l| l.contains("[This workstation: Verified]")).count(), 4, "{list}");

    let out = lab(&gw, data, &["lab", "status"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("Running in"), "{}", text(&out.stdout));
    let out = lab(&gw, data, &["lab", "stop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = lab(&gw, data, &["lab", "status"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("Stopped."), "{}", text(&out.stdout));
}

#[test]
fn starting_the_demo_gateway_without_root_says_how_to() {
    let Some(_lab) = Lab::running() else { return };
    let gateway = tempfile::Builder::new().prefix("mailproof-demo-test").tempdir_in("/tmp").unwrap();
    let gw = gateway.path().join("gw");
    let data = tempfile::tempdir().unwrap();
    // As root, the command runs as nobody, as an analyst's own account would.
    let as_root = text(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0";
    let mut cmd = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", env!("CARGO_BIN_EXE_mailproof")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mailproof"))
    };
    let out = cmd
        .args(["lab", "start"])
        .env("MAILPROOF_DATA_DIR", data.path())
        .env("MAILPROOF_DEMO_GATEWAY_DIR", &gw)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("master process starts only as root. In a terminal run: sudo mailproof lab start"), "{err}");
    assert!(!gw.exists(), "nothing was made before the refusal");
}
