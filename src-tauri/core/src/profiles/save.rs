//! Saving and deleting profiles: the row in SQLite and the password in the OS keyring, kept in step.

use time::OffsetDateTime;

use super::{
    normalize_fingerprint, password_key, refresh_token_key, validate_draft, EmailProfile, Findings, GmailSettings,
    ProfileDraft, ServerType,
};
use crate::secrets::{Keyring, Secret, SecretKey, SecretsError};
use crate::store::{utc_text, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the profile is not valid: {}", .0.errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join(" "))]
    Invalid(Findings),
    #[error("there is already a profile for {email}. Edit that profile, or delete it first.")]
    Duplicate { email: String },
    #[error("no profile {0}: it may have been deleted. Reload the profiles.")]
    NotFound(String),
    #[error("enter the account's password to test the connection.")]
    NoPassword,
    #[error("the profile's password is not in the OS keyring (it may have been removed there). Edit the profile and enter the password again.")]
    PasswordMissing,
    #[error("{email} is {hint}, then verify it.")]
    NotAuthorized { email: String, hint: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Creates (`id` = `None`) or updates a profile. The password goes to the keyring first: if the keyring cannot
/// take it, nothing is saved. Changing the address or a server resets the actors to unverified.
pub fn save_profile(
    store: &Store,
    keyring: &Keyring,
    id: Option<&str>,
    mut draft: ProfileDraft,
    now: OffsetDateTime,
) -> Result<EmailProfile, ProfileError> {
    let actors = store.list_actors()?;
    let findings = validate_draft(&draft, id.is_some(), &actors, now.date());
    if !findings.is_ok() {
        return Err(ProfileError::Invalid(findings));
    }
    match (draft.server_type, &draft.graph) {
        // A Graph profile's servers are Graph's endpoint, and its account is the mailbox.
        (ServerType::Graph, Some(g)) => {
            (draft.incoming, draft.outgoing) = g.servers();
            draft.username = draft.email.trim().to_owned();
            (draft.gmail, draft.oauth) = (None, None);
        }
        // So are a Gmail profile's: the Gmail API's endpoint, and the account that consents.
        (ServerType::Gmail, _) if draft.gmail.is_some() => {
            (draft.incoming, draft.outgoing) = GmailSettings::servers();
            draft.username = draft.email.trim().to_owned();
            (draft.graph, draft.oauth) = (None, None);
        }
        _ => {
            (draft.graph, draft.gmail) = (None, None);
            if !draft.uses_oauth() {
                draft.oauth = None;
            }
        }
    }
    for pin in [&mut draft.incoming.pinned_sha256, &mut draft.outgoing.pinned_sha256] {
        *pin = pin.as_deref().and_then(normalize_fingerprint);
    }
    let before = match id {
        Some(id) => Some(store.get_profile(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))?),
        None => None,
    };
    if let Some(other) = store.find_profile_by_email(&draft.email)? {
        if Some(other.id.as_str()) != id {
            return Err(ProfileError::Duplicate { email: other.email });
        }
    }
    let id = id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let key = password_key(&id);
    let new_password = draft.password.take().filter(|p| !(draft.oauth.is_some() && p.expose().is_empty()));
    if let Some(password) = &new_password {
        keyring.persist(&key, password)?;
    }
    // A profile turning to OAuth 2.0 without a client secret must not offer its old password as one.
    let drop_password =
        new_password.is_none() && draft.oauth.is_some() && before.as_ref().is_some_and(|b| b.oauth.is_none());
    let reset = before.as_ref().is_some_and(|b| {
        !b.email.eq_ignore_ascii_case(draft.email.trim())
            || b.server_type != draft.server_type
            || b.incoming != draft.incoming
            || b.outgoing != draft.outgoing
            || b.username != draft.username.trim()
            || b.graph != draft.graph
            || b.gmail != draft.gmail
            || b.oauth != draft.oauth
            || new_password.is_some()
    });
    // A consent belongs to one account and one OAuth client at one issuer: another address, username, client,
    // issuer, scope or client secret needs a new one.
    let unauthorize = before.as_ref().is_some_and(|b| {
        b.authorized_at.is_some()
            && (!b.email.eq_ignore_ascii_case(draft.email.trim())
                || b.username != draft.username.trim()
                || b.gmail != draft.gmail
                || b.oauth != draft.oauth
                || new_password.is_some()
                || (draft.gmail.is_none() && draft.oauth.is_none()))
    });
    if let Err(e) = store.write_profile(&id, &draft, key.as_str(), &utc_text(now), reset) {
        if before.is_none() {
            // A new profile that did not land must not leave its password behind.
            let _ = keyring.delete(&key);
        }
        return Err(e.into());
    }
    if unauthorize {
        store.set_profile_authorized(&id, None)?;
        keyring.delete(&refresh_token_key(&id))?;
    }
    if drop_password {
        keyring.delete(&key)?;
    }
    store.get_profile(&id)?.ok_or(ProfileError::NotFound(id))
}

/// What to test a draft's connection with: the draft's password (or client secret), or else the stored one of `profile_id`
/// (editing or testing a saved profile), and that profile's consent where it has one. The app and `mailproof
/// profile test` both ask this.
pub fn credentials_for_test(
    store: &Store,
    keyring: &Keyring,
    draft: &ProfileDraft,
    profile_id: Option<&str>,
) -> Result<Credentials, ProfileError> {
    let stored = match (draft.password.as_ref(), profile_id) {
        (Some(p), _) if !p.expose().is_empty() => Ok(p.clone()),
        (_, Some(id)) => profile_password(store, keyring, id),
        _ => Err(ProfileError::NoPassword),
    };
    // An OAuth 2.0 sign-in needs no password, and its client may have no secret.
    let password = match stored {
        Err(ProfileError::NoPassword | ProfileError::PasswordMissing) if draft.uses_oauth() => Secret::new(""),
        other => other?,
    };
    let refresh_token = match profile_id {
        Some(id) => keyring.retrieve(&refresh_token_key(id))?,
        None => None,
    };
    Ok(Credentials { password, refresh_token })
}

/// What a profile signs in with, read from the OS keyring: the account's password (a Graph or Gmail profile's
/// client secret) and, for a Gmail profile, the refresh token of the account's consent.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub password: Secret,
    pub refresh_token: Option<Secret>,
}

