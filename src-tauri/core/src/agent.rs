//! The Mailproof agent: runs on an actor's machine (`mailproof agent serve`) and reads mailboxes as that machine
//! for the workstation that paired with it, so verification proves each actor can read the mail.
//!
//! The agent makes its own TLS certificate on first start; the workstation pins its SHA-256 fingerprint, so no CA
//! is involved and nobody else can stand in for the agent. Every request carries the pairing code the agent
//! printed. One request, one answer, one JSON line each. The agent keeps its certificate, key and code in its
//! OS keyring; mailbox credentials reach it only inside a request and are never stored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailproof_mail::imap::ImapConfig;
use mailproof_mail::pop3::Pop3Config;
use mailproof_mail::tls::{observed_client_config, sha256_hex, Trust};
use mailproof_mail::{Encryption, Login, Password};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use crate::profiles::{EmailProfile, ServerType};
use crate::secrets::{Keyring, Secret, SecretKey, SecretsError};
use crate::verification::{Cancel, EmailTiming};

/// The port an agent listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7465;

/// The largest request or answer, in bytes.
const MAX_LINE: usize = 64 * 1024;

/// How long connecting and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot keep the agent's identity in the keyring: {0}")]
    Keyring(#[from] SecretsError),
    #[error("cannot make the agent's certificate: {0}")]
    Certificate(String),
    #[error("cannot reach the agent at {address}: {detail}. Check that `mailproof agent serve` runs there and that the port is open.")]
    Unreachable { address: String, detail: String },
    #[error("the agent at {address} did not present the certificate paired with (its fingerprint differs): {detail}. If the agent was reinstalled, pair it again.")]
    WrongCertificate { address: String, detail: String },
    #[error("the agent at {address} refused the request: {reason}")]
    Refused { address: String, reason: String },
    #[error("the agent at {address} broke off: {detail}")]
    Broken { address: String, detail: String },
}

/// What the agent keeps: its certificate and key, and the pairing code.
pub struct AgentIdentity {
    certificate: Vec<u8>,
    key: Vec<u8>,
    code: Secret,
}

fn keys() -> [SecretKey; 3] {
    [SecretKey::new("agent/certificate"), SecretKey::new("agent/key"), SecretKey::new("agent/pairing-code")]
}

impl AgentIdentity {
    /// The identity kept in the keyring, or a new one (certificate, key and pairing code) saved there.
    pub fn load_or_create(keyring: &Keyring) -> Result<AgentIdentity, AgentError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let [cert_key, key_key, code_key] = keys();
        if let (Some(cert), Some(key), Some(code)) =
            (keyring.retrieve(&cert_key)?, keyring.retrieve(&key_key)?, keyring.retrieve(&code_key)?)
        {
            if let (Ok(certificate), Ok(key)) = (b64.decode(cert.expose()), b64.decode(key.expose())) {
                return Ok(AgentIdentity { certificate, key, code });
            }
        }
        let made = rcgen::generate_simple_self_signed(vec!["mailproof-agent".to_owned()])
            .map_err(|e| AgentError::Certificate(e.to_string()))?;
        let identity = AgentIdentity {
            certificate: made.cert.der().to_vec(),
            key: made.key_pair.serialize_der(),
            code: Secret::new(crate::verification::verification_code(uuid::Uuid::new_v4())),
        };
        keyring.persist(&cert_key, &Secret::new(b64.encode(&identity.certificate)))?;
        keyring.persist(&key_key, &Secret::new(b64.encode(&identity.key)))?;
        keyring.persist(&code_key, &identity.code)?;
        Ok(identity)
    }

    /// The certificate's SHA-256, which the workstation pins.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.certificate)
    }

    /// The code the workstation pairs with; shown to whoever starts the agent.
    pub fn pairing_code(&self) -> &str {
        self.code.expose()
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
    pub password: String,
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
        let c = crate::profiles::clients::imap_config(profile, password, &None);
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
            password: password.expose().to_owned(),
            ntlm: c.ntlm,
            pinned_sha256: c.trust.pinned_sha256.clone(),
        }
    }

    fn configs(&self, extra_ca: &Option<PathBuf>) -> (ImapConfig, Pop3Config) {
        let encryption = match self.encryption.as_str() {
            "none" => Encryption::None,
            "startTls" => Encryption::StartTls,
            _ => Encryption::Tls,
        };
        let imap = ImapConfig {
            host: self.host.clone(),
            port: self.port,
            encryption,
            login: Login { username: self.username.clone(), password: Password::new(self.password.clone()) },
            ntlm: self.ntlm,
            trust: Trust { extra_ca: extra_ca.clone(), pinned_sha256: self.pinned_sha256.clone() },
            timeout: crate::profiles::clients::CLIENT_TIMEOUT,
        };
        let pop3 = Pop3Config {
            host: imap.host.clone(),
            port: imap.port,
            encryption,
            login: imap.login.clone(),
            ntlm: imap.ntlm,
            trust: imap.trust.clone(),
            timeout: imap.timeout,
        };
        (imap, pop3)
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
enum Ask {
    /// Is this the agent paired with, and is it there?
    Hello,
    FindMail(FindMail),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    code: String,
    ask: Ask,
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
enum Answer {
    Hello { fingerprint: String },
    Found(Found),
    Refused { reason: String },
}

/// Serves the workstation until the listener fails: each connection is one request. `log` hears what was asked
/// (never a password or the code).
pub async fn serve(
    listener: TcpListener,
    identity: AgentIdentity,
    extra_ca: Option<PathBuf>,
    log: impl Fn(String) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth().with_single_cert(
                vec![CertificateDer::from(identity.certificate.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone())),
            )
        })
        .map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let identity = Arc::new(identity);
    let (extra_ca, log) = (Arc::new(extra_ca), Arc::new(log));
    loop {
        let (stream, peer) = listener.accept().await?;
        let (acceptor, identity, extra_ca, log) = (acceptor.clone(), identity.clone(), extra_ca.clone(), log.clone());
        tokio::spawn(async move {
            let answered = async {
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream))
                    .await
                    .map_err(|_| "the TLS handshake timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                let (read, mut write) = tokio::io::split(tls);
                let line = tokio::time::timeout(CONNECT_TIMEOUT, read_line(read))
                    .await
                    .map_err(|_| "no request within the time allowed".to_owned())??;
                let answer = answer(&line, &identity, &extra_ca, &*log, peer).await;
                let mut text = serde_json::to_string(&answer).expect("answers serialize");
                text.push('\n');
                write.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
                write.shutdown().await.map_err(|e| e.to_string())
            };
            if let Err(e) = answered.await {
                log(format!("{peer}: {e}"));
            }
        });
    }
}

