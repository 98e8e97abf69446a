//! SASL initial responses shared by the IMAP, POP3 and SMTP dialogues: PLAIN, LOGIN, and the OAuth 2.0 bearer
//! mechanisms XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628).

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

/// The OAuth 2.0 mechanisms, in the order Mailproof prefers them when a server announces both.
pub const OAUTH_MECHANISMS: [&str; 2] = ["OAUTHBEARER", "XOAUTH2"];

/// The client's first message of an OAuth 2.0 mechanism (before base64): XOAUTH2's
/// `user=…^Aauth=Bearer …^A^A`, or OAUTHBEARER's GS2 header and key-value pairs (RFC 7628 section 3.1).
pub fn oauth_response(mechanism: &str, username: &str, token: &str, host: &str, port: u16) -> Vec<u8> {
    if mechanism.eq_ignore_ascii_case("OAUTHBEARER") {
        // A comma or an equals sign in the authorization identity is escaped (RFC 5801 saslname).
        let user = username.replace('=', "=3D").replace(',', "=2C");
        format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
    } else {
        format!("user={username}\x01auth=Bearer {token}\x01\x01").into_bytes()
    }
}

/// What the client answers to a server's error challenge, so the server can end the exchange with its refusal:
/// an empty response for XOAUTH2, a single ^A for OAUTHBEARER (RFC 7628 section 3.2.3).
pub fn oauth_error_ack(mechanism: &str) -> Vec<u8> {
    if mechanism.eq_ignore_ascii_case("OAUTHBEARER") {
        vec![0x01]
    } else {
        Vec::new()
    }
}

/// A server's error challenge to an OAuth 2.0 sign-in (decoded), in words: the JSON's `status` and `scope`, e.g.
/// `{"status":"invalid_token","schemes":"bearer","scope":"…"}` → `invalid_token (scope …)`.
pub fn oauth_error_text(challenge: &[u8]) -> String {
    let text = String::from_utf8_lossy(challenge).trim().to_owned();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { return text };
    let field = |k: &str| json.get(k).and_then(|v| v.as_str().map(str::to_owned).or_else(|| Some(v.to_string())));
    match (field("status"), field("scope")) {
        (Some(status), Some(scope)) if !scope.is_empty() => format!("{status} (scope {scope})"),
        (Some(status), _) => status,
        _ => text,
    }
}

/// Whether a server's mechanism list offers OAuth 2.0, and which mechanism Mailproof would use.
pub fn oauth_mechanism(offered: &[String]) -> Option<&'static str> {
    OAUTH_MECHANISMS.into_iter().find(|m| offered.iter().any(|o| o.eq_ignore_ascii_case(m)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_matches_rfc_4616() {
        // RFC 4616 section 4's example, without an authorization identity.
        assert_eq!(super::plain("tim", "tanstaaftanstaaf"), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    }

    #[test]
    fn oauthbearer_matches_rfc_7628_and_xoauth2_googles_format() {
        // RFC 7628 section 4.1's example (its user and host), and Google's XOAUTH2 documentation's shape.
        let bearer = super::oauth_response(
            "OAUTHBEARER",
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
            "server.example.com",
            143,
        );
        assert_eq!(
            bearer,
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let x = super::oauth_response(
            "XOAUTH2",
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
            "imap.gmail.com",
            993,
        );
        assert_eq!(
            x,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert!(String::from_utf8_lossy(&super::oauth_response("OAUTHBEARER", "a,b=c", "t", "h", 1))
            .starts_with("n,a=a=2Cb=3Dc,"));
    }

    #[test]
    fn an_error_challenge_is_put_in_words_and_the_preferred_mechanism_is_chosen() {
        // Google's XOAUTH2 error challenge (its documentation) and Dovecot's (its oauth2 passdb).
        let google = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(super::oauth_error_text(google), "401 (scope https://mail.google.com/)");
        assert_eq!(
            super::oauth_error_text(br#"{"status":"invalid_token","schemes":"bearer","scope":""}"#),
            "invalid_token"
        );
        assert_eq!(super::oauth_error_text(b"not json"), "not json");
        let offered = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(super::oauth_mechanism(&offered(&["PLAIN", "XOAUTH2", "OAUTHBEARER"])), Some("OAUTHBEARER"));
        assert_eq!(super::oauth_mechanism(&offered(&["PLAIN", "xoauth2"])), Some("XOAUTH2"));
        assert_eq!(super::oauth_mechanism(&offered(&["PLAIN"])), None);
        assert_eq!(super::oauth_error_ack("OAUTHBEARER"), vec![1]);
    }
}
