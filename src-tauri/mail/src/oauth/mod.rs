//! OAuth 2.0 for a user's mailbox: consent with the authorization-code grant and PKCE (S256) through a loopback
//! redirect (RFC 8252: `http://127.0.0.1:PORT/`, the system browser), and access tokens from a refresh token.
//!
//! The refresh token is the caller's to keep (the OS keyring); access tokens and the PKCE verifier live in memory
//! only and print as `<redacted>`. Every request has a deadline, and every refusal is explained in words with
//! what to do — Google's `invalid_grant` (revoked, or the 7-day tokens of an app still in testing),
//! `access_denied`, missing scopes.

mod error;
mod loopback;
mod source;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::http::{read_capped, transport, Failure};
use crate::Password;

pub use error::OAuthError;
pub use loopback::Consent;
pub use source::TokenSource;

/// An identity provider's endpoints and the scopes a mailbox needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its name in messages: "Google".
    pub name: String,
    /// Whose console the fixes in messages point to.
    pub issuer: Issuer,
    /// Where the browser asks the user's consent.
    pub authorization: String,
    /// Where codes and refresh tokens are exchanged for tokens.
    pub token: String,
    pub scopes: Vec<String>,
    /// Where the user sees and revokes what they allowed, for the messages.
    pub account_page: String,
}

/// The identity providers whose consoles Mailproof can explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    Google,
    Microsoft,
    /// Any other OAuth 2.0 issuer: its consent page, token endpoint and scopes are the user's.
    Other,
}

/// The scope that lets Mailproof send, read, label and trash a Gmail mailbox's mail (not delete it for good).
pub const GMAIL_SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";
/// The scope Google's IMAP, POP3 and SMTP servers want: the whole mailbox (Google offers no narrower one).
pub const GOOGLE_MAIL_SCOPE: &str = "https://mail.google.com/";
/// The scopes Exchange Online's IMAP, POP3 and SMTP AUTH want, and a refresh token (`offline_access`).
pub const MICROSOFT_MAIL_SCOPES: [&str; 4] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];
/// Scopes a token endpoint does not list back among those it granted (they ask for an ID or a refresh token).
const UNLISTED_SCOPES: [&str; 5] = ["offline_access", "openid", "email", "profile", "offline"];

impl Provider {
    /// Google's real endpoints, for the Gmail API. `base` replaces both hosts when set (a local fake).
    pub fn google(base: Option<&str>) -> Provider {
        let (authorization, token) = match base.map(|b| b.trim_end_matches('/')) {
            Some(b) => (format!("{b}/o/oauth2/v2/auth"), format!("{b}/token")),
            None => (
                "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
                "https://oauth2.googleapis.com/token".to_owned(),
            ),
        };
        Provider {
            name: "Google".into(),
            issuer: Issuer::Google,
            authorization,
            token,
            scopes: vec![GMAIL_SCOPE.to_owned()],
            account_page: "https://myaccount.google.com/connections".into(),
        }
    }

    /// Google for its IMAP, POP3 and SMTP servers: the same endpoints, the mail scope.
    pub fn google_mail(base: Option<&str>) -> Provider {
        Provider { scopes: vec![GOOGLE_MAIL_SCOPE.to_owned()], ..Provider::google(base) }
    }

    /// Microsoft's identity platform (v2.0 endpoints) at `login` (`https://login.microsoftonline.com`, or a local
    /// fake) for `tenant` (a tenant ID, a verified domain, or `organizations`), for Exchange Online's IMAP, POP3
    /// and SMTP AUTH.
    pub fn microsoft_mail(login: &str, tenant: &str) -> Provider {
        let base = format!("{}/{}/oauth2/v2.0", login.trim_end_matches('/'), tenant.trim());
        Provider {
            name: "Microsoft".into(),
            issuer: Issuer::Microsoft,
            authorization: format!("{base}/authorize"),
            token: format!("{base}/token"),
            scopes: MICROSOFT_MAIL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            account_page: "https://myapps.microsoft.com".into(),
        }
    }

    /// Another issuer: its consent page, token endpoint and scopes as the user entered them.
    pub fn custom(authorization: &str, token: &str, scopes: Vec<String>) -> Provider {
        let host = crate::http::host_of(token);
        Provider {
            name: host.split(':').next().unwrap_or(&host).to_owned(),
            issuer: Issuer::Other,
            authorization: authorization.trim().to_owned(),
            token: token.trim().to_owned(),
            scopes,
            account_page: format!("the account page of {host}"),
        }
    }
}

/// An OAuth client: the ID and the secret the provider's console issued (a "Desktop app" client at Google).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub id: String,
    pub secret: Password,
}

/// What a token endpoint issued.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: Password,
    /// When to ask for a new access token (a little before it expires).
    pub renew_at: Instant,
    /// Sent with a consent; a refresh usually sends none (the old one stays good).
    pub refresh: Option<Password>,
    /// The scopes granted (a user may untick some on Google's consent screen).
    pub scopes: Vec<String>,
}

impl Tokens {
    pub fn fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }

    /// The token for an `Authorization: Bearer` header or a SASL XOAUTH2 exchange.
    pub fn bearer(&self) -> &str {
        self.access.expose()
    }

    /// The refresh token to keep, as text for the OS keyring; never shown anywhere else.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh.as_ref().map(Password::expose)
    }
}

/// The largest token endpoint answer read (they are a few kilobytes).
const MAX_TOKEN_ANSWER: usize = 1024 * 1024;

