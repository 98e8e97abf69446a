//! Secrets live only in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows). SQLite holds key names, never values. With no keyring there is no fallback: the secret is refused.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The keyring service name every Mailproof entry is filed under.
pub const SERVICE: &str = "dev.mailproof.desktop";

/// A secret value. Prints `<redacted>` and refuses to serialize, so it cannot reach logs, IPC responses or
/// exports. It can be deserialized: that is how a password arrives from a form or from stdin.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (a login). Do not store or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("a secret is never serialized; store it in the OS keyring"))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// The name a secret is filed under in the keyring, e.g. `profile/3f2c…/password`. Safe to store and show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(name: impl Into<String>) -> Self {
        SecretKey(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot reach the OS keyring ({detail}). Mailproof keeps passwords only in the OS keyring and did not save this one anywhere. Start and unlock your keyring (GNOME Keyring, KWallet, macOS Keychain or Windows Credential Manager), then try again.")]
    Unavailable { detail: String },
    #[error(
        "the OS keyring refused the request ({detail}). Unlock the keyring or allow Mailproof access, then try again."
    )]
    Refused { detail: String },
    #[error("cannot use the OS keyring entry {key}: {detail}")]
    Entry { key: String, detail: String },
}

/// The OS keyring, as Mailproof uses it: one service name, entries by key name.
#[derive(Debug, Clone)]
pub struct Keyring {
    service: String,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring { service: SERVICE.to_owned() }
    }
}

impl Keyring {
    /// A keyring under another service name, so tests never touch the user's real entries.
    pub fn with_service(service: impl Into<String>) -> Self {
        Keyring { service: service.into() }
    }

    pub fn persist(&self, key: &SecretKey, secret: &Secret) -> Result<(), SecretsError> {
        self.entry(key)?.set_password(secret.expose()).map_err(|e| classify(key, e))
    }

    /// The stored secret, or `None` when there is no entry under `key`.
    pub fn retrieve(&self, key: &SecretKey) -> Result<Option<Secret>, SecretsError> {
        match self.entry(key)?.get_password() {
            Ok(value) => Ok(Some(Secret(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(key, e)),
        }
    }

    /// Deletes the entry; deleting an entry that does not exist is not an error.
    pub fn delete(&self, key: &SecretKey) -> Result<(), SecretsError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(classify(key, e)),
        }
    }

    /// Proves the keyring works by storing, reading back and deleting a throw-away entry.
    pub fn check(&self, probe_value: &Secret) -> Result<(), SecretsError> {
        // A key of its own, so checks running at the same time cannot read each other's probe.
        let key = SecretKey::new(format!("mailproof/doctor-probe/{}", uuid::Uuid::new_v4()));
        self.persist(&key, probe_value)?;
        let back = self.retrieve(&key);
        let deleted = self.delete(&key);
        match back? {
            Some(v) if v == *probe_value => deleted,
            other => Err(SecretsError::Entry {
                key: key.0,
                detail: format!(
                    "read back {} instead of the value just stored",
                    if other.is_some() { "another value" } else { "nothing" }
                ),
            }),
        }
    }

    fn entry(&self, key: &SecretKey) -> Result<keyring::Entry, SecretsError> {
        keyring::Entry::new(&self.service, key.as_str()).map_err(|e| classify(key, e))
    }
}

fn classify(key: &SecretKey, err: keyring::Error) -> SecretsError {
    match err {
        keyring::Error::PlatformFailure(e) => SecretsError::Unavailable { detail: e.to_string() },
        keyring::Error::NoStorageAccess(e) => SecretsError::Refused { detail: e.to_string() },
        other => SecretsError::Entry { key: key.0.clone(), detail: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_or_serializes() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        let json = serde_json::to_string(&s);
        assert!(json.is_err());
        #[derive(Serialize, Debug)]
        struct Login {
            user: String,
            password: Secret,
        }
        let login = Login { user: "bob".into(), password: s };
        assert!(!format!("{login:?}").contains("hunter2"));
        assert!(serde_json::to_string(&login).is_err(), "a struct holding a secret cannot be serialized either");
    }

    #[test]
    fn an_unreachable_platform_is_reported_as_unavailable_with_what_to_do() {
        let err = classify(&SecretKey::new("k"), keyring::Error::PlatformFailure("no D-Bus session".into()));
        let text = err.to_string();
        assert!(matches!(err, SecretsError::Unavailable { .. }));
        assert!(text.contains("did not save this one anywhere") && text.contains("unlock your keyring"), "{text}");
    }
}
