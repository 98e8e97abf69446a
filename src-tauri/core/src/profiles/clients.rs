//! A saved profile's servers as mail-client settings: what the mailbox seam connects with.

use std::path::PathBuf;
use std::time::Duration;

use mailproof_mail::gmail::{GmailConfig, GMAIL_API};
use mailproof_mail::graph::{Cloud, Endpoints, GraphConfig};
use mailproof_mail::oauth::{OAuthClient, Provider, TokenSource};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Login, MailboxConfig, Password};

use super::{
    normalize_fingerprint, AuthMethod, Credentials, EmailProfile, GmailSettings, GraphSettings, OAuthSettings,
};
use crate::secrets::Secret;

/// How long one network exchange with a profile's server may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn trust(pin: &Option<String>, extra_ca: &Option<PathBuf>) -> Trust {
    Trust { extra_ca: extra_ca.clone(), pinned_sha256: pin.as_deref().and_then(normalize_fingerprint) }
}

/// The account `username`'s sign-in with `auth`. A server that signs in with OAuth 2.0 takes its tokens from a
/// token source, never a password (the credentials' password is then the OAuth client's secret).
pub(super) fn login(username: &str, credentials: &Credentials, auth: AuthMethod) -> Login {
    let password = match auth {
        AuthMethod::OAuth2 => Password::new(""),
        AuthMethod::Plain | AuthMethod::Ntlm => Password::new(credentials.password.expose()),
    };
    Login { username: username.to_owned(), password }
}

/// The token source a server gets: the profile's, when the server signs in (`signs_in`) with OAuth 2.0.
pub(super) fn tokens_for(tokens: &Option<TokenSource>, signs_in: bool, auth: AuthMethod) -> Option<TokenSource> {
    tokens.clone().filter(|_| signs_in && auth == AuthMethod::OAuth2)
}

/// Where an OAuth 2.0 profile's sessions get their access tokens: its issuer, its client and the consent's refresh
/// token, shared by the reading and the sending side. `None` for a profile that signs in with a password, and for
/// one whose account has not consented yet.
pub fn token_source(profile: &EmailProfile, credentials: &Credentials) -> Option<TokenSource> {
    oauth_tokens(profile.oauth.as_ref()?, credentials, CLIENT_TIMEOUT)
}

/// Access tokens from the issuer and client `o` with the consent in `credentials` (the client's secret, if any, as
/// its password), each token request limited to `timeout`; `None` without a consent.
pub fn oauth_tokens(o: &OAuthSettings, credentials: &Credentials, timeout: Duration) -> Option<TokenSource> {
    let refresh = credentials.refresh_token.as_ref()?;
    let client =
        OAuthClient { id: o.client_id.trim().to_owned(), secret: Password::new(credentials.password.expose()) };
    TokenSource::new(o.provider(), client, Password::new(refresh.expose()), timeout).ok()
}

/// The profile's incoming server (IMAP or POP3: one config for both).
pub fn incoming_config(
    profile: &EmailProfile,
    credentials: &Credentials,
    tokens: &Option<TokenSource>,
    extra_ca: &Option<PathBuf>,
) -> MailboxConfig {
    let inc = &profile.incoming;
    MailboxConfig {
        host: inc.host.clone(),
        port: u16::try_from(inc.port).unwrap_or(0),
        encryption: inc.security.into(),
        login: login(&profile.username, credentials, inc.auth),
        sign_in: inc.auth.sign_in(),
        tokens: tokens_for(tokens, true, inc.auth),
        trust: trust(&inc.pinned_sha256, extra_ca),
        timeout: CLIENT_TIMEOUT,
    }
}

pub fn smtp_config(
    profile: &EmailProfile,
    credentials: &Credentials,
    tokens: &Option<TokenSource>,
    extra_ca: &Option<PathBuf>,
) -> SmtpConfig {
    let out = &profile.outgoing;
    SmtpConfig {
        host: out.host.clone(),
        port: u16::try_from(out.port).unwrap_or(0),
        encryption: out.security.into(),
        login: out.requires_auth.then(|| login(&profile.username, credentials, out.auth)),
        sign_in: out.auth.sign_in(),
        tokens: tokens_for(tokens, out.requires_auth, out.auth),
        trust: trust(&out.pinned_sha256, extra_ca),
        timeout: CLIENT_TIMEOUT,
    }
}

