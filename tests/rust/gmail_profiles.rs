//! Gmail profiles end to end against the fake Google in front of the lab: saved with the client secret in the
//! keyring only, authorized through the loopback (the test plays the browser), tested, verified, and used by jobs
//! in both directions with the verdicts the lab's gateway policy gives IMAP profiles; a consent revoked while a job
//! waits ends that mailbox's actions Errored with the reason, and the others are unharmed.
//!
//! One fake serves this whole test binary; the app finds it as it would in the field, through the base URLs it
//! reads from the environment.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mailproof_core::jobs::{run_job, ActionState, Verdict};
use mailproof_core::profiles::clients::{GMAIL_ENV, GOOGLE_OAUTH_ENV};
use mailproof_core::profiles::{
    authorize_profile, credentials_for_test, save_profile, test_connection, AuthorizeError, EmailProfile,
    GmailSettings, ProfileDraft, ProfileError, ServerType,
};
use mailproof_core::secrets::Secret;
use mailproof_core::verification::{verify_profile, VerifyError};
use mailproof_core::Cancel;
use mailproof_tests::google::{play_browser, FakeGoogle, CLIENT_ID, CLIENT_SECRET};
use mailproof_tests::world::{check, expected, now, World};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.gmail";
const USERS: [&str; 10] = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy"];

/// The fake for every test here, with every lab mailbox, found through the environment as in the field.
fn fake() -> &'static FakeGoogle {
    static FAKE: OnceLock<FakeGoogle> = OnceLock::new();
    FAKE.get_or_init(|| {
        let boxes: Vec<String> = USERS.iter().map(|u| format!("{u}@example.test")).collect();
        let boxes: Vec<&str> = boxes.iter().map(String::as_str).collect();
        let fake = FakeGoogle::start(&boxes, "alice@example.test").expect("the lab runs");
        std::env::set_var(GOOGLE_OAUTH_ENV, &fake.base);
        std::env::set_var(GMAIL_ENV, &fake.base);
        fake
    })
}

/// The browser is shared by the whole binary: one consent at a time, each as the account it names.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `user`'s Gmail profile with the fake's OAuth client, not yet signed in.
fn gmail_draft(w: &World, user: &str) -> ProfileDraft {
    let mut d = w.lab.profile_draft(user, ServerType::Gmail, 0);
    d.password = Some(Secret::new(CLIENT_SECRET));
    d.username = String::new();
    d.gmail = Some(GmailSettings { client_id: CLIENT_ID.into() });
    d
}

/// Authorizes `profile` with the consent of `account`, signed in at the test's browser.
async fn authorize(w: &World, profile: &EmailProfile, account: &str) -> Result<EmailProfile, AuthorizeError> {
    let _browser = BROWSER.lock().await;
    fake().control(serde_json::json!({ "signedIn": account })).await;
    let consent = authorize_profile(&w.store, &w.keyring, &profile.id, None).await?;
    let browser = tokio::spawn(play_browser(consent.url().to_owned()));
    let done = consent.finish(&w.store, &w.keyring, Duration::from_secs(20), &Cancel::default(), now()).await;
    browser.await.unwrap();
    done
}

/// `user`'s profile, Gmail (signed in) or IMAP, verified.
async fn verified(w: &World, user: &str, gmail: bool) -> EmailProfile {
    if !gmail {
        return w.verified_imap(user).await;
    }
    let p = save_profile(&w.store, &w.keyring, None, gmail_draft(w, user), now()).unwrap();
    w.verify(&authorize(w, &p, &p.email).await.unwrap()).await
}

