//! Connection diagnostics for IMAP, POP3 and SMTP servers, step by step: DNS, TCP, TLS (with the certificate),
//! greeting, capabilities, STARTTLS, login. Every failed step says what happened, the likely cause, and what
//! to do. This is what the profile wizard's "Test" step and `mailproof profile test` show.
//!
//! The dialogue is written here rather than through the session clients so every reply can be observed and
//! explained; it signs in exactly as the clients do. What differs between the protocols is one table
//! (`dialect.rs`); the steps read it.

pub(crate) mod cloud;
mod dialect;
mod explain;
mod login;
mod steps;
mod wire;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::certificate::CertificateInfo;
use crate::tls::Trust;
use crate::{Encryption, Login};
use steps::{Learnt, Run};

pub(crate) use wire::{ehlo_name, ntlm_login, oauth_login, read_reply, transcript_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        self.dialect().label
    }
}

/// What to test.
#[derive(Debug, Clone)]
pub struct Target {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub trust: Trust,
    /// `None` skips the login step (an SMTP server that needs no authentication).
    pub login: Option<Login>,
    /// How to sign in with `login`.
    pub sign_in: crate::SignIn,
    /// With OAuth 2.0: where the test gets its access token; `None` when the login's password is the token.
    pub tokens: Option<crate::oauth::TokenSource>,
    /// Limit for each network step.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    Dns,
    Tcp,
    Tls,
    Greeting,
    Capabilities,
    StartTls,
    Login,
    /// Microsoft Graph: the app's sign-in to the tenant.
    SignIn,
    /// Microsoft Graph: the application permissions the token carries.
    Permissions,
    /// Microsoft Graph: the mailbox read through the API.
    Mailbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    Passed,
    /// Passed, but something deserves attention (clear-text login, a pinned certificate).
    Warning,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub kind: StepKind,
    /// E.g. "TLS handshake", "Capabilities (after STARTTLS)".
    pub title: String,
    pub status: StepStatus,
    /// What happened, with the server's own words where there are any.
    pub detail: String,
    /// For a failure or warning: the likely cause and what to do.
    pub hint: Option<String>,
    pub millis: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TlsReport {
    /// E.g. "TLSv1.3".
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// The server's certificate first, then the intermediates it sent.
    pub chain: Vec<CertificateInfo>,
    /// True when a trusted CA vouches for the certificate and the name matches.
    pub trusted: bool,
    /// Why it is not trusted, in words.
    pub trust_problem: Option<String>,
    /// True when the handshake went ahead only because this exact certificate is pinned.
    pub accepted_by_pin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// What was tested, as people name it: "IMAP", "POP3", "SMTP", "Microsoft Graph".
    pub service: String,
    pub host: String,
    pub port: u16,
    pub steps: Vec<Step>,
    pub tls: Option<TlsReport>,
    /// The capabilities the server announced last (after STARTTLS where used).
    pub capabilities: Vec<String>,
    /// The authentication mechanisms the server offers, upper-case (e.g. PLAIN, LOGIN, NTLM).
    pub auth_mechanisms: Vec<String>,
    /// When the certificate was refused only for want of trust: its SHA-256, which the user may pin.
    pub pinnable_sha256: Option<String>,
    /// The dialogue, with credentials removed.
    pub transcript: Vec<String>,
    pub ok: bool,
    pub millis: u32,
}

/// Runs the diagnostics, reporting each step to `on_step` as it completes.
pub async fn diagnose(target: &Target, on_step: &mut (dyn FnMut(&Step) + Send)) -> Diagnosis {
    let started = Instant::now();
    let mut run = Run { target, on_step, steps: Vec::new(), tls: None, pinnable: None };
    let mut learnt = Learnt::default();
    let _ = run.dialogue(&mut learnt).await;
    let Learnt { capabilities, mechanisms: auth_mechanisms, transcript } = learnt;
    let ok = run.steps.iter().all(|s| s.status != StepStatus::Failed);
    Diagnosis {
        service: target.protocol.label().to_owned(),
        host: target.host.clone(),
        port: target.port,
        steps: run.steps,
        tls: run.tls,
        capabilities,
        auth_mechanisms,
        pinnable_sha256: run.pinnable,
        transcript,
        ok,
        millis: millis(started),
    }
}

impl Step {
    /// A step that began at `began` and ends now.
    pub(crate) fn timed(
        kind: StepKind,
        title: &str,
        status: StepStatus,
        detail: String,
        hint: Option<String>,
        began: Instant,
    ) -> Step {
        Step { kind, title: title.to_owned(), status, detail, hint, millis: millis(began) }
    }
}

/// Milliseconds since `since`, as a diagnosis reports them.
pub(crate) fn millis(since: Instant) -> u32 {
    since.elapsed().as_millis().min(u32::MAX as u128) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Trust;
    use crate::Login;

    /// A server that answers every connection with `script` and then closes (or keeps quiet).
    async fn misbehaving_server(script: &'static [u8], then_close: bool) -> u16 {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = sock.write_all(script).await;
                    if !then_close {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn malformed_servers_end_in_an_explained_failure_never_a_panic() {
        let endless: &'static [u8] = Box::leak(vec![b'x'; crate::dialogue::MAX_LINE + 100].into_boxed_slice());
        let cases: [(&'static [u8], bool); 6] = [
            (b"", true),
            (b"\x00\xff\xfe garbage \x16\x03\x01\r\n", true),
            (b"* OK ready\r\n* CAPABILITY \xff\xfe\r\n", true),
            (b"220-first\r\n220-second\r\n", true),
            (b"+OK pop\r\n", false),
            (endless, false),
        ];
        for protocol in [Protocol::Imap, Protocol::Pop3, Protocol::Smtp] {
            for (script, close) in cases {
                let port = misbehaving_server(script, close).await;
                for encryption in [Encryption::None, Encryption::StartTls, Encryption::Tls] {
                    let target = Target {
                        protocol,
                        host: "127.0.0.1".into(),
                        port,
                        encryption,
                        trust: Trust::default(),
                        login: Some(Login { username: "u".into(), password: crate::Password::new("p") }),
                        sign_in: crate::SignIn::Password,
                        tokens: None,
                        timeout: Duration::from_millis(300),
                    };
                    let d = diagnose(&target, &mut |_| {}).await;
                    assert!(
                        !d.ok,
                        "{protocol:?} {encryption:?} {:?}",
                        String::from_utf8_lossy(&script[..script.len().min(20)])
                    );
                    let failed = d.steps.iter().find(|s| s.status == StepStatus::Failed).expect("a failed step");
                    assert!(failed.hint.as_deref().is_some_and(|h| !h.is_empty()), "{failed:?}");
                }
            }
        }
    }
}
