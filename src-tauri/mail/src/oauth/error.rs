//! What can go wrong signing in with OAuth 2.0, each in words with what to do: the error codes of RFC 6749 as
//! Google and Microsoft use them.

use super::Provider;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("the sign-in was declined ({detail}). Authorize again and choose Allow; a Google Workspace administrator may have to trust the app first (Admin console → Security → API controls).")]
    Denied { detail: String },
    #[error("the sign-in did not grant everything Mailproof needs: missing {missing} (granted: {granted}). Authorize again and tick every permission on the consent screen.")]
    MissingScopes { missing: String, granted: String },
    #[error("{provider} no longer accepts this profile's sign-in ({detail}): it was revoked, the password changed, or the OAuth app is still in Testing, whose sign-ins expire after 7 days. Publish the app (OAuth consent screen → In production) to keep sign-ins, then authorize the profile again (Authorize in the app, or `mailproof profile authorize`).")]
    Revoked { provider: String, detail: String },
    #[error("{provider} refused the consent's code ({detail}). Authorize again; a code is good for one use and a few minutes.")]
    BadCode { provider: String, detail: String },
    #[error("{provider} does not accept the client ID and secret ({detail}). Copy both from the OAuth 2.0 client (type \"Desktop app\") under APIs & Services → Credentials in the Google Cloud console.")]
    WrongClient { provider: String, detail: String },
    #[error("{provider} refused the redirect to this machine ({detail}). Create the OAuth client as type \"Desktop app\": only that type may redirect to 127.0.0.1.")]
    RedirectRefused { provider: String, detail: String },
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
        match error {
            "invalid_grant" if refreshing => OAuthError::Revoked { provider: p, detail },
            "invalid_grant" => OAuthError::BadCode { provider: p, detail },
            "invalid_client" | "unauthorized_client" => OAuthError::WrongClient { provider: p, detail },
            "redirect_uri_mismatch" => OAuthError::RedirectRefused { provider: p, detail },
            "access_denied" | "admin_policy_enforced" | "org_internal" => OAuthError::Denied { detail },
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
}
