//! Connection diagnostics against the real lab: every protocol and security mode, and the failures the
//! wizard must explain (bad password, untrusted CA then pinned, TLS mode vs port, nothing listening).

use std::time::Duration;

use mailproof_mail::diagnose::{diagnose, Diagnosis, Protocol, StepKind, StepStatus, Target};
use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, Password};
use mailproof_tests::Lab;

fn target(lab: &Lab, protocol: Protocol, port_key: &str, encryption: Encryption, password: Option<&str>) -> Target {
    Target {
        protocol,
        host: lab.host(),
        port: lab.port(port_key),
        encryption,
        trust: Trust { extra_ca: Some(lab.ca()), pinned_sha256: None },
        login: password.map(|p| Login { username: "bob@example.test".into(), password: Password::new(p) }),
        sign_in: mailproof_mail::SignIn::Password,
        tokens: None,
        timeout: Duration::from_secs(3),
    }
}

async fn run(t: &Target) -> Diagnosis {
    let mut live = Vec::new();
    let d = diagnose(t, &mut |s| live.push(s.kind)).await;
    assert_eq!(live, d.steps.iter().map(|s| s.kind).collect::<Vec<_>>(), "every step is reported live, in order");
    d
}

fn kinds(d: &Diagnosis) -> Vec<StepKind> {
    d.steps.iter().map(|s| s.kind).collect()
}

fn failed(d: &Diagnosis) -> &mailproof_mail::diagnose::Step {
    d.steps.iter().find(|s| s.status == StepStatus::Failed).unwrap_or_else(|| panic!("no failed step: {d:#?}"))
}

#[tokio::test]
async fn every_protocol_and_security_mode_passes_on_the_lab() {
    let Some(lab) = Lab::running() else { return };
    let pw = lab.password("bob");
    use Encryption::*;
    use Protocol::*;
    for (protocol, key, enc) in [
        (Imap, "LAB_IMAPS_PORT", Tls),
        (Imap, "LAB_IMAP_PORT", StartTls),
        (Imap, "LAB_IMAP_PORT", None),
        (Pop3, "LAB_POP3S_PORT", Tls),
        (Pop3, "LAB_POP3_PORT", StartTls),
        (Pop3, "LAB_POP3_PORT", None),
        (Smtp, "LAB_SUBMISSION_PORT", StartTls),
        (Smtp, "LAB_SMTPS_PORT", Tls),
    ] {
        let d = run(&target(&lab, protocol, key, enc, Some(&pw))).await;
        assert!(d.ok, "{protocol:?} {enc:?}: {:#?}", d.steps);
        let tls = d.tls.as_ref();
        if enc != None {
            let tls = tls.expect("a TLS report");
            assert!(tls.trusted && !tls.accepted_by_pin);
            assert!(tls.version.as_deref().unwrap().starts_with("TLSv1."));
            assert_eq!(tls.chain[0].names, ["localhost", "127.0.0.1", "mx.example.test"]);
            assert_eq!(tls.chain[0].sha256.len(), 64);
        } else {
            assert!(tls.is_none());
            let login = d.steps.iter().find(|s| s.kind == StepKind::Login).unwrap();
            assert_eq!(login.status, StepStatus::Warning, "a clear-text login is flagged");
        }
        assert!(d.auth_mechanisms.contains(&"PLAIN".to_owned()), "{protocol:?}: {:?}", d.auth_mechanisms);
        assert!(!d.transcript.iter().any(|l| l.contains(&pw)), "no password in the transcript");
    }
    let d = run(&target(&lab, Imap, "LAB_IMAP_PORT", StartTls, Some(&pw))).await;
    use StepKind as K;
    assert_eq!(
        kinds(&d),
        [K::Dns, K::Tcp, K::Greeting, K::Capabilities, K::StartTls, K::Tls, K::Capabilities, K::Login]
    );
}

