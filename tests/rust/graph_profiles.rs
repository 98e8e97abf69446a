//! Microsoft 365 profiles end to end against the fake identity platform and Graph in front of the lab: saved with
//! the secret in the keyring only, tested, verified, and used by jobs in both directions — to Graph destinations
//! and from a Graph source — with the verdicts the lab's gateway policy gives IMAP profiles.
//!
//! One fake serves this whole test binary; the app finds it as it would in the field, through the base URLs it
//! reads from the environment.

use std::sync::OnceLock;
use std::time::Duration;

use mailproof_core::actions::Selection;
use mailproof_core::jobs::{run_job, JobError, JobSpec, JobTiming, RunOptions, RuntimeParams, Verdict};
use mailproof_core::profiles::clients::{GRAPH_ENV, GRAPH_LOGIN_ENV};
use mailproof_core::profiles::{save_profile, test_connection, Cloud, EmailProfile, GraphSettings, ServerType};
use mailproof_core::secrets::{Keyring, Secret};
use mailproof_core::verification::{verify_profile, EmailTiming, VerifyRun};
use mailproof_core::{Cancel, FixedClock, SharedClock, Store};
use mailproof_tests::microsoft::{FakeMicrosoft, CLIENT_ID, SECRET, TENANT};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.graph";
const USERS: [&str; 10] = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy"];

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The fake for every test here, with every lab mailbox, found through the environment as in the field.
fn fake() -> &'static FakeMicrosoft {
    static FAKE: OnceLock<FakeMicrosoft> = OnceLock::new();
    FAKE.get_or_init(|| {
        let boxes: Vec<String> = USERS.iter().map(|u| format!("{u}@example.test")).collect();
        let fake = FakeMicrosoft::start(&boxes.iter().map(String::as_str).collect::<Vec<_>>()).expect("the lab runs");
        std::env::set_var(GRAPH_LOGIN_ENV, &fake.base);
        std::env::set_var(GRAPH_ENV, &fake.base);
        fake
    })
}

struct World {
    dir: tempfile::TempDir,
    store: Store,
    keyring: Keyring,
    lab: Lab,
}

impl World {
    fn new(lab: Lab, keyring: Keyring) -> World {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("mailproof.db"), now()).unwrap();
        lab.use_as_sender("verifier", &store, &keyring);
        World { dir, store, keyring, lab }
    }

    fn graph_draft(&self, user: &str, expires: &str) -> mailproof_core::profiles::ProfileDraft {
        let mut d = self.lab.profile_draft(user, ServerType::Graph, 0);
        d.password = Some(Secret::new(SECRET));
        d.username = String::new();
        d.graph = Some(GraphSettings {
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            secret_expires: expires.into(),
            cloud: Cloud::Global,
        });
        d
    }

    async fn verified(&self, user: &str, graph: bool) -> EmailProfile {
        let draft = if graph {
            self.graph_draft(user, "2099-12-31")
        } else {
            self.lab.profile_draft(user, ServerType::Imap, self.lab.port("LAB_IMAPS_PORT"))
        };
        let p = save_profile(&self.store, &self.keyring, None, draft, now()).unwrap();
        let run = VerifyRun {
            manual: false,
            timing: EmailTiming { wait_secs: 15, poll_millis: 200, delete_found: true },
            extra_ca: Some(self.lab.ca()),
            idle: true,
            clock: Default::default(),
        };
        let done = verify_profile(&self.store, &self.keyring, &p.id, &run, &Cancel::default(), |_| {}).await.unwrap();
        assert!(done.iter().all(|e| e.verified == Some(true)), "{user} verifies: {done:?}");
        p
    }

    fn spec(&self, source: &EmailProfile, destinations: &[EmailProfile], timeout_secs: u32) -> JobSpec {
        JobSpec {
            name: "graph".into(),
            selection: Selection::Ids { ids: vec!["A100-002".into()] },
            source_profile_id: source.id.clone(),
            destination_profile_ids: destinations.iter().map(|d| d.id.clone()).collect(),
            params: RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 },
            timing: JobTiming { timeout_secs, pause_millis: 0, poll_millis: 200, concurrency: 8 },
        }
    }

    fn options(&self) -> RunOptions {
        RunOptions { extra_ca: Some(self.lab.ca()), ..Default::default() }
    }
}

/// What the lab's gateway does to each destination, and the verdict and cause it gets.
fn expected(graph_source: bool) -> Vec<(&'static str, Verdict, &'static str)> {
    vec![
        ("bob", Verdict::Missed, "clean"),
        // Exchange Online takes the message first and reports the next hop's refusal in an NDR.
        ("frank", Verdict::Prevented, if graph_source { "bounced" } else { "rejected" }),
        ("grace", Verdict::Prevented, "bounced"),
        ("heidi", Verdict::Prevented, "notDelivered"),
        ("dan", Verdict::Prevented, "notDelivered"),
        ("ivan", Verdict::Prevented, "modified"),
        ("judy", Verdict::Detected, "tagged"),
        ("erin", Verdict::Detected, "junk"),
    ]
}

