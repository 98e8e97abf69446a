//! Real mail with NTLMv2 sign-in on every leg: LAB\bob submits through Postfix (SASL via the Samba-backed
//! Dovecot), then finds the message in his mailbox over IMAP (AUTHENTICATE NTLM) and POP3 (AUTH NTLM).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::Message;
use mailproof_mail::imap::{self, ImapConfig};
use mailproof_mail::pop3::{Pop3, Pop3Config};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::submit::Stage;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password};
use mailproof_tests::{missing, submit, Lab};

fn ntlm_login(lab: &Lab) -> Option<Login> {
    match (lab.try_var("LAB_NTLM_USER"), lab.try_var("LAB_NTLM_PASSWORD")) {
        (Some(u), Some(p)) => Some(Login { username: u.into(), password: Password::new(p) }),
        _ => missing("the lab's NTLM side (tests/lab/start.sh --ntlm)"),
    }
}

fn submission(lab: &Lab, login: Login) -> SmtpConfig {
    SmtpConfig {
        host: lab.host(),
        port: lab.port("LAB_NTLM_SUBMISSION_PORT"),
        encryption: Encryption::StartTls,
        login: Some(login),
        sign_in: mailproof_mail::SignIn::Ntlm,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

fn imap_config(lab: &Lab, login: Login) -> ImapConfig {
    ImapConfig {
        host: lab.host(),
        port: lab.port("LAB_NTLM_IMAPS_PORT"),
        encryption: Encryption::Tls,
        login,
        sign_in: mailproof_mail::SignIn::Ntlm,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

fn pop3_config(lab: &Lab, login: Login) -> Pop3Config {
    Pop3Config {
        host: lab.host(),
        port: lab.port("LAB_NTLM_POP3S_PORT"),
        encryption: Encryption::Tls,
        login,
        sign_in: mailproof_mail::SignIn::Ntlm,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

fn message(subject: &str) -> (Message, String) {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let msg = Message::builder()
        .from("bob@example.test".parse().unwrap())
        .to("bob@example.test".parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body("Harmless Mailproof lab test message.\r\n".to_owned())
        .unwrap();
    (msg, id)
}

/// The lab's NTLM path (Dovecot → winbind's ntlm_auth helpers) can fail a good exchange that overlaps a
/// failing one (measured: 2 of 4 parallel runs); these tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_message_goes_out_and_is_found_again_with_ntlm_on_every_leg() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(lab) = Lab::running() else { return };
    let Some(login) = ntlm_login(&lab) else { return };
    let (msg, id) = message("NTLM round trip");
    let accepted = submit(&submission(&lab, login.clone()), &msg).await.expect("NTLM submission");
    assert_eq!(accepted.code, 250);

    let imap_config = imap_config(&lab, login.clone());
    let mut session = imap::connect(&imap_config).await.expect("IMAP AUTHENTICATE NTLM");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while imap::find_by_message_id(&mut session, "INBOX", &id).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "message {id} never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = session.logout().await;

    let pop_config = pop3_config(&lab, login);
    let mut pop = Pop3::connect(&pop_config).await.expect("POP3 AUTH NTLM");
    let mut found = false;
    for (n, _) in pop.uidl().await.unwrap() {
        found |= String::from_utf8_lossy(&pop.top(n, 0).await.unwrap()).contains(&id);
    }
    assert!(found, "POP3 sees the same mailbox");
    pop.quit().await.unwrap();
}

#[tokio::test]
async fn a_wrong_ntlm_password_is_refused_on_each_protocol() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(lab) = Lab::running() else { return };
    let Some(mut login) = ntlm_login(&lab) else { return };
    login.password = Password::new("Wrong-Passw0rd");
    let err = submit(&submission(&lab, login.clone()), &message("x").0).await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Auth, Some(535)), "{err}");
    let imap_config = imap_config(&lab, login.clone());
    assert!(matches!(imap::connect(&imap_config).await, Err(imap::ImapError::Login { .. })));
    let pop_config = pop3_config(&lab, login);
    assert!(Pop3::connect(&pop_config).await.is_err());
}
