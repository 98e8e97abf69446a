//! Where Mailproof keeps its data on this machine.

use std::path::{Path, PathBuf};

/// The app's identifier; Tauri derives its app-data folder from the same string (see tauri.conf.json).
pub const APP_IDENTIFIER: &str = "dev.mailproof.desktop";

/// Overrides the data folder (tests, portable use).
pub const DATA_DIR_ENV: &str = "MAILPROOF_DATA_DIR";

/// The data folder: `$MAILPROOF_DATA_DIR`, else the platform's app-data folder
/// (`~/.local/share/dev.mailproof.desktop` on Linux, `~/Library/Application Support/…` on macOS,
/// `%APPDATA%\…` on Windows).
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join(APP_IDENTIFIER)),
    }
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mailproof.db")
}
