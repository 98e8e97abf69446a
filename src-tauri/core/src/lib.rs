//! Mailproof's core: the domain, the SQLite store and the OS-keyring secrets.
//!
//! This crate knows nothing of Tauri. The desktop shell and the `mailproof` command are two faces of it.

pub mod actions;
pub mod agent;
pub mod cancel;
pub mod clock;
pub mod csv;
pub mod demo;
pub mod directory;
pub mod doctor;
pub mod files;
pub mod ids;
pub mod jobs;
pub mod mailbox;
pub mod paths;
pub mod profiles;
pub mod rules;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod tracking;
pub mod verification;

pub use cancel::Cancel;
pub use clock::{Clock, FixedClock, SharedClock, SystemClock};
pub use store::{DirectoryError, OpenOutcome, Store, StoreError};
