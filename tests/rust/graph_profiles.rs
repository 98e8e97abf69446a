//! Microsoft 365 profiles end to end against the fake identity platform and Graph in front of the lab: saved with
//! the secret in the keyring only, tested, verified, and used by jobs in both directions — to Graph destinations
//! and from a Graph source — with the verdicts the lab's gateway policy gives IMAP profiles.
//!
//! One fake serves this whole test binary; the app finds it as it would in the field, through the base URLs it
//! reads from the environment.

use std::sync::OnceLock;
use std::time::Duration;

use mailproof_core::jobs::{run_job, JobError, RunOptions, Verdict};
use mailproof_core::profiles::clients::{GRAPH_ENV, GRAPH_LOGIN_ENV};
use mailproof_core::profiles::{
    save_profile, test_connection, Cloud, Credentials, EmailProfile, GraphSettings, ServerType,
};
use mailproof_core::secrets::Secret;
use mailproof_core::tracking::{self, TrackQuery, TrackStatus};
use mailproof_core::verification::{verify_profile, EmailTiming, VerifyRun};
use mailproof_core::{Cancel, FixedClock, SharedClock};
use mailproof_tests::microsoft::{FakeMicrosoft, CLIENT_ID, SECRET, TENANT};
use mailproof_tests::world::{check, expected, now, World};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.graph";
const USERS: [&str; 10] = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy"];
/// Sub-addresses the fake serves as mailboxes of their own (the lab delivers them to the user's mailbox): what
/// the fake does to their mail is theirs alone, whatever the other tests of this binary do meanwhile.
const OWN_BOXES: [&str; 4] = ["bob+removed", "bob+purged", "bob+sorted", "alice+renamed"];

/// The fake for every test here, with every lab mailbox, found through the environment as in the field.
fn fake() -> &'static FakeMicrosoft {
    static FAKE: OnceLock<FakeMicrosoft> = OnceLock::new();
    FAKE.get_or_init(|| {
        let boxes: Vec<String> = USERS.iter().chain(&OWN_BOXES).map(|u| format!("{u}@example.test")).collect();
        let fake = FakeMicrosoft::start(&boxes.iter().map(String::as_str).collect::<Vec<_>>()).expect("the lab runs");
        std::env::set_var(GRAPH_LOGIN_ENV, &fake.base);
        std::env::set_var(GRAPH_ENV, &fake.base);
        fake
    })
}

fn graph_draft(w: &World, user: &str, expires: &str) -> mailproof_core::profiles::ProfileDraft {
    let mut d = w.lab.profile_draft(user, ServerType::Graph, 0);
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

/// `user`'s profile, Microsoft 365 or IMAP, verified.
async fn verified(w: &World, user: &str, graph: bool) -> EmailProfile {
    if !graph {
        return w.verified_imap(user).await;
    }
    let p = save_profile(&w.store, &w.keyring, None, graph_draft(w, user, "2099-12-31"), now()).unwrap();
    w.verify(&p).await
}

#[tokio::test]
async fn a_microsoft_365_profile_is_saved_tested_verified_and_keeps_its_secret_in_the_keyring_only() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.profile")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let draft = graph_draft(&w, "carol", "2099-12-31");
    let report =
        test_connection(&draft, &Credentials::password(Secret::new(SECRET)), None, Duration::from_secs(10), |_| {})
            .await;
    assert!(report.ok, "{:#?}", report.incoming.steps);
    assert_eq!(report.incoming.service, "Microsoft Graph");

    let carol = verified(&w, "carol", true).await;
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
    let source = verified(&w, "alice", false).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(false) {
        dests.push(verified(&w, u, true).await);
    }
    // Nothing lost, and every verdict as for IMAP, while Graph throttles.
    fake.control(serde_json::json!({ "throttleNext": 6, "retryAfter": 1 })).await;
    let (_, report) = w.run(&w.spec("graph", &source, &dests, 6)).await;
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
    let source = verified(&w, "alice", true).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(true) {
        dests.push(verified(&w, u, false).await);
    }
    let (_, report) = w.run(&w.spec("graph", &source, &dests, 6)).await;
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

#[tokio::test]
async fn an_expired_secret_refuses_a_job_with_the_fix() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.expired")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "bob", true).await;
    let dest = verified(&w, "carol", false).await;
    let spec = w.spec("graph", &source, &[dest], 4);
    let later =
        RunOptions { clock: SharedClock::new(FixedClock(time::macros::datetime!(2100-01-01 0:00 UTC))), ..w.options() };
    let e = run_job(&w.store, &w.keyring, &spec, &later, &Cancel::default(), &|_| {}).await.unwrap_err();
    assert!(matches!(&e, JobError::SecretExpired { email, .. } if email == "bob@example.test"), "{e:?}");
    assert!(e.to_string().contains("Certificates & secrets"), "{e}");
    assert!(w.store.list_jobs().unwrap().is_empty(), "no job was created");
}

