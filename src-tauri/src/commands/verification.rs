//! Settings → Email (Mailproof's sender and timing) and verifying profiles by mail.

use mailproof_core::profiles::Findings;
use mailproof_core::secrets::Secret;
use mailproof_core::verification::{self, Cancel, EmailSender, EmailTiming, VerifyError, VerifyEvent, VerifyRun};
use serde::Serialize;
use specta::Type;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

impl From<VerifyError> for IpcError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::NoSender => IpcError::new(ErrorCode::NoSender, e.to_string()),
            VerifyError::Profile(p) => p.into(),
            VerifyError::Store(s) => s.into(),
            VerifyError::Secrets(s) => s.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct EmailSettings {
    pub sender: Option<EmailSender>,
    /// Whether the sender's password is in the keyring (it is never sent to the UI).
    pub sender_password_stored: bool,
    pub timing: EmailTiming,
}

fn email_settings(state: &AppState) -> IpcResult<EmailSettings> {
    let store = state.store()?;
    let sender = verification::load_sender(store)?;
    let stored = state.keyring.retrieve(&verification::sender_password_key())?.is_some();
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

/// Saves the sender; a password, when given, goes to the OS keyring (otherwise the stored one is kept).
#[tauri::command]
#[specta::specta]
pub async fn save_email_sender(
    state: State<'_, AppState>,
    sender: EmailSender,
    password: Option<Secret>,
) -> IpcResult<EmailSettings> {
    let findings = verification::validate_sender(&sender);
    if !findings.is_ok() {
        let message = findings.errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join(" ");
        return Err(IpcError::new(ErrorCode::Invalid, message));
    }
    if let Some(p) = password.filter(|p| !p.expose().is_empty()) {
        state.keyring.persist(&verification::sender_password_key(), &p)?;
    } else if sender.requires_auth && state.keyring.retrieve(&verification::sender_password_key())?.is_none() {
        return Err(IpcError::new(
            ErrorCode::Invalid,
            "Enter the sender account's password. It is stored in the OS keyring only.",
        ));
    }
    verification::save_sender(state.store()?, &sender, time::OffsetDateTime::now_utc())?;
    email_settings(&state)
}

/// Saves how long to wait for mail and how often to look.
#[tauri::command]
#[specta::specta]
pub async fn save_email_timing(state: State<'_, AppState>, timing: EmailTiming) -> IpcResult<EmailSettings> {
    if timing.wait_secs == 0 || timing.wait_secs > 86_400 || timing.poll_millis < 100 {
        return Err(IpcError::new(
            ErrorCode::Invalid,
            "Wait between 1 s and 24 h, and look no more often than every 100 ms.",
        ));
    }
    verification::save_timing(state.store()?, &timing, time::OffsetDateTime::now_utc())?;
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
    };
    let cancel = Cancel::default();
    state.running_verifications().insert(id.clone(), cancel.clone());
    let result = verification::verify_profile(&store, &state.keyring, &id, &run, &cancel, |e| {
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

#[derive(Debug, Clone, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct ManualVerification {
    pub email: String,
    pub uuid: String,
    /// The exact subject to send, parentheses included.
    pub subject: String,
}

/// The profile's Verification UUID for manual verification; `regenerate` makes a new one (the old stops working).
#[tauri::command]
#[specta::specta]
pub async fn verification_uuid(
    state: State<'_, AppState>,
    id: String,
    regenerate: bool,
) -> IpcResult<ManualVerification> {
    let store = state.store()?;
    let profile = store
        .get_profile(&id)?
        .ok_or_else(|| IpcError::new(ErrorCode::Invalid, "This profile no longer exists. Reload the profiles."))?;
    let uuid = if regenerate {
        store.regenerate_verification_uuid(&id)?
    } else {
        store.verification_uuid(&id, time::OffsetDateTime::now_utc())?
    };
    Ok(ManualVerification { email: profile.email, subject: verification::manual_subject(&uuid), uuid })
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
    let password = match password.filter(|p| !p.expose().is_empty()) {
        Some(p) => Some(p),
        None => state.keyring.retrieve(&verification::sender_password_key())?,
    };
    if sender.requires_auth && password.is_none() {
        return Err(IpcError::new(ErrorCode::Invalid, "Enter the sender account's password to test the sign-in."));
    }
    let extra_ca = mailproof_core::settings::load(state.store()?)?.trusted_ca_file.map(Into::into);
    Ok(verification::test_sender(&sender, password.as_ref(), extra_ca, |step| {
        let _ = on_step.send(step.clone());
    })
    .await)
}
