//! Actors and security zones.

use mailproof_core::directory::{Actor, SecurityZone};
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
