//! A saved profile's servers as mail-client settings: what the verification and the email actions connect with.

use std::path::PathBuf;
use std::time::Duration;

use mailproof_mail::imap::ImapConfig;
use mailproof_mail::pop3::Pop3Config;
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Login, Password};

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

pub fn imap_config(profile: &EmailProfile, password: &Secret, extra_ca: &Option<PathBuf>) -> ImapConfig {
    let inc = &profile.incoming;
    ImapConfig {
        host: inc.host.clone(),
        port: u16::try_from(inc.port).unwrap_or(0),
        encryption: inc.security.into(),
        login: login(profile, password),
        ntlm: inc.auth == AuthMethod::Ntlm,
        trust: trust(&inc.pinned_sha256, extra_ca),
        timeout: CLIENT_TIMEOUT,
    }
}

pub fn pop3_config(profile: &EmailProfile, password: &Secret, extra_ca: &Option<PathBuf>) -> Pop3Config {
    let imap = imap_config(profile, password, extra_ca);
    Pop3Config {
        host: imap.host,
        port: imap.port,
        encryption: imap.encryption,
        login: imap.login,
        ntlm: imap.ntlm,
        trust: imap.trust,
        timeout: imap.timeout,
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
