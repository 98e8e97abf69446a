//! Checking a job's spec before anything is stored — the selection, the timing, the spoofed From, the source and
//! the destinations (each verified by this workstation) — and the rows that describe it.

use super::JobError;
use crate::actions::ActionDef;
use crate::directory::{Actor, ActorKind};
use crate::jobs::JobSpec;
use crate::profiles::{EmailProfile, VerificationStatus};
use crate::store::jobs::NewGroup;
use crate::store::Store;

/// A spec that may run: its actions and its profiles.
pub(super) struct Checked {
    pub actions: Vec<&'static ActionDef>,
    pub source: EmailProfile,
    pub destinations: Vec<EmailProfile>,
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
    // As the reference requires of every profile a job uses: its bounces are read from its mailbox.
    if !verified_here(&actors, &source) {
        return Err(JobError::SourceUnverified { email: source.email });
    }
    let mut destinations = Vec::new();
    for id in &spec.destination_profile_ids {
        let d = load(id)?;
        if !verified_here(&actors, &d) {
            return Err(JobError::Unverified { email: d.email });
        }
        destinations.push(d);
    }
    Ok(Checked { actions, source, destinations })
}

/// The job's id and its groups' rows: one group per destination, each action with its row id and token.
pub(super) fn rows<'a>(checked: &'a Checked) -> (String, Vec<NewGroup<'a>>) {
    let groups = checked
        .destinations
        .iter()
        .map(|d| NewGroup {
            id: crate::ids::new_id(),
            source_profile_id: &checked.source.id,
            source_email: &checked.source.email,
            destination_profile_id: &d.id,
            destination_email: &d.email,
            actions: checked.actions.iter().map(|a| (crate::ids::new_id(), *a, crate::ids::new_token())).collect(),
        })
        .collect();
    (crate::ids::new_id(), groups)
}