#[tokio::test]
async fn mail_removed_after_delivery_is_prevented_and_child_folders_are_watched() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.removed")) else { return };
    let fake = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "alice", false).await;
    let mut dests = Vec::new();
    for u in ["bob+removed", "bob+purged", "bob+sorted"] {
        dests.push(verified(&w, u, true).await);
    }
    // As zero-hour auto purge or an administrator's soft delete would, once the mail is in: to Deleted Items, to
    // Recoverable Items, and (an inbox rule's doing, no defence) to a child folder of Inbox.
    for (mailbox, to) in
        [("bob+removed", "deleteditems"), ("bob+purged", "recoverableitemsdeletions"), ("bob+sorted", "INBOX/Sorted")]
    {
        let address = format!("{mailbox}@example.test");
        fake.control(serde_json::json!({ "zap": { "mailbox": address, "toContains": address, "to": to } })).await;
    }
    let (job, report) = w.run(&w.spec("graph", &source, &dests, 12)).await;
    let by = |user: &str| report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
    for (user, folder) in [("bob+removed", "Deleted Items"), ("bob+purged", "Recoverable Items/")] {
        let a = by(user);
        let reason = a.reason.clone().unwrap_or_default();
        assert_eq!((a.verdict, a.cause.as_deref()), (Some(Verdict::Prevented), Some("removed")), "{user}: {reason}");
        assert!(reason.starts_with("Removed after delivery: found in") && reason.contains(folder), "{reason}");
    }
    let sorted = by("bob+sorted");
    assert_eq!(sorted.verdict, Some(Verdict::Missed), "{:?}", sorted.reason);
    assert_eq!(sorted.evidence.as_ref().unwrap().received.as_ref().unwrap().folder, "Inbox/Sorted");
    // The message log says where the removed copy was found.
    let removed = tracking::query(
        &w.store,
        &TrackQuery { recipient: "bob+removed@example.test".into(), page_size: 10, ..Default::default() },
    )
    .unwrap();
    let row = removed.rows.iter().find(|r| r.job_id.as_deref() == Some(job.as_str())).expect("tracked");
    assert_eq!(row.status, TrackStatus::Deleted);
    // Mailproof's own clean-up deletes for good (permanentDelete, a POST with an empty body), not to Deleted Items.
    let log = fake.log().await;
    let purges: Vec<_> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/permanentDelete"))
        .collect();
    assert!(!purges.is_empty(), "verification mail was cleaned up");
    assert!(purges.iter().all(|r| r["status"] == 204 && r["contentLength"] == "0"), "{purges:?}");
}

