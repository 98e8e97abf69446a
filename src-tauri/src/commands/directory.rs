//! Actors and security zones.

use mailproof_core::agent::{self};
use mailproof_core::directory::{Actor, SecurityZone};
use mailproof_core::secrets::Secret;
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

/// Every actor, built-in first.
#[tauri::command]
#[specta::specta]
pub async fn list_actors(state: State<'_, AppState>) -> IpcResult<Vec<Actor>> {
    Ok(state.store()?.list_actors()?)
}

/// Every security zone with its number of actors, built-in first.
#[tauri::command]
#[specta::specta]
pub async fn list_zones(state: State<'_, AppState>) -> IpcResult<Vec<SecurityZone>> {
    Ok(state.store()?.list_zones()?)
}

/// Adds a security zone.
#[tauri::command]
#[specta::specta]
pub async fn create_zone(state: State<'_, AppState>, name: String) -> IpcResult<SecurityZone> {
    Ok(state.store()?.create_zone(&name, time::OffsetDateTime::now_utc())?)
}

/// Deletes a zone that has no actors.
#[tauri::command]
#[specta::specta]
pub async fn delete_zone(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    Ok(state.store()?.delete_zone(&id)?)
}

/// Adds a remote actor to a zone.
#[tauri::command]
#[specta::specta]
pub async fn create_actor(state: State<'_, AppState>, name: String, zone_id: String) -> IpcResult<Actor> {
    Ok(state.store()?.create_actor(&name, &zone_id, time::OffsetDateTime::now_utc())?)
}

/// Deletes an actor no profile uses, and its agent's pairing code.
#[tauri::command]
#[specta::specta]
pub async fn delete_actor(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state.store()?.delete_actor(&id)?;
    if let Err(e) = state.keyring().delete(&agent::code_key(&id)) {
        eprintln!("mailproof: cannot remove the deleted actor's pairing code from the keyring: {e}");
    }
    Ok(())
}

/// Pairs a remote actor with the Mailproof agent on its machine (`mailproof agent serve` shows the address,
/// fingerprint and pairing code). The agent must answer with that certificate and accept the code.
#[tauri::command]
#[specta::specta]
pub async fn pair_actor_agent(
    state: State<'_, AppState>,
    actor_id: String,
    address: String,
    fingerprint: String,
    code: String,
) -> IpcResult<Vec<Actor>> {
    let store = &*state.store()?;
    agent::pair(store, &state.keyring(), &actor_id, &address, &fingerprint, &Secret::new(code)).await?;
    Ok(store.list_actors()?)
}

/// Asks a paired actor's agent whether it answers now, as paired; the actors afterwards (its version and when it
/// was last seen), or why it does not answer.
#[tauri::command]
#[specta::specta]
pub async fn check_actor_agent(state: State<'_, AppState>, actor_id: String) -> IpcResult<Vec<Actor>> {
    let store = &*state.store()?;
    match agent::check(store, &state.keyring(), &actor_id).await {
        Ok(_) => Ok(store.list_actors()?),
        Err(agent::PairError::Store(e)) => Err(e.into()),
        Err(e) => {
            Err(crate::error::IpcError::new(crate::error::ErrorCode::Invalid, format!("No answer as paired: {e}.")))
        }
    }
}
