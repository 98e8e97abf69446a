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

/// Which set of profiles, jobs and keyring entries Mailproof works in: the user's own, or the demo workspace
/// that the local demo gateway's profiles live in (a data folder and keyring service of its own, so nothing of
/// the demo mixes with real profiles or results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Workspace {
    #[default]
    Real,
    Demo,
}

impl Workspace {
    /// The workspace's data folder: the data folder itself, or its `demo` folder.
    pub fn data_dir(self) -> Option<PathBuf> {
        let real = data_dir()?;
        Some(match self {
            Workspace::Real => real,
            Workspace::Demo => real.join("demo"),
        })
    }

    /// The keyring service its entries are filed under.
    pub fn keyring_service(self) -> &'static str {
        match self {
            Workspace::Real => APP_IDENTIFIER,
            Workspace::Demo => "dev.mailproof.desktop.demo",
        }
    }
}

/// This process's effective user id.
#[cfg(unix)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this process runs as root (the demo gateway's daemons and the agent's service need it).
pub fn is_root() -> bool {
    #[cfg(unix)]
    return effective_uid() == 0;
    #[cfg(not(unix))]
    return false;
}
