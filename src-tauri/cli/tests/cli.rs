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
fn verify_refuses_the_waits_and_polls_the_app_refuses_in_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let words = mailproof_core::verification::EmailTiming { wait_secs: 0, poll_millis: 1000, delete_found: true }
        .problem()
        .unwrap();
    for args in [["--wait", "0"], ["--wait", "86401"], ["--poll", "50"]] {
        let out = mailproof(dir.path(), &[&["profile", "verify", "bob@example.test"][..], &args[..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} is refused");
        assert!(err.contains(words), "{args:?}: {err}");
    }
}

#[test]
fn sender_set_refuses_what_settings_refuses_in_the_same_words_and_saves_nothing() {
    use mailproof_core::profiles::{AuthMethod, Security};
    use mailproof_core::verification::{validate_sender, EmailSender};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sender.toml");
    std::fs::write(
        &file,
        "host = \"\"\nport = 0\nsecurity = \"startTls\"\nrequiresAuth = false\nauth = \"plain\"\nusername = \"\"\nfromAddress = \"not an address\"\n",
    )
    .unwrap();
    let sender = EmailSender {
        host: String::new(),
        port: 0,
        security: Security::StartTls,
        requires_auth: false,
        auth: AuthMethod::Plain,
        username: String::new(),
        from_address: "not an address".into(),
        pinned_sha256: None,
    };
    let findings = validate_sender(&sender);
    assert!(!findings.errors.is_empty());
    let out = mailproof(dir.path(), &["sender", "set", "--file", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for issue in &findings.errors {
        assert!(err.contains(&issue.message), "{}: {err}", issue.message);
    }
    let (store, _) =
        mailproof_core::Store::open(&mailproof_core::paths::database_path(dir.path()), time::OffsetDateTime::now_utc())
            .unwrap();
    assert_eq!(mailproof_core::verification::load_sender(&store).unwrap(), None, "nothing saved");
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, mark) in [("bash", "_mailproof()"), ("zsh", "#compdef mailproof"), ("fish", "complete -c mailproof")] {
        let out = mailproof(dir.path(), &["completions", shell]);
        let script = stdout(&out);
        assert!(out.status.success() && script.contains(mark), "{shell}: {script}");
        assert!(script.contains("resume") && script.contains("alerts"), "{shell} knows the subcommands");
    }
    let out = mailproof(dir.path(), &["man"]);
    let page = stdout(&out);
    assert!(page.contains(".TH mailproof 1") && page.contains("email defences"), "{page}");
    let pages = dir.path().join("man");
    let out = mailproof(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = std::fs::read_to_string(pages.join("mailproof-run.1")).unwrap();
    assert!(run.contains("\\-\\-quiet") && run.contains("Settings → Email Actions"), "{run}");
    let out = mailproof(dir.path(), &["completions", "tcsh"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("possible values"));
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
    assert!(text.contains("ok   Database:") && text.contains("created; schema version "), "{text}");
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

mod profiles {
    use std::io::Write;
    use std::process::Stdio;

    use super::*;
    use mailproof_tests::{real_keyring, Lab};

    fn profile_toml(lab: &Lab) -> String {
        format!(
            r#"email = "carol@example.test"
serverType = "pop3"
actorIds = ["this-workstation"]
username = "carol@example.test"

[incoming]
host = "{host}"
port = {pop3s}
security = "tls"
auth = "plain"

[outgoing]
host = "{host}"
port = {submission}
security = "startTls"
requiresAuth = true
auth = "plain"
"#,
            host = lab.host(),
            pop3s = lab.port("LAB_POP3S_PORT"),
            submission = lab.port("LAB_SUBMISSION_PORT")
        )
    }

    pub(super) fn with_stdin(data_dir: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailproof"))
            .args(args)
            .env("MAILPROOF_DATA_DIR", data_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn add_list_test_and_delete_a_pop3_profile_on_the_lab() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carol.toml");
        std::fs::write(&file, profile_toml(&lab)).unwrap();
        let data = dir.path().join("data");
        let password = lab.password("carol");

        let out =
            with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], &format!("{password}\n"), &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout(&out).starts_with("Added carol@example.test"));

        let out = mailproof(&data, &["profile", "list", "--json"]);
        assert!(out.status.success());
        let json = stdout(&out);
        assert!(json.contains("\"carol@example.test\"") && !json.contains(&password));

        let ca = lab.ca();
        let out = mailproof(&data, &["profile", "test", "carol@example.test", "--ca", ca.to_str().unwrap()]);
        let (text, progress) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "{text}\n{progress}");
        assert!(text.contains("Both servers passed."), "{text}");
        assert!(progress.contains("incoming: ok   Login") && progress.contains("outgoing: ok   Login"), "{progress}");
        assert!(!text.contains(&password) && !progress.contains(&password));

        // Without the lab CA the certificate is refused, and the output says what to do.
        let out = mailproof(&data, &["profile", "test", "carol@example.test"]);
        assert!(!out.status.success());
        assert!(stdout(&out).contains("what to do:"), "{}", stdout(&out));

        let out = mailproof(&data, &["profile", "delete", "carol@example.test"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout(&mailproof(&data, &["profile", "list"])).starts_with("No email profiles."));
    }

    #[test]
    fn add_list_and_test_a_microsoft_365_profile_with_its_secret_from_the_environment() {
        use mailproof_tests::microsoft::{FakeMicrosoft, CLIENT_ID, SECRET, TENANT};
        let Some(_lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-graph").is_none() {
            return;
        }
        let Some(fake) = FakeMicrosoft::start(&["carol@example.test"]) else { return };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = dir.path().join("m365.toml");
        let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(10)).date();
        std::fs::write(
            &file,
            format!(
                r#"email = "carol@example.test"
serverType = "graph"
actorIds = ["this-workstation"]

[graph]
tenantId = "{TENANT}"
clientId = "{CLIENT_ID}"
secretExpires = "{soon}"
cloud = "global"
"#
            ),
        )
        .unwrap();
        let fakes = [("MAILPROOF_GRAPH_LOGIN_URL", fake.base.as_str()), ("MAILPROOF_GRAPH_URL", fake.base.as_str())];
        let mut env = vec![("MAILPROOF_PASSWORD", SECRET)];
        env.extend(fakes);
        let out = with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], "", &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let out = mailproof(&data, &["profile", "list"]);
        let text = stdout(&out);
        assert!(text.contains("carol@example.test  Graph  in graph.microsoft.com:443"), "{text}");
        assert!(text.contains(&format!("warning: The client secret expires on {soon} (in 10 days)")), "{text}");

        let out = with_stdin(&data, &["profile", "test", "carol@example.test"], "", &fakes);
        let (text, progress) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "{text}\n{progress}");
        assert!(text.contains("Reading and sending through Microsoft Graph passed."), "{text}");
        assert!(
            progress.contains("reading: ok   Mailbox folders") && progress.contains("sending: ok   Permission to send"),
            "{progress}"
        );
        for f in std::fs::read_dir(&data).unwrap().flatten() {
            assert!(!String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).contains(SECRET), "{:?}", f.path());
        }
        assert!(!text.contains(SECRET) && !progress.contains(SECRET));
    }

    #[test]
    fn a_password_in_the_file_or_no_keyring_is_refused_and_nothing_is_saved() {
        let Some(lab) = Lab::running() else { return };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = dir.path().join("p.toml");
        std::fs::write(&file, format!("password = \"oops\"\n{}", profile_toml(&lab))).unwrap();
        let out = with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], "x\n", &[]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("Keep passwords out of files"));

        std::fs::write(&file, profile_toml(&lab)).unwrap();
        let out = with_stdin(
            &data,
            &["profile", "add", "--file", file.to_str().unwrap()],
            "",
            &[("MAILPROOF_PASSWORD", "pw"), ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mailproof-test-bus")],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("cannot reach the OS keyring") && err.contains("did not save this one anywhere"), "{err}");
        assert!(stdout(&mailproof(&data, &["profile", "list"])).starts_with("No email profiles."));
    }

    #[test]
    fn sender_set_then_verify_automatically_and_manually() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-verify").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let sender = dir.path().join("sender.toml");
        std::fs::write(
            &sender,
            format!(
                "host = \"{}\"\nport = {}\nsecurity = \"startTls\"\nrequiresAuth = true\nauth = \"plain\"\nusername = \"alice@example.test\"\nfromAddress = \"alice@example.test\"\n",
                lab.host(),
                lab.port("LAB_SUBMISSION_PORT")
            ),
        )
        .unwrap();
        let out =
            with_stdin(&data, &["sender", "set", "--file", sender.to_str().unwrap()], &lab.password("alice"), &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        // bob's POP3 profile from the other test's file, as an IMAP one here.
        let file = dir.path().join("bob.toml");
        let toml = profile_toml(&lab)
            .replace("carol@", "bob@")
            .replace("serverType = \"pop3\"", "serverType = \"imap\"")
            .replace(
                &format!("port = {}", lab.port("LAB_POP3S_PORT")),
                &format!("port = {}", lab.port("LAB_IMAPS_PORT")),
            );
        std::fs::write(&file, toml).unwrap();
        let out = with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], &lab.password("bob"), &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let ca = lab.ca();
        let out =
            mailproof(&data, &["profile", "verify", "bob@example.test", "--ca", ca.to_str().unwrap(), "--wait", "20"]);
        let (text, progress) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "{text}\n{progress}");
        assert!(text.starts_with("Verified   This workstation: Verified: the verification mail arrived"), "{text}");
        assert!(progress.contains("Sending a verification mail to bob@example.test"), "{progress}");

        let out = mailproof(&data, &["profile", "uuid", "bob@example.test"]);
        assert!(stdout(&out).contains("with the subject ("), "{}", stdout(&out));
        let out = mailproof(
            &data,
            &[
                "profile",
                "verify",
                "bob@example.test",
                "--manual-uuid",
                "--ca",
                ca.to_str().unwrap(),
                "--wait",
                "1",
                "--json",
            ],
        );
        assert!(!out.status.success(), "nobody sent the UUID mail");
        assert!(stdout(&out).contains("not found within 1 s"), "{}", stdout(&out));
    }
}

