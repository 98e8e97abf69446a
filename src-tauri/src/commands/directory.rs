//! Actors and security zones.

use mailproof_core::directory::{Actor, SecurityZone};
use mailproof_core::DirectoryError;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
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

impl From<DirectoryError> for IpcError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Store(e) => e.into(),
            other => IpcError::new(ErrorCode::Invalid, other.to_string()),
        }
    }
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

/// Deletes an actor no profile uses.
#[tauri::command]
#[specta::specta]
pub async fn delete_actor(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    Ok(state.store()?.delete_actor(&id)?)
}
