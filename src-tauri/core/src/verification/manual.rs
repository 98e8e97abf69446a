//! The subjects verification looks for: Mailproof's own automatic mail, and the user's manual `(UUID)` mail.

use serde::Serialize;

use crate::profiles::ProfileError;
use crate::store::Store;

use super::VerifyError;

/// The subject of an automatic verification mail.
pub fn automatic_subject(code: &str) -> String {
    format!("Mailproof verification {code}")
}

/// The subject the user sends for manual verification: the UUID in parentheses.
pub fn manual_subject(uuid: &str) -> String {
    format!("({uuid})")
}

/// What to send for manual verification.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ManualVerification {
    pub email: String,
    pub uuid: String,
    /// The exact subject to send, parentheses included.
    pub subject: String,
}

/// The profile's Verification UUID for manual verification; `regenerate` makes a new one (the old stops working).
pub fn manual_verification(
    store: &Store,
    profile_id: &str,
    regenerate: bool,
) -> Result<ManualVerification, VerifyError> {
    let profile = store.get_profile(profile_id)?.ok_or_else(|| ProfileError::NotFound(profile_id.to_owned()))?;
    let uuid = if regenerate {
        store.regenerate_verification_uuid(profile_id)?
    } else {
        store.verification_uuid(profile_id)?
    };
    Ok(ManualVerification { email: profile.email, subject: manual_subject(&uuid), uuid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(manual_subject("1234"), "(1234)");
        assert!(automatic_subject("abc").ends_with("abc"));
    }
}
