//! The POP3 client against the lab's real Dovecot: STLS and implicit TLS, UIDL, TOP, RETR, DELE.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::Message;
use mailproof_mail::pop3::{Pop3, Pop3Config, Pop3Error};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password};
use mailproof_tests::{submit, Lab};

fn config(lab: &Lab, user: &str, encryption: Encryption, password: &str) -> Pop3Config {
    let port = if encryption == Encryption::Tls { lab.port("LAB_POP3S_PORT") } else { lab.port("LAB_POP3_PORT") };
    Pop3Config {
        host: lab.host(),
        port,
        encryption,
        login: Login { username: format!("{user}@example.test"), password: Password::new(password) },
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        timeout: Duration::from_secs(10),
    }
}

async fn send_to_carol(lab: &Lab, subject: &str) -> String {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let msg = Message::builder()
        .from("alice@example.test".parse().unwrap())
        .to("carol@example.test".parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(".a line that starts with a dot\r\nHarmless Mailproof lab test message.\r\n".to_owned())
        .unwrap();
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
    submit(&submission, &msg).await.expect("lab accepts the message");
    id
}

/// Message number of the message whose headers carry `id`, looking with UIDL + TOP until it arrives.
async fn find(pop: &mut Pop3<mailproof_mail::stream::MailStream>, id: &str) -> Option<u32> {
    for (n, _uid) in pop.uidl().await.unwrap() {
        let head = pop.top(n, 0).await.unwrap();
        if String::from_utf8_lossy(&head).contains(id) {
            return Some(n);
        }
    }
    None
}

#[tokio::test]
async fn a_delivered_message_is_found_read_and_deleted_over_stls_and_tls() {
    let Some(lab) = Lab::running() else { return };
    for encryption in [Encryption::StartTls, Encryption::Tls] {
        let id = send_to_carol(&lab, "POP3 client test").await;
        let cfg = config(&lab, "carol", encryption, &lab.password("carol"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let (mut pop, n) = loop {
            let mut pop = Pop3::connect(&cfg).await.expect("POP3 login");
            if let Some(n) = find(&mut pop, &id).await {
                break (pop, n);
            }
            pop.quit().await.unwrap();
            assert!(tokio::time::Instant::now() < deadline, "message {id} never arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let raw = pop.retr(n).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("\r\n.a line that starts with a dot\r\n"), "dot-unstuffed body: {text}");
        let (count, size) = pop.stat().await.unwrap();
        assert!(count >= 1 && size > 0);
        pop.dele(n).await.unwrap();
        pop.quit().await.unwrap();

        let mut pop = Pop3::connect(&cfg).await.unwrap();
        assert_eq!(find(&mut pop, &id).await, None, "deleted after QUIT");
        pop.quit().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_the_servers_words() {
    let Some(lab) = Lab::running() else { return };
    let err = Pop3::connect(&config(&lab, "carol", Encryption::Tls, "wrong")).await.err().expect("refused");
    assert!(matches!(&err, Pop3Error::Refused { reply, .. } if reply.starts_with("-ERR")), "{err}");
}
