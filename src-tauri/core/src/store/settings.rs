//! Queries for the `settings` table: JSON values by key.

use rusqlite::OptionalExtension;
use time::OffsetDateTime;

use super::{utc_text, Store, StoreError};

impl Store {
    /// The JSON text stored for `key`, or `None` when the setting was never changed.
    pub fn setting_raw(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Stores JSON text for `key`, replacing any earlier value.
    pub fn set_setting_raw(&self, key: &str, json: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, json, utc_text(now)),
        )?;
        Ok(())
    }
}
