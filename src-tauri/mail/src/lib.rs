//! Mail protocol clients for Mailproof: SMTP submission, IMAP, POP3, the TLS they share, and connection
//! diagnostics that explain failures.
//!
//! This crate knows nothing of profiles or verdicts; it speaks protocols and reports what servers said.

pub mod authres;
pub mod bounce;
pub mod certificate;
pub mod date;
pub mod diagnose;
pub mod dialogue;
pub mod discover;
pub mod gmail;
pub mod graph;
mod http;
pub mod imap;
pub mod message;
pub mod ntlm;
pub mod oauth;
pub mod pop3;
pub mod received;
pub mod sasl;
pub mod smtp;
pub mod stream;
pub mod submit;
pub mod tls;
pub mod watch;

use std::fmt;

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Clear text for the whole session.
    None,
    /// Clear text greeting, then upgraded with STARTTLS (IMAP 143, POP3 110, SMTP 587).
    StartTls,
    /// TLS from the first byte (IMAP 993, POP3 995, SMTP 465).
    Tls,
}

/// How to reach a mailbox's incoming server (IMAP or POP3) and sign in to it.
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub login: Login,
    pub sign_in: SignIn,
    /// With [`SignIn::OAuth2`]: where each session gets its access token; `None` when the login's password is
    /// the token.
    pub tokens: Option<oauth::TokenSource>,
    /// What to trust: the public roots, an extra CA, and a pinned certificate.
    pub trust: tls::Trust,
    /// How long one network exchange may take.
    pub timeout: std::time::Duration,
}

/// How a client signs in with its [`Login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignIn {
    /// The password: PLAIN where offered, else IMAP LOGIN, POP3 USER/PASS, SMTP AUTH LOGIN.
    #[default]
    Password,
    /// NTLMv2 (IMAP AUTHENTICATE NTLM, POP3 and SMTP AUTH NTLM) with the password.
    Ntlm,
    /// The login's password is an OAuth 2.0 access token: OAUTHBEARER (RFC 7628) or XOAUTH2, whichever the
    /// server announces (OAUTHBEARER first).
    OAuth2,
}

/// The secret to sign in with: the login's password, or for an OAuth 2.0 sign-in with a token source, a current
/// access token from it.
pub(crate) async fn secret_of(
    login: &Login,
    tokens: &Option<oauth::TokenSource>,
) -> Result<Password, oauth::OAuthError> {
    match tokens {
        Some(source) => source.bearer().await,
        None => Ok(login.password.clone()),
    }
}

/// After a server refused the OAuth 2.0 access token `refused`: a new one to try once more, or the issuer's words
/// when it no longer accepts the sign-in (see [`oauth::TokenSource::renew`]). `None` without a token source.
pub(crate) async fn renewed(
    tokens: &Option<oauth::TokenSource>,
    refused: &Password,
) -> Result<Option<Password>, oauth::OAuthError> {
    match tokens {
        Some(source) => source.renew(refused).await,
        None => Ok(None),
    }
}

/// A password on its way to a server. Prints `<redacted>`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A login: the account name (`user@domain` or `DOMAIN\user`) and its password.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: Password,
}