async fn answer(
    line: &str,
    identity: &AgentIdentity,
    extra_ca: &Option<PathBuf>,
    log: &(dyn Fn(String) + Send + Sync),
    peer: std::net::SocketAddr,
) -> Answer {
    let Ok(request) = serde_json::from_str::<Request>(line) else {
        return Answer::Refused { reason: "the request is not one this agent understands (versions differ?)".into() };
    };
    if !same(request.code.as_bytes(), identity.code.expose().as_bytes()) {
        log(format!("{peer}: refused a request with a wrong pairing code"));
        return Answer::Refused { reason: "wrong pairing code: pair this agent again with the code it shows".into() };
    }
    match request.ask {
        Ask::Hello => Answer::Hello { fingerprint: identity.fingerprint() },
        Ask::FindMail(find) => {
            log(format!(
                "{peer}: looking for \"{}\" in {}@{}:{} for up to {} s",
                find.subject, find.mailbox.username, find.mailbox.host, find.mailbox.port, find.timing.wait_secs
            ));
            let (imap, pop3) = find.mailbox.configs(extra_ca);
            let (verified, detail, found_after_millis) = crate::verification::search(
                find.mailbox.server_type,
                &imap,
                &pop3,
                &find.subject,
                &find.timing,
                &Cancel::default(),
            )
            .await;
            log(format!("{peer}: {detail}"));
            Answer::Found(Found { verified, detail, found_after_millis })
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn read_line(read: impl tokio::io::AsyncRead + Unpin) -> Result<String, String> {
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
    reader.read_until(b'\n', &mut line).await.map_err(|e| e.to_string())?;
    String::from_utf8(line).map_err(|_| "the request is not text".to_owned())
}

/// A paired agent, as the workstation knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAddress {
    /// host:port
    pub address: String,
    /// The agent certificate's SHA-256, 64 hex digits.
    pub fingerprint: String,
}

async fn ask(agent: &AgentAddress, code: &Secret, ask: Ask, wait: Duration) -> Result<Answer, AgentError> {
    let address = agent.address.clone();
    let unreachable = |detail: String| AgentError::Unreachable { address: address.clone(), detail };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&agent.address))
        .await
        .map_err(|_| unreachable("no answer".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let trust = Trust { extra_ca: None, pinned_sha256: Some(agent.fingerprint.clone()) };
    let (config, observer) = observed_client_config(&trust).map_err(|e| unreachable(e.to_string()))?;
    let name = ServerName::try_from("mailproof-agent").expect("a valid name");
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, tokio_rustls::TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| unreachable("the TLS handshake timed out".into()))?;
    let tls = match tls {
        Ok(t) => t,
        Err(e) => {
            let presented = observer.presented().and_then(|p| p.chain.first().map(|c| sha256_hex(c)));
            return Err(match presented {
                Some(fp) if fp != agent.fingerprint => AgentError::WrongCertificate {
                    address: agent.address.clone(),
                    detail: format!("it presented {fp}"),
                },
                _ => unreachable(e.to_string()),
            });
        }
    };
    let (read, mut write) = tokio::io::split(tls);
    let mut text = serde_json::to_string(&Request { code: code.expose().to_owned(), ask }).expect("serializes");
    text.push('\n');
    let broken = |detail: String| AgentError::Broken { address: agent.address.clone(), detail };
    write.write_all(text.as_bytes()).await.map_err(|e| broken(e.to_string()))?;
    let line = tokio::time::timeout(wait, read_line(read))
        .await
        .map_err(|_| broken(format!("no answer within {} s", wait.as_secs())))?
        .map_err(broken)?;
    let answer: Answer = serde_json::from_str(&line).map_err(|_| broken("an answer it could not read".into()))?;
    match answer {
        Answer::Refused { reason } => Err(AgentError::Refused { address: agent.address.clone(), reason }),
        other => Ok(other),
    }
}

/// Proves the pairing: the agent answers, with the pinned certificate, and takes the code.
pub async fn hello(agent: &AgentAddress, code: &Secret) -> Result<(), AgentError> {
    match ask(agent, code, Ask::Hello, CONNECT_TIMEOUT).await? {
        Answer::Hello { .. } => Ok(()),
        _ => Err(AgentError::Broken { address: agent.address.clone(), detail: "an unexpected answer".into() }),
    }
}

/// Has the agent look for a mail in a mailbox, as its machine; waits as long as the search may take.
pub async fn find_mail(agent: &AgentAddress, code: &Secret, find: FindMail) -> Result<Found, AgentError> {
    let wait = Duration::from_secs(u64::from(find.timing.wait_secs) + 60);
    match ask(agent, code, Ask::FindMail(find), wait).await? {
        Answer::Found(found) => Ok(found),
        _ => Err(AgentError::Broken { address: agent.address.clone(), detail: "an unexpected answer".into() }),
    }
}

/// The keyring entry of the pairing code of a remote actor's agent.
pub fn code_key(actor_id: &str) -> SecretKey {
    SecretKey::new(format!("actor/{actor_id}/agent-code"))
}

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("there is no actor \"{0}\"")]
    UnknownActor(String),
    #[error("{0} is this workstation: it reads mail itself and needs no agent")]
    NotRemote(String),
    #[error("\"{0}\" is not an agent's address: give its host and port, e.g. branch-pc.example.org:7465")]
    BadAddress(String),
    #[error("\"{0}\" is not a certificate fingerprint: copy the 64 hex digits `mailproof agent serve` shows")]
    BadFingerprint(String),
    #[error("the pairing code is empty: copy the code `mailproof agent serve` shows")]
    NoCode,
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keyring(#[from] SecretsError),
}

