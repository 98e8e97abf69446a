//! What the app holds while it runs: the open workspace (its store, or why it could not be opened, and its
//! keyring), and what is under way in it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use mailproof_core::paths::Workspace;
use mailproof_core::secrets::Keyring;
use mailproof_core::{paths, Cancel, OpenOutcome, Store};
use time::OffsetDateTime;

use crate::error::{ErrorCode, IpcError, IpcResult};

/// One workspace, opened: the user's own or the demo's (`Workspace`), each a data folder and keyring service.
struct Opened {
    workspace: Workspace,
    store: Result<Arc<Store>, String>,
    data_dir: Option<PathBuf>,
    outcome: Option<OpenOutcome>,
    keyring: Keyring,
}

impl Opened {
    fn open(workspace: Workspace, data_dir: Option<PathBuf>, keyring: Keyring, now: OffsetDateTime) -> Self {
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
        Opened { workspace, store, data_dir, outcome, keyring }
    }
}

pub struct AppState {
    opened: RwLock<Arc<Opened>>,
    /// When the process reached `main`; start-up time is measured from here.
    pub started: std::time::Instant,
    /// Verifications under way, by profile id, so they can be cancelled.
    verifications: Mutex<HashMap<String, Cancel>>,
    /// Sign-ins (consents) under way, by profile id, so they can be cancelled.
    authorizations: Mutex<HashMap<String, Cancel>>,
    /// Running jobs by the key the UI started them with, to cancel them.
    jobs: Mutex<HashMap<String, Cancel>>,
}

impl AppState {
    /// Opens the user's own workspace in `data_dir`. A failure does not stop the app: the UI shows it and what
    /// to do.
    pub fn open(data_dir: Option<PathBuf>, now: OffsetDateTime) -> Self {
        AppState::with(Opened::open(
            Workspace::Real,
            data_dir,
            Keyring::with_service(Workspace::Real.keyring_service()),
            now,
        ))
    }

    /// For tests: an in-memory store and a keyring under its own service name.
    pub fn for_tests(store: Store, keyring: Keyring) -> Self {
        AppState::with(Opened {
            workspace: Workspace::Real,
            store: Ok(Arc::new(store)),
            data_dir: None,
            outcome: Some(OpenOutcome::Opened),
            keyring,
        })
    }

    fn with(opened: Opened) -> Self {
        AppState {
            opened: RwLock::new(Arc::new(opened)),
            started: std::time::Instant::now(),
            verifications: Default::default(),
            authorizations: Default::default(),
            jobs: Default::default(),
        }
    }

    fn opened(&self) -> Arc<Opened> {
        self.opened.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Opens `workspace` in place of the current one. Refused while a job, verification or sign-in runs in the
    /// current one: they hold its store and would go on writing there unseen.
    pub fn switch_to(&self, workspace: Workspace, now: OffsetDateTime) -> IpcResult<()> {
        if self.opened().workspace == workspace {
            return Ok(());
        }
        let busy = [
            (!lock(&self.jobs).is_empty(), "a job is running"),
            (!lock(&self.verifications).is_empty(), "a verification is running"),
            (!lock(&self.authorizations).is_empty(), "a sign-in is waiting"),
        ];
        if let Some((_, what)) = busy.iter().find(|(b, _)| *b) {
            return Err(IpcError::new(
                ErrorCode::Invalid,
                format!("Cannot switch workspaces while {what}: let it finish or cancel it first."),
            ));
        }
        let opened =
            Opened::open(workspace, workspace.data_dir(), Keyring::with_service(workspace.keyring_service()), now);
        if let Err(e) = &opened.store {
            return Err(IpcError::new(ErrorCode::Storage, format!("Cannot open the workspace's database: {e}")));
        }
        *self.opened.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(opened);
        Ok(())
    }

    pub fn workspace(&self) -> Workspace {
        self.opened().workspace
    }

    pub fn data_dir(&self) -> Option<PathBuf> {
        self.opened().data_dir.clone()
    }

    /// The open workspace's keyring.
    pub fn keyring(&self) -> Keyring {
        self.opened().keyring.clone()
    }

    pub fn running_jobs(&self) -> MutexGuard<'_, HashMap<String, Cancel>> {
        lock(&self.jobs)
    }

    pub fn running_authorizations(&self) -> MutexGuard<'_, HashMap<String, Cancel>> {
        lock(&self.authorizations)
    }

    pub fn running_verifications(&self) -> MutexGuard<'_, HashMap<String, Cancel>> {
        lock(&self.verifications)
    }

    /// The open workspace's store.
    pub fn store(&self) -> IpcResult<Arc<Store>> {
        self.opened().store.clone().map_err(|e| IpcError::new(ErrorCode::Storage, e))
    }

    /// What the user must be told at start-up, if anything.
    pub fn startup_notice(&self) -> Option<String> {
        let opened = self.opened();
        match (&opened.store, &opened.outcome) {
            (Err(e), _) => Some(format!("Mailproof could not open its database: {e}")),
            (Ok(_), Some(OpenOutcome::RecoveredFromCorrupt { moved_to })) => Some(format!(
                "Mailproof's database was damaged and could not be read. It was moved aside to {} and a new, empty database was created. Your keyring entries are untouched.",
                moved_to.display()
            )),
            _ => None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