#[tokio::test]
async fn smtp_without_authentication_skips_the_login() {
    let Some(lab) = Lab::running() else { return };
    let d = run(&target(&lab, Protocol::Smtp, "LAB_SMTP_PORT", Encryption::StartTls, None)).await;
    assert!(d.ok, "{:#?}", d.steps);
    assert!(!kinds(&d).contains(&StepKind::Login));
}

#[tokio::test]
async fn a_wrong_password_is_explained() {
    let Some(lab) = Lab::running() else { return };
    for (protocol, key, enc) in [
        (Protocol::Imap, "LAB_IMAPS_PORT", Encryption::Tls),
        (Protocol::Pop3, "LAB_POP3S_PORT", Encryption::Tls),
        (Protocol::Smtp, "LAB_SUBMISSION_PORT", Encryption::StartTls),
    ] {
        let d = run(&target(&lab, protocol, key, enc, Some("wrong-password"))).await;
        let step = failed(&d);
        assert_eq!(step.kind, StepKind::Login, "{protocol:?}");
        assert!(step.detail.contains("rejected"), "{protocol:?}: {}", step.detail);
        assert!(step.hint.as_deref().unwrap().contains("Check the user name (bob@example.test) and the password"));
        assert!(!d.ok);
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_then_accepted_once_pinned() {
    let Some(lab) = Lab::running() else { return };
    let mut t = target(&lab, Protocol::Imap, "LAB_IMAPS_PORT", Encryption::Tls, Some(&lab.password("bob")));
    t.trust = Trust::default();
    let d = run(&t).await;
    let step = failed(&d);
    assert_eq!(step.kind, StepKind::Tls);
    assert!(step.detail.contains("which this machine does not trust"), "{}", step.detail);
    assert!(step.detail.contains("Mailproof Lab CA"), "names the issuer: {}", step.detail);
    let pin = d.pinnable_sha256.clone().expect("offers the certificate to pin");
    let tls = d.tls.as_ref().unwrap();
    assert!(!tls.trusted);
    assert_eq!(tls.chain[0].sha256, pin);

    t.trust.pinned_sha256 = Some(pin);
    let d = run(&t).await;
    assert!(d.ok, "{:#?}", d.steps);
    let tls_step = d.steps.iter().find(|s| s.kind == StepKind::Tls).unwrap();
    assert_eq!(tls_step.status, StepStatus::Warning);
    assert!(d.tls.as_ref().unwrap().accepted_by_pin);

    t.trust.pinned_sha256 = Some("0".repeat(64));
    assert_eq!(failed(&run(&t).await).kind, StepKind::Tls, "another pin does not open the door");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_explained() {
    let Some(lab) = Lab::running() else { return };
    let mut t = target(&lab, Protocol::Imap, "LAB_IMAPS_PORT", Encryption::Tls, None);
    // The lab on loopback, reached by a name the certificate does not carry (an IPv4-mapped IPv6 address).
    t.host = "::ffff:127.0.0.1".into();
    let step = failed(&run(&t).await).clone();
    assert_eq!(step.kind, StepKind::Tls);
    assert!(
        step.detail.contains("The certificate is for localhost, 127.0.0.1, mx.example.test, not ::ffff:127.0.0.1"),
        "{}",
        step.detail
    );
}

#[tokio::test]
async fn tls_mode_and_port_mismatches_are_explained() {
    let Some(lab) = Lab::running() else { return };
    // SSL/TLS on a port that starts in clear text.
    let d = run(&target(&lab, Protocol::Imap, "LAB_IMAP_PORT", Encryption::Tls, None)).await;
    let step = failed(&d);
    assert_eq!(step.kind, StepKind::Tls);
    assert!(step.hint.as_deref().unwrap().contains("seems to start in clear text"), "{step:#?}");

    // STARTTLS on a port that expects TLS at once: no greeting ever comes.
    let mut t = target(&lab, Protocol::Pop3, "LAB_POP3S_PORT", Encryption::StartTls, None);
    t.timeout = Duration::from_millis(700);
    let step = failed(&run(&t).await).clone();
    assert_eq!(step.kind, StepKind::Greeting);
    assert!(step.hint.as_deref().unwrap().contains("expects TLS from the first byte. Choose SSL/TLS"), "{step:#?}");
}

#[tokio::test]
async fn nothing_listening_is_explained() {
    let Some(lab) = Lab::running() else { return };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut t = target(&lab, Protocol::Smtp, "LAB_SMTP_PORT", Encryption::None, None);
    t.port = port;
    let step = failed(&run(&t).await).clone();
    assert_eq!(step.kind, StepKind::Tcp);
    assert!(step.hint.as_deref().unwrap().starts_with(&format!("Nothing accepts connections on port {port}")));
    assert!(step.hint.as_deref().unwrap().contains("same subnet"), "carries the interfaces hint");
}

/// The lab's NTLM side (tests/lab/start.sh --ntlm), or a skip / failure when it was started without it.
fn ntlm_lab(lab: &Lab) -> Option<(String, String)> {
    match (lab.try_var("LAB_NTLM_USER"), lab.try_var("LAB_NTLM_PASSWORD")) {
        (Some(u), Some(p)) => Some((u.to_owned(), p.to_owned())),
        _ => mailproof_tests::missing("the lab's NTLM side (tests/lab/start.sh --ntlm)"),
    }
}

fn ntlm_target(
    lab: &Lab,
    protocol: Protocol,
    port_key: &str,
    encryption: Encryption,
    user: &str,
    password: &str,
) -> Target {
    let mut t = target(lab, protocol, port_key, encryption, Some(password));
    t.login = Some(Login { username: user.into(), password: Password::new(password) });
    t.sign_in = mailproof_mail::SignIn::Ntlm;
    t
}

#[tokio::test]
async fn ntlmv2_signs_in_on_imap_pop3_and_smtp_against_a_real_samba_dc() {
    let Some(lab) = Lab::running() else { return };
    let Some((user, password)) = ntlm_lab(&lab) else { return };
    for (protocol, key, enc) in [
        (Protocol::Imap, "LAB_NTLM_IMAPS_PORT", Encryption::Tls),
        (Protocol::Imap, "LAB_NTLM_IMAP_PORT", Encryption::StartTls),
        (Protocol::Pop3, "LAB_NTLM_POP3S_PORT", Encryption::Tls),
        (Protocol::Pop3, "LAB_NTLM_POP3_PORT", Encryption::StartTls),
        (Protocol::Smtp, "LAB_NTLM_SUBMISSION_PORT", Encryption::StartTls),
    ] {
        let d = run(&ntlm_target(&lab, protocol, key, enc, &user, &password)).await;
        assert!(d.ok, "{protocol:?} {enc:?}: {:#?}\n{:#?}", d.steps, d.transcript);
        assert!(d.auth_mechanisms.contains(&"NTLM".to_owned()));
        assert!(!d.transcript.iter().any(|l| l.contains(&password)));

        let d = run(&ntlm_target(&lab, protocol, key, enc, &user, "Wrong-Passw0rd")).await;
        let step = failed(&d);
        assert_eq!(step.kind, StepKind::Login, "{protocol:?}");
        assert!(step.detail.contains("rejected"), "{protocol:?}: {}", step.detail);
    }
}

#[tokio::test]
async fn ntlm_on_a_server_that_does_not_offer_it_is_explained() {
    let Some(lab) = Lab::running() else { return };
    let mut t = target(&lab, Protocol::Imap, "LAB_IMAPS_PORT", Encryption::Tls, Some("x"));
    t.sign_in = mailproof_mail::SignIn::Ntlm;
    let step = failed(&run(&t).await).clone();
    assert_eq!(step.kind, StepKind::Login);
    assert!(
        step.detail.contains("does not offer NTLM sign-in (it offers: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER)"),
        "{}",
        step.detail
    );
}
