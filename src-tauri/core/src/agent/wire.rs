//! What travels between the workstation and an agent: one request and one answer, one JSON line each, at most
//! `MAX_LINE` bytes. Mailbox credentials travel only inside the pinned TLS channel and are never printed.

use std::path::PathBuf;

use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, MailboxConfig, Password, SignIn};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::mailbox::{EmailTiming, Reach};
use crate::profiles::{EmailProfile, ServerType};
use crate::secrets::Secret;

/// The largest request or answer, in bytes.
const MAX_LINE: usize = 64 * 1024;

/// A secret that crosses the pinned TLS channel between the workstation and its agent, and nowhere else: it is
/// written on the wire, yet prints `<redacted>` like every other secret.
#[derive(Clone)]
pub struct OnTheWire(pub Secret);

impl std::fmt::Debug for OnTheWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for OnTheWire {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

impl<'de> Deserialize<'de> for OnTheWire {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| OnTheWire(Secret::new(s)))
    }
}

/// How to reach a mailbox, as the workstation sends it to the agent.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxAccess {
    pub server_type: ServerType,
    pub host: String,
    pub port: u16,
    /// "none", "startTls" or "tls".
    pub encryption: String,
    pub username: String,
    pub password: OnTheWire,
    pub ntlm: bool,
    /// A certificate the profile pinned, as 64 hex digits.
    pub pinned_sha256: Option<String>,
}

impl std::fmt::Debug for MailboxAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailboxAccess({}@{}:{}, <password redacted>)", self.username, self.host, self.port)
    }
}

impl MailboxAccess {
    /// The profile's incoming server, with its password.
    pub fn of(profile: &EmailProfile, password: &Secret) -> MailboxAccess {
        let credentials = crate::profiles::Credentials::password(password.clone());
        let c = crate::profiles::clients::incoming_config(profile, &credentials, &None, &None);
        MailboxAccess {
            server_type: profile.server_type,
            host: c.host.clone(),
            port: c.port,
            encryption: match c.encryption {
                Encryption::None => "none",
                Encryption::StartTls => "startTls",
                Encryption::Tls => "tls",
            }
            .to_owned(),
            username: c.login.username.clone(),
            password: OnTheWire(password.clone()),
            ntlm: c.sign_in == SignIn::Ntlm,
            pinned_sha256: c.trust.pinned_sha256.clone(),
        }
    }

    /// The mailbox as the agent reaches it: its incoming server only (the agent never sends for the workstation).
    pub(super) fn reach(&self, extra_ca: &Option<PathBuf>) -> Reach {
        let encryption = match self.encryption.as_str() {
            "none" => Encryption::None,
            "startTls" => Encryption::StartTls,
            _ => Encryption::Tls,
        };
        Reach::Servers {
            server_type: self.server_type,
            incoming: MailboxConfig {
                host: self.host.clone(),
                port: self.port,
                encryption,
                login: Login { username: self.username.clone(), password: Password::new(self.password.0.expose()) },
                sign_in: if self.ntlm { SignIn::Ntlm } else { SignIn::Password },
                tokens: None,
                trust: Trust { extra_ca: extra_ca.clone(), pinned_sha256: self.pinned_sha256.clone() },
                timeout: crate::profiles::clients::CLIENT_TIMEOUT,
            },
            outgoing: None,
        }
    }
}

/// Look for a mail whose subject holds `subject`, as verification does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindMail {
    pub mailbox: MailboxAccess,
    pub subject: String,
    pub timing: EmailTiming,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Ask {
    /// Is this the agent paired with, and is it there?
    Hello,
    FindMail(FindMail),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Request {
    pub(super) code: OnTheWire,
    pub(super) ask: Ask,
}

/// What the agent found, in verification's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub verified: bool,
    /// In words, as the actor's status shows it.
    pub detail: String,
    pub found_after_millis: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Answer {
    Hello { fingerprint: String },
    Found(Found),
    Refused { reason: String },
}

/// One line, at most [`MAX_LINE`] bytes. `read` stays usable for noticing the other side close (a request is one
/// line: anything sent after it in the same packet is dropped).
pub(super) async fn read_line(read: &mut (impl tokio::io::AsyncRead + Unpin)) -> Result<String, String> {
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
    reader.read_until(b'\n', &mut line).await.map_err(|e| e.to_string())?;
    String::from_utf8(line).map_err(|_| "the request is not text".to_owned())
}
