//! A profile's consent (a Gmail profile, or an IMAP or POP3 profile signing in with OAuth 2.0): the issuer's
//! consent page opened for the profile's account, the browser's answer taken on a loopback port, the account behind
//! it checked — through the Gmail API, or by signing in to the profile's incoming server with the new token — and
//! the refresh token kept in the OS keyring (access tokens live in memory only). The app opens the system browser;
//! `mailproof profile authorize` prints the URL.

use std::path::PathBuf;
use std::time::Duration;

use mailproof_mail::diagnose::StepStatus;
use mailproof_mail::gmail::{Gmail, GmailError};
use mailproof_mail::oauth::{Consent, OAuthClient, OAuthError};
use mailproof_mail::Password;
use time::OffsetDateTime;

use super::clients::{gmail_client, gmail_config_of, google_provider, CLIENT_TIMEOUT};
use super::connection::diagnose_incoming;
use super::save::client_secret;
use super::{profile_password, refresh_token_key, Credentials, EmailProfile, ProfileError, STEP_TIMEOUT};
use crate::cancel::Cancel;
use crate::secrets::{Keyring, Secret, SecretsError};
use crate::store::{utc_text, Store};

/// How long Mailproof waits for the user to consent in the browser.
pub const CONSENT_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("{email} signs in with a password: only Gmail profiles and profiles whose servers sign in with OAuth 2.0 sign in with a consent. Edit the profile and choose OAuth 2.0 to use one.")]
    NoConsent { email: String },
    #[error("the consent was given by {signed_in}, not by {expected}. Authorize again and choose {expected} on Google's page (sign out of {signed_in} there first if Google does not offer a choice). Nothing was stored.")]
    WrongAccount { signed_in: String, expected: String },
    #[error("the sign-in was cancelled; nothing was stored.")]
    Cancelled,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("the consent was given, but reading the mailbox with it failed: {0}")]
    Gmail(#[from] GmailError),
    #[error("the consent was given, but {server} refused to sign {account} in with it: {why}. Sign in again as {account} (the issuer may have signed another account in), and check that the scopes are the ones the server wants. Nothing was stored.")]
    ServerRefused { server: String, account: String, why: String },
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
    /// A CA trusted beyond the public roots, for the sign-in that checks an OAuth 2.0 profile's consent.
    extra_ca: Option<PathBuf>,
}

/// Begins the consent of profile `id` (a Gmail or OAuth 2.0 profile): listens on a free loopback port and builds
/// the issuer's consent URL for the profile's account. `extra_ca` is trusted beyond the public roots when the
/// consent is checked on the profile's incoming server.
pub async fn authorize_profile(
    store: &Store,
    keyring: &Keyring,
    id: &str,
    extra_ca: Option<PathBuf>,
) -> Result<Authorization, AuthorizeError> {
    let profile = store.get_profile(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))?;
    let consent = match (&profile.gmail, &profile.oauth) {
        (Some(g), _) => {
            let secret = profile_password(store, keyring, id)?;
            let consent = Consent::begin(google_provider(), gmail_client(g, &secret), Some(&profile.email)).await?;
            return Ok(Authorization { profile, secret, consent, extra_ca });
        }
        (None, Some(o)) => o,
        (None, None) => return Err(AuthorizeError::NoConsent { email: profile.email.clone() }),
    };
    // A public client (Microsoft's desktop apps, many issuers') has no secret.
    let secret = client_secret(store, keyring, id)?;
    let client = OAuthClient { id: consent.client_id.trim().to_owned(), secret: Password::new(secret.expose()) };
    // The account to preselect on the issuer's page: the sign-in name where it is an address, else the address.
    let hint = Some(profile.username.trim()).filter(|u| u.contains('@')).unwrap_or(&profile.email).to_owned();
    let consent = Consent::begin(consent.provider(), client, Some(&hint)).await?;
    Ok(Authorization { profile, secret, consent, extra_ca })
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
        match &self.profile.gmail {
            Some(g) => {
                let config = gmail_config_of(g, &self.profile.email, &self.secret, &refresh, CLIENT_TIMEOUT);
                let signed_in = Gmail::new(config)?.profile().await?.email_address;
                if !signed_in.eq_ignore_ascii_case(&self.profile.email) {
                    return Err(AuthorizeError::WrongAccount { signed_in, expected: self.profile.email.clone() });
                }
            }
            None => check_on_server(&self.profile, &self.secret, &self.extra_ca, &refresh).await?,
        }
        keyring.persist(&refresh_token_key(&self.profile.id), &refresh)?;
        store.set_profile_authorized(&self.profile.id, Some(&utc_text(now)))?;
        Ok(store.get_profile(&self.profile.id)?.ok_or_else(|| ProfileError::NotFound(self.profile.id.clone()))?)
    }
}

/// An OAuth 2.0 profile's consent is the right one when the incoming server signs the profile's account in with
/// it: the server checks the token's account against the sign-in name.
async fn check_on_server(
    profile: &EmailProfile,
    secret: &Secret,
    extra_ca: &Option<PathBuf>,
    refresh: &Secret,
) -> Result<(), AuthorizeError> {
    let credentials = Credentials { password: secret.clone(), refresh_token: Some(refresh.clone()) };
    let report = diagnose_incoming(&profile.draft(), &credentials, extra_ca.clone(), STEP_TIMEOUT).await;
    if report.ok {
        return Ok(());
    }
    let failed = report.steps.iter().find(|s| s.status == StepStatus::Failed);
    Err(AuthorizeError::ServerRefused {
        server: format!("{}:{}", profile.incoming.host, profile.incoming.port),
        account: profile.username.clone(),
        why: failed
            .map_or_else(|| "the connection test failed".to_owned(), |s| s.detail.trim_end_matches('.').to_owned()),
    })
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
