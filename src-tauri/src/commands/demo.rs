//! The local demo gateway and the demo workspace, from the app: what the first run offers beside "Add your first
//! email profile", and Settings → Demo gateway.

use mailproof_core::demo::{self, gateway, GatewayStatus};
use mailproof_core::jobs::{self, JobSpec};
use mailproof_core::paths::Workspace;
use mailproof_core::Cancel;
use serde::Serialize;
use specta::Type;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

/// A demo mailbox and what the demo gateway does to mail for it.
#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct DemoMailbox {
    pub email: String,
    pub policy: String,
}

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct DemoStatus {
    /// The workspace open now.
    pub workspace: Workspace,
    pub gateway: GatewayStatus,
    /// The demo job's source.
    pub source: String,
    pub destinations: Vec<DemoMailbox>,
}

fn failed(e: impl std::fmt::Display) -> IpcError {
    let text = mailproof_core::settings::capitalised(&e.to_string());
    IpcError::new(ErrorCode::Invalid, format!("{}.", text.trim_end_matches('.')))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> IpcResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))
}

/// The workspace open now, the demo gateway's state and the demo's mailboxes.
#[tauri::command]
#[specta::specta]
pub async fn demo_status(state: State<'_, AppState>) -> IpcResult<DemoStatus> {
    let gateway = blocking(|| gateway::status(&gateway::default_dir())).await?;
    Ok(DemoStatus {
        workspace: state.workspace(),
        gateway,
        source: demo::address(demo::SOURCE),
        destinations: demo::DESTINATIONS
            .iter()
            .map(|(u, policy)| DemoMailbox { email: demo::address(u), policy: (*policy).to_owned() })
            .collect(),
    })
}

/// Starts the demo gateway (unless it runs), opens the demo workspace and readies it: the demo profiles added
/// and verified. Each step goes to `on_step` in words; returns the demo job, ready to run. On a failure before the
/// switch the user's own workspace stays open.
#[tauri::command]
#[specta::specta]
pub async fn open_demo(state: State<'_, AppState>, on_step: Channel<String>) -> IpcResult<JobSpec> {
    let _ = on_step.send("Starting the demo gateway".into());
    let env = blocking(|| gateway::start(&gateway::default_dir())).await?.map_err(failed)?;
    state.switch_to(Workspace::Demo, time::OffsetDateTime::now_utc())?;
    let (store, keyring) = (state.store()?, state.keyring());
    let cancel = Cancel::default();
    let step = move |s: String| {
        let _ = on_step.send(s);
    };
    demo::prepare(&store, &keyring, &env, &cancel, &step).await.map_err(failed)
}

/// The demo job in the open demo workspace, for the job builder's "Demo job" preset.
#[tauri::command]
#[specta::specta]
pub async fn demo_job(state: State<'_, AppState>) -> IpcResult<JobSpec> {
    if state.workspace() != Workspace::Demo {
        return Err(IpcError::new(ErrorCode::Invalid, "The demo job runs in the demo workspace only."));
    }
    let store = state.store()?;
    demo::demo_job(&store, &jobs::defaults::load_timing(&store)?).map_err(failed)
}

/// Opens the user's own workspace again; the demo's profiles and jobs stay in the demo workspace.
#[tauri::command]
#[specta::specta]
pub async fn leave_demo(state: State<'_, AppState>) -> IpcResult<()> {
    state.switch_to(Workspace::Real, time::OffsetDateTime::now_utc())
}

/// Stops the demo gateway; its folder, mailboxes and logs stay.
#[tauri::command]
#[specta::specta]
pub async fn stop_demo_gateway() -> IpcResult<GatewayStatus> {
    blocking(|| {
        let dir = gateway::default_dir();
        gateway::stop(&dir).map(|()| gateway::status(&dir))
    })
    .await?
    .map_err(failed)
}
