//! Real mail through the lab: lettre submits on 587-style STARTTLS + AUTH, async-imap finds the message by
//! its Message-ID. Also proves the gateway policy the later features test against.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::Message;
use mailproof_mail::imap::{self, ImapConfig};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::submit::Stage;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password};
use mailproof_tests::{submit, Lab};

fn login(lab: &Lab, user: &str) -> Login {
    Login { username: format!("{user}@example.test"), password: Password::new(lab.password(user)) }
}

fn submission(lab: &Lab, user: &str) -> SmtpConfig {
    SmtpConfig {
        host: lab.host(),
        port: lab.port("LAB_SUBMISSION_PORT"),
        encryption: Encryption::StartTls,
        login: Some(login(lab, user)),
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

fn imap_config(lab: &Lab, user: &str, encryption: Encryption) -> ImapConfig {
    let port = if encryption == Encryption::Tls { lab.port("LAB_IMAPS_PORT") } else { lab.port("LAB_IMAP_PORT") };
    ImapConfig {
        host: lab.host(),
        port,
        encryption,
        login: login(lab, user),
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

/// A message with a fresh Message-ID; returns it with the id (without angle brackets).
fn message(from: &str, to: &str, subject: &str) -> (Message, String) {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let msg = Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body("Harmless Mailproof lab test message.\r\n".to_owned())
        .unwrap();
    (msg, id)
}

/// Polls `mailbox` until a message with `message_id` is there (or 10 s pass); returns its raw bytes.
async fn wait_for(config: &ImapConfig, mailbox: &str, message_id: &str) -> Option<Vec<u8>> {
    let mut session = imap::connect(config).await.expect("IMAP login");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        let uids = imap::find_by_message_id(&mut session, mailbox, message_id).await.expect("search");
        if let Some(uid) = uids.first() {
            break imap::fetch_raw(&mut session, *uid).await.expect("fetch");
        }
        if tokio::time::Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    session.logout().await.ok();
    found
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

#[tokio::test]
async fn a_message_sent_on_submission_is_found_by_its_message_id_over_imap_starttls() {
    let Some(lab) = Lab::running() else { return };
    let (msg, id) = message("alice@example.test", "bob@example.test", "Mailproof lab round trip");
    let accepted = submit(&submission(&lab, "alice"), &msg).await.expect("submission accepts");
    assert_eq!(accepted.code, 250, "{accepted:?}");

    let raw = wait_for(&imap_config(&lab, "bob", Encryption::StartTls), "INBOX", &id).await.expect("delivered to bob");
    let raw = String::from_utf8_lossy(&raw);
    assert_eq!(header(&raw, "Message-ID"), Some(format!("<{id}>").as_str()));
    assert_eq!(header(&raw, "Subject"), Some("Mailproof lab round trip"));
}

#[tokio::test]
async fn implicit_tls_submission_and_imaps_work_too() {
    let Some(lab) = Lab::running() else { return };
    let mut config = submission(&lab, "carol");
    config.port = lab.port("LAB_SMTPS_PORT");
    config.encryption = Encryption::Tls;
    let (msg, id) = message("carol@example.test", "alice@example.test", "over 465 and 993");
    submit(&config, &msg).await.expect("SMTPS accepts");
    assert!(wait_for(&imap_config(&lab, "alice", Encryption::Tls), "INBOX", &id).await.is_some());
}

#[tokio::test]
async fn the_gateway_rejects_at_smtp_time_with_the_servers_reason() {
    let Some(lab) = Lab::running() else { return };
    let (msg, _) = message("alice@example.test", "bob@example.test", "invoice [lab:reject]");
    let err = submit(&submission(&lab, "alice"), &msg).await.expect_err("must be rejected");
    assert!(err.permanent(), "a permanent refusal: {err}");
    assert_eq!(err.code, Some(550));
    assert!(err.text.contains("Lab gateway policy"), "{err}");
}

#[tokio::test]
async fn the_gateway_files_flagged_mail_into_junk_and_tags_subjects() {
    let Some(lab) = Lab::running() else { return };
    let cfg = imap_config(&lab, "bob", Encryption::StartTls);
    let (junk, junk_id) = message("alice@example.test", "bob@example.test", "cheap pills [lab:junk]");
    let (tag, tag_id) = message("alice@example.test", "bob@example.test", "quarterly report [lab:tag]");
    submit(&submission(&lab, "alice"), &junk).await.unwrap();
    submit(&submission(&lab, "alice"), &tag).await.unwrap();

    let raw = wait_for(&cfg, "Junk", &junk_id).await.expect("filed to Junk");
    assert_eq!(header(&String::from_utf8_lossy(&raw), "X-Spam-Flag"), Some("YES"));
    let raw = wait_for(&cfg, "INBOX", &tag_id).await.expect("tagged mail delivered");
    assert_eq!(header(&String::from_utf8_lossy(&raw), "Subject"), Some("[SUSPICIOUS] quarterly report [lab:tag]"));
}

#[tokio::test]
async fn a_message_bounced_after_acceptance_returns_a_dsn_to_the_sender() {
    let Some(lab) = Lab::running() else { return };
    let (msg, id) = message("alice@example.test", "bob@example.test", "payload [lab:bounce]");
    submit(&submission(&lab, "alice"), &msg).await.expect("accepted first");

    // The DSN carries the original headers; IMAP TEXT search finds our Message-ID inside it.
    let mut session = imap::connect(&imap_config(&lab, "alice", Encryption::StartTls)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let dsn = loop {
        session.examine("INBOX").await.unwrap();
        let uids = session.uid_search(format!("TEXT \"{id}\" FROM \"MAILER-DAEMON\"")).await.unwrap();
        if let Some(uid) = uids.into_iter().next() {
            break imap::fetch_raw(&mut session, uid).await.unwrap().unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "no DSN within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dsn = String::from_utf8_lossy(&dsn);
    assert!(dsn.contains("multipart/report") && dsn.contains("report-type=delivery-status"), "not a DSN");
    assert!(dsn.contains("message refused after acceptance"), "the DSN keeps the gateway's reason");
}

#[tokio::test]
async fn imap_accepts_a_pinned_certificate_without_the_ca_and_refuses_another_pin() {
    let Some(lab) = Lab::running() else { return };
    let leaf = std::path::PathBuf::from(lab.var("LAB_DIR")).join("tls/server.crt");
    let der = mailproof_mail::tls::read_pem_certificates(&leaf).unwrap().remove(0);
    let mut config = imap_config(&lab, "bob", Encryption::Tls);
    config.trust = Trust { extra_ca: None, pinned_sha256: Some(mailproof_mail::tls::sha256_hex(&der)) };
    let session = imap::connect(&config).await.expect("the pinned certificate is accepted");
    drop(session);
    config.trust.pinned_sha256 = Some("0".repeat(64));
    assert!(imap::connect(&config).await.is_err(), "another pin is refused");
}

#[tokio::test]
async fn smtp_submission_accepts_only_the_pinned_certificate() {
    let Some(lab) = Lab::running() else { return };
    let leaf = std::path::PathBuf::from(lab.var("LAB_DIR")).join("tls/server.crt");
    let der = mailproof_mail::tls::read_pem_certificates(&leaf).unwrap().remove(0);
    for encryption in [Encryption::StartTls, Encryption::Tls] {
        let mut config = submission(&lab, "alice");
        if encryption == Encryption::Tls {
            config.port = lab.port("LAB_SMTPS_PORT");
        }
        config.encryption = encryption;
        config.trust = Trust { extra_ca: None, pinned_sha256: Some(mailproof_mail::tls::sha256_hex(&der)) };
        let (msg, _) = message("alice@example.test", "bob@example.test", "pinned submission");
        submit(&config, &msg).await.expect("the pinned certificate is accepted without the CA");

        config.trust.pinned_sha256 = Some("0".repeat(64));
        let (msg, _) = message("alice@example.test", "bob@example.test", "wrong pin");
        let err = submit(&config, &msg).await.unwrap_err();
        // Refused in the handshake, before any credential or message is sent.
        let handshake = if encryption == Encryption::Tls { Stage::Connect } else { Stage::StartTls };
        assert_eq!((err.stage, err.code), (handshake, None), "{err}");
        assert!(err.text.contains("TLS handshake") && err.text.contains("certificate"), "{err}");
    }
}

#[tokio::test]
async fn an_idle_watcher_wakes_when_mail_arrives_and_sees_only_new_mail() {
    use mailproof_mail::watch::ImapWatcher;
    let Some(lab) = Lab::running() else { return };
    let config = imap_config(&lab, "carol", Encryption::Tls);
    // Mail from before the watcher opened is not news.
    let (old, old_id) = message("alice@example.test", "carol@example.test", "before the watcher");
    submit(&submission(&lab, "alice"), &old).await.unwrap();
    assert!(wait_for(&config, "INBOX", &old_id).await.is_some());
    let mut watcher = ImapWatcher::open(&config).await.unwrap();
    assert!(watcher.start_idle().await.unwrap(), "Dovecot offers IDLE");
    let changes = watcher.changes().unwrap();
    // Drain the wake-up IDLE gives when it starts.
    let _ = tokio::time::timeout(Duration::from_millis(200), changes.notified()).await;

    let (new, new_id) = message("alice@example.test", "carol@example.test", "after the watcher");
    submit(&submission(&lab, "alice"), &new).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), changes.notified()).await.expect("IDLE announces the new mail");
    let mut seen = Vec::new();
    for _ in 0..20 {
        let found = watcher.poll(&mut |_| true).await.unwrap();
        seen.extend(found.into_iter().map(|a| String::from_utf8_lossy(&a.raw).into_owned()));
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 1, "only the new message");
    assert!(seen[0].contains(&new_id) && !seen[0].contains(&old_id));
    assert!(watcher.poll(&mut |_| true).await.unwrap().is_empty(), "nothing is reported twice");

    // A small message comes whole with the first look; one bigger than that look reads is fetched again, whole.
    let big_id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let big = Message::builder()
        .from("alice@example.test".parse().unwrap())
        .to("carol@example.test".parse().unwrap())
        .subject("a large message")
        .message_id(Some(format!("<{big_id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body("A harmless line of a large Mailproof lab test message.\r\n".repeat(4000))
        .unwrap();
    let (small, small_id) = message("alice@example.test", "carol@example.test", "a small message");
    submit(&submission(&lab, "alice"), &big).await.unwrap();
    submit(&submission(&lab, "alice"), &small).await.unwrap();
    let (big_raw, small_raw) = (wait_for(&config, "INBOX", &big_id).await, wait_for(&config, "INBOX", &small_id).await);
    let mut found = Vec::new();
    while found.len() < 2 {
        found.extend(watcher.poll(&mut |_| true).await.unwrap().into_iter().map(|a| a.raw));
    }
    assert!(big_raw.as_ref().is_some_and(|r| r.len() > 200_000));
    assert!(found.contains(&big_raw.unwrap()), "the large message, byte for byte");
    assert!(found.contains(&small_raw.unwrap()), "the small message, byte for byte");

    // Folders other than INBOX and Junk are asked less often, but asked: a message moved into Trash is found, and
    // known for where it is.
    let (filed, filed_id) = message("alice@example.test", "carol@example.test", "filed by a rule");
    let mut session = imap::connect(&config).await.unwrap();
    session.append("Trash", None, None, filed.formatted()).await.unwrap();
    session.logout().await.ok();
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.extend(watcher.poll(&mut |_| true).await.unwrap());
    }
    assert_eq!(seen.len(), 1, "found once, within ten looks");
    assert_eq!(seen[0].folder, "Trash");
    assert!(seen[0].removed && !seen[0].junk, "the trash (\\Trash) holds mail removed after delivery");
    assert!(String::from_utf8_lossy(&seen[0].raw).contains(&filed_id));
    watcher.close().await;
}

#[tokio::test]
async fn a_flood_of_new_mail_is_read_over_several_bounded_looks_and_none_is_missed_or_repeated() {
    use mailproof_mail::watch::ImapWatcher;
    let Some(lab) = Lab::running() else { return };
    // leo's mailbox: the lab's gateway defers mail for it, so nothing else arrives there meanwhile.
    let config = imap_config(&lab, "leo", Encryption::Tls);
    let mut watcher = ImapWatcher::open(&config).await.unwrap();
    let mut session = imap::connect(&config).await.unwrap();
    let n = 1_100;
    for i in 0..n {
        let (m, _) = message("alice@example.test", "leo@example.test", &format!("flood {i}"));
        session.append("INBOX", None, None, m.formatted()).await.unwrap();
    }
    let mut looks = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut backlog = Vec::new();
    for _ in 0..6 {
        let found = watcher.poll(&mut |_| true).await.unwrap();
        looks.push(found.len());
        backlog.push(watcher.backlog());
        for a in found {
            assert!(seen.insert(a.uid), "UID {} handed back twice", a.uid);
        }
    }
    assert_eq!(seen.len(), n, "every message, over the looks {looks:?}");
    assert!(looks.iter().all(|l| *l <= 500), "at most 500 a look: {looks:?}");
    assert_eq!(&looks[..3], &[500, 500, 100], "{looks:?}");
    // The watch says when it left mail for the next look, so the engine looks again at once.
    assert_eq!(&backlog[..3], &[true, true, false], "{backlog:?}");
    // Leave leo's mailbox as it was.
    let all: Vec<u32> = session.uid_search("ALL").await.unwrap().into_iter().collect();
    imap::delete(&mut session, "INBOX", &all).await.unwrap();
    session.logout().await.ok();
    watcher.close().await;
}
