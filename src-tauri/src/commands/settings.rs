//! Settings commands.

use mailproof_core::settings::{self, Settings, Theme};
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

/// The user's settings, with defaults for anything never changed.
#[tauri::command]
#[specta::specta]
pub async fn get_settings(state: State<'_, AppState>) -> IpcResult<Settings> {
    Ok(settings::load(state.store()?)?)
}

/// Sets the colour theme and returns the settings as stored.
#[tauri::command]
#[specta::specta]
pub async fn set_theme(state: State<'_, AppState>, theme: Theme) -> IpcResult<Settings> {
    Ok(settings::set_theme(state.store()?, theme, time::OffsetDateTime::now_utc())?)
}
