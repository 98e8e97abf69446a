//! What the app holds while it runs: the store (or why it could not be opened) and the keyring.

use std::path::PathBuf;
use std::sync::Arc;

use mailproof_core::secrets::Keyring;
use mailproof_core::{paths, OpenOutcome, Store};
use time::OffsetDateTime;

use crate::error::{ErrorCode, IpcError, IpcResult};

pub struct AppState {
    store: Result<Arc<Store>, String>,
    pub data_dir: Option<PathBuf>,
    pub outcome: Option<OpenOutcome>,
    pub keyring: Keyring,
    /// When the process reached `main`; start-up time is measured from here.
    pub started: std::time::Instant,
    /// Verifications under way, by profile id, so they can be cancelled.
    verifications: std::sync::Mutex<std::collections::HashMap<String, mailproof_core::Cancel>>,
    /// Sign-ins (consents) under way, by profile id, so they can be cancelled.
    authorizations: std::sync::Mutex<std::collections::HashMap<String, mailproof_core::Cancel>>,
    /// Running jobs by the key the UI started them with, to cancel them.
    jobs: std::sync::Mutex<std::collections::HashMap<String, mailproof_core::Cancel>>,
}

impl AppState {
    /// Opens the store in `data_dir`. A failure does not stop the app: the UI shows it and what to do.
    pub fn open(data_dir: Option<PathBuf>, now: OffsetDateTime) -> Self {
        let (store, outcome) = match &data_dir {
            None => (
                Err(format!("cannot find this user's data folder. Set {} to a folder you own.", paths::DATA_DIR_ENV)),
                None,
            ),
            Some(dir) => match Store::open(&paths::database_path(dir), now) {
                // Jobs a previous run left unfinished are picked up once the app runs (`commands::actions`).
                Ok((store, outcome)) => (Ok(Arc::new(store)), Some(outcome)),
                Err(e) => (Err(e.to_string()), None),
            },
        };
        AppState {
            store,
            data_dir,
            outcome,
            keyring: Keyring::default(),
            started: std::time::Instant::now(),
            verifications: Default::default(),
            authorizations: Default::default(),
            jobs: Default::default(),
        }
    }

    /// For tests: an in-memory store and a keyring under its own service name.
    pub fn for_tests(store: Store, keyring: Keyring) -> Self {
        AppState {
            store: Ok(Arc::new(store)),
            data_dir: None,
            outcome: Some(OpenOutcome::Opened),
            keyring,
            started: std::time::Instant::now(),
            verifications: Default::default(),
            authorizations: Default::default(),
            jobs: Default::default(),
        }
    }

    pub fn running_jobs(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, mailproof_core::Cancel>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn running_authorizations(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, mailproof_core::Cancel>> {
        self.authorizations.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn running_verifications(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, mailproof_core::Cancel>> {
        self.verifications.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self) -> IpcResult<&Arc<Store>> {
        self.store.as_ref().map_err(|e| IpcError::new(ErrorCode::Storage, e.clone()))
    }

    /// What the user must be told at start-up, if anything.
    pub fn startup_notice(&self) -> Option<String> {
        match (&self.store, &self.outcome) {
            (Err(e), _) => Some(format!("Mailproof could not open its database: {e}")),
            (Ok(_), Some(OpenOutcome::RecoveredFromCorrupt { moved_to })) => Some(format!(
                "Mailproof's database was damaged and could not be read. It was moved aside to {} and a new, empty database was created. Your keyring entries are untouched.",
                moved_to.display()
            )),
            _ => None,
        }
    }
}
