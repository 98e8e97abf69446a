//! The SQLite store: one file in the app-data directory, WAL, numbered migrations.
//!
//! Each table's queries live in their own file beside this one. Times are stored as UTC RFC 3339 text.

mod actors;
mod directory_admin;
pub(crate) mod error;
pub mod jobs;
mod lease;
mod migrations;
mod profiles;
mod settings;
mod zones;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use time::OffsetDateTime;

pub use directory_admin::DirectoryError;
pub use error::StoreError;

pub(crate) use crate::clock::utc_text;
pub use migrations::{Migration, MIGRATIONS};

/// How long a connection waits for a lock held by another connection before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What happened when the store was opened; the app tells the user about anything but `Opened`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// An existing database was opened (and migrated if it was older).
    Opened,
    /// No database existed; a new one was created.
    Created,
    /// The file was not a readable SQLite database. It was renamed to `moved_to` and a new one created.
    RecoveredFromCorrupt { moved_to: PathBuf },
}

#[derive(Clone)]
pub struct Store {
    // One connection, serialised. Mailproof's writes are small; a pool comes when a feature needs parallel reads.
    // Clones share it, so a job's tasks can each hold the store.
    conn: Arc<Mutex<Connection>>,
    /// The journal's file (none in memory): past its limit, the writer that just finished empties it.
    wal: Option<Arc<PathBuf>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// A file that is not a SQLite database, or whose schema is damaged, is moved aside to
    /// `<name>.corrupt-<UTC time>` and a fresh database takes its place, so the app still starts.
    pub fn open(path: &Path, now: OffsetDateTime) -> Result<(Store, OpenOutcome), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
            // What Mailproof records (addresses, subjects, transcripts, received mail) is for this user only.
            private(dir, 0o700);
        }
        let existed = path.exists();
        match Self::open_and_migrate(path, now) {
            Ok(store) => Ok((store, if existed { OpenOutcome::Opened } else { OpenOutcome::Created })),
            Err(err) if existed && is_damaged(&err) => {
                let moved_to = move_aside(path, now)?;
                let store = Self::open_and_migrate(path, now)?;
                Ok((store, OpenOutcome::RecoveredFromCorrupt { moved_to }))
            }
            Err(err) => Err(err),
        }
    }

    /// A private in-memory database with the full schema, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn =
            Connection::open_in_memory().map_err(|source| StoreError::Open { path: ":memory:".into(), source })?;
        Self::prepare(conn, ":memory:".as_ref(), OffsetDateTime::now_utc())
    }

    fn open_and_migrate(path: &Path, now: OffsetDateTime) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        // Before anything is written: SQLite gives its journal files the database's own permissions.
        private(path, 0o600);
        Self::prepare(conn, path, now)
    }

    fn prepare(mut conn: Connection, path: &Path, now: OffsetDateTime) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Reading the schema is what tells a damaged file from a good one.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        let migrated = migrations::apply(&mut conn, now)?;
        let in_file = conn.path().is_some_and(|p| !p.is_empty());
        if in_file && migrated {
            // An upgrade (a table rebuilt) writes much at once: its journal is emptied and cut back at once,
            // rather than kept at that size on disk for as long as Mailproof runs.
            truncate_journal(&conn).map_err(open_err)?;
        }
        if in_file {
            // Checkpoints write the WAL back and fsync the database, which can take a few hundred ms on a busy
            // disk: done on a connection of their own, they never hold up the engine or the UI behind this lock.
            conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(open_err)?;
            // A journal that grew is cut back to this when it starts over.
            conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64).map_err(open_err)?;
        }
        let conn = Arc::new(Mutex::new(conn));
        if in_file {
            spawn_checkpointer(path.to_owned(), Arc::downgrade(&conn));
        }
        let wal = in_file.then(|| {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            Arc::new(PathBuf::from(wal))
        });
        Ok(Store { conn, wal })
    }

    /// Writes the journal back into the database and empties it, as the store does itself once the journal grew
    /// past its limit: the next write needs new room on the disk.
    pub fn empty_journal(&self) -> Result<(), StoreError> {
        Ok(truncate_journal(&self.conn())?)
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn().pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub(crate) fn conn(&self) -> Conn<'_> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are atomic), so
        // a poisoned lock is safe to keep using.
        let guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changes_before = guard.total_changes();
        Conn { guard, wal: self.wal.as_deref().map(PathBuf::as_path), changes_before }
    }
}

