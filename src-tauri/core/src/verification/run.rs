//! Verifying a profile: every actor of it, one after another, each outcome stored as it is decided.

use crate::cancel::Cancel;
use crate::profiles::{profile_credentials, ProfileError};
use crate::secrets::Keyring;
use crate::store::Store;

use super::actor::{verify_actor, Profiled, SenderAccount};
use super::{load_sender, sender_password_key, Phase, VerifyError, VerifyEvent, VerifyRun};

/// Verifies every actor of a profile, one after another, storing each outcome as it is decided.
pub async fn verify_profile(
    store: &Store,
    keyring: &Keyring,
    profile_id: &str,
    run: &VerifyRun,
    cancel: &Cancel,
    mut on_event: impl FnMut(VerifyEvent) + Send,
) -> Result<Vec<VerifyEvent>, VerifyError> {
    let profile = store.get_profile(profile_id)?.ok_or_else(|| ProfileError::NotFound(profile_id.to_owned()))?;
    let credentials = profile_credentials(store, keyring, &profile)?;
    let sender = if run.manual {
        None
    } else {
        let sender = load_sender(store)?.ok_or(VerifyError::NoSender)?;
        let password = if sender.requires_auth {
            Some(keyring.retrieve(&sender_password_key())?.ok_or(VerifyError::NoSender)?)
        } else {
            None
        };
        Some(SenderAccount { sender, password })
    };
    let manual_uuid = if run.manual { Some(store.verification_uuid(profile_id)?) } else { None };
    let actors = store.list_actors()?;
    let ctx = Profiled { store, keyring, profile: &profile, credentials: &credentials, run, cancel };
    let mut outcomes = Vec::new();
    for pa in &profile.actors {
        let remote = actors.iter().any(|a| a.id == pa.actor_id && a.kind == crate::directory::ActorKind::Remote);
        let outcome = verify_actor(&ctx, pa, remote, manual_uuid.as_deref(), sender.as_ref(), &mut |phase, detail| {
            on_event(VerifyEvent {
                actor_id: pa.actor_id.clone(),
                actor_name: pa.actor_name.clone(),
                phase,
                verified: None,
                detail,
                found_after_millis: None,
            })
        })
        .await?;
        store.set_actor_status(&profile.id, &pa.actor_id, outcome.verified, &outcome.detail, &run.clock.now_text())?;
        let event = VerifyEvent {
            actor_id: pa.actor_id.clone(),
            actor_name: pa.actor_name.clone(),
            phase: Phase::Done,
            verified: Some(outcome.verified),
            detail: outcome.detail,
            found_after_millis: outcome.found_after_millis,
        };
        on_event(event.clone());
        outcomes.push(event);
    }
    Ok(outcomes)
}