mod actions {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use super::*;
    use mailproof_tests::{real_keyring, Lab};

    fn fixture(name: &str) -> String {
        format!("{}/../../tests/fixtures/bounces/{name}.eml", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_library_lists_and_inspect_reads_bounces() {
        let dir = tempfile::tempdir().unwrap();
        let out = mailproof(dir.path(), &["actions", "list", "--json"]);
        assert!(out.status.success());
        let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let list = list.as_array().unwrap();
        assert!(list.len() >= 40, "{}", list.len());
        assert!(list.iter().all(|a| a["description"].as_str().is_some_and(|d| !d.is_empty())));
        let out = mailproof(dir.path(), &["actions", "list", "--category", "spam"]);
        assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
        let out = mailproof(dir.path(), &["actions", "list", "--category", "nope"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("use one of malware"));

        let out = mailproof(dir.path(), &["inspect", &fixture("dsn-postfix"), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["bounce"]["recipients"][0]["status"], "5.7.1");
        assert_eq!(v["bounce"]["originalMessageId"], "a1b2c3@mailproof.test");
        let out = mailproof(dir.path(), &["inspect", &fixture("exim")]);
        let text = stdout(&out);
        assert!(text.contains("Bounce (Exim): permanent failure"), "{text}");
        assert!(text.contains("someone@example.com 5.7.1"), "{text}");
        let out = mailproof(dir.path(), &["inspect", "/nonexistent.eml"]);
        assert!(!out.status.success());

        // Email rules: added, refused when the pattern is broken, listed, deleted.
        let add = |name: &str, pattern: &str| {
            mailproof(dir.path(), &["rules", "add", "--name", name, "--pattern", pattern, "--outcome", "error"])
        };
        assert!(add("Quota", "mailbox full|quota").status.success());
        let bad = add("Broken", "(unclosed");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid regular expression"));
        let out = mailproof(dir.path(), &["rules", "list", "--json"]);
        let rules: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(rules.as_array().unwrap().len(), 1);
        assert!(mailproof(dir.path(), &["rules", "delete", "quota"]).status.success());
    }

    pub(super) fn with_stdin(data_dir: &Path, args: &[&str], input: &str) -> Output {
        super::profiles::with_stdin(data_dir, args, input, &[])
    }

    /// Sets the lab's allow-listed sender and adds and verifies an IMAP profile for each user.
    /// A profile file for lab user `user` (IMAP over TLS, submission with STARTTLS), bound to `actors`.
    pub(super) fn profile_file(lab: &Lab, dir: &Path, user: &str, actors: &[&str]) -> std::path::PathBuf {
        profile_file_at(lab, &lab.host(), dir, user, actors)
    }

    /// The same, with the lab's servers named `host`.
    fn profile_file_at(lab: &Lab, host: &str, dir: &Path, user: &str, actors: &[&str]) -> std::path::PathBuf {
        let file = dir.join(format!("{user}.toml"));
        let actors = actors.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
        std::fs::write(
            &file,
            format!(
                "email = \"{user}@example.test\"\nserverType = \"imap\"\nactorIds = [{actors}]\nusername = \"{user}@example.test\"\n\n[incoming]\nhost = \"{h}\"\nport = {imaps}\nsecurity = \"tls\"\nauth = \"plain\"\n\n[outgoing]\nhost = \"{h}\"\nport = {sub}\nsecurity = \"startTls\"\nrequiresAuth = true\nauth = \"plain\"\n",
                h = host,
                imaps = lab.port("LAB_IMAPS_PORT"),
                sub = lab.port("LAB_SUBMISSION_PORT")
            ),
        )
        .unwrap();
        file
    }

    pub(super) fn verified_profiles(lab: &Lab, dir: &Path, users: &[&str]) {
        verified_profiles_at(lab, &lab.host(), dir, users)
    }

    /// The same, with the profiles' servers named `host`.
    fn verified_profiles_at(lab: &Lab, host: &str, dir: &Path, users: &[&str]) {
        let sender = dir.join("sender.toml");
        std::fs::write(
            &sender,
            format!(
                "host = \"{}\"\nport = {}\nsecurity = \"startTls\"\nrequiresAuth = true\nauth = \"plain\"\nusername = \"verifier@example.test\"\nfromAddress = \"verifier@example.test\"\n",
                lab.host(),
                lab.port("LAB_SUBMISSION_PORT")
            ),
        )
        .unwrap();
        let data = dir.join("data");
        let out = with_stdin(&data, &["sender", "set", "--file", sender.to_str().unwrap()], &lab.password("verifier"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for user in users {
            let file = profile_file_at(lab, host, dir, user, &["this-workstation"]);
            let out = with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], &lab.password(user));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let ca = lab.ca();
            let out = mailproof(
                &data,
                &[
                    "profile",
                    "verify",
                    &format!("{user}@example.test"),
                    "--ca",
                    ca.to_str().unwrap(),
                    "--wait",
                    "20",
                    "--poll",
                    "100",
                ],
            );
            assert!(out.status.success(), "{}", stdout(&out));
        }
    }

    /// `mailproof run` of A100-002 from alice to bob (delivered untouched: Missed) and frank (refused: Prevented).
    fn alice_to_bob_and_frank(ca: &str) -> Vec<&str> {
        let to = ["--to", "bob@example.test", "--to", "frank@example.test", "--actions", "A100-002"];
        let mut args = vec!["run", "--from", "alice@example.test"];
        args.extend(to);
        args.extend(["--timeout", "10", "--poll", "100", "--ca", ca]);
        args
    }

    #[test]
    fn run_reports_json_and_junit_and_fails_when_an_action_is_missed() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-run").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        verified_profiles(&lab, dir.path(), &["alice", "bob", "frank"]);
        let data = dir.path().join("data");
        let (json, junit) = (dir.path().join("job.json"), dir.path().join("job.xml"));
        let ca = lab.ca();
        let mut args = alice_to_bob_and_frank(ca.to_str().unwrap());
        args.extend(["--json", json.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
        let out = mailproof(&data, &args);
        let progress = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "bob's copy arrives untouched: Missed fails the run\n{progress}");
        assert!(progress.contains("A100-002 EICAR test file as .txt: Missed"), "{progress}");
        assert!(progress.contains("A100-002 EICAR test file as .txt: Prevented — Rejected at SMTP"), "{progress}");
        assert!(stdout(&out).contains("1 Prevented, 0 Detected, 0 Alerted, 1 Missed"), "{}", stdout(&out));
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let actions = report["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 2);
        assert!(actions.iter().all(|a| a["evidence"]["transcript"].as_array().is_some_and(|t| !t.is_empty())));
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""), "{xml}");
        assert!(xml.contains("<failure message=\"Missed\">"), "{xml}");

        // --fail-on never: the same kind of run succeeds; jobs list shows both runs.
        let mut never = alice_to_bob_and_frank(ca.to_str().unwrap());
        never.extend(["--fail-on", "never"]);
        assert!(mailproof(&data, &never).status.success());
        let out = mailproof(&data, &["jobs", "list", "--json"]);
        let jobs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(jobs.as_array().unwrap().len(), 2);
        assert_eq!(jobs[0]["missed"], 1);

        // Both runs' messages are in the tracking log, with their history, and export to CSV.
        let out = mailproof(&data, &["track", "query", "--subject", "eicar txt", "--json"]);
        let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(found["total"], 4, "{found}");
        let out = mailproof(
            &data,
            &["track", "query", "--recipient", "frank@example.test", "--status", "unsuccessful", "--json"],
        );
        let refused: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(refused["total"], 2, "{refused}");
        let id = refused["rows"][0]["id"].as_i64().unwrap().to_string();
        let out = mailproof(&data, &["track", "show", &id]);
        let history = stdout(&out);
        assert!(history.contains("queued") && history.contains("unsuccessful"), "{history}");
        let csv = dir.path().join("track.csv");
        let args = ["track", "export", "--csv", csv.to_str().unwrap(), "--period", "24h", "--subject", "eicar"];
        let out = mailproof(&data, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(text.lines().count(), 5, "a header and the four test messages: {text}");
        let out = mailproof(&data, &["track", "query", "--subject", "Mailproof verification", "--json"]);
        let verifications: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(verifications["total"], 3, "the verification mails are tracked too");
        let out = mailproof(&data, &["track", "query", "--since", "yesterday"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not a date and time"));
    }

    /// `mailproof run` on a pseudo-terminal (util-linux `script`), as a person at a terminal sees it.
    fn on_a_terminal(data: &Path, args: &[&str], no_color: bool) -> String {
        let line = std::iter::once(env!("CARGO_BIN_EXE_mailproof"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env("MAILPROOF_DATA_DIR", data).env("TERM", "xterm");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().expect("script(1) runs (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn run_draws_a_bar_and_colours_verdicts_on_a_terminal_plain_lines_elsewhere_and_nothing_when_quiet() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-progress").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        verified_profiles(&lab, dir.path(), &["alice", "bob", "frank"]);
        let data = dir.path().join("data");
        let ca = lab.ca();
        let mut args = alice_to_bob_and_frank(ca.to_str().unwrap());
        args.extend(["--fail-on", "never"]);
        // A terminal: the bar is redrawn in place (carriage return, erase line) and ends full; verdicts in colour.
        let seen = on_a_terminal(&data, &args, false);
        assert!(seen.contains("\r\x1b[2K"), "{seen:?}");
        assert!(seen.contains("[########################] 2/2"), "{seen:?}");
        assert!(seen.contains("\x1b[31mMissed\x1b[0m") && seen.contains("\x1b[32mPrevented\x1b[0m"), "{seen:?}");
        assert!(seen.contains("1 Prevented, 0 Detected, 0 Alerted, 1 Missed"), "{seen:?}");
        // NO_COLOR: the same bar, no colour.
        let seen = on_a_terminal(&data, &args, true);
        assert!(seen.contains("] 2/2") && !seen.contains("\x1b[3"), "{seen:?}");
        // Not a terminal: a plain line per verdict, not one control character.
        let out = mailproof(&data, &args);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(said.contains("A100-002 EICAR test file as .txt: Missed") && !said.contains('\x1b'), "{said:?}");
        // --quiet: only the job's last line.
        let mut quiet = args.to_vec();
        quiet.push("--quiet");
        let out = mailproof(&data, &quiet);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!said.contains("A100-002"), "{said:?}");
        assert!(stdout(&out).starts_with("Job ") && stdout(&out).contains("1 Prevented"), "{}", stdout(&out));
    }

    #[test]
    fn a_run_on_a_machine_whose_dns_fails_errors_its_actions_in_words_and_loses_none() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-dns").is_none() {
            return;
        }
        // A private mount namespace, where the name service is broken for the run alone, needs root.
        let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root {
            assert!(!mailproof_tests::real_components_required(), "the DNS-failure case needs root (unshare -m)");
            eprintln!("skipped: the DNS-failure case needs root (unshare -m)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        verified_profiles_at(&lab, "localhost", dir.path(), &["alice", "bob"]);
        let data = dir.path().join("data");
        // No hosts-file entry, and a DNS server on loopback that is not there: no name resolves.
        let (hosts, resolv) = (dir.path().join("hosts"), dir.path().join("resolv.conf"));
        std::fs::write(&hosts, "").unwrap();
        std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n").unwrap();
        let ca = lab.ca();
        let out = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#,
            ])
            .args(["sh", hosts.to_str().unwrap(), resolv.to_str().unwrap(), env!("CARGO_BIN_EXE_mailproof")])
            .args(["run", "--from", "alice@example.test", "--to", "bob@example.test", "--actions", "A100-002"])
            .args(["--timeout", "5", "--poll", "100", "--ca", ca.to_str().unwrap()])
            .env("MAILPROOF_DATA_DIR", &data)
            .output()
            .unwrap();
        let (said, progress) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(
            said.contains("0 Prevented, 0 Detected, 0 Alerted, 0 Missed, 1 Errored, 0 Incomplete"),
            "{said}\n{progress}"
        );
        assert!(progress.contains("cannot find the server localhost"), "{progress}");
        assert!(progress.contains("this machine's DNS is not working"), "says what to check: {progress}");
        eprintln!(
            "FAULT | DNS fails on this machine | expected: Errored in words, none lost | seen: {}",
            progress.lines().find(|l| l.contains("Errored")).unwrap_or("")
        );
    }

    #[test]
    fn a_killed_run_is_picked_up_by_jobs_resume_and_keeps_what_it_decided() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-kill").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        verified_profiles(&lab, dir.path(), &["alice", "bob", "heidi"]);
        let data = dir.path().join("data");
        let ca = lab.ca();
        // bob's action is decided quickly; heidi's mail is held, so the run is still waiting when killed.
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailproof"))
            .args(["run", "--from", "alice@example.test", "--to", "bob@example.test", "--to", "heidi@example.test"])
            .args(["--actions", "A100-002", "--timeout", "6", "--poll", "100", "--ca", ca.to_str().unwrap()])
            .env("MAILPROOF_DATA_DIR", &data)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            seen.push(line.clone());
            // heidi's action was sent and accepted: the run now waits for it.
            if seen.iter().filter(|l| l.ends_with("sending…")).count() == 2
                && seen.iter().any(|l| l.contains(": Missed"))
            {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        child.kill().unwrap(); // SIGKILL: no clean-up runs
        child.wait().unwrap();

        let with_stale = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_mailproof"))
                .args(args)
                .env("MAILPROOF_DATA_DIR", &data)
                .env("MAILPROOF_JOB_STALE_SECS", "0")
                .output()
                .unwrap()
        };
        let out = with_stale(&["jobs", "list", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("1 job(s) stopped before they ended") && stderr.contains("jobs resume"), "{stderr}");
        let jobs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(jobs[0]["status"], "running", "listing changes nothing: {jobs}\n{seen:?}");

        let out = with_stale(&["jobs", "resume", "--ca", ca.to_str().unwrap()]);
        let (said, progress) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "{said}\n{progress}");
        assert!(
            said.contains("completed: 1 Prevented, 0 Detected, 0 Alerted, 1 Missed, 0 Errored, 0 Incomplete"),
            "{said}"
        );
        assert!(progress.contains("Not delivered within 6 s"), "{progress}");
        let out = mailproof(&data, &["jobs", "show", jobs[0]["id"].as_str().unwrap(), "--json"]);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let heidi = report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["destinationEmail"] == "heidi@example.test")
            .unwrap();
        assert_eq!((&heidi["verdict"], &heidi["cause"]), (&"prevented".into(), &"notDelivered".into()), "{heidi}");
        assert!(
            heidi["evidence"]["smtpReply"].as_str().unwrap_or("").starts_with("250"),
            "what was sent is kept: {heidi}"
        );
        let out = with_stale(&["jobs", "resume"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("No job is waiting"), "nothing is picked up twice");
    }
}

mod agents {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use super::*;
    use mailproof_tests::{real_keyring, Lab};

    #[test]
    fn a_profile_verifies_for_this_workstation_and_for_a_remote_actor_through_its_agent() {
        let Some(lab) = Lab::running() else { return };
        if real_keyring("dev.mailproof.desktop.tests.cli-agent").is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        actions::verified_profiles(&lab, dir.path(), &[]);
        let data = dir.path().join("data");
        let ca = lab.ca();
        let out = mailproof(&data, &["actor", "add", "Branch reader"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let branch = stdout(&out).trim().to_owned();
        let file = actions::profile_file(&lab, dir.path(), "carol", &["this-workstation", &branch]);
        let out =
            actions::with_stdin(&data, &["profile", "add", "--file", file.to_str().unwrap()], &lab.password("carol"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let verify = || {
            mailproof(&data, &["profile", "verify", "carol@example.test", "--ca", ca.to_str().unwrap(), "--wait", "20"])
        };
        // Not paired yet: the remote actor says what to do.
        let text = stdout(&verify());
        assert!(text.contains("Branch reader: Branch reader is a remote actor that is not paired"), "{text}");

        // On the branch machine: a pairing code (shown once), then the agent, which shows its address and
        // fingerprint but never the code again.
        let agent_data = dir.path().join("agent-data");
        let rotated = mailproof(&agent_data, &["agent", "rotate-code"]);
        assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
        let code = stdout(&rotated).trim().strip_prefix("pairing code ").expect("the new code").to_owned();
        let mut agent = Command::new(env!("CARGO_BIN_EXE_mailproof"))
            .args(["agent", "serve", "--listen", "127.0.0.1:0", "--ca", ca.to_str().unwrap()])
            .env("MAILPROOF_DATA_DIR", &agent_data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut shown = BufReader::new(agent.stdout.take().unwrap()).lines().map_while(Result::ok);
        let field = |line: Option<String>, label: &str| {
            line.and_then(|l| l.strip_prefix(label).map(str::to_owned)).unwrap_or_else(|| panic!("{label}"))
        };
        let address = field(shown.next(), "Mailproof agent listening on ");
        let fingerprint = field(shown.next(), "fingerprint ");
        let not_again = field(shown.next(), "pairing code ");
        assert!(!not_again.contains(&code) && not_again.contains("rotate-code"), "{not_again}");
        let pair = |fp: &str, code: &str| {
            super::profiles::with_stdin(
                &data,
                &["actor", "pair", "Branch reader", "--address", &address, "--fingerprint", fp],
                code,
                &[],
            )
        };
        // A wrong code or a wrong certificate is refused, in words, and nothing is paired.
        let out = pair(&fingerprint, "not-the-code");
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrong pairing code"), "{:?}", out);
        let out = pair(&"ab".repeat(32), &code);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("did not present the certificate paired with"),
            "{out:?}"
        );
        // A rotated code replaces the old one under the running agent.
        let stale = code;
        let rotated = mailproof(&agent_data, &["agent", "rotate-code"]);
        let code = stdout(&rotated).trim().strip_prefix("pairing code ").expect("the new code").to_owned();
        let out = pair(&fingerprint, &stale);
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrong pairing code"), "the old code: {out:?}");
        let out = pair(&fingerprint, &code);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listed = stdout(&mailproof(&data, &["actor", "list"]));
        assert!(listed.contains(&format!("Branch reader  zone Default  agent at {address}")), "{listed}");

        // Both actors verify: this workstation by itself, the branch through its agent.
        let out = verify();
        let text = stdout(&out);
        assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("Verified   This workstation: Verified: the verification mail arrived"), "{text}");
        assert!(text.contains("Verified   Branch reader: Verified: the verification mail arrived"), "{text}");
        assert!(text.contains("(checked by its agent)"), "{text}");
        agent.kill().unwrap();
        let log = agent.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&log.stderr);
        assert!(log.contains("looking for \"Mailproof verification "), "{log}");
        assert!(!log.contains(&lab.password("carol")) && !log.contains(&code), "no secret in the agent's log: {log}");
        assert!(log.contains("refused a request with a wrong pairing code"), "{log}");
    }
}
