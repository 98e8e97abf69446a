//! Jobs between actors: two agents as separate processes on loopback (`mailproof agent serve`, each with an
//! identity of its own), each a remote actor. A job from actor A's profile to actor B's profiles through the lab
//! gets the same verdicts as the same job from this workstation; the transcript says A sent it, Results name both
//! actors, and each agent's log shows its part. A changed pairing code refuses the job before anything is sent; an
//! agent killed while the job waits ends that actor's actions Errored, in words.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use mailproof_core::agent;
use mailproof_core::jobs::JobReport;
use mailproof_core::profiles::{save_profile, ServerType};
use mailproof_core::secrets::Secret;
use mailproof_tests::world::{now, World};
use mailproof_tests::{real_keyring, Lab};

const WORKSTATION: &str = "dev.mailproof.desktop.tests.cli-actors";

struct Agent {
    child: Child,
    address: String,
    fingerprint: String,
    code: String,
    service: String,
    data: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mailproof(data: &Path, service: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(args)
        .env("MAILPROOF_DATA_DIR", data)
        .env("MAILPROOF_KEYRING_SERVICE", service)
        .output()
        .expect("the mailproof binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An agent process with its own data folder and keyring service; its address, fingerprint and pairing code.
fn start_agent(dir: &Path, name: &str, ca: &Path) -> Agent {
    start_agent_on(dir, name, ca, "127.0.0.1:0")
}

fn start_agent_on(dir: &Path, name: &str, ca: &Path, listen: &str) -> Agent {
    let data = dir.join(name);
    let service = format!("{WORKSTATION}.{name}");
    let rotated = mailproof(&data, &service, &["agent", "rotate-code"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let code = text(&rotated.stdout).trim().strip_prefix("pairing code ").expect("the new code").to_owned();
    serve(data, service, code, ca, listen)
}

/// The agent of `data` and `service` (its identity and code as they are) listening on `listen`.
fn serve(data: PathBuf, service: String, code: String, ca: &Path, listen: &str) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(["agent", "serve", "--listen", listen, "--ca", ca.to_str().unwrap()])
        .env("MAILPROOF_DATA_DIR", &data)
        .env("MAILPROOF_KEYRING_SERVICE", &service)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut shown = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let mut field = |label: &str| {
        shown.next().and_then(|l| l.strip_prefix(label).map(str::to_owned)).unwrap_or_else(|| panic!("{label}"))
    };
    let address = field("Mailproof agent listening on ");
    let fingerprint = field("fingerprint ");
    // The rest of what it prints is read, as a terminal would.
    std::thread::spawn(move || shown.for_each(drop));
    Agent { child, address, fingerprint, code, service, data }
}

impl Agent {
    /// Stops the agent and returns what it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            use std::io::Read;
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}

/// The job `mailproof run --json` wrote.
fn report(path: &Path) -> JobReport {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each destination's verdict and cause.
fn verdicts(r: &JobReport) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .actions
        .iter()
        .map(|a| {
            let verdict = a.verdict.map(|v| v.label().to_owned()).unwrap_or_default();
            (a.destination_email.clone(), verdict, a.cause.clone().unwrap_or_default())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_between_two_remote_actors_decides_as_from_this_workstation_and_names_them() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(WORKSTATION) else { return };
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(lab, keyring.clone());
    let ca = w.lab.ca();
    let agent_a = start_agent(dir.path(), "agent-a", &ca);
    let agent_b = start_agent(dir.path(), "agent-b", &ca);
    assert_ne!(agent_a.fingerprint, agent_b.fingerprint, "two identities");

    // The actors, paired with their agents.
    let zone = w.store.list_zones().unwrap()[0].id.clone();
    let branch_a = w.store.create_actor("Branch A", &zone, now()).unwrap();
    let branch_b = w.store.create_actor("Branch B", &zone, now()).unwrap();
    for (actor, agent) in [(&branch_a, &agent_a), (&branch_b, &agent_b)] {
        let code = Secret::new(agent.code.clone());
        agent::pair(&w.store, &keyring, &actor.id, &agent.address, &agent.fingerprint, &code).await.unwrap();
    }
    // alice is read by this workstation and A; the destinations by this workstation and B. All verified.
    let imaps = w.lab.port("LAB_IMAPS_PORT");
    let profile = |user: &str, remote: &str| {
        let mut draft = w.lab.profile_draft(user, ServerType::Imap, imaps);
        draft.actor_ids.push(remote.to_owned());
        save_profile(&w.store, &w.keyring, None, draft, now()).unwrap()
    };
    let alice = profile("alice", &branch_a.id);
    // One destination per gateway behaviour, as the engine's own lab tests use them.
    let expect = mailproof_tests::world::expected(false);
    let dests: Vec<_> = expect.iter().map(|(u, _, _)| profile(u, &branch_b.id)).collect();
    for p in std::iter::once(&alice).chain(&dests) {
        w.verify(p).await;
    }

    let ca_arg = ca.to_str().unwrap().to_owned();
    let run = |extra: &[&str], to: &[&str], json: &Path| {
        let mut args = vec!["run", "--from", "alice@example.test", "--actions", "A100-002"];
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout", "8"]);
        }
        for t in to {
            args.extend(["--to", t]);
        }
        args.extend(["--ca", &ca_arg, "--fail-on", "never", "--quiet", "--json", json.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailproof"));
        cmd.args(args).env("MAILPROOF_DATA_DIR", w.dir.path()).env("MAILPROOF_KEYRING_SERVICE", WORKSTATION);
        cmd
    };
    let between = ["--from-actor", "Branch A", "--to-actor", "Branch B"];
    let to: Vec<String> = expect.iter().map(|(u, _, _)| format!("{u}@example.test")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let here = dir.path().join("here.json");
    let out = run(&[], &to, &here).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let remote = dir.path().join("remote.json");
    let out = run(&between, &to, &remote).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (here, remote) = (report(&here), report(&remote));
    // Every gateway behaviour decides the same from the branch machines as from here: delivered, refused,
    // bounced (the bounce read from alice's mailbox by A), held, dropped, stripped, tagged, filed into Junk.
    assert_eq!(verdicts(&remote), verdicts(&here));
    for (user, verdict, cause) in &expect {
        let a = remote.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
        let got = (a.verdict.map(|v| v.label()), a.cause.as_deref());
        assert_eq!(got, (Some(verdict.label()), Some(*cause)), "{user}: {:?}", a.reason);
    }
    let sent_by = format!("through actor Branch A (agent at {})", agent_a.address);
    for a in &remote.actions {
        assert_eq!(a.source_actor.as_deref(), Some("Branch A"));
        assert_eq!(a.destination_actor.as_deref(), Some("Branch B"));
        let transcript = &a.evidence.as_ref().unwrap().transcript;
        assert!(transcript[0].contains(&sent_by), "{transcript:?}");
    }
    assert!(here.actions.iter().all(|a| a.source_actor.is_none() && a.destination_actor.is_none()));
    let csv = mailproof_core::jobs::export::to_csv(&remote);
    assert!(csv.lines().skip(1).all(|row| row.ends_with(",Branch A,Branch B")), "{csv}");
    // Message tracking records which actor sent each message and which read it.
    let tracked = dir.path().join("tracked.csv");
    let out = mailproof(w.dir.path(), WORKSTATION, &["track", "export", "--csv", tracked.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tracked = std::fs::read_to_string(&tracked).unwrap();
    assert!(tracked.lines().next().unwrap().ends_with(",direction,actor,read_by"), "{tracked}");
    let remote_ids: Vec<&str> = remote.actions.iter().filter_map(|a| a.message_id.as_deref()).collect();
    let rows: Vec<&str> = tracked.lines().filter(|l| remote_ids.iter().any(|id| l.contains(id))).collect();
    assert_eq!(rows.len(), expect.len(), "{tracked}");
    assert!(rows.iter().all(|r| r.ends_with(",Sent,Branch A,Branch B")), "{rows:?}");

    let listed = text(&mailproof(w.dir.path(), WORKSTATION, &["actor", "list"]).stdout);
    assert!(
        listed.contains(&format!("Branch A  zone Default  agent at {}  (version 0.1.0, last seen 20", agent_a.address)),
        "{listed}"
    );
    let out = mailproof(w.dir.path(), WORKSTATION, &["actor", "check", "Branch B"]);
    assert_eq!(text(&out.stdout).trim(), "Branch B: reachable, answered as paired (version 0.1.0)");

    // A pairing code changed on A's machine: the job is refused before anything is stored or sent.
    let jobs_before = w.store.list_jobs().unwrap().len();
    let rotated = mailproof(&agent_a.data, &agent_a.service, &["agent", "rotate-code"]);
    assert!(rotated.status.success());
    let out = run(&between, &to, &dir.path().join("refused.json")).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("actor Branch A's agent cannot take the job, so nothing was sent"), "{err}");
    assert!(err.contains("wrong pairing code"), "{err}");
    assert_eq!(w.store.list_jobs().unwrap().len(), jobs_before, "no job was made");

    // B's agent restarted (its service, say) while the job waits: the watch is opened again from the day it began
    // and the copy that arrived meanwhile is found, once.
    let (b_data, b_service, b_code, b_address) =
        (agent_b.data.clone(), agent_b.service.clone(), agent_b.code.clone(), agent_b.address.clone());
    let restarted = dir.path().join("restarted.json");
    let mut job = run(&["--to-actor", "Branch B", "--sleep", "4"], &["bob@example.test"], &restarted).spawn().unwrap();
    let started = std::time::Instant::now();
    while w.store.list_jobs().unwrap().len() == jobs_before {
        assert!(started.elapsed().as_secs() < 20, "the job did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let log_first = agent_b.stop();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let agent_b = serve(b_data, b_service, b_code, &ca, &b_address);
    assert!(job.wait().unwrap().success());
    let back = report(&restarted);
    let a = &back.actions[0];
    assert_eq!((a.verdict.map(|v| v.label()), a.cause.as_deref()), (Some("Missed"), Some("clean")), "{:?}", a.reason);
    assert!(log_first.contains("watching bob@example.test"), "{log_first}");

    // B's agent killed while the job waits for heidi's copy (held by the gateway) and not back: her action ends
    // Errored in words once the watch has tried for 30 s, without waiting out the 60 s.
    let waiting = dir.path().join("waiting.json");
    let slow = ["--to-actor", "Branch B", "--timeout", "60"];
    let mut job = run(&slow, &["heidi@example.test"], &waiting).spawn().unwrap();
    let started = std::time::Instant::now();
    while !w.store.list_jobs().unwrap().iter().any(|j| j.name.contains("heidi")) {
        assert!(started.elapsed().as_secs() < 20, "the job did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let log_b = agent_b.stop();
    let out = mailproof(w.dir.path(), WORKSTATION, &["actor", "check", "Branch B"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Branch B: no answer as paired: cannot reach the agent at"),
        "{}",
        text(&out.stderr)
    );
    let status = job.wait().unwrap();
    assert!(status.success());
    assert!(started.elapsed().as_secs() < 50, "decided when the agent stayed away, not at the time-out");
    let cut = report(&waiting);
    let a = &cut.actions[0];
    let reason = a.reason.clone().unwrap_or_default();
    assert_eq!(a.verdict.map(|v| v.label()), Some("Errored"), "{reason}");
    assert!(
        reason.contains("the watch through actor Branch B") && reason.contains("could not be opened again within 30 s"),
        "{reason}"
    );

    // Another machine at B's address, with another certificate: refused before anything is sent.
    let impostor = start_agent_on(dir.path(), "impostor", &ca, &b_address);
    let out =
        run(&["--to-actor", "Branch B"], &["bob@example.test"], &dir.path().join("impostor.json")).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("actor Branch B's agent cannot take the job, so nothing was sent"), "{err}");
    assert!(err.contains("did not present the certificate paired with"), "{err}");
    drop(impostor);

    let log_a = agent_a.stop();
    assert!(log_a.contains("submitted a message for bob@example.test"), "{log_a}");
    assert!(log_a.contains("watching alice@example.test"), "A reads alice's bounces: {log_a}");
    assert!(log_b.contains("watching bob@example.test") && log_b.contains("watching heidi@example.test"), "{log_b}");
    assert!(log_first.contains("watching erin@example.test"), "B read every destination of the first job: {log_first}");
    for secret in ["alice", "bob", "heidi"].map(|u| w.lab.password(u)) {
        assert!(!log_a.contains(&secret) && !log_b.contains(&secret), "no password in an agent's log");
    }
}
