//! What can go wrong signing in with OAuth 2.0, each in words with what to do: the error codes of RFC 6749 as
//! Google and Microsoft use them.

use super::{Issuer, Provider};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("the sign-in was declined ({detail}). Sign in again and choose Allow (Accept); {fix}")]
    Denied { detail: String, fix: &'static str },
    #[error("the sign-in did not grant everything Mailproof needs: missing {missing} (granted: {granted}). Authorize again and tick every permission on the consent screen.")]
    MissingScopes { missing: String, granted: String },
    #[error("{provider} no longer accepts this profile's sign-in ({detail}): {fix}, then sign the profile in again (Sign in in the profiles table, or `mailproof profile authorize`).")]
    Revoked { provider: String, detail: String, fix: &'static str },
    #[error("{provider} refused the consent's code ({detail}). Authorize again; a code is good for one use and a few minutes.")]
    BadCode { provider: String, detail: String },
    #[error("{provider} does not accept the client ID and secret ({detail}). {fix}")]
    WrongClient { provider: String, detail: String, fix: &'static str },
    #[error("{provider} refused the redirect to this machine ({detail}). {fix}")]
    RedirectRefused { provider: String, detail: String, fix: &'static str },
    #[error("{provider} refused the sign-in: {error}{detail}")]
    Refused { provider: String, error: String, detail: String },
    #[error("{provider} issued no refresh token, so Mailproof could not keep the sign-in. Remove Mailproof's access on {page}, then authorize again.")]
    NoRefreshToken { provider: String, page: String },
    #[error("no answer from the browser within {secs} s: the consent was not finished. Authorize again and finish the consent in the browser window that opens.")]
    NoConsent { secs: u64 },
    #[error("the profile has not been authorized yet: no sign-in is stored for it. Authorize it (Authorize in the app, or `mailproof profile authorize`).")]
    NotAuthorized,
    #[error("cannot listen for the browser's answer on this machine: {detail}")]
    Loopback { detail: String },
    #[error("cannot reach {host}: {detail}. Check this machine's network connection and proxy.")]
    Network { host: String, detail: String },
    #[error(
        "{what} did not answer within {secs} s. Try again; if it persists, check this machine's network connection."
    )]
    TimedOut { what: String, secs: u64 },
    #[error("the token endpoint answered something Mailproof cannot read: {detail}")]
    BadAnswer { detail: String },
}

impl OAuthError {
    /// The provider's `error` code (and its description) in words. `refreshing` tells a refresh token's
    /// refusal from a consent code's.
    pub(super) fn explain(provider: &Provider, refreshing: bool, error: &str, description: Option<&str>) -> OAuthError {
        let p = provider.name.clone();
        let detail = match description.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("{error}: {d}"),
            None => error.to_owned(),
        };
        let fixes = Fixes::of(provider.issuer);
        match error {
            "invalid_grant" if refreshing => OAuthError::Revoked { provider: p, detail, fix: fixes.revoked },
            "invalid_grant" => OAuthError::BadCode { provider: p, detail },
            "invalid_client" | "unauthorized_client" => {
                OAuthError::WrongClient { provider: p, detail, fix: fixes.client }
            }
            "redirect_uri_mismatch" => OAuthError::RedirectRefused { provider: p, detail, fix: fixes.redirect },
            "access_denied" | "admin_policy_enforced" | "org_internal" | "consent_required" => {
                OAuthError::Denied { detail, fix: fixes.denied }
            }
            _ => OAuthError::Refused {
                provider: p,
                error: error.to_owned(),
                detail: description.map(|d| format!(" ({})", d.trim())).unwrap_or_default(),
            },
        }
    }

    /// A setup problem: retrying the same request will not help; the user must act.
    pub fn is_setup(&self) -> bool {
        !matches!(self, OAuthError::Network { .. } | OAuthError::TimedOut { .. } | OAuthError::BadAnswer { .. })
    }
}

/// What to do about each refusal, in the words of the issuer's own console.
struct Fixes {
    revoked: &'static str,
    client: &'static str,
    redirect: &'static str,
    denied: &'static str,
}

impl Fixes {
    fn of(issuer: Issuer) -> Fixes {
        match issuer {
            Issuer::Google => Fixes {
                revoked: "it was revoked, the password changed, or the OAuth app is still in Testing, whose sign-ins expire after 7 days. Publish the app (OAuth consent screen → In production) to keep sign-ins",
                client: "Copy both from the OAuth 2.0 client (type \"Desktop app\") under APIs & Services → Credentials in the Google Cloud console.",
                redirect: "Create the OAuth client as type \"Desktop app\": only that type may redirect to 127.0.0.1.",
                denied: "a Google Workspace administrator may have to trust the app first (Admin console → Security → API controls).",
            },
            Issuer::Microsoft => Fixes {
                revoked: "it was revoked, the password changed, or a Conditional Access policy ended the session",
                client: "Copy the Application (client) ID from the app registration's Overview in the Entra admin centre; with \"Allow public client flows\" on (Authentication) the app needs no secret, else paste a client secret's Value.",
                redirect: "In the Entra admin centre, add the platform \"Mobile and desktop applications\" with the redirect URI http://127.0.0.1 to the app registration (Authentication).",
                denied: "an administrator may have to grant consent for the organisation first (the app registration → API permissions → Grant admin consent).",
            },
            Issuer::Other => Fixes {
                revoked: "it was revoked or has expired",
                client: "Check the client ID and secret the identity provider issued for this app.",
                redirect: "Register http://127.0.0.1 (any port) as a redirect URI of the client at the identity provider.",
                denied: "the identity provider's administrator may have to allow the app first.",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_refusals_are_explained_with_the_fix() {
        let g = Provider::google(None);
        let revoked = OAuthError::explain(&g, true, "invalid_grant", Some("Token has been expired or revoked."));
        let text = revoked.to_string();
        assert!(text.contains("Token has been expired or revoked") && text.contains("7 days"), "{text}");
        assert!(matches!(OAuthError::explain(&g, false, "invalid_grant", None), OAuthError::BadCode { .. }));
        let client = OAuthError::explain(&g, false, "invalid_client", Some("The OAuth client was not found."));
        assert!(client.to_string().contains("Desktop app"), "{client}");
        assert!(matches!(OAuthError::explain(&g, false, "access_denied", None), OAuthError::Denied { .. }));
        let other = OAuthError::explain(&g, false, "temporarily_unavailable", Some("try later"));
        assert_eq!(other.to_string(), "Google refused the sign-in: temporarily_unavailable (try later)");
        assert!(!OAuthError::TimedOut { what: "x".into(), secs: 1 }.is_setup());
        assert!(revoked.is_setup());
    }

    #[test]
    fn microsofts_and_other_issuers_refusals_point_to_their_own_consoles() {
        let m = Provider::microsoft_mail("https://login.microsoftonline.com", "organizations");
        let client = OAuthError::explain(
            &m,
            false,
            "invalid_client",
            Some("AADSTS7000218: client_assertion or client_secret required"),
        )
        .to_string();
        assert!(client.contains("Entra admin centre") && !client.contains("Google"), "{client}");
        let denied = OAuthError::explain(&m, false, "consent_required", Some("AADSTS65001")).to_string();
        assert!(denied.contains("Grant admin consent"), "{denied}");
        let other = Provider::custom("https://id.example.test/a", "https://id.example.test/t", vec![]);
        let revoked = OAuthError::explain(&other, true, "invalid_grant", None).to_string();
        assert!(revoked.starts_with("id.example.test no longer accepts") && !revoked.contains("Testing"), "{revoked}");
    }
}
