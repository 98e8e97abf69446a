//! The app's own status: version, where its data lives, and anything the user must know from start-up.

use serde::Serialize;
use specta::Type;
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub version: String,
    pub data_dir: Option<String>,
    /// The workspace open: the user's own, or the demo workspace of the local demo gateway.
    pub workspace: mailproof_core::paths::Workspace,
    pub schema_version: Option<u32>,
    /// A problem found at start-up (damaged database moved aside, database unusable), in words.
    pub startup_notice: Option<String>,
}

/// Version, data folder, schema version and any start-up notice.
#[tauri::command]
#[specta::specta]
pub async fn app_status(state: State<'_, AppState>) -> IpcResult<AppStatus> {
    Ok(AppStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir().as_ref().map(|d| d.display().to_string()),
        workspace: state.workspace(),
        schema_version: state.store().ok().and_then(|s| s.schema_version().ok()).map(|v| v as u32),
        startup_notice: state.startup_notice(),
    })
}

/// Proves the OS keyring works: stores, reads back and deletes a random test entry.
#[tauri::command]
#[specta::specta]
pub async fn check_keyring(state: State<'_, AppState>) -> IpcResult<mailproof_core::doctor::Check> {
    let keyring = state.keyring();
    let probe = mailproof_core::secrets::Secret::new(uuid::Uuid::new_v4().to_string());
    let check = tokio::task::spawn_blocking(move || mailproof_core::doctor::check_keyring(&keyring, &probe))
        .await
        .map_err(|e| crate::error::IpcError::new(crate::error::ErrorCode::Internal, e.to_string()))?;
    Ok(check)
}

/// The UI calls this once, after its first frame is on screen. The shell notes how long start-up took and,
/// when `MAILPROOF_REPORT_STARTUP` is set (the start-up benchmark), prints it on stderr.
#[tauri::command]
#[specta::specta]
pub async fn ui_ready(state: State<'_, AppState>) -> IpcResult<()> {
    let elapsed = state.started.elapsed();
    if std::env::var_os("MAILPROOF_REPORT_STARTUP").is_some() {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        eprintln!("mailproof: first paint at epoch_ms={epoch_ms} ({} ms after main)", elapsed.as_millis());
    }
    Ok(())
}
