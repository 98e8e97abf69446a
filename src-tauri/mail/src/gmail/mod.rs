//! Gmail mailboxes through the Gmail API: a user's OAuth 2.0 sign-in (the refresh token from a consent, access
//! tokens from it in memory only) and the requests the mail calls are built on.
//!
//! Every request has a deadline; the access token is renewed before it expires and once on a 401; rate limits
//! (429, `rateLimitExceeded`, backend errors) are waited out with exponential back-off or as Retry-After says,
//! within a limit; each request's line and status — never a token — is kept for the transcript. Failures are
//! explained in words with what to do.
//!
//! The calls: the mailbox's profile, send raw MIME (media upload), what was added since a history mark, search,
//! read headers or MIME with the labels, trash, labels; and the connection test built on them.

mod client;
mod diagnose;
mod error;
mod mail;

use std::time::Duration;

use crate::oauth::{OAuthClient, Provider};
use crate::Password;

pub use client::{Answer, Gmail};
pub use diagnose::{diagnose_gmail, gmail_not_signed_in, GmailDiagnosis};
pub use error::GmailError;
pub use mail::{Added, Header, Label, Message, MessageRef, Profile, MAX_MIME, MAX_SEND};

/// The Gmail API's real base URL.
pub const GMAIL_API: &str = "https://gmail.googleapis.com";

/// One Gmail mailbox reached with one user's sign-in.
#[derive(Debug, Clone)]
pub struct GmailConfig {
    /// The mailbox's address: the account that gave its consent.
    pub address: String,
    pub client: OAuthClient,
    /// Kept by the caller in the OS keyring.
    pub refresh_token: Password,
    pub provider: Provider,
    /// The API's base URL, [`GMAIL_API`] or a local fake's.
    pub api: String,
    /// Limit for each request.
    pub timeout: Duration,
    /// The longest a run waits out rate limits in all before it gives up.
    pub max_throttle_wait: Duration,
}

impl GmailConfig {
    pub fn new(address: &str, client: OAuthClient, refresh_token: Password) -> GmailConfig {
        GmailConfig {
            address: address.trim().to_owned(),
            client,
            refresh_token,
            provider: Provider::google(None),
            api: GMAIL_API.to_owned(),
            timeout: Duration::from_secs(30),
            max_throttle_wait: Duration::from_secs(120),
        }
    }
}