impl Credentials {
    /// A password alone (an IMAP, POP3 or Graph profile).
    pub fn password(password: Secret) -> Credentials {
        Credentials { password, refresh_token: None }
    }
}

/// Everything `profile` signs in with. A Gmail or OAuth 2.0 profile whose account has not consented yet cannot be
/// reached, and says so with what to do.
pub fn profile_credentials(
    store: &Store,
    keyring: &Keyring,
    profile: &EmailProfile,
) -> Result<Credentials, ProfileError> {
    if !profile.needs_consent() {
        return Ok(Credentials::password(profile_password(store, keyring, &profile.id)?));
    }
    let password = match profile.oauth {
        Some(_) => client_secret(store, keyring, &profile.id)?,
        None => profile_password(store, keyring, &profile.id)?,
    };
    let not_authorized = || ProfileError::NotAuthorized { email: profile.email.clone(), hint: profile.not_signed_in() };
    if profile.authorized_at.is_none() {
        return Err(not_authorized());
    }
    let refresh = keyring.retrieve(&refresh_token_key(&profile.id))?.ok_or_else(not_authorized)?;
    Ok(Credentials { password, refresh_token: Some(refresh) })
}

/// An OAuth 2.0 profile's client secret from the keyring; empty for a public client, which has none.
pub(super) fn client_secret(store: &Store, keyring: &Keyring, id: &str) -> Result<Secret, ProfileError> {
    match profile_password(store, keyring, id) {
        Err(ProfileError::PasswordMissing) => Ok(Secret::new("")),
        other => other,
    }
}

