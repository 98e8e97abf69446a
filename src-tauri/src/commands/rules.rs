//! Email rules: the analyst's regular expressions that classify bounce reports.

use mailproof_core::rules::{self, EmailRule};
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

/// The rules, in the order they are tried.
#[tauri::command]
#[specta::specta]
pub async fn list_email_rules(state: State<'_, AppState>) -> IpcResult<Vec<EmailRule>> {
    Ok(rules::list(&*state.store()?)?)
}

/// Adds a rule after the others and returns them all.
#[tauri::command]
#[specta::specta]
pub async fn add_email_rule(state: State<'_, AppState>, rule: EmailRule) -> IpcResult<Vec<EmailRule>> {
    let store = &*state.store()?;
    rules::add(store, rule, time::OffsetDateTime::now_utc())?;
    Ok(rules::list(store)?)
}

/// Deletes the rule with this name and returns the rest.
#[tauri::command]
#[specta::specta]
pub async fn delete_email_rule(state: State<'_, AppState>, name: String) -> IpcResult<Vec<EmailRule>> {
    let store = &*state.store()?;
    rules::delete(store, &name, time::OffsetDateTime::now_utc())?;
    Ok(rules::list(store)?)
}
