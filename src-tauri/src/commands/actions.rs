//! Email actions: the library, running jobs with live progress, and their results.

use mailproof_core::actions::{self, ActionInfo};
use mailproof_core::jobs::export::{self};
use mailproof_core::jobs::{self, JobEvent, JobReport, JobSpec, JobStatus, JobSummary, Rerun, RunOptions};
use mailproof_core::Cancel;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

/// The library of test threats.
#[tauri::command]
#[specta::specta]
pub async fn list_actions() -> IpcResult<Vec<ActionInfo>> {
    Ok(actions::list())
}

/// The global timing every new job starts from (Settings → Email Actions).
#[tauri::command]
#[specta::specta]
pub async fn get_action_timing(state: State<'_, AppState>) -> IpcResult<jobs::JobTiming> {
    Ok(jobs::defaults::load_timing(&*state.store()?)?)
}

/// Saves the global timing after checking it as a job's timing is checked; returns it as stored.
#[tauri::command]
#[specta::specta]
pub async fn save_action_timing(state: State<'_, AppState>, timing: jobs::JobTiming) -> IpcResult<jobs::JobTiming> {
    let store = &*state.store()?;
    jobs::defaults::save_timing(store, &timing, time::OffsetDateTime::now_utc())?;
    Ok(jobs::defaults::load_timing(store)?)
}

/// How often progress goes to the UI at most: each message costs the WebView a script evaluation, so events are
/// sent in batches rather than one by one (a 1,000-action job makes some 3,000 events).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs a job to its end, streaming every action's progress in batches; returns the job id. `run_key` names the
/// run for `cancel_job`.
#[tauri::command]
#[specta::specta]
pub async fn run_job<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    run_key: String,
    spec: JobSpec,
    on_event: Channel<Vec<JobEvent>>,
) -> IpcResult<String> {
    let store = state.store()?.clone();
    let settings = mailproof_core::settings::load(&store)?;
    let options = RunOptions { extra_ca: settings.trusted_ca_file.map(Into::into), ..Default::default() };
    let cancel = Cancel::default();
    state.running_jobs().insert(run_key.clone(), cancel.clone());
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let take = |b: &std::sync::Mutex<Vec<JobEvent>>| std::mem::take(&mut *b.lock().unwrap_or_else(|p| p.into_inner()));
    let send = {
        let buffer = buffer.clone();
        move |e: JobEvent| buffer.lock().unwrap_or_else(|p| p.into_inner()).push(e)
    };
    let flusher = {
        let (buffer, on_event) = (buffer.clone(), on_event.clone());
        tauri::async_runtime::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let batch = take(&buffer);
                if !batch.is_empty() {
                    let _ = on_event.send(batch);
                }
            }
        })
    };
    let result = jobs::run_job(&store, &state.keyring(), &spec, &options, &cancel, &send).await;
    flusher.abort();
    let rest = take(&buffer);
    if !rest.is_empty() {
        let _ = on_event.send(rest);
    }
    state.running_jobs().remove(&run_key);
    let job_id = result?;
    notify_if_away(&app, &store, &job_id);
    Ok(job_id)
}

