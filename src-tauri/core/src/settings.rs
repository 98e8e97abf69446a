//! The user's settings, typed. Stored as JSON values in the `settings` table; a missing key means the default.
//! `read` and `write` are the one way any part of core keeps a setting (the sender, timing, email rules).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

const THEME: &str = "appearance.theme";
const TRUSTED_CA: &str = "tls.trustedCaFile";

/// The colour theme. `System` follows the operating system's light or dark preference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub theme: Theme,
    /// A PEM file of CA certificates trusted beyond the public roots (an organisation's own CA), or none.
    pub trusted_ca_file: Option<String>,
}

pub fn load(store: &Store) -> Result<Settings, StoreError> {
    Ok(Settings { theme: read(store, THEME)?.unwrap_or_default(), trusted_ca_file: read(store, TRUSTED_CA)?.flatten() })
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets (or, with `None`, clears) the trusted CA file after checking that it holds PEM certificates.
pub fn set_trusted_ca(store: &Store, path: Option<&str>, now: OffsetDateTime) -> Result<Settings, SettingsError> {
    let path = path.map(str::trim).filter(|p| !p.is_empty());
    if let Some(p) = path {
        mailproof_mail::tls::read_pem_certificates(std::path::Path::new(p))
            .map_err(|e| SettingsError::Invalid(capitalised(&e.to_string())))?;
    }
    write(store, TRUSTED_CA, &path, now)?;
    Ok(load(store)?)
}

/// `s` with its first letter upper-cased: an error's words as a sentence on their own.
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

pub fn set_theme(store: &Store, theme: Theme, now: OffsetDateTime) -> Result<Settings, StoreError> {
    write(store, THEME, &theme, now)?;
    load(store)
}

pub(crate) fn read<T: for<'de> Deserialize<'de>>(store: &Store, key: &str) -> Result<Option<T>, StoreError> {
    store
        .setting_raw(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| StoreError::BadValue { key: key.to_owned(), detail: e.to_string() })
        })
        .transpose()
}

pub(crate) fn write<T: Serialize>(store: &Store, key: &str, value: &T, now: OffsetDateTime) -> Result<(), StoreError> {
    let json = serde_json::to_string(value).expect("settings values always serialize");
    store.set_setting_raw(key, &json, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_ca_must_be_a_pem_file_and_can_be_cleared() {
        let store = Store::open_in_memory().unwrap();
        let now = time::macros::datetime!(2026-11-24 12:00 UTC);
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = set_trusted_ca(&store, Some(junk.to_str().unwrap()), now).unwrap_err().to_string();
        assert!(err.starts_with("Cannot read the trusted CA file") && err.contains("holds no certificate"), "{err}");
        assert_eq!(load(&store).unwrap().trusted_ca_file, None, "nothing saved");
        assert_eq!(set_trusted_ca(&store, None, now).unwrap().trusted_ca_file, None);
    }

    #[test]
    fn theme_defaults_to_system_and_round_trips() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(load(&store).unwrap().theme, Theme::System);
        let now = time::macros::datetime!(2026-11-22 12:00 UTC);
        assert_eq!(set_theme(&store, Theme::Dark, now).unwrap().theme, Theme::Dark);
        assert_eq!(load(&store).unwrap().theme, Theme::Dark);
        assert_eq!(store.setting_raw(THEME).unwrap().as_deref(), Some("\"dark\""));
    }

    #[test]
    fn an_unreadable_stored_value_is_reported_with_its_key() {
        let store = Store::open_in_memory().unwrap();
        store.set_setting_raw(THEME, "\"sepia\"", OffsetDateTime::now_utc()).unwrap();
        let err = load(&store).unwrap_err();
        assert!(err.to_string().contains(THEME), "{err}");
    }
}
