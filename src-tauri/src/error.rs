//! The one error type that crosses the IPC boundary: `{ code, message }`. The UI shows `message`;
//! `code` grows only when the UI must act differently on a new kind of failure. Every core error is mapped here,
//! in one place.

use mailproof_core::agent::PairError;
use mailproof_core::jobs::export::ExportError;
use mailproof_core::jobs::JobError;
use mailproof_core::profiles::{AuthorizeError, ProfileError};
use mailproof_core::rules::RuleError;
use mailproof_core::settings::SettingsError;
use mailproof_core::tracking::TrackError;
use mailproof_core::verification::{EmailSettingError, VerifyError};
use mailproof_core::DirectoryError;
use serde::Serialize;
use specta::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The database could not be opened or queried.
    Storage,
    /// The OS keyring is missing, locked or refused.
    Keyring,
    /// The request itself was wrong (bad input).
    Invalid,
    /// Verification needs Mailproof's sender, which is not set up (the UI links to Settings → Email).
    NoSender,
    /// A bug or an unexpected failure.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl IpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IpcError { code, message: message.into() }
    }
}

impl From<mailproof_core::StoreError> for IpcError {
    fn from(e: mailproof_core::StoreError) -> Self {
        IpcError::new(ErrorCode::Storage, e.to_string())
    }
}

impl From<mailproof_core::secrets::SecretsError> for IpcError {
    fn from(e: mailproof_core::secrets::SecretsError) -> Self {
        IpcError::new(ErrorCode::Keyring, e.to_string())
    }
}

impl From<tauri::Error> for IpcError {
    fn from(e: tauri::Error) -> Self {
        IpcError::new(ErrorCode::Internal, e.to_string())
    }
}

pub type IpcResult<T> = Result<T, IpcError>;

/// A core message as a sentence: core's errors start in lower case ("cannot …") to read well inside others.
fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorCode::Invalid, message)
}

impl From<ProfileError> for IpcError {
    fn from(e: ProfileError) -> Self {
        let code = match &e {
            ProfileError::Invalid(_)
            | ProfileError::Duplicate { .. }
            | ProfileError::NotFound(_)
            | ProfileError::NoPassword
            | ProfileError::NotAuthorized { .. } => ErrorCode::Invalid,
            ProfileError::Store(_) => ErrorCode::Storage,
            ProfileError::Secrets(_) | ProfileError::PasswordMissing => ErrorCode::Keyring,
        };
        let message = match e {
            ProfileError::Invalid(f) => f.errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join(" "),
            other => capitalise(&other.to_string()),
        };
        IpcError::new(code, message)
    }
}

impl From<AuthorizeError> for IpcError {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::Profile(p) => p.into(),
            AuthorizeError::Store(s) => s.into(),
            AuthorizeError::Secrets(s) => s.into(),
            other => invalid(capitalise(&other.to_string())),
        }
    }
}

impl From<VerifyError> for IpcError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::NoSender => IpcError::new(ErrorCode::NoSender, e.to_string()),
            VerifyError::Profile(p) => p.into(),
            VerifyError::Store(s) => s.into(),
            VerifyError::Secrets(s) => s.into(),
        }
    }
}

impl From<EmailSettingError> for IpcError {
    fn from(e: EmailSettingError) -> Self {
        match e {
            EmailSettingError::Invalid(m) => invalid(m),
            EmailSettingError::Store(s) => s.into(),
            EmailSettingError::Secrets(s) => s.into(),
        }
    }
}

impl From<mailproof_core::jobs::defaults::TimingError> for IpcError {
    fn from(e: mailproof_core::jobs::defaults::TimingError) -> Self {
        match e {
            mailproof_core::jobs::defaults::TimingError::Invalid(m) => invalid(m),
            mailproof_core::jobs::defaults::TimingError::Store(s) => s.into(),
        }
    }
}

impl From<SettingsError> for IpcError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(m) => invalid(m),
            SettingsError::Store(s) => s.into(),
        }
    }
}

impl From<JobError> for IpcError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Store(s) => s.into(),
            other => invalid(other.to_string()),
        }
    }
}

impl From<ExportError> for IpcError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Store(s) => s.into(),
            other => invalid(format!("Mailproof {other}")),
        }
    }
}

impl From<DirectoryError> for IpcError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Store(e) => e.into(),
            other => invalid(other.to_string()),
        }
    }
}

impl From<PairError> for IpcError {
    fn from(e: PairError) -> Self {
        match e {
            PairError::Store(e) => e.into(),
            other => invalid(format!("Cannot pair: {other}.")),
        }
    }
}

impl From<TrackError> for IpcError {
    fn from(e: TrackError) -> Self {
        match e {
            TrackError::Store(s) => s.into(),
            other => invalid(other.to_string()),
        }
    }
}

impl From<RuleError> for IpcError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Store(s) => s.into(),
            other => invalid(capitalise(&other.to_string())),
        }
    }
}
