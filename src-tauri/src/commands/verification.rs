//! Settings → Email (Mailproof's sender and timing) and verifying profiles by mail.

use mailproof_core::profiles::Findings;
use mailproof_core::secrets::Secret;
use mailproof_core::verification::{self, EmailSender, EmailTiming, ManualVerification, VerifyEvent, VerifyRun};
use mailproof_core::Cancel;
use serde::Serialize;
use specta::Type;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct EmailSettings {
    pub sender: Option<EmailSender>,
    /// Whether the sender's password is in the keyring (it is never sent to the UI).
    pub sender_password_stored: bool,
    pub timing: EmailTiming,
}

fn email_settings(state: &AppState) -> IpcResult<EmailSettings> {
    let store = &*state.store()?;
    let sender = verification::load_sender(store)?;
    let stored = state.keyring().retrieve(&verification::sender_password_key())?.is_some();
    Ok(EmailSettings { sender, sender_password_stored: stored, timing: verification::load_timing(store)? })
}

/// The sender and timing used for verification mail.
#[tauri::command]
#[specta::specta]
pub async fn get_email_settings(state: State<'_, AppState>) -> IpcResult<EmailSettings> {
    email_settings(&state)
}

/// Checks the sender's fields.
#[tauri::command]
#[specta::specta]
pub async fn validate_email_sender(sender: EmailSender) -> IpcResult<Findings> {
    Ok(verification::validate_sender(&sender))
}

/// Saves the sender after checking it; a password, when given, goes to the OS keyring (otherwise the stored one
/// is kept).
#[tauri::command]
#[specta::specta]
pub async fn save_email_sender(
    state: State<'_, AppState>,
    sender: EmailSender,
    password: Option<Secret>,
) -> IpcResult<EmailSettings> {
    verification::set_sender(&*state.store()?, &state.keyring(), &sender, password, time::OffsetDateTime::now_utc())?;
    email_settings(&state)
}

/// Saves how long to wait for mail and how often to look.
#[tauri::command]
#[specta::specta]
pub async fn save_email_timing(state: State<'_, AppState>, timing: EmailTiming) -> IpcResult<EmailSettings> {
    verification::save_timing(&*state.store()?, &timing, time::OffsetDateTime::now_utc())?;
    email_settings(&state)
}

/// Verifies a profile for each of its actors, streaming each step to `onEvent`. `manual` looks for the user's
/// `(UUID)` mail instead of sending one.
#[tauri::command]
#[specta::specta]
pub async fn verify_profile(
    state: State<'_, AppState>,
    id: String,
    manual: bool,
    on_event: Channel<VerifyEvent>,
) -> IpcResult<Vec<VerifyEvent>> {
    let store = state.store()?.clone();
    let settings = mailproof_core::settings::load(&store)?;
    let run = VerifyRun {
        manual,
        timing: verification::load_timing(&store)?,
        extra_ca: settings.trusted_ca_file.map(Into::into),
        idle: true,
        clock: Default::default(),
    };
    let cancel = Cancel::default();
    state.running_verifications().insert(id.clone(), cancel.clone());
    let result = verification::verify_profile(&store, &state.keyring(), &id, &run, &cancel, |e| {
        let _ = on_event.send(e);
    })
    .await;
    state.running_verifications().remove(&id);
    Ok(result?)
}

/// Stops a running verification of the profile; actors not yet decided end as cancelled.
#[tauri::command]
#[specta::specta]
pub async fn cancel_verification(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    if let Some(cancel) = state.running_verifications().get(&id) {
        cancel.cancel();
    }
    Ok(())
}

/// The profile's Verification UUID for manual verification; `regenerate` makes a new one (the old stops working).
#[tauri::command]
#[specta::specta]
pub async fn verification_uuid(
    state: State<'_, AppState>,
    id: String,
    regenerate: bool,
) -> IpcResult<ManualVerification> {
    Ok(verification::manual_verification(&*state.store()?, &id, regenerate)?)
}

/// Tests the sender's SMTP server step by step, streaming each step to `onStep`. The password is the one given,
/// or else the stored one.
#[tauri::command]
#[specta::specta]
pub async fn test_email_sender(
    state: State<'_, AppState>,
    sender: EmailSender,
    password: Option<Secret>,
    on_step: Channel<mailproof_mail::diagnose::Step>,
) -> IpcResult<mailproof_mail::diagnose::Diagnosis> {
    let password = verification::password_for_test(&state.keyring(), &sender, password)?;
    let extra_ca = mailproof_core::settings::load(&*state.store()?)?.trusted_ca_file.map(Into::into);
    Ok(verification::test_sender(&sender, password.as_ref(), extra_ca, |step| {
        let _ = on_step.send(step.clone());
    })
    .await)
}