#[tokio::test]
async fn the_message_id_exchange_kept_is_evidence_and_tracked_and_no_secret_or_token_is_written_anywhere() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.renamed")) else { return };
    let fake = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "alice+renamed", true).await;
    let dests = [verified(&w, "bob", false).await, verified(&w, "frank", false).await];
    fake.control(serde_json::json!({ "replaceMessageId": "alice+renamed@example.test" })).await;
    let (_, report) = w.run(&w.spec("graph", &source, &dests, 8)).await;
    check(&report, &[("bob", Verdict::Missed, "clean"), ("frank", Verdict::Prevented, "bounced")], "renamed");
    let bob = report.actions.iter().find(|a| a.destination_email.starts_with("bob")).unwrap();
    let ev = bob.evidence.as_ref().unwrap();
    let kept = ev.sent_message_id.clone().expect("Exchange's Message-ID read back from Sent Items");
    assert!(kept != ev.message_id && kept.ends_with("@AM0PR01MB1234.eurprd01.prod.exchangelabs.com"), "{kept}");
    assert!(ev.transcript.iter().any(|l| l.starts_with("Sent Items holds the copy")), "{:?}", ev.transcript);
    // Searching the message log by the Message-ID the gateways saw finds the message, with both in its history.
    let found =
        tracking::query(&w.store, &TrackQuery { message_id: kept.clone(), page_size: 10, ..Default::default() })
            .unwrap();
    assert_eq!(found.rows.len(), 1, "{found:?}");
    let (_, history) = tracking::history(&w.store, found.rows[0].id).unwrap().expect("its history");
    assert!(history.iter().any(|e| e.detail.contains(&ev.message_id) && e.detail.contains(&kept)), "{history:?}");

    // No secret and no access token in the database, its journal, the exports, or what the app's IPC returns.
    let tokens: Vec<String> =
        fake.log().await["issuedTokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    assert!(!tokens.is_empty());
    let mut needles: Vec<String> = vec![SECRET.to_owned()];
    // A token's signature part alone would do as well as the whole.
    needles.extend(tokens.iter().flat_map(|t| [t.clone(), t.rsplit('.').next().unwrap().to_owned()]));
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    for file in std::fs::read_dir(w.dir.path()).unwrap().flatten() {
        written.push((file.path().display().to_string(), std::fs::read(file.path()).unwrap()));
    }
    let csv = w.dir.path().join("tracking.csv");
    tracking::export_csv_to(&w.store, &TrackQuery::default(), &csv).unwrap();
    written.push(("tracking export".into(), std::fs::read(&csv).unwrap()));
    written.push(("job export (CSV)".into(), mailproof_core::jobs::export::to_csv(&report).into_bytes()));
    written.push(("job export (JSON)".into(), mailproof_core::jobs::export::to_json(&report).into_bytes()));
    written.push(("the job report over IPC".into(), serde_json::to_vec(&report).unwrap()));
    written.push(("the profile over IPC".into(), serde_json::to_vec(&w.store.list_profiles().unwrap()).unwrap()));
    for (what, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{what} holds a secret or token");
        }
    }
}

#[tokio::test]
async fn a_microsoft_365_profile_is_verified_by_a_mail_the_user_sends_by_hand() {
    use mailproof_core::verification::manual_subject;
    use mailproof_mail::smtp::{self, SmtpConfig};
    use mailproof_mail::{tls::Trust, Encryption, Login, Password};
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.manual")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let carol = save_profile(&w.store, &w.keyring, None, graph_draft(&w, "carol", "2099-12-31"), now()).unwrap();
    // The user mails the address from anywhere, with the code the app shows in the subject.
    let code = w.store.verification_uuid(&carol.id).unwrap();
    let submission = SmtpConfig {
        host: w.lab.host(),
        port: w.lab.port("LAB_SUBMISSION_PORT"),
        encryption: Encryption::StartTls,
        login: Some(Login { username: "alice@example.test".into(), password: Password::new(w.lab.password("alice")) }),
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: Some(w.lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    };
    let mail = smtp::text_message(
        "alice@example.test",
        "carol@example.test",
        &manual_subject(&code),
        "by hand\r\n",
        &format!("{}@t", uuid::Uuid::new_v4()),
    )
    .unwrap();
    mailproof_tests::submit(&submission, &mail).await.unwrap();
    let run = VerifyRun {
        manual: true,
        timing: EmailTiming { wait_secs: 15, poll_millis: 200, delete_found: true },
        extra_ca: Some(w.lab.ca()),
        idle: true,
        clock: Default::default(),
    };
    let done = verify_profile(&w.store, &w.keyring, &carol.id, &run, &Cancel::default(), |_| {}).await.unwrap();
    assert!(done.iter().all(|e| e.verified == Some(true)), "verified by the mail sent by hand: {done:?}");
}
