//! A saved profile's servers as mail-client settings: what the mailbox seam connects with.

use std::path::PathBuf;
use std::time::Duration;

use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Login, MailboxConfig, Password};

use super::{normalize_fingerprint, AuthMethod, EmailProfile};
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
