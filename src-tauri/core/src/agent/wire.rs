//! What travels between the workstation and an agent: one request and one answer, one JSON line each, at most
//! `MAX_LINE` bytes. Mailbox credentials travel only inside the pinned TLS channel and are never printed.

use std::path::PathBuf;

use mailproof_mail::tls::Trust;
use mailproof_mail::{Encryption, Login, MailboxConfig, Password, SignIn};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::mailbox::{EmailTiming, Reach};
use crate::profiles::{EmailProfile, ServerType};
use crate::secrets::Secret;

/// The largest request or answer, in bytes.
const MAX_LINE: usize = 64 * 1024;

/// The largest line within a watch or submission session, once paired: a look's messages, a message to send.
pub(super) const MAX_SESSION_LINE: usize = 64 * 1024 * 1024;

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
            encryption: encryption_name(c.encryption),
            username: c.login.username.clone(),
            password: OnTheWire(password.clone()),
            ntlm: c.sign_in == SignIn::Ntlm,
            pinned_sha256: c.trust.pinned_sha256.clone(),
        }
    }

    /// The mailbox as the agent reaches it: its incoming server only (submission is a session of its own).
    pub(super) fn reach(&self, extra_ca: &Option<PathBuf>) -> Reach {
        Reach::Servers {
            server_type: self.server_type,
            incoming: MailboxConfig {
                host: self.host.clone(),
                port: self.port,
                encryption: encryption_of(&self.encryption),
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

fn encryption_name(e: Encryption) -> String {
    match e {
        Encryption::None => "none",
        Encryption::StartTls => "startTls",
        Encryption::Tls => "tls",
    }
    .to_owned()
}

fn encryption_of(name: &str) -> Encryption {
    match name {
        "none" => Encryption::None,
        "startTls" => Encryption::StartTls,
        _ => Encryption::Tls,
    }
}

/// How to reach a mailbox's outgoing server, as the workstation sends it to the agent that submits for it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingAccess {
    pub host: String,
    pub port: u16,
    pub encryption: String,
    /// The account and its password, when the server asks for a sign-in.
    pub login: Option<(String, OnTheWire)>,
    pub ntlm: bool,
    pub pinned_sha256: Option<String>,
}

impl std::fmt::Debug for OutgoingAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutgoingAccess({}:{}, <password redacted>)", self.host, self.port)
    }
}

impl OutgoingAccess {
    /// The profile's outgoing server, with its password.
    pub fn of(profile: &EmailProfile, password: &Secret) -> OutgoingAccess {
        let credentials = crate::profiles::Credentials::password(password.clone());
        let c = crate::profiles::clients::smtp_config(profile, &credentials, &None, &None);
        OutgoingAccess {
            host: c.host.clone(),
            port: c.port,
            encryption: encryption_name(c.encryption),
            login: c.login.as_ref().map(|l| (l.username.clone(), OnTheWire(password.clone()))),
            ntlm: c.sign_in == SignIn::Ntlm,
            pinned_sha256: c.trust.pinned_sha256.clone(),
        }
    }

    /// The server as the agent reaches it.
    pub(super) fn config(&self, extra_ca: &Option<PathBuf>) -> mailproof_mail::smtp::SmtpConfig {
        mailproof_mail::smtp::SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            encryption: encryption_of(&self.encryption),
            login: self
                .login
                .as_ref()
                .map(|(u, p)| Login { username: u.clone(), password: Password::new(p.0.expose()) }),
            sign_in: if self.ntlm { SignIn::Ntlm } else { SignIn::Password },
            tokens: None,
            trust: Trust { extra_ca: extra_ca.clone(), pinned_sha256: self.pinned_sha256.clone() },
            timeout: crate::profiles::clients::CLIENT_TIMEOUT,
        }
    }
}

/// Open a watch session on a mailbox: from then on the workstation sends [`Step`]s and the agent says [`Said`]s.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchMailbox {
    pub mailbox: MailboxAccess,
    /// Mail received on or after this day (picking a dropped watch up again), as `YYYY-MM-DD`; `None`: from now.
    pub since: Option<String>,
    pub idle: bool,
}

