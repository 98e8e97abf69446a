//! Pairing a remote actor with the agent on its machine.

use super::{code_key, hello, AgentAddress, AgentError, DEFAULT_PORT};
use crate::secrets::{Keyring, Secret, SecretsError};

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
    #[error("{0} is not paired with an agent yet: pair it first")]
    NotPaired(String),
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
    let version = hello(&agent, &code).await?;
    keyring.persist(&code_key(&found.id), &code)?;
    store.set_actor_agent(&found.id, &agent)?;
    store.note_agent_seen(&found.id, Some(&version), &crate::store::utc_text(time::OffsetDateTime::now_utc()))?;
    Ok(agent)
}

/// Whether a paired actor's agent answers now, as paired: its version, or why not in words. Noted in the store
/// when it answers.
pub async fn check(store: &crate::store::Store, keyring: &Keyring, actor_id: &str) -> Result<String, PairError> {
    let found = store
        .list_actors()?
        .into_iter()
        .find(|a| a.id == actor_id)
        .ok_or_else(|| PairError::UnknownActor(actor_id.to_owned()))?;
    let (Some(agent), Some(code)) = (store.actor_agent(actor_id)?, keyring.retrieve(&code_key(actor_id))?) else {
        return Err(PairError::NotPaired(found.name));
    };
    let version = hello(&agent, &code).await?;
    store.note_agent_seen(actor_id, Some(&version), &crate::store::utc_text(time::OffsetDateTime::now_utc()))?;
    Ok(version)
}