/// Renew this long before an access token expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A new access token from `refresh_token`.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    client: &OAuthClient,
    refresh_token: &Password,
    timeout: Duration,
) -> Result<Tokens, OAuthError> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", client.id.as_str()),
    ];
    // A public client (Microsoft's desktop apps) has no secret, and must not send an empty one.
    if !client.secret.expose().is_empty() {
        form.push(("client_secret", client.secret.expose()));
    }
    let tokens = token_request(http, provider, &form, timeout, Grant::Refresh).await?;
    check_scopes(provider, &tokens)?;
    Ok(tokens)
}

/// Which grant a token request carries: they fail for different reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Code,
    Refresh,
}

async fn token_request(
    http: &reqwest::Client,
    provider: &Provider,
    form: &[(&str, &str)],
    timeout: Duration,
    grant: Grant,
) -> Result<Tokens, OAuthError> {
    let failed = |f: Failure| match f {
        Failure::TimedOut => {
            OAuthError::TimedOut { what: format!("{}'s token endpoint", provider.name), secs: timeout.as_secs() }
        }
        Failure::Network { host, detail } => OAuthError::Network { host, detail },
        Failure::TooBig(max) => OAuthError::BadAnswer { detail: format!("an answer over {max} bytes") },
        Failure::Read(detail) => OAuthError::BadAnswer { detail },
    };
    let answer = http
        .post(&provider.token)
        .timeout(timeout)
        .form(form)
        .send()
        .await
        .map_err(|e| failed(transport(&provider.token, &e)))?;
    let status = answer.status();
    let body = read_capped(answer, MAX_TOKEN_ANSWER, timeout).await.map_err(failed)?;
    if !status.is_success() {
        let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
        return Err(match serde_json::from_slice::<ErrorAnswer>(&body) {
            Ok(e) => OAuthError::explain(provider, grant == Grant::Refresh, &e.error, e.error_description.as_deref()),
            Err(_) => OAuthError::BadAnswer { detail: format!("HTTP {status}: {}", shown()) },
        });
    }
    let t: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| OAuthError::BadAnswer { detail: format!("no access token in the answer ({e})") })?;
    let lifetime = Duration::from_secs(t.expires_in.max(60));
    Ok(Tokens {
        access: Password::new(t.access_token),
        renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2)),
        refresh: t.refresh_token.filter(|r| !r.is_empty()).map(Password::new),
        scopes: t.scope.map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
    })
}

/// Refuses tokens that lack a scope the mailbox needs (an answer that names none is taken as granting all).
fn check_scopes(provider: &Provider, tokens: &Tokens) -> Result<(), OAuthError> {
    if tokens.scopes.is_empty() {
        return Ok(());
    }
    let missing: Vec<&str> = provider
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !UNLISTED_SCOPES.contains(s) && !tokens.scopes.iter().any(|g| g == s))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(OAuthError::MissingScopes { missing: missing.join(" "), granted: tokens.scopes.join(" ") })
}

/// A PKCE pair (RFC 7636): a random verifier kept here, and its S256 challenge sent with the consent.
struct Pkce {
    verifier: Password,
    challenge: String,
}

impl Pkce {
    fn new() -> Pkce {
        let verifier = random_text(32);
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Pkce { challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()), verifier: Password::new(verifier) }
    }
}

/// `bytes` random bytes from the system's generator, as base64url text (43 characters for 32).
fn random_text(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new().fill(&mut buf).expect("the system's random generator works");
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.encode(digest.as_ref()), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let p = Pkce::new();
        assert_eq!(p.verifier.expose().len(), 43);
        assert_ne!(p.verifier.expose(), Pkce::new().verifier.expose());
        assert_eq!(format!("{:?}", p.verifier), "<redacted>");
    }

    #[test]
    fn granted_scopes_are_checked() {
        let p = Provider::google(None);
        let t = |scopes: &[&str]| Tokens {
            access: Password::new("a"),
            renew_at: Instant::now(),
            refresh: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(check_scopes(&p, &t(&[GMAIL_SCOPE, "openid"])).is_ok());
        assert!(check_scopes(&p, &t(&[])).is_ok());
        let e = check_scopes(&p, &t(&["https://www.googleapis.com/auth/gmail.readonly"])).unwrap_err();
        assert!(e.to_string().contains("gmail.modify"), "{e}");
        assert_eq!(p.token, "https://oauth2.googleapis.com/token");
        assert_eq!(Provider::google(Some("http://127.0.0.1:9/")).token, "http://127.0.0.1:9/token");
    }

    #[test]
    fn microsofts_endpoints_are_the_tenants_and_offline_access_is_not_expected_back() {
        let m = Provider::microsoft_mail("https://login.microsoftonline.com/", "contoso.onmicrosoft.com");
        assert_eq!(m.authorization, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
        assert_eq!(m.token, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        // Exchange Online lists the resource scopes it granted, never offline_access.
        let granted = MICROSOFT_MAIL_SCOPES[..3].iter().map(|s| s.to_string()).collect();
        let t = Tokens { access: Password::new("a"), renew_at: Instant::now(), refresh: None, scopes: granted };
        assert!(check_scopes(&m, &t).is_ok());
        let c = Provider::custom("https://id.example.test/auth", "https://id.example.test:8443/token", vec![]);
        assert_eq!((c.name.as_str(), c.issuer), ("id.example.test", Issuer::Other));
    }
}
