//! Real mail with OAuth 2.0 sign-in on every leg against the lab's real servers: a consent at the lab's issuer
//! (the test plays the browser) gives a token that Postfix submission (SASL through Dovecot), IMAP and POP3 accept
//! with XOAUTH2 and OAUTHBEARER — Dovecot's oauth2 passdb checks it at the issuer as it would at Google — and a
//! revoked token, a token without the mail scope and a token of another account are refused, in words.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::Message;
use mailproof_mail::diagnose::{diagnose, Protocol, StepKind, StepStatus, Target};
use mailproof_mail::imap::{self, ImapConfig};
use mailproof_mail::oauth::{Consent, OAuthClient, OAuthError, Provider, TokenSource, Tokens};
use mailproof_mail::pop3::Pop3;
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::submit::Stage;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password, SignIn};
use mailproof_tests::google::play_browser;
use mailproof_tests::{submit, Lab};

/// The lab's issuer with the scope Google's IMAP and SMTP want (or `scope` instead).
fn issuer(lab: &Lab, scope: Option<&str>) -> Provider {
    let mut p = Provider::google(Some(lab.var("LAB_OAUTH_URL")));
    p.name = "the lab's issuer".into();
    p.scopes = vec![scope.unwrap_or(lab.var("LAB_OAUTH_SCOPE")).to_owned()];
    p
}

fn client(lab: &Lab) -> OAuthClient {
    OAuthClient { id: lab.var("LAB_OAUTH_CLIENT_ID").into(), secret: Password::new(lab.var("LAB_OAUTH_CLIENT_SECRET")) }
}

/// The tokens of a consent `user` gives at the lab's issuer, the test playing the browser.
async fn consent(lab: &Lab, user: &str, scope: Option<&str>) -> Tokens {
    let consent = Consent::begin(issuer(lab, scope), client(lab), Some(&format!("{user}@example.test"))).await.unwrap();
    let browser = tokio::spawn(play_browser(consent.url().to_owned()));
    let tokens = consent.finish(Duration::from_secs(10), Duration::from_secs(10)).await.expect("the consent");
    browser.await.unwrap();
    tokens
}

/// An access token for `user`.
async fn token(lab: &Lab, user: &str, scope: Option<&str>) -> String {
    consent(lab, user, scope).await.bearer().to_owned()
}

fn login(user: &str, token: &str) -> Login {
    Login { username: format!("{user}@example.test"), password: Password::new(token) }
}

fn trust(lab: &Lab) -> Trust {
    Trust { extra_ca: Some(lab.ca()), pinned_sha256: None }
}

fn submission(lab: &Lab, login: Login) -> SmtpConfig {
    SmtpConfig {
        host: lab.host(),
        port: lab.port("LAB_SUBMISSION_PORT"),
        encryption: Encryption::StartTls,
        login: Some(login),
        sign_in: SignIn::OAuth2,
        tokens: None,
        trust: trust(lab),
        timeout: Duration::from_secs(10),
    }
}

fn mailbox(lab: &Lab, port: &str, login: Login) -> ImapConfig {
    ImapConfig {
        host: lab.host(),
        port: lab.port(port),
        encryption: Encryption::Tls,
        login,
        sign_in: SignIn::OAuth2,
        tokens: None,
        trust: trust(lab),
        timeout: Duration::from_secs(10),
    }
}

