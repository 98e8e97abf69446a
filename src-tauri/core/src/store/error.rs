//! What can go wrong with the database, in words with what to do. A model file: the services' own errors wrap
//! it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data folder {path}: {source}. Check that you may write there, or set MAILPROOF_DATA_DIR to a folder you own.")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}. Check the file's permissions and free disk space.")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot move the damaged database {path} aside: {source}. Move or delete it yourself, then start Mailproof again.")]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the database was written by a newer Mailproof (schema version {found}; this version knows up to {known}). Update Mailproof, or start with another data folder (MAILPROOF_DATA_DIR).")]
    TooNew { found: i64, known: i64 },
    #[error("cannot apply database migration {version} ({name}): {source}")]
    Migrate {
        version: i64,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the disk that holds Mailproof's data folder is full, so nothing more could be saved ({0}). What was saved before is kept: free some space, then try again; a job it stopped is picked up again (the app offers it at start, or `mailproof jobs resume`).")]
    DiskFull(rusqlite::Error),
    #[error("database query failed: {0}")]
    Query(rusqlite::Error),
    #[error("stored value for {key} is unreadable: {detail}")]
    BadValue { key: String, detail: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::DiskFull(e)
        } else {
            StoreError::Query(e)
        }
    }
}
