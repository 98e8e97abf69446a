//! Mailproof's own sender: the account verification mail is sent from (Settings → Email, `mailproof sender set`).
//! Its checks live here, so the app and the command refuse the same things with the same words.

use mailproof_mail::diagnose::{diagnose, Diagnosis, Protocol, Step, Target};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::tls::Trust;
use mailproof_mail::{Login, Password};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::profiles::{normalize_fingerprint, validate_outgoing, AuthMethod, Findings, Security};
use crate::secrets::{Keyring, Secret, SecretKey, SecretsError};
use crate::settings;
use crate::store::{Store, StoreError};

const SENDER_KEY: &str = "email.sender";

/// The keyring entry of the sender's password.
pub fn sender_password_key() -> SecretKey {
    SecretKey::new("sender/password")
}

/// The account Mailproof sends verification mail from (Settings → Email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailSender {
    pub host: String,
    pub port: u32,
    pub security: Security,
    pub requires_auth: bool,
    pub auth: AuthMethod,
    pub username: String,
    /// The From address of verification mail.
    pub from_address: String,
    pub pinned_sha256: Option<String>,
}

impl EmailSender {
    /// The submission settings, with the password when the server asks for one.
    pub(crate) fn smtp_config(&self, password: Option<&Secret>, extra_ca: Option<std::path::PathBuf>) -> SmtpConfig {
        SmtpConfig {
            host: self.host.trim().to_owned(),
            port: u16::try_from(self.port).unwrap_or(0),
            encryption: self.security.into(),
            login: self.login(password),
            sign_in: self.auth.sign_in(),
            tokens: None,
            trust: Trust { extra_ca, pinned_sha256: self.pinned_sha256.as_deref().and_then(normalize_fingerprint) },
            timeout: crate::profiles::clients::CLIENT_TIMEOUT,
        }
    }

    fn login(&self, password: Option<&Secret>) -> Option<Login> {
        match (self.requires_auth, password) {
            (true, Some(p)) => {
                Some(Login { username: self.username.trim().to_owned(), password: Password::new(p.expose()) })
            }
            _ => None,
        }
    }
}

/// Why an email setting (the sender, the timing) cannot be saved or used, in words.
#[derive(Debug, thiserror::Error)]
pub enum EmailSettingError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Checks the sender's fields, as the profile wizard checks a profile's outgoing server.
pub fn validate_sender(sender: &EmailSender) -> Findings {
    let mut f = validate_outgoing(
        &sender.host,
        sender.port,
        sender.security,
        sender.requires_auth,
        &sender.username,
        &sender.from_address,
        sender.pinned_sha256.as_deref(),
    );
    if sender.requires_auth && sender.auth == AuthMethod::OAuth2 {
        f.errors.push(crate::profiles::FieldIssue {
            field: "auth".into(),
            message: "The verification sender signs in with a password or NTLM. To send from an OAuth 2.0 mailbox, add it as a profile instead.".into(),
        });
    }
    f
}

/// Saves the sender after checking it; a password, when given, goes to the OS keyring (otherwise the stored one
/// is kept, and one must be stored when the server asks for it).
pub fn set_sender(
    store: &Store,
    keyring: &Keyring,
    sender: &EmailSender,
    password: Option<Secret>,
    now: OffsetDateTime,
) -> Result<(), EmailSettingError> {
    let findings = validate_sender(sender);
    if !findings.is_ok() {
        let message = findings.errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join(" ");
        return Err(EmailSettingError::Invalid(message));
    }
    if let Some(p) = password.filter(|p| !p.expose().is_empty()) {
        keyring.persist(&sender_password_key(), &p)?;
    } else if sender.requires_auth && keyring.retrieve(&sender_password_key())?.is_none() {
        return Err(EmailSettingError::Invalid(
            "Enter the sender account's password. It is stored in the OS keyring only.".into(),
        ));
    }
    settings::write(store, SENDER_KEY, sender, now)?;
    Ok(())
}

/// The password to test the sender with: the one given, or else the stored one; refused when the server asks
/// for one and there is none.
pub fn password_for_test(
    keyring: &Keyring,
    sender: &EmailSender,
    given: Option<Secret>,
) -> Result<Option<Secret>, EmailSettingError> {
    let password = match given.filter(|p| !p.expose().is_empty()) {
        Some(p) => Some(p),
        None => keyring.retrieve(&sender_password_key())?,
    };
    if sender.requires_auth && password.is_none() {
        return Err(EmailSettingError::Invalid("Enter the sender account's password to test the sign-in.".into()));
    }
    Ok(password)
}

/// The same step-by-step diagnostics as a profile's outgoing server, for the sender.
pub async fn test_sender(
    sender: &EmailSender,
    password: Option<&Secret>,
    extra_ca: Option<std::path::PathBuf>,
    mut on_step: impl FnMut(&Step) + Send,
) -> Diagnosis {
    let target = Target {
        protocol: Protocol::Smtp,
        host: sender.host.trim().to_owned(),
        port: u16::try_from(sender.port).unwrap_or(0),
        encryption: sender.security.into(),
        trust: Trust { extra_ca, pinned_sha256: sender.pinned_sha256.as_deref().and_then(normalize_fingerprint) },
        login: sender.login(password),
        sign_in: sender.auth.sign_in(),
        tokens: None,
        timeout: crate::profiles::STEP_TIMEOUT,
    };
    diagnose(&target, &mut |s| on_step(s)).await
}

pub fn load_sender(store: &Store) -> Result<Option<EmailSender>, StoreError> {
    settings::read(store, SENDER_KEY)
}

/// Saves the sender as it is, unchecked (tests and migrations); the app and the CLI call [`set_sender`].
pub fn save_sender(store: &Store, sender: &EmailSender, now: OffsetDateTime) -> Result<(), StoreError> {
    settings::write(store, SENDER_KEY, sender, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab_sender() -> EmailSender {
        EmailSender {
            host: "smtp.example.test".into(),
            port: 587,
            security: Security::StartTls,
            requires_auth: true,
            auth: AuthMethod::Plain,
            username: "alice@example.test".into(),
            from_address: "alice@example.test".into(),
            pinned_sha256: None,
        }
    }

    #[test]
    fn sender_round_trip() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(load_sender(&store).unwrap(), None);
        save_sender(&store, &lab_sender(), OffsetDateTime::now_utc()).unwrap();
        assert_eq!(load_sender(&store).unwrap(), Some(lab_sender()));
    }

    #[test]
    fn a_sender_with_bad_fields_is_refused_and_nothing_is_saved() {
        let store = Store::open_in_memory().unwrap();
        let bad = EmailSender { port: 0, from_address: "not an address".into(), ..lab_sender() };
        let err = set_sender(&store, &Keyring::default(), &bad, None, OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, EmailSettingError::Invalid(_)), "{err}");
        assert_eq!(load_sender(&store).unwrap(), None);
    }
}
