//! Settings commands.

use mailproof_core::settings::{self, Settings, Theme};
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

/// The user's settings, with defaults for anything never changed.
#[tauri::command]
#[specta::specta]
pub async fn get_settings(state: State<'_, AppState>) -> IpcResult<Settings> {
    Ok(settings::load(&*state.store()?)?)
}

/// Sets the colour theme and returns the settings as stored.
#[tauri::command]
#[specta::specta]
pub async fn set_theme(state: State<'_, AppState>, theme: Theme) -> IpcResult<Settings> {
    Ok(settings::set_theme(&*state.store()?, theme, time::OffsetDateTime::now_utc())?)
}

/// Sets (a path) or clears (`null`) the CA file trusted beyond the public roots, after checking it.
#[tauri::command]
#[specta::specta]
pub async fn set_trusted_ca(state: State<'_, AppState>, path: Option<String>) -> IpcResult<Settings> {
    Ok(settings::set_trusted_ca(&*state.store()?, path.as_deref(), time::OffsetDateTime::now_utc())?)
}
