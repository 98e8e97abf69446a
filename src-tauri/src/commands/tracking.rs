//! Message tracking: search the log and read a message's history.

use mailproof_core::tracking::{self, ExportOutcome, TrackEvent, TrackPage, TrackQuery, TrackedRow};
use mailproof_mail::message::Hop;
use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Runtime, State};

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

/// One page of the messages matching `query`, newest first, with the total.
#[tauri::command]
#[specta::specta]
pub async fn track_query(state: State<'_, AppState>, query: TrackQuery) -> IpcResult<TrackPage> {
    Ok(tracking::query(&*state.store()?, &query)?)
}

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct TrackDetail {
    pub message: TrackedRow,
    pub history: Vec<TrackEvent>,
    /// The Received chain of the copy Mailproof found, origin first, and its folder; empty when none was found.
    pub hops: Vec<Hop>,
    pub folder: Option<String>,
}

/// A tracked message and its processing history.
#[tauri::command]
#[specta::specta]
pub async fn track_history(state: State<'_, AppState>, id: f64) -> IpcResult<TrackDetail> {
    let store = &*state.store()?;
    let (message, history) = tracking::history(store, id as i64)?
        .ok_or_else(|| IpcError::new(ErrorCode::Invalid, "This message is no longer in the log."))?;
    // The copy an action found is this message's only when the Message-IDs agree (its bounce shares the action).
    let found = match &message.job_action_id {
        Some(action) => store.action_evidence(action)?.filter(|e| e.message_id == message.message_id),
        None => None,
    }
    .and_then(|e| e.received);
    let (hops, folder) = found.map(|r| (r.hops, Some(r.folder))).unwrap_or_default();
    Ok(TrackDetail { message, history, hops, folder })
}

/// Where an export went and how much it wrote.
#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct TrackExport {
    pub path: String,
    #[serde(flatten)]
    pub outcome: ExportOutcome,
}

/// Asks where to save, then writes the query's matches there as CSV (newest first, at most 50,000). `None` when
/// the user closed the dialog.
#[tauri::command]
#[specta::specta]
pub async fn track_export<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    query: TrackQuery,
) -> IpcResult<Option<TrackExport>> {
    let store = state.store()?.clone();
    let Some(path) =
        crate::dialogs::save_file(&app, "Export message tracking", "message-tracking.csv", "CSV", "csv").await?
    else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let outcome = tauri::async_runtime::spawn_blocking(move || tracking::export_csv_to(&store, &query, &path))
        .await
        .map_err(|e| IpcError::new(ErrorCode::Internal, format!("The export stopped unexpectedly: {e}")))??;
    Ok(Some(TrackExport { path: shown, outcome }))
}
