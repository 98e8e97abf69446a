//! Native file dialogs, opened from Rust: the web UI gets a path back, never file-system permissions.

use std::path::PathBuf;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{DialogExt, FileDialogBuilder, FilePath};

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
    let dialog = prepared(app, title).set_file_name(suggested_name).add_filter(type_name, &[extension]);
    let chosen = ask(|done| dialog.save_file(done)).await?;
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
    let dialog = prepared(app, title);
    let chosen = ask(|done| dialog.pick_folder(done)).await?;
    let Some(chosen) = chosen else { return Ok(None) };
    chosen.into_path().map(Some).map_err(|e| {
        IpcError::new(ErrorCode::Invalid, format!("That folder cannot be used ({e}). Choose a local folder."))
    })
}

/// A file dialog with a title, opening in the user's documents and in front of Mailproof's window.
fn prepared<R: Runtime>(app: &AppHandle<R>, title: &str) -> FileDialogBuilder<R> {
    let mut dialog = app.dialog().file().set_title(title);
    if let Some(dir) = app.path().document_dir().ok().filter(|d| d.is_dir()) {
        dialog = dialog.set_directory(dir);
    }
    if let Some(window) = app.get_webview_window("main") {
        dialog = dialog.set_parent(&window);
    }
    dialog
}

/// Shows a dialog (`show` hands it the callback) and waits for the answer.
async fn ask(show: impl FnOnce(Box<dyn FnOnce(Option<FilePath>) + Send>)) -> IpcResult<Option<FilePath>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    show(Box::new(move |chosen| {
        let _ = tx.send(chosen);
    }));
    rx.await.map_err(|_| IpcError::new(ErrorCode::Internal, "The dialog closed unexpectedly."))
}
