//! The one error type that crosses the IPC boundary: `{ code, message }`. The UI shows `message`;
//! `code` grows only when the UI must act differently on a new kind of failure.

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