#[tokio::test]
async fn a_gmail_profile_is_authorized_through_the_loopback_tested_verified_and_keeps_its_secrets_in_the_keyring() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.profile")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let carol = save_profile(&w.store, &w.keyring, None, gmail_draft(&w, "carol"), now()).unwrap();
    assert_eq!((carol.incoming.host.as_str(), carol.incoming.port), ("gmail.googleapis.com", 443));
    assert_eq!(carol.username, "carol@example.test", "the account is the mailbox");
    assert!(carol.authorized_at.is_none());
    let notice = carol.clone().with_notice(now().date()).secret_notice.expect("a notice until the consent");
    assert!(notice.contains("mailproof profile authorize carol@example.test"), "{notice}");

    // Before the consent: the test and verification say what to do, and nothing is asked of Google.
    let draft = gmail_draft(&w, "carol");
    let creds = credentials_for_test(&w.store, &w.keyring, &carol.draft(), Some(&carol.id)).unwrap();
    let report = test_connection(&draft, &creds, None, Duration::from_secs(10), |_| {}).await;
    assert!(!report.ok && report.incoming.steps[0].detail.contains("has not consented yet"), "{report:#?}");
    let e =
        verify_profile(&w.store, &w.keyring, &carol.id, &w.verify_run(), &Cancel::default(), |_| {}).await.unwrap_err();
    assert!(matches!(e, VerifyError::Profile(ProfileError::NotAuthorized { .. })), "{e:?}");

    // A consent given by another account is refused, and nothing is stored.
    let e = authorize(&w, &carol, "bob@example.test").await.unwrap_err();
    assert!(matches!(&e, AuthorizeError::WrongAccount { signed_in, .. } if signed_in == "bob@example.test"), "{e}");
    assert!(w.keyring.retrieve(&carol.refresh_token_key()).unwrap().is_none());
    assert!(w.store.get_profile(&carol.id).unwrap().unwrap().authorized_at.is_none());

    // Carol's own consent: kept in the keyring, and the profile tests and verifies through the API.
    let carol = authorize(&w, &carol, "carol@example.test").await.unwrap();
    assert!(carol.authorized_at.is_some() && carol.clone().with_notice(now().date()).secret_notice.is_none());
    let refresh = w.keyring.retrieve(&carol.refresh_token_key()).unwrap().expect("the refresh token is in the keyring");
    let creds = credentials_for_test(&w.store, &w.keyring, &carol.draft(), Some(&carol.id)).unwrap();
    let mut steps = Vec::new();
    let report = test_connection(&draft, &creds, None, Duration::from_secs(10), |e| steps.push(e)).await;
    assert!(report.ok, "{:#?}", report.incoming.steps);
    assert_eq!(report.incoming.service, "Gmail API");
    let titles: Vec<&str> = report.incoming.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["Sign-in", "Permission to read", "Mailbox", "Labels"]);
    assert!(report.outgoing.steps.iter().any(|s| s.detail.contains("Mail goes out as carol@example.test")));
    assert_eq!(steps.len(), report.incoming.steps.len() + report.outgoing.steps.len(), "each step streamed");
    let done =
        verify_profile(&w.store, &w.keyring, &carol.id, &w.verify_run(), &Cancel::default(), |_| {}).await.unwrap();
    assert!(done.iter().all(|e| e.verified == Some(true)), "{done:?}");

    // Neither the client secret nor the refresh token is in the database.
    for file in std::fs::read_dir(w.dir.path()).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(file.path()).unwrap()).to_string();
        assert!(!text.contains(CLIENT_SECRET) && !text.contains(refresh.expose()), "{:?}", file.path());
    }

    // Another OAuth client takes another consent: the stored one is forgotten, in the keyring too.
    let mut other = gmail_draft(&w, "carol");
    other.password = None;
    other.gmail = Some(GmailSettings { client_id: "418276350914-other0client.apps.googleusercontent.com".into() });
    let edited = save_profile(&w.store, &w.keyring, Some(&carol.id), other, now()).unwrap();
    assert!(edited.authorized_at.is_none());
    assert!(w.keyring.retrieve(&carol.refresh_token_key()).unwrap().is_none());
    mailproof_core::profiles::delete_profile(&w.store, &w.keyring, &carol.id).unwrap();
    assert!(w.keyring.retrieve(&carol.password_key()).unwrap().is_none());
}

#[tokio::test]
async fn a_job_to_gmail_destinations_gets_the_verdicts_imap_destinations_get() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.to-gmail")) else { return };
    let fake = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "alice", false).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(false) {
        dests.push(verified(&w, u, true).await);
    }
    // Nothing lost, and every verdict as for IMAP, while Gmail throttles.
    fake.control(serde_json::json!({ "throttleNext": 6 })).await;
    let (_, report) = w.run(&w.spec("gmail", &source, &dests, 8)).await;
    check(&report, &expected(false), "IMAP → Gmail");
    let by = |user: &str| report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
    assert_eq!(by("bob").evidence.as_ref().unwrap().received.as_ref().unwrap().folder, "Inbox");
    assert!(by("erin").reason.as_deref().unwrap().contains("Spam"), "{:?}", by("erin").reason);
}

#[tokio::test]
async fn a_job_from_a_gmail_source_gets_the_verdicts_an_imap_source_gets() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.from-gmail")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "alice", true).await;
    let mut dests = Vec::new();
    for (u, _, _) in expected(true) {
        dests.push(verified(&w, u, false).await);
    }
    let (_, report) = w.run(&w.spec("gmail", &source, &dests, 8)).await;
    check(&report, &expected(true), "Gmail → IMAP");
    let bob = report.actions.iter().find(|a| a.destination_email.starts_with("bob")).unwrap();
    let ev = bob.evidence.as_ref().unwrap();
    assert!(ev.smtp_reply.as_deref().unwrap().starts_with("200 Accepted by the Gmail API"), "{:?}", ev.smtp_reply);
    assert!(!ev.transcript.iter().any(|l| l.contains(CLIENT_SECRET) || l.contains("Bearer")), "no secret or token");
    let frank = report.actions.iter().find(|a| a.destination_email.starts_with("frank")).unwrap();
    let bounce = frank.evidence.as_ref().unwrap().bounce.as_ref().expect("Google's bounce is read");
    assert_eq!(bounce.recipients[0].address, "frank@example.test");
}

