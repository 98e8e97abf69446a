//! Verifying email profiles by mail: Mailproof's own sender mails a unique code to the profile's address, then
//! each actor looks for it in the mailbox (every IMAP folder, Junk included, INBOX woken by IMAP IDLE; POP3 by
//! UIDL + TOP). Manual verification looks for a mail the user sent with the profile's Verification UUID in the
//! subject. A remote actor looks through the Mailproof agent on its machine.
//!
//! This is the engine; the app and `mailproof profile verify` drive it and show its events. Mailboxes are reached
//! through the mailbox seam only.

mod actor;
mod manual;
mod run;
mod sender;
mod timing;

use serde::Serialize;

use crate::clock::SharedClock;
use crate::profiles::ProfileError;
use crate::store::StoreError;

pub use manual::{automatic_subject, manual_subject, manual_verification, ManualVerification};
pub use run::verify_profile;
pub use sender::{
    load_sender, password_for_test, save_sender, sender_password_key, set_sender, test_sender, validate_sender,
    EmailSender, EmailSettingError,
};
pub use timing::{load_timing, save_timing, timing_for_run, EmailTiming};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Sending,
    Searching,
    Done,
}

/// What happened for one actor, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct VerifyEvent {
    pub actor_id: String,
    pub actor_name: String,
    pub phase: Phase,
    /// Set when `phase` is `Done`.
    pub verified: Option<bool>,
    /// In words: what is going on, or why the actor is (un)verified.
    pub detail: String,
    /// When verified: how long after the mail was sent (and the search began) it was found.
    pub found_after_millis: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Mailproof's sender is not set up. Set it in Settings → Email (the server, account and From address verification mail is sent from).")]
    NoSender,
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// How a run should go.
#[derive(Debug, Clone)]
pub struct VerifyRun {
    /// Look for the user's `(UUID)` mail instead of sending one.
    pub manual: bool,
    pub timing: EmailTiming,
    /// A CA trusted beyond the public roots, e.g. an organisation's (and the lab's in tests).
    pub extra_ca: Option<std::path::PathBuf>,
    /// Watch INBOX with IMAP IDLE where the server offers it (the default); off, only polling looks.
    pub idle: bool,
    /// Where the run reads the time for what it records.
    pub clock: SharedClock,
}