/// The stored password of a profile, read from the keyring.
pub fn profile_password(store: &Store, keyring: &Keyring, id: &str) -> Result<Secret, ProfileError> {
    let key = store.profile_password_key(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))?;
    keyring.retrieve(&SecretKey::new(key))?.ok_or(ProfileError::PasswordMissing)
}

/// Marks profile `id` as the mailbox gateways' notices reach (or no longer); returns the profile as stored. Jobs
/// watch it once this workstation has verified it.
pub fn set_alerts_mailbox(
    store: &Store,
    id: &str,
    on: bool,
    now: OffsetDateTime,
) -> Result<EmailProfile, ProfileError> {
    if !store.set_alerts_mailbox(id, on, &utc_text(now))? {
        return Err(ProfileError::NotFound(id.to_owned()));
    }
    store.get_profile(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))
}

/// Deletes the profile and its keyring entry. The row goes first: a keyring failure then leaves at most an
/// orphaned entry, never a profile without its password.
pub fn delete_profile(store: &Store, keyring: &Keyring, id: &str) -> Result<(), ProfileError> {
    let key = store.profile_password_key(id)?.ok_or_else(|| ProfileError::NotFound(id.to_owned()))?;
    store.delete_profile_row(id)?;
    keyring.delete(&SecretKey::new(key))?;
    keyring.delete(&refresh_token_key(id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::{AuthMethod, IncomingServer, OutgoingServer, Security, ServerType, VerificationStatus};

    fn draft(email: &str) -> ProfileDraft {
        ProfileDraft {
            email: email.into(),
            server_type: ServerType::Imap,
            manual_verification: false,
            zone_id: None,
            actor_ids: vec!["this-workstation".into()],
            username: email.into(),
            password: Some(Secret::new("not-in-sqlite-7f3a")),
            incoming: IncomingServer {
                host: "127.0.0.1".into(),
                port: 993,
                security: Security::Tls,
                auth: AuthMethod::Plain,
                pinned_sha256: Some("AB:".repeat(31) + "AB"),
            },
            outgoing: OutgoingServer {
                host: "127.0.0.1".into(),
                port: 587,
                security: Security::StartTls,
                requires_auth: true,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
            graph: None,
            gmail: None,
            oauth: None,
        }
    }

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-11-24 08:00 UTC)
    }

    // These tests need no keyring: an invalid draft fails before the keyring is touched. The keyring paths
    // run against the real Secret Service in tests/rust/profiles.rs.

    #[test]
    fn an_invalid_draft_is_refused_before_anything_is_stored() {
        let store = Store::open_in_memory().unwrap();
        let mut d = draft("bob@example.test");
        d.incoming.port = 0;
        let err = save_profile(&store, &Keyring::with_service("never-used"), None, d, t0()).unwrap_err();
        let ProfileError::Invalid(findings) = err else { panic!("{err}") };
        assert_eq!(findings.errors[0].field, "incoming.port");
        assert!(store.list_profiles().unwrap().is_empty());
    }

    #[test]
    fn rows_round_trip_through_the_store() {
        let store = Store::open_in_memory().unwrap();
        let d = draft("bob@example.test");
        store.write_profile("p1", &d, "profile/p1/password", "2026-11-24T08:00:00Z", false).unwrap();
        let p = store.get_profile("p1").unwrap().unwrap();
        assert_eq!(p.email, "bob@example.test");
        assert_eq!(p.incoming, d.incoming);
        assert_eq!(p.outgoing, d.outgoing);
        assert_eq!(p.actors.len(), 1);
        assert_eq!(p.actors[0].status, VerificationStatus::Unverified);
        assert_eq!(store.find_profile_by_email("BOB@example.test").unwrap().unwrap().id, "p1");
        assert_eq!(store.list_profiles().unwrap().len(), 1);
        assert!(store.delete_profile_row("p1").unwrap());
        assert!(store.get_profile("p1").unwrap().is_none());
    }
}
