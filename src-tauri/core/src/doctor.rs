//! `mailproof doctor`: proves the database opens and migrates and that the OS keyring works,
//! and says what to do when either does not.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

use crate::secrets::{Keyring, Secret};
use crate::store::{OpenOutcome, Store};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found, or why it failed and what to do.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

pub fn check_database(db_path: &Path, now: OffsetDateTime) -> Check {
    let name = "Database".to_owned();
    match Store::open(db_path, now) {
        Ok((store, outcome)) => {
            let version = store.schema_version().unwrap_or_default();
            let what = match outcome {
                OpenOutcome::Opened => "opened".to_owned(),
                OpenOutcome::Created => "created".to_owned(),
                OpenOutcome::RecoveredFromCorrupt { moved_to } => {
                    format!("was damaged: moved aside to {} and a new database created", moved_to.display())
                }
            };
            Check { name, ok: true, detail: format!("{} {what}; schema version {version}", db_path.display()) }
        }
        Err(e) => Check { name, ok: false, detail: e.to_string() },
    }
}

/// `probe` is a random value supplied by the caller (domain code takes randomness as input).
pub fn check_keyring(keyring: &Keyring, probe: &Secret) -> Check {
    let name = "OS keyring".to_owned();
    match keyring.check(probe) {
        Ok(()) => Check { name, ok: true, detail: "stored, read back and deleted a test entry".into() },
        Err(e) => Check { name, ok: false, detail: e.to_string() },
    }
}
