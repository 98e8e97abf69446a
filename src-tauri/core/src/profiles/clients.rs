//! A saved profile's servers as mail-client settings: what the mailbox seam connects with.

use std::path::PathBuf;
use std::time::Duration;

use mailproof_mail::graph::{Cloud, Endpoints, GraphConfig};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Login, MailboxConfig, Password};

use super::{normalize_fingerprint, AuthMethod, EmailProfile, GraphSettings};
use crate::secrets::Secret;

/// How long one network exchange with a profile's server may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn trust(pin: &Option<String>, extra_ca: &Option<PathBuf>) -> Trust {
    Trust { extra_ca: extra_ca.clone(), pinned_sha256: pin.as_deref().and_then(normalize_fingerprint) }
}

fn login(profile: &EmailProfile, password: &Secret) -> Login {
    Login { username: profile.username.clone(), password: Password::new(password.expose()) }
}

/// The profile's incoming server (IMAP or POP3: one config for both).
pub fn incoming_config(profile: &EmailProfile, password: &Secret, extra_ca: &Option<PathBuf>) -> MailboxConfig {
    let inc = &profile.incoming;
    MailboxConfig {
        host: inc.host.clone(),
        port: u16::try_from(inc.port).unwrap_or(0),
        encryption: inc.security.into(),
        login: login(profile, password),
        ntlm: inc.auth == AuthMethod::Ntlm,
        trust: trust(&inc.pinned_sha256, extra_ca),
        timeout: CLIENT_TIMEOUT,
    }
}

pub fn smtp_config(profile: &EmailProfile, password: &Secret, extra_ca: &Option<PathBuf>) -> SmtpConfig {
    let out = &profile.outgoing;
    SmtpConfig {
        host: out.host.clone(),
        port: u16::try_from(out.port).unwrap_or(0),
        encryption: out.security.into(),
        login: out.requires_auth.then(|| login(profile, password)),
        ntlm: out.requires_auth && out.auth == AuthMethod::Ntlm,
        trust: trust(&out.pinned_sha256, extra_ca),
        timeout: CLIENT_TIMEOUT,
    }
}

/// Overrides the sign-in base URL of every cloud (tests point it at a local fake); the real one is the default.
pub const GRAPH_LOGIN_ENV: &str = "MAILPROOF_GRAPH_LOGIN_URL";
/// Overrides the Graph base URL of every cloud.
pub const GRAPH_ENV: &str = "MAILPROOF_GRAPH_URL";

/// Where a cloud signs in and serves Graph: its real URLs, or the overrides in the environment. An override must
/// be HTTPS, or plain HTTP to this machine only (a local fake): a client secret never crosses a network in clear.
pub fn graph_endpoints(cloud: Cloud) -> Endpoints {
    let mut e = cloud.endpoints();
    for (var, slot) in [(GRAPH_LOGIN_ENV, &mut e.login), (GRAPH_ENV, &mut e.graph)] {
        if let Ok(url) = std::env::var(var) {
            let url = url.trim().trim_end_matches('/');
            let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
            if url.starts_with("https://") || local {
                *slot = url.to_owned();
            } else {
                eprintln!("mailproof: {var}={url:?} is neither HTTPS nor this machine; using {slot}");
            }
        }
    }
    e
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