/// The store's connection, held. When the journal has grown past [`WAL_LIMIT`], letting go of it first empties
/// the journal: no transaction is open then, and no other writer of Mailproof's can slip in.
pub(crate) struct Conn<'a> {
    guard: MutexGuard<'a, Connection>,
    wal: Option<&'a Path>,
    /// The connection's row changes when it was taken: only a holder that wrote can have grown the journal.
    changes_before: u64,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.guard
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.guard
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let wrote = self.guard.total_changes() != self.changes_before;
        let grown = wrote && self.wal.is_some_and(|wal| std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_LIMIT));
        if grown && self.guard.is_autocommit() {
            let _ = truncate_journal(&self.guard);
        }
    }
}

/// Writes the journal (WAL) back into the database and cuts it to nothing.
fn truncate_journal(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

/// Makes `path` readable by this user only (Unix; elsewhere the per-user app-data folder already is).
fn private(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// How often the WAL is written back to the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The journal (WAL) is kept about this small. Under constant writes a passive checkpoint never catches up with
/// the writer, so the journal would never start over (a seeding of the tracking benchmark left 2–3 GB of it):
/// past this size the writer empties it as soon as its current work is done (a full checkpoint, while nothing else
/// of Mailproof's can write).
const WAL_LIMIT: u64 = if cfg!(test) { 4 << 20 } else { 32 << 20 }; // the same logic, tested at a small scale

/// Writes the WAL back into the database every second, on a connection and thread of its own, for as long as the
/// store is open, without holding up the writer (which empties a journal grown past [`WAL_LIMIT`] itself, see
/// `Conn`). A checkpoint that meets a busy database just tries again next time.
fn spawn_checkpointer(path: PathBuf, store: std::sync::Weak<Mutex<Connection>>) {
    let spawned = std::thread::Builder::new().name("mailproof-checkpoint".into()).spawn(move || {
        let Ok(conn) = Connection::open(&path) else { return };
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            if store.strong_count() == 0 {
                return;
            }
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                eprintln!("mailproof: cannot write the journal back to {}: {e}", path.display());
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("mailproof: cannot start the journal writer ({e}); the journal grows until Mailproof exits");
    }
}

fn is_damaged(err: &StoreError) -> bool {
    let source = match err {
        StoreError::Open { source, .. } | StoreError::Migrate { source, .. } | StoreError::Query(source) => source,
        _ => return false,
    };
    matches!(source.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}

fn move_aside(path: &Path, now: OffsetDateTime) -> Result<PathBuf, StoreError> {
    let stamp = now
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let mut target = path.as_os_str().to_owned();
    target.push(format!(".corrupt-{stamp}"));
    let target = PathBuf::from(target);
    std::fs::rename(path, &target).map_err(|source| StoreError::MoveAside { path: path.to_owned(), source })?;
    // Journal files belong to the damaged database; leaving them would let SQLite replay them into the new one.
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut side_target = target.as_os_str().to_owned();
            side_target.push(suffix);
            std::fs::rename(&side, PathBuf::from(side_target))
                .map_err(|source| StoreError::MoveAside { path: side.clone(), source })?;
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-11-22 12:00 UTC)
    }

    #[test]
    fn a_missing_database_is_created_in_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data/mailproof.db");
        let (store, outcome) = Store::open(&path, t0()).unwrap();
        assert_eq!(outcome, OpenOutcome::Created);
        assert!(path.exists());
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn the_data_folder_and_the_database_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/mailproof.db");
        let (store, _) = Store::open(&path, t0()).unwrap();
        store.set_setting_raw("probe", "\"x\"", t0()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("data/mailproof.db-wal")), 0o600, "the journal too");
    }

    #[test]
    fn the_journal_stays_bounded_under_constant_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailproof.db");
        let (store, _) = Store::open(&path, t0()).unwrap();
        let wal = dir.path().join("mailproof.db-wal");
        let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let db_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // Big transactions back to back, as the tracking benchmark seeds its log: a passive checkpoint alone
        // never catches up with the writer.
        let mut largest = 0u64;
        let mut k = 0u64;
        while db_size() + wal_size() < 6 * WAL_LIMIT {
            let mut rows = (0..5_000).map(|_| {
                k += 1;
                crate::store::jobs::SeedTracked {
                    message_id: format!("mp-{k:016x}.{}@corp.example", "x".repeat(64)),
                    envelope_sender: format!("sender{}@corp.example", k % 100),
                    from_header: format!("Sender <sender{}@corp.example>", k % 100),
                    recipients: format!("user{}@dest.example", k % 1000),
                    to_header: format!("user{}@dest.example", k % 1000),
                    subject: format!("[MP-{k:016x}] {}", "subject words ".repeat(8)),
                    source_ip: Some("10.0.0.1".into()),
                    risk: Some("high"),
                    status: crate::tracking::TrackStatus::Delivered,
                    received_ms: k as i64,
                }
            });
            store.seed_tracked(&mut rows).unwrap();
            largest = largest.max(wal_size());
        }
        eprintln!("journal at most {largest} bytes beside a {} byte database", db_size());
        assert!(largest < 3 * WAL_LIMIT, "the journal reached {largest} bytes");
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 5;
        while wal_size() > WAL_LIMIT {
            assert!(std::time::Instant::now() < deadline, "the journal is cut back: {} bytes", wal_size());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn the_journal_is_written_back_by_the_checkpointer_not_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailproof.db");
        let (store, _) = Store::open(&path, t0()).unwrap();
        // The writer never writes the journal back inside a commit (SQLite would, in whichever commit crossed
        // 1,000 pages; Mailproof's writer only empties a journal past WAL_LIMIT, after its work) ...
        let auto: i64 = store.conn().pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0)).unwrap();
        assert_eq!(auto, 0);
        let size = || std::fs::metadata(&path).unwrap().len();
        // Less than WAL_LIMIT in all, so only the checkpointer can write it back.
        for i in 0..15 {
            store.set_setting_raw(&format!("probe{i}"), &format!("\"{}\"", "x".repeat(200_000)), t0()).unwrap();
        }
        // ... the checkpointer does, on its own connection, within a few of its rounds.
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 10;
        while size() < 3_000_000 {
            assert!(std::time::Instant::now() < deadline, "the checkpointer wrote the journal back: {} bytes", size());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn reopening_keeps_data_and_reports_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailproof.db");
        {
            let (store, _) = Store::open(&path, t0()).unwrap();
            store.set_setting_raw("probe", "\"kept\"", t0()).unwrap();
        }
        let (store, outcome) = Store::open(&path, t0()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        assert_eq!(store.setting_raw("probe").unwrap().as_deref(), Some("\"kept\""));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_a_new_database_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailproof.db");
        let garbage = b"this is not a database, it is a shopping list: eggs, milk".repeat(200);
        std::fs::write(&path, &garbage).unwrap();

        let (store, outcome) = Store::open(&path, t0()).unwrap();

        let OpenOutcome::RecoveredFromCorrupt { moved_to } = outcome else {
            panic!("expected recovery, got {outcome:?}")
        };
        assert_eq!(moved_to.file_name().unwrap(), "mailproof.db.corrupt-20261122T120000Z");
        assert_eq!(std::fs::read(&moved_to).unwrap(), garbage, "the damaged file is kept byte for byte");
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(store.list_actors().unwrap().len(), 1, "the new database has the built-in actor");
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailproof.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 999).unwrap();
        }
        let err = Store::open(&path, t0()).err().expect("must refuse");
        assert!(matches!(err, StoreError::TooNew { found: 999, .. }), "{err}");
        assert!(err.to_string().contains("newer Mailproof"));
        assert!(path.exists(), "the newer database is left where it was");
    }

    #[test]
    fn connections_use_wal_foreign_keys_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("m.db"), t0()).unwrap();
        let conn = store.conn();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        let busy: i64 = conn.pragma_query_value(None, "busy_timeout", |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), fk, busy), ("wal", 1, 5000));
    }
}
