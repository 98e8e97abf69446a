//! A Gmail profile's consent: Google's consent page opened for the profile's account, the browser's answer taken
//! on a loopback port, the account behind it checked against the profile's address, and the refresh token kept in
//! the OS keyring (access tokens live in memory only). The app opens the system browser; `mailproof profile
//! authorize` prints the URL.

use std::time::Duration;

use mailproof_mail::gmail::{Gmail, GmailError};
use mailproof_mail::oauth::{Consent, OAuthError};
use time::OffsetDateTime;

use super::clients::{gmail_client, gmail_config_of, google_provider, CLIENT_TIMEOUT};
use super::{profile_password, refresh_token_key, EmailProfile, ProfileError};
use crate::cancel::Cancel;
use crate::secrets::{Keyring, Secret, SecretsError};
use crate::store::{utc_text, Store};

/// How long Mailproof waits for the user to consent in the browser.
pub const CONSENT_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("{email} is a {kind} profile: only Gmail profiles sign in with a consent.")]
    NotGmail { email: String, kind: &'static str },
    #[error("the consent was given by {signed_in}, not by {expected}. Authorize again and choose {expected} on Google's page (sign out of {signed_in} there first if Google does not offer a choice). Nothing was stored.")]
    WrongAccount { signed_in: String, expected: String },
    #[error("the sign-in was cancelled; nothing was stored.")]
    Cancelled,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("the consent was given, but reading the mailbox with it failed: {0}")]
    Gmail(#[from] GmailError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A consent under way for one profile: the page to open, and the loopback its answer comes back to.
pub struct Authorization {
    profile: EmailProfile,
    secret: Secret,
    consent: Consent,
}

/// Begins the consent of Gmail profile `id`: listens on a free loopback port and builds Google's consent URL for
/// the profile's account.
pub async fn authorize_profile(store: &Store, keyring: &Keyring, id: &str) -> Result<Authorization, AuthorizeError> {
    let profile = store.get_profile(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))?;
    let Some(g) = &profile.gmail else {
        return Err(AuthorizeError::NotGmail { email: profile.email.clone(), kind: profile.server_type.label() });
    };
    let secret = profile_password(store, keyring, id)?;
    let consent = Consent::begin(google_provider(), gmail_client(g, &secret), Some(&profile.email)).await?;
    Ok(Authorization { profile, secret, consent })
}

impl Authorization {
    /// Google's consent page for the profile's account: open it in the browser.
    pub fn url(&self) -> &str {
        self.consent.url()
    }

    /// Waits up to `wait` (or until `cancel`) for the browser's answer, checks that the account which consented is
    /// the profile's, and stores the refresh token. Nothing is stored when any step fails.
    pub async fn finish(
        self,
        store: &Store,
        keyring: &Keyring,
        wait: Duration,
        cancel: &Cancel,
        now: OffsetDateTime,
    ) -> Result<EmailProfile, AuthorizeError> {
        let cancelled = async {
            while !cancel.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let tokens = tokio::select! {
            tokens = self.consent.finish(wait, CLIENT_TIMEOUT) => tokens?,
            () = cancelled => return Err(AuthorizeError::Cancelled),
        };
        let refresh = Secret::new(tokens.refresh_token().unwrap_or_default());
        let g = self.profile.gmail.as_ref().expect("a Gmail profile");
        let gmail = Gmail::new(gmail_config_of(g, &self.profile.email, &self.secret, &refresh, CLIENT_TIMEOUT))?;
        let signed_in = gmail.profile().await?.email_address;
        if !signed_in.eq_ignore_ascii_case(&self.profile.email) {
            return Err(AuthorizeError::WrongAccount { signed_in, expected: self.profile.email.clone() });
        }
        keyring.persist(&refresh_token_key(&self.profile.id), &refresh)?;
        store.set_profile_authorized(&self.profile.id, Some(&utc_text(now)))?;
        Ok(store.get_profile(&self.profile.id)?.ok_or_else(|| ProfileError::NotFound(self.profile.id.clone()))?)
    }
}

/// Opens `url` in the user's browser: the one `$BROWSER` names, else the system's default. The URL carries no
/// secret (a PKCE challenge and a state only), so it may be a process argument.
pub fn open_in_browser(url: &str) -> Result<(), String> {
    let mut command = match std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()) {
        Some(browser) => std::process::Command::new(browser.trim()),
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None if cfg!(windows) => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => std::process::Command::new("xdg-open"),
    };
    command.arg(url).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    command.stderr(std::process::Stdio::null()).spawn().map(drop).map_err(|e| e.to_string())
}
