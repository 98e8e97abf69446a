//! The workstation's side: asking a paired agent, over TLS pinned to the agent's own certificate.

use std::time::Duration;

use mailproof_mail::tls::{observed_client_config, sha256_hex, Trust};
use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::wire::{read_line, Answer, Ask, FindMail, Found, OnTheWire, Request};
use super::{AgentError, CONNECT_TIMEOUT};
pub use crate::directory::AgentAddress;
use crate::secrets::{Secret, SecretKey};

/// Connects to `agent` over TLS pinned to its certificate.
pub(super) async fn connect(agent: &AgentAddress) -> Result<tokio_rustls::client::TlsStream<TcpStream>, AgentError> {
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
    match tls {
        Ok(t) => Ok(t),
        Err(e) => {
            let presented = observer.presented().and_then(|p| p.chain.first().map(|c| sha256_hex(c)));
            Err(match presented {
                Some(fp) if fp != agent.fingerprint => AgentError::WrongCertificate {
                    address: agent.address.clone(),
                    detail: format!("it presented {fp}"),
                },
                _ => unreachable(e.to_string()),
            })
        }
    }
}

async fn ask(agent: &AgentAddress, code: &Secret, ask: Ask, wait: Duration) -> Result<Answer, AgentError> {
    let tls = connect(agent).await?;
    let (mut read, mut write) = tokio::io::split(tls);
    let mut text = serde_json::to_string(&Request { code: OnTheWire(code.clone()), ask }).expect("serializes");
    text.push('\n');
    let broken = |detail: String| AgentError::Broken { address: agent.address.clone(), detail };
    write.write_all(text.as_bytes()).await.map_err(|e| broken(e.to_string()))?;
    let line = tokio::time::timeout(wait, read_line(&mut read))
        .await
        .map_err(|_| broken(format!("no answer within {} s", wait.as_secs())))?
        .map_err(broken)?;
    let answer: Answer = serde_json::from_str(&line).map_err(|_| broken("an answer it could not read".into()))?;
    match answer {
        Answer::Refused { reason } => Err(AgentError::Refused { address: agent.address.clone(), reason }),
        other => Ok(other),
    }
}

/// Proves the pairing: the agent answers, with the pinned certificate, and takes the code. Returns the agent's
/// version (empty from agents that did not say it).
pub async fn hello(agent: &AgentAddress, code: &Secret) -> Result<String, AgentError> {
    match ask(agent, code, Ask::Hello, CONNECT_TIMEOUT).await? {
        Answer::Hello { version, .. } => Ok(version),
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
