//! Native file dialogs, opened from Rust: the web UI gets a path back, never file-system permissions.

use std::path::PathBuf;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::DialogExt;

use crate::error::{ErrorCode, IpcError, IpcResult};

/// Asks where to save a file of one type. `None` when the user closed the dialog. A name typed without the
/// extension gets it.
pub async fn save_file<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    suggested_name: &str,
    type_name: &str,
    extension: &str,
) -> IpcResult<Option<PathBuf>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut dialog =
        app.dialog().file().set_title(title).set_file_name(suggested_name).add_filter(type_name, &[extension]);
    if let Some(dir) = app.path().document_dir().ok().filter(|d| d.is_dir()) {
        dialog = dialog.set_directory(dir);
    }
    if let Some(window) = app.get_webview_window("main") {
        dialog = dialog.set_parent(&window);
    }
    dialog.save_file(move |chosen| {
        let _ = tx.send(chosen);
    });
    let chosen = rx.await.map_err(|_| IpcError::new(ErrorCode::Internal, "The save dialog closed unexpectedly."))?;
    let Some(chosen) = chosen else { return Ok(None) };
    let mut path = chosen.into_path().map_err(|e| {
        IpcError::new(ErrorCode::Invalid, format!("That location cannot be saved to ({e}). Choose a local folder."))
    })?;
    if path.extension().is_none() {
        path.set_extension(extension);
    }
    Ok(Some(path))
}

/// Asks for a folder. `None` when the user closed the dialog.
pub async fn pick_folder<R: Runtime>(app: &AppHandle<R>, title: &str) -> IpcResult<Option<PathBuf>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut dialog = app.dialog().file().set_title(title);
    if let Some(dir) = app.path().document_dir().ok().filter(|d| d.is_dir()) {
        dialog = dialog.set_directory(dir);
    }
    if let Some(window) = app.get_webview_window("main") {
        dialog = dialog.set_parent(&window);
    }
    dialog.pick_folder(move |chosen| {
        let _ = tx.send(chosen);
    });
    let chosen = rx.await.map_err(|_| IpcError::new(ErrorCode::Internal, "The folder dialog closed unexpectedly."))?;
    let Some(chosen) = chosen else { return Ok(None) };
    chosen.into_path().map(Some).map_err(|e| {
        IpcError::new(ErrorCode::Invalid, format!("That folder cannot be used ({e}). Choose a local folder."))
    })
}
