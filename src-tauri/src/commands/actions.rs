//! Email actions: the library, running jobs with live progress, and their results.

use mailproof_core::actions::{self, ActionInfo};
use mailproof_core::jobs::{self, JobError, JobEvent, JobReport, JobSpec, JobSummary, RunOptions};
use mailproof_core::verification::Cancel;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

impl From<JobError> for IpcError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Store(s) => s.into(),
            other => IpcError::new(ErrorCode::Invalid, other.to_string()),
        }
    }
}

/// The library of test threats.
#[tauri::command]
#[specta::specta]
pub async fn list_actions() -> IpcResult<Vec<ActionInfo>> {
    Ok(actions::list())
}

/// Runs a job to its end, streaming every action's progress; returns the job id. `run_key` names the run for
/// `cancel_job`.
#[tauri::command]
#[specta::specta]
pub async fn run_job(
    state: State<'_, AppState>,
    run_key: String,
    spec: JobSpec,
    on_event: Channel<JobEvent>,
) -> IpcResult<String> {
    let store = state.store()?.clone();
    let settings = mailproof_core::settings::load(&store)?;
    let options = RunOptions { extra_ca: settings.trusted_ca_file.map(Into::into) };
    let cancel = Cancel::default();
    state.running_jobs().insert(run_key.clone(), cancel.clone());
    let send = move |e: JobEvent| {
        let _ = on_event.send(e);
    };
    let result = jobs::run_job(&store, &state.keyring, &spec, &options, &cancel, &send).await;
    state.running_jobs().remove(&run_key);
    Ok(result?)
}

/// Stops a running job: actions not yet decided end Incomplete.
#[tauri::command]
#[specta::specta]
pub async fn cancel_job(state: State<'_, AppState>, run_key: String) -> IpcResult<()> {
    if let Some(cancel) = state.running_jobs().get(&run_key) {
        cancel.cancel();
    }
    Ok(())
}

/// Every job, newest first. Jobs an earlier run left unfinished are closed first.
#[tauri::command]
#[specta::specta]
pub async fn list_jobs(state: State<'_, AppState>) -> IpcResult<Vec<JobSummary>> {
    let store = state.store()?;
    jobs::recover_interrupted(store, jobs::STALE_AFTER)?;
    Ok(store.list_jobs()?)
}

/// One job with every action and its evidence.
#[tauri::command]
#[specta::specta]
pub async fn get_job(state: State<'_, AppState>, id: String) -> IpcResult<JobReport> {
    state
        .store()?
        .job_report(&id)?
        .ok_or_else(|| IpcError::new(ErrorCode::Invalid, "This job no longer exists. Reload the results."))
}