/// Overrides the sign-in base URL of every cloud (tests point it at a local fake); the real one is the default.
pub const GRAPH_LOGIN_ENV: &str = "MAILPROOF_GRAPH_LOGIN_URL";
/// Overrides the Graph base URL of every cloud.
pub const GRAPH_ENV: &str = "MAILPROOF_GRAPH_URL";

/// Where a cloud signs in and serves Graph: its real URLs, or the overrides in the environment.
pub fn graph_endpoints(cloud: Cloud) -> Endpoints {
    let mut e = cloud.endpoints();
    e.login = overridden(GRAPH_LOGIN_ENV, e.login);
    e.graph = overridden(GRAPH_ENV, e.graph);
    e
}

/// Overrides Google's OAuth base URL (consent page `/o/oauth2/v2/auth`, token endpoint `/token`).
pub const GOOGLE_OAUTH_ENV: &str = "MAILPROOF_GOOGLE_OAUTH_URL";
/// Overrides the Gmail API's base URL.
pub const GMAIL_ENV: &str = "MAILPROOF_GMAIL_URL";

/// The Gmail API's base URL: the real one, or the override.
pub fn gmail_api() -> String {
    overridden(GMAIL_ENV, GMAIL_API.to_owned())
}

/// Where Google asks for consent and issues tokens, for the Gmail API: the real endpoints, or under the override.
pub fn google_provider() -> Provider {
    Provider::google(google_base().as_deref())
}

/// The override of Google's OAuth base URL, if any.
pub(super) fn google_base() -> Option<String> {
    Some(overridden(GOOGLE_OAUTH_ENV, String::new())).filter(|b| !b.is_empty())
}

/// The value of the override `var`, or `default`. An override must be HTTPS, or plain HTTP to this machine only
/// (a local fake): a client secret or a token never crosses a network in clear.
fn overridden(var: &str, default: String) -> String {
    let Ok(url) = std::env::var(var) else { return default };
    let url = url.trim().trim_end_matches('/');
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
    if url.starts_with("https://") || local {
        url.to_owned()
    } else {
        eprintln!("mailproof: {var}={url:?} is neither HTTPS nor this machine; using the real service");
        default
    }
}

/// A Microsoft 365 profile's mailbox through Graph, with its client secret; `None` for other profiles.
pub fn graph_config(profile: &EmailProfile, secret: &Secret) -> Option<GraphConfig> {
    Some(graph_config_of(profile.graph.as_ref()?, &profile.email, secret, CLIENT_TIMEOUT))
}

/// The mailbox `email` through the app registration `g`, each request limited to `timeout`.
pub fn graph_config_of(g: &GraphSettings, email: &str, secret: &Secret, timeout: Duration) -> GraphConfig {
    let mut c = GraphConfig::new(&g.tenant_id, &g.client_id, Password::new(secret.expose()), email, g.cloud);
    c.endpoints = graph_endpoints(g.cloud);
    c.timeout = timeout;
    c
}

/// A Gmail profile's OAuth client, with its secret.
pub fn gmail_client(g: &GmailSettings, secret: &Secret) -> OAuthClient {
    OAuthClient { id: g.client_id.trim().to_owned(), secret: Password::new(secret.expose()) }
}

/// A Gmail profile's mailbox through the Gmail API with the account's consent; `None` for other profiles and for
/// one without a stored consent.
pub fn gmail_config(profile: &EmailProfile, credentials: &Credentials) -> Option<GmailConfig> {
    let g = profile.gmail.as_ref()?;
    let refresh = credentials.refresh_token.as_ref()?;
    Some(gmail_config_of(g, &profile.email, &credentials.password, refresh, CLIENT_TIMEOUT))
}

/// The mailbox `email` through the OAuth client `g` with the consent's `refresh_token`, each request limited to
/// `timeout`.
pub fn gmail_config_of(
    g: &GmailSettings,
    email: &str,
    secret: &Secret,
    refresh_token: &Secret,
    timeout: Duration,
) -> GmailConfig {
    let mut c = GmailConfig::new(email, gmail_client(g, secret), Password::new(refresh_token.expose()));
    c.provider = google_provider();
    c.api = gmail_api();
    c.timeout = timeout;
    c
}