/// A message a look found, as it crosses the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireArrived {
    pub folder: String,
    pub junk: bool,
    pub removed: bool,
    pub uid: u32,
    pub uidl: Option<String>,
    /// The whole message, base64.
    pub raw: String,
}

/// What the workstation asks within a session, one line each.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Step {
    /// A look at the watched mailbox.
    Look,
    /// Delete mail a look found (its folder and ids; the text is not sent back).
    Delete { found: Vec<WireArrived> },
    /// Submit one message (base64).
    Send { from: String, to: Vec<String>, raw: String },
    /// End the session politely.
    Close,
}

/// What the agent says within a session, one line each. `Beat` and `Changed` may come at any time.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Said {
    /// The session is open: the watch's pace and whether the server pushes changes, or the submission server.
    Opened {
        server: String,
        pace_millis: u64,
        pushes: bool,
    },
    /// The mailbox could not be watched, or the submission session not opened: why, and the conversation so far.
    Failed {
        error: String,
        refusal: Option<mailproof_mail::submit::Refusal>,
        transcript: Vec<String>,
    },
    Looked {
        result: Result<Vec<WireArrived>, String>,
        backlog: bool,
    },
    Deleted {
        result: Result<(), String>,
    },
    Sent {
        result: Result<mailproof_mail::submit::Accepted, mailproof_mail::submit::Refusal>,
        transcript: Vec<String>,
        usable: bool,
    },
    /// The server pushed a change (IMAP IDLE): look again.
    Changed,
    /// Still at work on the last step.
    Beat,
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
    /// A watch session on a mailbox, as the actor's machine (email actions' destinations and sources).
    Watch(WatchMailbox),
    /// A submission session through a mailbox's outgoing server, as the actor's machine.
    Submit(OutgoingAccess),
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
    /// The agent's certificate fingerprint and its version (absent from agents before 0.1.0's sessions).
    Hello {
        fingerprint: String,
        #[serde(default)]
        version: String,
    },
    Found(Found),
    Refused {
        reason: String,
    },
}

/// One line, at most [`MAX_LINE`] bytes. `read` stays usable for noticing the other side close (a request is one
/// line: anything sent after it in the same packet is dropped).
pub(super) async fn read_line(read: &mut (impl tokio::io::AsyncRead + Unpin)) -> Result<String, String> {
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
    reader.read_until(b'\n', &mut line).await.map_err(|e| e.to_string())?;
    String::from_utf8(line).map_err(|_| "the request is not text".to_owned())
}

/// The next line of a session (at most [`MAX_SESSION_LINE`] bytes), read through the session's one buffer;
/// `None` when the other side closed.
pub(super) async fn next_line<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    (&mut *reader).take(MAX_SESSION_LINE as u64).read_until(b'\n', &mut line).await.map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(format!("a line longer than {} MiB, or cut off", MAX_SESSION_LINE >> 20));
    }
    String::from_utf8(line).map(Some).map_err(|_| "a line that is not text".to_owned())
}

/// Writes `value` as one JSON line.
pub(super) async fn write_json<W: tokio::io::AsyncWrite + Unpin>(
    write: &mut W,
    value: &impl Serialize,
) -> Result<(), String> {
    let mut text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    text.push('\n');
    write.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
    write.flush().await.map_err(|e| e.to_string())
}

pub(super) fn to_wire(a: &mailproof_mail::watch::Arrived) -> WireArrived {
    use base64::Engine;
    WireArrived {
        folder: a.folder.clone(),
        junk: a.junk,
        removed: a.removed,
        uid: a.uid,
        uidl: a.uidl.clone(),
        raw: base64::engine::general_purpose::STANDARD.encode(&a.raw),
    }
}

pub(super) fn from_wire(a: WireArrived) -> Result<mailproof_mail::watch::Arrived, String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(a.raw.as_bytes()).map_err(|e| e.to_string())?;
    Ok(mailproof_mail::watch::Arrived {
        folder: a.folder,
        junk: a.junk,
        removed: a.removed,
        uid: a.uid,
        uidl: a.uidl,
        raw,
    })
}