/// A desktop notification when a job ends while Mailproof's window is not in front (the analyst went on with
/// other work). A desktop without a notification service just does not show it.
fn notify_if_away<R: Runtime>(app: &AppHandle<R>, store: &mailproof_core::Store, job_id: &str) {
    use tauri::Manager;
    use tauri_plugin_notification::NotificationExt;
    let away = app.get_webview_window("main").is_none_or(|w| !w.is_focused().unwrap_or(false));
    if !away {
        return;
    }
    let Ok(Some(report)) = store.job_report(job_id) else { return };
    let status = report.status;
    let title = format!("Mailproof: job {}", if status == JobStatus::Completed { "finished" } else { status.as_str() });
    if let Err(e) =
        app.notification().builder().title(title).body(format!("{}: {}", report.name, report.summary())).show()
    {
        eprintln!("mailproof: cannot show the job's notification: {e}");
    }
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

/// Every job, newest first.
#[tauri::command]
#[specta::specta]
pub async fn list_jobs(state: State<'_, AppState>) -> IpcResult<Vec<JobSummary>> {
    Ok(state.store()?.list_jobs()?)
}

/// Picks up, for as long as the app runs, the jobs whose engine stopped mid-job — this app's last run, or a
/// `mailproof run` that was killed: what they sent is watched for again and decided (see
/// `jobs::resume_interrupted`). The Results screen shows them running until they end.
pub async fn adopt_interrupted_jobs<R: Runtime>(app: AppHandle<R>) {
    use tauri::Manager;
    let state = app.state::<AppState>();
    let Ok(store) = state.store() else { return };
    loop {
        let options = match mailproof_core::settings::load(&store) {
            Ok(s) => RunOptions { extra_ca: s.trusted_ca_file.map(Into::into), ..Default::default() },
            Err(e) => {
                eprintln!("mailproof: cannot read the settings to pick up interrupted jobs: {e}");
                RunOptions::default()
            }
        };
        match jobs::resume_interrupted(
            &store,
            &state.keyring(),
            &options,
            jobs::STALE_AFTER,
            &Cancel::default(),
            &|_| {},
        )
        .await
        {
            Ok(ids) => {
                for id in ids {
                    notify_if_away(&app, &store, &id);
                }
            }
            Err(e) => eprintln!("mailproof: cannot pick up interrupted jobs: {e}"),
        }
        tokio::time::sleep(jobs::STALE_AFTER / 2).await;
    }
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

#[derive(Debug, Clone, Copy, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub enum JobExportFormat {
    Json,
    Csv,
}

/// Where an export or the evidence went.
#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub path: String,
}

fn report(state: &AppState, id: &str) -> IpcResult<JobReport> {
    state
        .store()?
        .job_report(id)?
        .ok_or_else(|| IpcError::new(ErrorCode::Invalid, "This job no longer exists. Reload the results."))
}

/// Asks where to save, then writes a job's results as JSON (everything, evidence included) or CSV (one row per
/// action). `None` when the user closed the dialog.
#[tauri::command]
#[specta::specta]
pub async fn export_job<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    format: JobExportFormat,
) -> IpcResult<Option<Saved>> {
    let report = report(&state, &id)?;
    let (ext, kind, text) = match format {
        JobExportFormat::Json => ("json", "JSON", export::to_json(&report)),
        JobExportFormat::Csv => ("csv", "CSV", export::to_csv(&report)),
    };
    let name = format!("mailproof-job-{}.{ext}", id.get(..8).unwrap_or(&id));
    let Some(path) = crate::dialogs::save_file(&app, "Export job results", &name, kind, ext).await? else {
        return Ok(None);
    };
    export::write_file(&path, text.as_bytes())?;
    Ok(Some(Saved { path: path.display().to_string() }))
}

/// Asks for a folder, then saves a job's evidence in a new folder inside it: the results as JSON and CSV and,
/// per action, the received copy (.eml), the SMTP transcript and the evidence. `None` when the user closed the
/// dialog.
#[tauri::command]
#[specta::specta]
pub async fn save_job_evidence<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> IpcResult<Option<Saved>> {
    let report = report(&state, &id)?;
    let Some(parent) = crate::dialogs::pick_folder(&app, "Save the job's evidence in…").await? else {
        return Ok(None);
    };
    let store = state.store()?.clone();
    let dir = tauri::async_runtime::spawn_blocking(move || export::save_evidence(&store, &report, &parent))
        .await
        .map_err(|e| IpcError::new(ErrorCode::Internal, format!("Saving stopped unexpectedly: {e}")))??;
    Ok(Some(Saved { path: dir.display().to_string() }))
}

/// Every run of the same selection of actions as this job, oldest first: the trend of its prevention rate.
#[tauri::command]
#[specta::specta]
pub async fn job_runs(state: State<'_, AppState>, id: String) -> IpcResult<Vec<JobSummary>> {
    Ok(state.store()?.runs_like(&id)?)
}

/// The job as it was built, to start again from the job builder; profiles deleted since are named and left out.
#[tauri::command]
#[specta::specta]
pub async fn job_rerun(state: State<'_, AppState>, id: String) -> IpcResult<Rerun> {
    state
        .store()?
        .job_rerun(&id)?
        .ok_or_else(|| IpcError::new(ErrorCode::Invalid, "This job no longer exists. Reload the results."))
}