/// Pairs a remote actor (by id or name) with the agent on its machine: the agent must answer at `address` with
/// the certificate `fingerprint` names and accept `code`. Then the code goes to the keyring and the address and
/// fingerprint to the store.
pub async fn pair(
    store: &crate::store::Store,
    keyring: &Keyring,
    actor: &str,
    address: &str,
    fingerprint: &str,
    code: &Secret,
) -> Result<AgentAddress, PairError> {
    let found = store
        .list_actors()?
        .into_iter()
        .find(|a| a.id == actor || a.name.eq_ignore_ascii_case(actor.trim()))
        .ok_or_else(|| PairError::UnknownActor(actor.to_owned()))?;
    if found.kind != crate::directory::ActorKind::Remote {
        return Err(PairError::NotRemote(found.name));
    }
    let address = address.trim();
    let address = match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => address.to_owned(),
        None if !address.is_empty() && !address.contains(char::is_whitespace) => format!("{address}:{DEFAULT_PORT}"),
        _ => return Err(PairError::BadAddress(address.to_owned())),
    };
    let fingerprint = crate::profiles::normalize_fingerprint(fingerprint)
        .ok_or_else(|| PairError::BadFingerprint(fingerprint.to_owned()))?;
    let code = Secret::new(code.expose().trim());
    if code.expose().is_empty() {
        return Err(PairError::NoCode);
    }
    let agent = AgentAddress { address, fingerprint };
    hello(&agent, &code).await?;
    keyring.persist(&code_key(&found.id), &code)?;
    store.set_actor_agent(&found.id, &agent)?;
    Ok(agent)
}
