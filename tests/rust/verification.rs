//! Verifying profiles by mail on the real lab: automatic (INBOX, Junk, dropped by the gateway, refused sender),
//! manual with the user's `(UUID)` mail, and a remote actor not paired with an agent (the CLI tests pair one).

use std::time::Duration;

use mailproof_core::profiles::{save_profile, AuthMethod, ProfileDraft, Security, ServerType};
use mailproof_core::secrets::{Keyring, Secret};
use mailproof_core::verification::{
    manual_subject, save_sender, save_timing, sender_password_key, verify_profile, EmailSender, EmailTiming,
    VerifyError, VerifyRun,
};
use mailproof_core::{Cancel, Store};
use mailproof_mail::smtp::{self, SmtpConfig};
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.verification";

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn draft(lab: &Lab, user: &str, server_type: ServerType, actors: Vec<String>) -> ProfileDraft {
    let port = match server_type {
        ServerType::Pop3 => lab.port("LAB_POP3S_PORT"),
        _ => lab.port("LAB_IMAPS_PORT"),
    };
    ProfileDraft {
        manual_verification: server_type == ServerType::Pop3,
        actor_ids: actors,
        ..lab.profile_draft(user, server_type, port)
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    keyring: Keyring,
    run: VerifyRun,
}

fn world(lab: &Lab, keyring: Keyring, sender_password: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("mailproof.db"), now()).unwrap();
    let sender = EmailSender {
        host: lab.host(),
        port: lab.port("LAB_SUBMISSION_PORT").into(),
        security: Security::StartTls,
        requires_auth: true,
        auth: AuthMethod::Plain,
        username: "alice@example.test".into(),
        from_address: "alice@example.test".into(),
        pinned_sha256: None,
    };
    save_sender(&store, &sender, now()).unwrap();
    keyring.persist(&sender_password_key(), &Secret::new(sender_password)).unwrap();
    let timing = EmailTiming { wait_secs: 10, poll_millis: 100, delete_found: true };
    save_timing(&store, &timing, now()).unwrap();
    World {
        _dir: dir,
        store,
        keyring,
        run: VerifyRun { manual: false, timing, extra_ca: Some(lab.ca()), idle: true, clock: Default::default() },
    }
}

async fn verify(w: &World, id: &str, run: &VerifyRun) -> Vec<(bool, String)> {
    let mut phases = Vec::new();
    let done =
        verify_profile(&w.store, &w.keyring, id, run, &Cancel::default(), |e| phases.push(e.phase)).await.unwrap();
    assert!(!phases.is_empty(), "progress is reported as it happens");
    done.into_iter().map(|e| (e.verified.unwrap(), e.detail)).collect()
}

