//! Email profiles: list, validate, save, delete, and test their connections.

use mailproof_core::profiles::{self, EmailProfile, Findings, ProfileDiagnosis, ProfileDraft, ProfileError, StepEvent};
use mailproof_core::Cancel;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::AppState;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ProfileError> + Send + 'static) -> IpcResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(Into::into)
}

/// Every profile, by address.
#[tauri::command]
#[specta::specta]
pub async fn list_profiles(state: State<'_, AppState>) -> IpcResult<Vec<EmailProfile>> {
    let today = time::OffsetDateTime::now_utc().date();
    Ok(state.store()?.list_profiles()?.into_iter().map(|p| p.with_notice(today)).collect())
}

/// Checks a draft field by field; `editing` allows leaving the password out.
#[tauri::command]
#[specta::specta]
pub async fn validate_profile(state: State<'_, AppState>, draft: ProfileDraft, editing: bool) -> IpcResult<Findings> {
    Ok(profiles::validate_draft(
        &draft,
        editing,
        &state.store()?.list_actors()?,
        time::OffsetDateTime::now_utc().date(),
    ))
}

/// Creates (no `id`) or updates a profile; the password goes to the OS keyring, never to the database.
#[tauri::command]
#[specta::specta]
pub async fn save_profile(
    state: State<'_, AppState>,
    id: Option<String>,
    draft: ProfileDraft,
) -> IpcResult<EmailProfile> {
    let (store, keyring) = (state.store()?.clone(), state.keyring());
    let now = time::OffsetDateTime::now_utc();
    blocking(move || profiles::save_profile(&store, &keyring, id.as_deref(), draft, now)).await
}

/// Marks a profile as the alerts mailbox gateways' notices reach (or no longer); returns it as stored.
#[tauri::command]
#[specta::specta]
pub async fn set_alerts_mailbox(state: State<'_, AppState>, id: String, on: bool) -> IpcResult<EmailProfile> {
    let store = state.store()?.clone();
    let now = time::OffsetDateTime::now_utc();
    blocking(move || profiles::set_alerts_mailbox(&store, &id, on, now).map(|p| p.with_notice(now.date()))).await
}

/// Deletes a profile and its keyring entry.
#[tauri::command]
#[specta::specta]
pub async fn delete_profile(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    let (store, keyring) = (state.store()?.clone(), state.keyring());
    blocking(move || profiles::delete_profile(&store, &keyring, &id)).await
}

/// Tests both servers of `draft`, streaming each step to `onStep`. The password is the draft's, or else the
/// stored one of `profileId` (editing or testing a saved profile), with that profile's consent where it has one.
#[tauri::command]
#[specta::specta]
pub async fn test_connection(
    state: State<'_, AppState>,
    draft: ProfileDraft,
    profile_id: Option<String>,
    on_step: Channel<StepEvent>,
) -> IpcResult<ProfileDiagnosis> {
    let (store, keyring, given) = (state.store()?.clone(), state.keyring(), draft.clone());
    let credentials =
        blocking(move || profiles::credentials_for_test(&store, &keyring, &given, profile_id.as_deref())).await?;
    let extra_ca = mailproof_core::settings::load(&*state.store()?)?.trusted_ca_file.map(Into::into);
    Ok(profiles::test_connection(&draft, &credentials, extra_ca, profiles::STEP_TIMEOUT, |event| {
        let _ = on_step.send(event);
    })
    .await)
}

/// Signs a Gmail profile in to Google: sends the consent page's URL to `onUrl` at once, opens it in the system
/// browser, and waits (up to five minutes, or until `cancel_authorization`) for Google's answer on a loopback port.
/// The refresh token goes to the OS keyring; the reply is the profile, authorized.
#[tauri::command]
#[specta::specta]
pub async fn authorize_profile(
    state: State<'_, AppState>,
    id: String,
    on_url: Channel<ConsentPage>,
) -> IpcResult<EmailProfile> {
    let store = state.store()?.clone();
    let extra_ca = mailproof_core::settings::load(&store)?.trusted_ca_file.map(Into::into);
    let consent = profiles::authorize_profile(&store, &state.keyring(), &id, extra_ca).await?;
    let opened = profiles::open_in_browser(consent.url());
    let _ = on_url.send(ConsentPage { url: consent.url().to_owned(), browser_error: opened.err() });
    let cancel = Cancel::default();
    state.running_authorizations().insert(id.clone(), cancel.clone());
    let now = time::OffsetDateTime::now_utc();
    let result = consent.finish(&store, &state.keyring(), profiles::CONSENT_WAIT, &cancel, now).await;
    state.running_authorizations().remove(&id);
    Ok(result?.with_notice(now.date()))
}

/// The consent page of a sign-in under way, and why the system browser did not open, if it did not.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConsentPage {
    pub url: String,
    pub browser_error: Option<String>,
}

/// Stops waiting for a profile's consent; nothing is stored.
#[tauri::command]
#[specta::specta]
pub async fn cancel_authorization(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    if let Some(cancel) = state.running_authorizations().get(&id) {
        cancel.cancel();
    }
    Ok(())
}

/// The saved profile's own settings as a draft (without its password), for editing and testing.
#[tauri::command]
#[specta::specta]
pub async fn get_profile(state: State<'_, AppState>, id: String) -> IpcResult<EmailProfile> {
    let today = time::OffsetDateTime::now_utc().date();
    state.store()?.get_profile(&id)?.map(|p| p.with_notice(today)).ok_or_else(|| {
        IpcError::new(ErrorCode::Invalid, format!("No profile {id}: it may have been deleted. Reload the profiles."))
    })
}

/// Looks up the servers for an address from every discovery source at once (a few seconds at most).
#[tauri::command]
#[specta::specta]
pub async fn discover_settings(email: String) -> IpcResult<mailproof_mail::discover::Discovery> {
    Ok(profiles::discover_settings(&email).await)
}
