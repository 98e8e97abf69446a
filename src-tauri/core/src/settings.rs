//! The user's settings, typed. Stored as JSON values in the `settings` table; a missing key means the default.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

const THEME: &str = "appearance.theme";

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
}

pub fn load(store: &Store) -> Result<Settings, StoreError> {
    Ok(Settings { theme: read(store, THEME)?.unwrap_or_default() })
}

pub fn set_theme(store: &Store, theme: Theme, now: OffsetDateTime) -> Result<Settings, StoreError> {
    write(store, THEME, &theme, now)?;
    load(store)
}

fn read<T: for<'de> Deserialize<'de>>(store: &Store, key: &str) -> Result<Option<T>, StoreError> {
    store
        .setting_raw(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| StoreError::BadValue { key: key.to_owned(), detail: e.to_string() })
        })
        .transpose()
}

fn write<T: Serialize>(store: &Store, key: &str, value: &T, now: OffsetDateTime) -> Result<(), StoreError> {
    let json = serde_json::to_string(value).expect("settings values always serialize");
    store.set_setting_raw(key, &json, now)
}

#[cfg(test)]
mod tests {
    use super::*;

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
