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

/// A POP3 server on loopback that lets the first sign-in through and refuses each one after it, as a provider
/// does once the password was changed or the account locked; counts the sign-ins it was asked for.
async fn refusing_after_the_first() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sign_ins = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = sign_ins.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (r, mut w) = conn.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"+OK ready\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = match line.split(' ').next().unwrap_or("") {
                        "CAPA" => b"+OK\r\nUSER\r\nUIDL\r\n.\r\n",
                        "PASS" if count.fetch_add(1, Ordering::SeqCst) > 0 => b"-ERR [AUTH] Authentication failed.\r\n",
                        "UIDL" => b"+OK\r\n.\r\n",
                        _ => b"+OK\r\n",
                    };
                    let _ = w.write_all(reply).await;
                    if line == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
    (port, sign_ins)
}

#[tokio::test]
async fn a_watch_whose_sign_in_is_refused_never_signs_in_again() {
    use std::sync::atomic::Ordering;
    let (port, sign_ins) = refusing_after_the_first().await;
    let config = Pop3Config {
        host: "127.0.0.1".into(),
        port,
        encryption: Encryption::None,
        login: Login { username: "carol@example.test".into(), password: Password::new("pw") },
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        trust: Trust { extra_ca: None, pinned_sha256: None },
        timeout: Duration::from_secs(5),
    };
    let mut watch = mailproof_mail::watch::Pop3Watcher::open(&config).await.unwrap();
    let first = watch.poll(&mut |_| true).await.unwrap_err();
    assert!(first.is_sign_in_refusal() && first.to_string().contains("Authentication failed"), "{first}");
    for _ in 0..5 {
        let again = watch.poll(&mut |_| true).await.unwrap_err().to_string();
        assert!(again.contains("Authentication failed") && again.contains("not tried again"), "{again}");
    }
    assert_eq!(sign_ins.load(Ordering::SeqCst), 2, "the opening one and the refused one: no more");
}