#[tokio::test]
async fn automatic_verification_covers_inbox_junk_dropped_mail_and_a_remote_actor() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.automatic")) else { return };
    let w = world(&lab, keyring, &lab.password("alice"));
    let zone = w.store.create_zone("Branch office", now()).unwrap();
    let remote = w.store.create_actor("Branch reader", &zone.id, now()).unwrap();

    // bob: found in INBOX for this workstation; the unpaired remote actor says why it cannot be checked.
    let bob = save_profile(
        &w.store,
        &w.keyring,
        None,
        draft(&lab, "bob", ServerType::Imap, vec!["this-workstation".into(), remote.id.clone()]),
        now(),
    )
    .unwrap();
    let outcomes = verify(&w, &bob.id, &w.run).await;
    assert_eq!(outcomes.len(), 2);
    let (this, branch) = if outcomes[0].1.contains("remote actor") {
        (&outcomes[1], &outcomes[0])
    } else {
        (&outcomes[0], &outcomes[1])
    };
    assert!(this.0, "{}", this.1);
    assert!(this.1.starts_with("Verified: the verification mail arrived after"), "{}", this.1);
    assert!(!branch.0 && branch.1.contains("not paired with a Mailproof agent yet"), "{}", branch.1);
    // The found verification mail was deleted afterwards.
    let mut session = mailproof_mail::imap::connect(&mailproof_mail::imap::ImapConfig {
        host: lab.host(),
        port: lab.port("LAB_IMAPS_PORT"),
        encryption: Encryption::Tls,
        login: Login { username: "bob@example.test".into(), password: Password::new(lab.password("bob")) },
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: mailproof_mail::tls::Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let detail = this.1.clone();
    let left = mailproof_mail::imap::find_by_subject(&mut session, "INBOX", "Mailproof verification").await.unwrap();
    assert!(left.is_empty(), "verification mails are deleted once found ({detail})");
    let stored = w.store.get_profile(&bob.id).unwrap().unwrap();
    let status = stored.actors.iter().find(|a| a.actor_id == "this-workstation").unwrap();
    assert_eq!(status.status, mailproof_core::profiles::VerificationStatus::Verified);
    assert!(status.status_at.is_some());
    // The verification mail is in the tracking log with its history.
    let tracked = mailproof_core::tracking::query(
        &w.store,
        &mailproof_core::tracking::TrackQuery {
            recipient: "bob@example.test".into(),
            subject: "Mailproof verification".into(),
            page_size: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tracked.total, 1);
    assert_eq!(tracked.rows[0].status, mailproof_core::tracking::TrackStatus::Deleted);
    assert_eq!(tracked.rows[0].verification_of.as_deref(), Some(bob.id.as_str()));
    use mailproof_core::tracking::EventKind::{Deleted, Delivered, Queued, Sent};
    let kinds: Vec<_> = mailproof_core::tracking::history(&w.store, tracked.rows[0].id)
        .unwrap()
        .unwrap()
        .1
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [Queued, Sent, Delivered, Deleted]);

    // erin: the gateway flags her mail as spam; found in Junk, verified with a note.
    let erin = save_profile(
        &w.store,
        &w.keyring,
        None,
        draft(&lab, "erin", ServerType::Imap, vec!["this-workstation".into()]),
        now(),
    )
    .unwrap();
    let outcomes = verify(&w, &erin.id, &w.run).await;
    assert!(outcomes[0].0 && outcomes[0].1.contains("found in Junk"), "{}", outcomes[0].1);

    // dan: the gateway drops his mail; not found within the wait.
    let dan = save_profile(
        &w.store,
        &w.keyring,
        None,
        draft(&lab, "dan", ServerType::Imap, vec!["this-workstation".into()]),
        now(),
    )
    .unwrap();
    let mut quick = w.run.clone();
    quick.timing.wait_secs = 2;
    let outcomes = verify(&w, &dan.id, &quick).await;
    assert_eq!(outcomes[0], (false, "The verification mail was not found within 2 s.".to_owned()));
}

#[tokio::test]
async fn a_refused_sender_gives_the_smtp_reply_and_a_missing_one_says_where_to_set_it() {
    let Some(lab) = Lab::running() else { return };
    // Each test has its own keyring service: the sender's password entry is per service.
    let Some(keyring) = real_keyring(&format!("{SERVICE}.refused")) else { return };
    let w = world(&lab, keyring, "not-alices-password");
    let bob = save_profile(
        &w.store,
        &w.keyring,
        None,
        draft(&lab, "bob", ServerType::Imap, vec!["this-workstation".into()]),
        now(),
    )
    .unwrap();
    let outcomes = verify(&w, &bob.id, &w.run).await;
    assert!(!outcomes[0].0);
    assert!(outcomes[0].1.starts_with("Mailproof's sender could not send the verification mail"), "{}", outcomes[0].1);
    assert!(outcomes[0].1.contains("535"), "the SMTP reply is kept: {}", outcomes[0].1);

    let dir = tempfile::tempdir().unwrap();
    let (bare, _) = Store::open(&dir.path().join("m.db"), now()).unwrap();
    let carol = save_profile(
        &bare,
        &w.keyring,
        None,
        draft(&lab, "carol", ServerType::Imap, vec!["this-workstation".into()]),
        now(),
    )
    .unwrap();
    let err = verify_profile(&bare, &w.keyring, &carol.id, &w.run, &Cancel::default(), |_| {}).await.unwrap_err();
    assert!(matches!(err, VerifyError::NoSender));
    assert!(err.to_string().contains("Settings → Email"));
}

#[tokio::test]
async fn manual_verification_finds_the_users_uuid_mail_over_pop3_and_a_new_uuid_invalidates_the_old() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.manual")) else { return };
    let w = world(&lab, keyring, &lab.password("alice"));
    let carol = save_profile(
        &w.store,
        &w.keyring,
        None,
        draft(&lab, "carol", ServerType::Pop3, vec!["this-workstation".into()]),
        now(),
    )
    .unwrap();
    let manual = VerifyRun { manual: true, ..w.run.clone() };

    // The user sends a mail with the UUID in parentheses, as the app tells them to.
    let old_uuid = w.store.verification_uuid(&carol.id).unwrap();
    let new_uuid = w.store.regenerate_verification_uuid(&carol.id).unwrap();
    assert_ne!(old_uuid, new_uuid);
    let submission = SmtpConfig {
        host: lab.host(),
        port: lab.port("LAB_SUBMISSION_PORT"),
        encryption: Encryption::StartTls,
        login: Some(Login { username: "alice@example.test".into(), password: Password::new(lab.password("alice")) }),
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    };
    let stale = smtp::text_message(
        "alice@example.test",
        "carol@example.test",
        &manual_subject(&old_uuid),
        "old\r\n",
        &format!("{}@t", uuid::Uuid::new_v4()),
    )
    .unwrap();
    mailproof_tests::submit(&submission, &stale).await.unwrap();
    let mut quick = manual.clone();
    quick.timing.wait_secs = 2;
    let outcomes = verify(&w, &carol.id, &quick).await;
    assert!(!outcomes[0].0, "a mail with the old UUID does not verify: {}", outcomes[0].1);

    let good = smtp::text_message(
        "alice@example.test",
        "carol@example.test",
        &manual_subject(&new_uuid),
        "hi\r\n",
        &format!("{}@t", uuid::Uuid::new_v4()),
    )
    .unwrap();
    mailproof_tests::submit(&submission, &good).await.unwrap();
    let outcomes = verify(&w, &carol.id, &manual).await;
    assert!(outcomes[0].0, "{}", outcomes[0].1);
}
