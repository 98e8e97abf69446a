//! Where and how to submit mail over SMTP (the session itself is `submit::Session`, which every send goes
//! through), and lettre's builder for the plain-text messages Mailproof itself sends.

use std::time::Duration;

use lettre::Message;

use crate::tls::Trust;
use crate::{Encryption, Login};

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    /// `None` when the server takes mail without authentication.
    pub login: Option<Login>,
    /// How to sign in when `login` is set.
    pub sign_in: crate::SignIn,
    /// With OAuth 2.0: where the session gets its access token; `None` when the login's password is the token.
    pub tokens: Option<crate::oauth::TokenSource>,
    /// What to trust: the public roots, an extra CA, and a pinned certificate.
    pub trust: Trust,
    pub timeout: Duration,
}

/// A plain-text message with the Message-ID `<message_id>`.
pub fn text_message(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> Result<Message, String> {
    Message::builder()
        .from(from.parse().map_err(|e| format!("{from} is not a valid address: {e}"))?)
        .to(to.parse().map_err(|e| format!("{to} is not a valid address: {e}"))?)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| format!("cannot build the message: {e}"))
}