fn message(user: &str, subject: &str) -> (Message, String) {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let address = format!("{user}@example.test");
    let msg = Message::builder()
        .from(address.parse().unwrap())
        .to(address.parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body("Harmless Mailproof lab test message.\r\n".to_owned())
        .unwrap();
    (msg, id)
}

/// How many access tokens the lab's issuer has given `user` for a refresh token (this lab serves every run).
async fn refreshes_of(lab: &Lab, user: &str) -> usize {
    let log = reqwest::get(format!("{}/_fake/log", lab.var("LAB_OAUTH_URL"))).await.unwrap().text().await.unwrap();
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let account = format!("{user}@example.test");
    log["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["grant"] == "refresh_token" && g["account"] == *account)
        .count()
}

async fn revoke(lab: &Lab, user: &str) {
    let control = format!("{}/_fake/control", lab.var("LAB_OAUTH_URL"));
    let body = serde_json::json!({ "revoke": format!("{user}@example.test") }).to_string();
    reqwest::Client::new().post(control).body(body).send().await.unwrap().error_for_status().unwrap();
}

#[tokio::test]
async fn a_message_goes_out_and_is_found_again_with_an_oauth_token_on_every_leg() {
    let Some(lab) = Lab::running() else { return };
    let token = token(&lab, "carol", None).await;
    let (msg, id) = message("carol", "OAuth 2.0 round trip");
    let accepted = submit(&submission(&lab, login("carol", &token)), &msg).await.expect("submission with a token");
    assert_eq!(accepted.code, 250);

    let mut session = imap::connect(&mailbox(&lab, "LAB_IMAPS_PORT", login("carol", &token))).await.expect("IMAP");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while imap::find_by_message_id(&mut session, "INBOX", &id).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "message {id} never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = session.logout().await;

    let mut pop = Pop3::connect(&mailbox(&lab, "LAB_POP3S_PORT", login("carol", &token))).await.expect("POP3");
    let mut found = false;
    for (n, _) in pop.uidl().await.unwrap() {
        found |= String::from_utf8_lossy(&pop.top(n, 0).await.unwrap()).contains(&id);
    }
    assert!(found, "POP3 sees the same mailbox");
    pop.quit().await.unwrap();
}

#[tokio::test]
async fn the_connection_test_signs_in_with_the_token_and_shows_which_mechanism() {
    let Some(lab) = Lab::running() else { return };
    let token = token(&lab, "dan", None).await;
    for (protocol, port, encryption) in [
        (Protocol::Imap, "LAB_IMAPS_PORT", Encryption::Tls),
        (Protocol::Pop3, "LAB_POP3S_PORT", Encryption::Tls),
        (Protocol::Smtp, "LAB_SUBMISSION_PORT", Encryption::StartTls),
    ] {
        let target = Target {
            protocol,
            host: lab.host(),
            port: lab.port(port),
            encryption,
            trust: trust(&lab),
            login: Some(login("dan", &token)),
            sign_in: SignIn::OAuth2,
            tokens: None,
            timeout: Duration::from_secs(10),
        };
        let d = diagnose(&target, &mut |_| {}).await;
        assert!(d.ok, "{protocol:?}: {:#?}", d.steps);
        assert!(d.auth_mechanisms.iter().any(|m| m == "OAUTHBEARER"), "{protocol:?} {:?}", d.auth_mechanisms);
        let login_step = d.steps.iter().find(|s| s.kind == StepKind::Login).unwrap();
        assert_eq!(login_step.status, StepStatus::Passed);
        let transcript = d.transcript.join("\n");
        assert!(transcript.contains("OAUTHBEARER") && !transcript.contains(&token), "{transcript}");
    }
}

#[tokio::test]
async fn a_revoked_token_a_token_without_the_mail_scope_and_another_accounts_token_are_refused_in_words() {
    let Some(lab) = Lab::running() else { return };
    // Revoked at the issuer: Dovecot's check there fails.
    let revoked = token(&lab, "erin", None).await;
    revoke(&lab, "erin").await;
    let e = imap::connect(&mailbox(&lab, "LAB_IMAPS_PORT", login("erin", &revoked))).await.unwrap_err();
    assert!(matches!(e, imap::ImapError::TokenRefused { .. }), "{e}");
    assert!(e.to_string().contains("Sign the profile in again"), "{e}");
    let Err(e) = Pop3::connect(&mailbox(&lab, "LAB_POP3S_PORT", login("erin", &revoked))).await else {
        panic!("POP3 took a revoked token")
    };
    assert!(e.to_string().contains("the token was refused"), "{e}");
    let e = submit(&submission(&lab, login("erin", &revoked)), &message("erin", "x").0).await.unwrap_err();
    assert_eq!((e.stage, e.code), (Stage::Auth, Some(535)), "{e}");

    // Granted only the Gmail API's scope, not the one IMAP wants.
    let narrow = token(&lab, "frank", Some("https://www.googleapis.com/auth/gmail.modify")).await;
    let e = imap::connect(&mailbox(&lab, "LAB_IMAPS_PORT", login("frank", &narrow))).await.unwrap_err();
    assert!(matches!(e, imap::ImapError::TokenRefused { .. }), "{e}");

    // Grace's token is not Heidi's sign-in.
    let grace = token(&lab, "grace", None).await;
    let target = Target {
        protocol: Protocol::Imap,
        host: lab.host(),
        port: lab.port("LAB_IMAPS_PORT"),
        encryption: Encryption::Tls,
        trust: trust(&lab),
        login: Some(login("heidi", &grace)),
        sign_in: SignIn::OAuth2,
        tokens: None,
        timeout: Duration::from_secs(10),
    };
    let d = diagnose(&target, &mut |_| {}).await;
    let step = d.steps.iter().find(|s| s.kind == StepKind::Login).unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert!(step.detail.contains("refused the OAuth 2.0 token for heidi@example.test"), "{}", step.detail);
    assert!(step.hint.as_deref().unwrap_or_default().contains("Sign the profile in again"), "{:?}", step.hint);
}

#[tokio::test]
async fn sessions_take_their_tokens_from_the_stored_sign_in_and_a_revoked_one_is_explained() {
    let Some(lab) = Lab::running() else { return };
    // What a profile keeps: the refresh token. Each session asks the source for a current access token.
    let refresh = consent(&lab, "ivan", None).await.refresh_token().unwrap().to_owned();
    let before = refreshes_of(&lab, "ivan").await;
    let source =
        TokenSource::new(issuer(&lab, None), client(&lab), Password::new(refresh.clone()), Duration::from_secs(10));
    let source = source.unwrap();
    let config = ImapConfig { tokens: Some(source.clone()), ..mailbox(&lab, "LAB_IMAPS_PORT", login("ivan", "")) };
    for _ in 0..2 {
        let mut session = imap::connect(&config).await.expect("IMAP with a token from the stored sign-in");
        session.logout().await.unwrap();
    }
    let smtp = SmtpConfig { tokens: Some(source.clone()), ..submission(&lab, login("ivan", "")) };
    let (msg, _) = message("ivan", "through the stored sign-in");
    assert_eq!(submit(&smtp, &msg).await.expect("submission").code, 250);
    let refreshes = refreshes_of(&lab, "ivan").await - before;
    assert_eq!(refreshes, 1, "one refresh for three sessions");

    // Revoked at the issuer: the next session's refresh says what happened and what to do.
    revoke(&lab, "ivan").await;
    let fresh = TokenSource::new(issuer(&lab, None), client(&lab), Password::new(refresh), Duration::from_secs(5));
    let config = ImapConfig { tokens: Some(fresh.unwrap()), ..config };
    let e = imap::connect(&config).await.unwrap_err();
    assert!(matches!(e, imap::ImapError::OAuth(OAuthError::Revoked { .. })), "{e}");
    assert!(e.to_string().contains("again"), "{e}");
}

#[tokio::test]
async fn xoauth2_is_used_where_it_is_the_only_oauth_mechanism_and_its_error_challenge_is_answered() {
    let Some(lab) = Lab::running() else { return };
    let token = token(&lab, "judy", None).await;
    let xoauth2 = |login| SmtpConfig { port: lab.port("LAB_XOAUTH2_SUBMISSION_PORT"), ..submission(&lab, login) };
    let (msg, _) = message("judy", "XOAUTH2 submission");
    let sent = mailproof_mail::submit::send_one(
        &xoauth2(login("judy", &token)),
        "judy@example.test",
        &["judy@example.test".into()],
        &msg.formatted(),
    )
    .await;
    assert_eq!(sent.result.expect("XOAUTH2 submission").code, 250);
    let transcript = sent.transcript.join("\n");
    assert!(transcript.contains("AUTH XOAUTH2") && !transcript.contains(&token), "{transcript}");

    // A refused token: Dovecot's JSON error challenge is answered, and the refusal ends the exchange.
    revoke(&lab, "judy").await;
    let sent = mailproof_mail::submit::send_one(
        &xoauth2(login("judy", &token)),
        "judy@example.test",
        &["judy@example.test".into()],
        &msg.formatted(),
    )
    .await;
    let e = sent.result.unwrap_err();
    assert_eq!((e.stage, e.code), (Stage::Auth, Some(535)), "{e}");
    assert!(e.text.contains("the token was refused"), "{e}");
}
