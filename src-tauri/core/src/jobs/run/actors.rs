//! The actors a job runs between: this workstation, or remote actors whose agents send and read on their own
//! machines. Before anything is sent each chosen actor is checked — it exists, it has verified its profile, its
//! agent is paired and answers with the paired certificate and code — and the engine is handed how to reach the
//! mailboxes through it.

use std::collections::HashMap;

use super::JobError;
use crate::agent::{self, RemoteActor};
use crate::directory::{Actor, ActorKind};
use crate::jobs::JobSpec;
use crate::profiles::{EmailProfile, VerificationStatus};
use crate::secrets::Keyring;
use crate::store::Store;

/// The remote actors of a job: the source's, and each destination's by profile id. Absent: this workstation.
#[derive(Default)]
pub(super) struct Remotes {
    pub source: Option<RemoteActor>,
    pub destinations: HashMap<String, RemoteActor>,
}

impl Remotes {
    /// The actor that reaches `profile_id`'s mailbox in this job (the source's, when it is the source).
    pub(super) fn of(&self, profile_id: &str, source_id: &str) -> Option<&RemoteActor> {
        if profile_id == source_id {
            self.source.as_ref()
        } else {
            self.destinations.get(profile_id)
        }
    }
}

/// The actor `actor_id` names for `profile` (none: this workstation), checked: it exists and has verified the
/// profile, and a remote one can reach it through its agent. `Ok(None)` is this workstation.
pub(super) fn chosen<'a>(
    actors: &'a [Actor],
    profile: &EmailProfile,
    actor_id: Option<&str>,
    source: bool,
) -> Result<Option<&'a Actor>, JobError> {
    let actor = match actor_id {
        None => actors.iter().find(|a| a.kind == ActorKind::Workstation),
        Some(id) => Some(actors.iter().find(|a| a.id == id).ok_or_else(|| JobError::UnknownActor(id.to_owned()))?),
    };
    let Some(actor) = actor else { return Err(JobError::UnknownActor("this workstation".into())) };
    let verified = profile.actors.iter().any(|pa| pa.actor_id == actor.id && pa.status == VerificationStatus::Verified);
    if !verified {
        let email = profile.email.clone();
        return Err(match (source, actor.kind) {
            (true, ActorKind::Workstation) => JobError::SourceUnverified { email },
            (false, ActorKind::Workstation) => JobError::Unverified { email },
            _ => JobError::ActorUnverified { email, actor: actor.name.clone() },
        });
    }
    if actor.kind == ActorKind::Workstation {
        return Ok(None);
    }
    if profile.needs_consent() || profile.graph.is_some() {
        return Err(JobError::RemoteUnsupported { email: profile.email.clone(), actor: actor.name.clone() });
    }
    Ok(Some(actor))
}

/// How to reach each remote actor of `spec` — its agent's address and pinned certificate, and the pairing code
/// from `keyring` — each proven by a hello before anything is sent.
pub(super) async fn reach(store: &Store, keyring: &Keyring, spec: &JobSpec) -> Result<Remotes, JobError> {
    let actors = store.list_actors()?;
    let mut known: HashMap<String, RemoteActor> = HashMap::new();
    let mut remote = |id: &str| -> Result<Option<RemoteActor>, JobError> {
        let Some(actor) = actors.iter().find(|a| a.id == id) else { return Err(JobError::UnknownActor(id.to_owned())) };
        if actor.kind == ActorKind::Workstation {
            return Ok(None);
        }
        if let Some(r) = known.get(id) {
            return Ok(Some(r.clone()));
        }
        let not_paired = || JobError::NotPaired { actor: actor.name.clone() };
        let address = store.actor_agent(id)?.ok_or_else(not_paired)?;
        let code = keyring.retrieve(&agent::code_key(id)).map_err(|e| JobError::Password(e.to_string()))?;
        let r = RemoteActor { name: actor.name.clone(), agent: address, code: code.ok_or_else(not_paired)? };
        known.insert(id.to_owned(), r.clone());
        Ok(Some(r))
    };
    let mut remotes = Remotes::default();
    if let Some(id) = &spec.actors.source {
        remotes.source = remote(id)?;
    }
    for (profile_id, id) in &spec.actors.destinations {
        if let Some(r) = remote(id)? {
            remotes.destinations.insert(profile_id.clone(), r);
        }
    }
    let mut said_hello: Vec<&str> = Vec::new();
    for r in remotes.source.iter().chain(remotes.destinations.values()) {
        if said_hello.contains(&r.agent.address.as_str()) {
            continue;
        }
        let version = agent::hello(&r.agent, &r.code)
            .await
            .map_err(|e| JobError::Agent { actor: r.name.clone(), detail: e.to_string() })?;
        let now = crate::store::utc_text(time::OffsetDateTime::now_utc());
        for a in actors.iter().filter(|a| a.agent_address.as_deref() == Some(r.agent.address.as_str())) {
            store.note_agent_seen(&a.id, Some(&version), &now)?;
        }
        said_hello.push(&r.agent.address);
    }
    Ok(remotes)
}
