//! Checking a job's spec before anything is stored — the selection, the timing, the spoofed From, the source and
//! the destinations (each verified by the actor that sends or reads it) — and the rows that describe it.

use super::actors::chosen;
use super::JobError;
use crate::actions::ActionDef;
use crate::directory::{Actor, ActorKind};
use crate::jobs::JobSpec;
use crate::profiles::{EmailProfile, VerificationStatus};
use crate::store::jobs::NewGroup;
use crate::store::Store;

/// A spec that may run: its actions, its profiles and the remote actors that send or read them (`None`: this
/// workstation).
pub(super) struct Checked {
    pub actions: Vec<&'static ActionDef>,
    pub source: EmailProfile,
    pub destinations: Vec<EmailProfile>,
    pub source_actor: Option<Actor>,
    pub destination_actors: Vec<Option<Actor>>,
}

/// A profile counts as verified when this workstation — the actor that does the watching — has verified it;
/// `actors` are the store's, read once by the caller.
pub(super) fn verified_here(actors: &[Actor], profile: &EmailProfile) -> bool {
    profile.actors.iter().any(|pa| {
        pa.status == VerificationStatus::Verified
            && actors.iter().any(|a| a.id == pa.actor_id && a.kind == ActorKind::Workstation)
    })
}

/// Checks `spec` on `today`; an error here creates no job.
pub(super) fn check(store: &Store, spec: &JobSpec, today: time::Date) -> Result<Checked, JobError> {
    let actions = spec.selection.resolve().map_err(JobError::Selection)?;
    if actions.is_empty() {
        return Err(JobError::NothingSelected);
    }
    if spec.destination_profile_ids.is_empty() {
        return Err(JobError::NoDestination);
    }
    if let Some(why) = spec.timing.problem(&spec.params) {
        return Err(JobError::Timing(why));
    }
    if let Some(spoof) = &spec.params.spoofed_from {
        if spoof.parse::<lettre::Address>().is_err() {
            return Err(JobError::BadSpoofedFrom(spoof.clone()));
        }
    }
    let load = |id: &str| -> Result<EmailProfile, JobError> {
        let p = store.get_profile(id)?.ok_or_else(|| JobError::UnknownProfile(id.to_owned()))?;
        match &p.graph {
            Some(g) if g.expired(today) => {
                Err(JobError::SecretExpired { email: p.email.clone(), on: g.secret_expires.clone() })
            }
            _ => Ok(p),
        }
    };
    let actors = store.list_actors()?;
    let source = load(&spec.source_profile_id)?;
    // As the reference requires of every profile a job uses, for the actor that uses it: the source's bounces are
    // read from its mailbox by the actor that sends.
    let source_actor = chosen(&actors, &source, spec.actors.source.as_deref(), true)?.cloned();
    if let Some(other) = spec.actors.destinations.get(&source.id) {
        if spec.actors.source.as_deref() != Some(other.as_str()) {
            return Err(JobError::TwoActors(source.email));
        }
    }
    let mut destinations = Vec::new();
    let mut destination_actors = Vec::new();
    for id in &spec.destination_profile_ids {
        let d = load(id)?;
        let reader = if d.id == source.id {
            spec.actors.source.as_deref()
        } else {
            spec.actors.destinations.get(id).map(String::as_str)
        };
        destination_actors.push(chosen(&actors, &d, reader, false)?.cloned());
        destinations.push(d);
    }
    Ok(Checked { actions, source, destinations, source_actor, destination_actors })
}

/// The job's id and its groups' rows: one group per destination, each action with its row id and token.
pub(super) fn rows<'a>(checked: &'a Checked) -> (String, Vec<NewGroup<'a>>) {
    let named = |a: &'a Option<Actor>| a.as_ref().map(|a| (a.id.as_str(), a.name.as_str()));
    let groups = checked
        .destinations
        .iter()
        .zip(&checked.destination_actors)
        .map(|(d, reader)| NewGroup {
            id: crate::ids::new_id(),
            source_profile_id: &checked.source.id,
            source_email: &checked.source.email,
            destination_profile_id: &d.id,
            destination_email: &d.email,
            source_actor: named(&checked.source_actor),
            destination_actor: named(reader),
            actions: checked.actions.iter().map(|a| (crate::ids::new_id(), *a, crate::ids::new_token())).collect(),
        })
        .collect();
    (crate::ids::new_id(), groups)
}