#[tokio::test]
async fn a_microsoft_365_profile_is_saved_tested_verified_and_keeps_its_secret_in_the_keyring_only() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.profile")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let draft = w.graph_draft("carol", "2099-12-31");
    let report = test_connection(&draft, &Secret::new(SECRET), None, Duration::from_secs(10), |_| {}).await;
    assert!(report.ok, "{:#?}", report.incoming.steps);
    assert_eq!(report.incoming.service, "Microsoft Graph");

    let carol = w.verified("carol", true).await;
    assert_eq!(carol.server_type, ServerType::Graph);
    assert_eq!((carol.incoming.host.as_str(), carol.incoming.port), ("graph.microsoft.com", 443));
    assert_eq!(carol.username, "carol@example.test", "the account is the mailbox");
    assert_eq!(carol.graph.as_ref().unwrap().client_id, CLIENT_ID);
    assert_eq!(w.keyring.retrieve(&carol.password_key()).unwrap().unwrap().expose(), SECRET);
    for file in std::fs::read_dir(w.dir.path()).unwrap().flatten() {
        let bytes = std::fs::read(file.path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "{:?} holds the secret", file.path());
    }
    // The secret's expiry: a notice from 30 days ahead.
    let soon = carol.clone().with_notice(time::macros::date!(2099 - 12 - 10));
    assert!(soon.secret_notice.unwrap().contains("expires on 2099-12-31 (in 21 days)"));
    assert!(carol.with_notice(time::macros::date!(2026 - 12 - 02)).secret_notice.is_none());
}

#[tokio::test]
async fn a_job_to_graph_destinations_through_a_429_storm_gets_the_verdicts_imap_destinations_get() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.to-graph")) else { return };
    let fake = fake();
    let w = World::new(lab, keyring);
    let source = w.verified("alice", false).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(false) {
        dests.push(w.verified(u, true).await);
    }
    // Nothing lost, and every verdict as for IMAP, while Graph throttles.
    fake.control(serde_json::json!({ "throttleNext": 6, "retryAfter": 1 })).await;
    let job = run_job(&w.store, &w.keyring, &w.spec(&source, &dests, 6), &w.options(), &Cancel::default(), &|_| {})
        .await
        .unwrap();
    let report = w.store.job_report(&job).unwrap().unwrap();
    check(&report, &expected(false), "IMAP → Graph");
    let by = |user: &str| report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
    assert_eq!(by("bob").evidence.as_ref().unwrap().received.as_ref().unwrap().folder, "Inbox");
    assert!(by("erin").reason.as_deref().unwrap().contains("Junk Email"), "{:?}", by("erin").reason);
    assert!(by("ivan").evidence.as_ref().unwrap().changes.iter().any(|c| c.contains("removed")));
}

#[tokio::test]
async fn a_job_from_a_graph_source_gets_the_verdicts_an_imap_source_gets() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.from-graph")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let source = w.verified("alice", true).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(true) {
        dests.push(w.verified(u, false).await);
    }
    let job = run_job(&w.store, &w.keyring, &w.spec(&source, &dests, 6), &w.options(), &Cancel::default(), &|_| {})
        .await
        .unwrap();
    let report = w.store.job_report(&job).unwrap().unwrap();
    check(&report, &expected(true), "Graph → IMAP");
    let bob = report.actions.iter().find(|a| a.destination_email.starts_with("bob")).unwrap();
    let ev = bob.evidence.as_ref().unwrap();
    assert!(ev.smtp_reply.as_deref().unwrap().starts_with("202 Accepted by Microsoft Graph"), "{:?}", ev.smtp_reply);
    assert!(ev.transcript.iter().any(|l| l.contains("/sendMail → 202")), "{:?}", ev.transcript);
    assert!(!ev.transcript.iter().any(|l| l.contains(SECRET) || l.contains("Bearer")), "no secret or token");
    let frank = report.actions.iter().find(|a| a.destination_email.starts_with("frank")).unwrap();
    let ndr = frank.evidence.as_ref().unwrap().bounce.as_ref().expect("Exchange's NDR is read");
    assert_eq!(ndr.recipients[0].address, "frank@example.test");
}

fn check(report: &mailproof_core::jobs::JobReport, expect: &[(&str, Verdict, &str)], what: &str) {
    for (user, verdict, cause) in expect {
        let a = report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
        let reason = a.reason.clone().unwrap_or_default();
        assert_eq!(a.verdict, Some(*verdict), "{what}, {user}: {reason}");
        assert_eq!(a.cause.as_deref(), Some(*cause), "{what}, {user}: {reason}");
    }
}

#[tokio::test]
async fn an_expired_secret_refuses_a_job_with_the_fix() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.expired")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let source = w.verified("bob", true).await;
    let dest = w.verified("carol", false).await;
    let spec = w.spec(&source, &[dest], 4);
    let later =
        RunOptions { clock: SharedClock::new(FixedClock(time::macros::datetime!(2100-01-01 0:00 UTC))), ..w.options() };
    let e = run_job(&w.store, &w.keyring, &spec, &later, &Cancel::default(), &|_| {}).await.unwrap_err();
    assert!(matches!(&e, JobError::SecretExpired { email, .. } if email == "bob@example.test"), "{e:?}");
    assert!(e.to_string().contains("Certificates & secrets"), "{e}");
    assert!(w.store.list_jobs().unwrap().is_empty(), "no job was created");
}
