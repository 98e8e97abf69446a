//! SASL initial responses shared by the IMAP, POP3 and SMTP dialogues.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The PLAIN initial response (RFC 4616): base64 of `\0user\0password`.
pub fn plain(username: &str, password: &str) -> String {
    STANDARD.encode(format!("\0{username}\0{password}"))
}

/// One LOGIN step: base64 of the user name or the password.
pub fn login_step(value: &str) -> String {
    STANDARD.encode(value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_matches_rfc_4616() {
        // RFC 4616 section 4's example, without an authorization identity.
        assert_eq!(super::plain("tim", "tanstaaftanstaaf"), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    }
}