#[tokio::test]
async fn a_consent_revoked_while_a_job_waits_ends_that_mailboxs_actions_errored_and_no_others() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.revoked")) else { return };
    let _ = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "carol", false).await;
    // Heidi's mail never arrives, so her mailbox is still watched when the consent goes.
    let dests = [verified(&w, "judy", true).await, verified(&w, "heidi", true).await];
    let revoked = Arc::new(Mutex::new(false));
    let on_event = {
        let revoked = revoked.clone();
        move |e: mailproof_core::jobs::JobEvent| {
            let mut done = revoked.lock().unwrap();
            if e.state == ActionState::Watching && !*done {
                *done = true;
                tokio::spawn(async { fake().control(serde_json::json!({ "revoke": "heidi@example.test" })).await });
            }
        }
    };
    let job = run_job(
        &w.store,
        &w.keyring,
        &w.spec("gmail", &source, &dests, 10),
        &w.options(),
        &Cancel::default(),
        &on_event,
    )
    .await
    .unwrap();
    assert!(*revoked.lock().unwrap());
    let report = w.store.job_report(&job).unwrap().unwrap();
    check(&report, &[("judy", Verdict::Detected, "tagged")], "unharmed");
    let heidi = report.actions.iter().find(|a| a.destination_email.starts_with("heidi")).unwrap();
    let reason = heidi.reason.clone().unwrap_or_default();
    assert_eq!(heidi.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("revoked") && reason.contains("sign the profile in again"), "{reason}");
}

#[tokio::test]
async fn no_client_secret_refresh_or_access_token_or_code_verifier_is_written_anywhere() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.secrets")) else { return };
    let fake = fake();
    let w = World::new(lab, keyring);
    let source = verified(&w, "carol", true).await;
    let dests = [verified(&w, "bob", false).await, verified(&w, "frank", false).await];
    let creds = credentials_for_test(&w.store, &w.keyring, &source.draft(), Some(&source.id)).unwrap();
    let diagnosis = test_connection(&gmail_draft(&w, "carol"), &creds, None, Duration::from_secs(10), |_| {}).await;
    assert!(diagnosis.ok, "{:#?}", diagnosis.incoming.steps);
    let (_, report) = w.run(&w.spec("gmail", &source, &dests, 8)).await;
    check(&report, &[("bob", Verdict::Missed, "clean"), ("frank", Verdict::Prevented, "bounced")], "secrets");

    // Everything Google issued or was sent in secret, and the client secret.
    let log = fake.log().await;
    let strings =
        |k: &str| log[k].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let (issued, verifiers) = (strings("issuedTokens"), strings("verifiers"));
    assert!(issued.iter().any(|t| t.starts_with("1//")) && issued.iter().any(|t| t.starts_with("ya29.")));
    assert!(!verifiers.is_empty());
    let mut needles = vec![CLIENT_SECRET.to_owned()];
    needles.extend(issued);
    needles.extend(verifiers);

    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    for file in std::fs::read_dir(w.dir.path()).unwrap().flatten() {
        written.push((file.path().display().to_string(), std::fs::read(file.path()).unwrap()));
    }
    let csv = w.dir.path().join("tracking.csv");
    mailproof_core::tracking::export_csv_to(&w.store, &mailproof_core::tracking::TrackQuery::default(), &csv).unwrap();
    written.push(("tracking export".into(), std::fs::read(&csv).unwrap()));
    written.push(("job export (CSV)".into(), mailproof_core::jobs::export::to_csv(&report).into_bytes()));
    written.push(("job export (JSON)".into(), mailproof_core::jobs::export::to_json(&report).into_bytes()));
    written.push(("the job report over IPC".into(), serde_json::to_vec(&report).unwrap()));
    written.push(("the profiles over IPC".into(), serde_json::to_vec(&w.store.list_profiles().unwrap()).unwrap()));
    written.push(("the connection test over IPC".into(), serde_json::to_vec(&diagnosis).unwrap()));
    written.push(("the credentials' debug print".into(), format!("{creds:?}").into_bytes()));
    for (what, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{what} holds a secret or token");
        }
    }
}
