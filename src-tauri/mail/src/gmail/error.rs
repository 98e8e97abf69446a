//! What can go wrong with a Gmail mailbox through the Gmail API, each in words with what to do: read from the
//! API's error body (`{"error": {"code", "message", "errors": [{"reason", "domain"}], "status", "details"}}`,
//! Google's JSON error format) and from the sign-in's OAuth errors.

use std::time::Duration;

use serde::Deserialize;

use crate::oauth::OAuthError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GmailError {
    #[error("cannot sign in to Gmail: {0}")]
    OAuth(#[from] OAuthError),
    #[error("the Gmail API is not enabled in the Google Cloud project of this OAuth client ({detail}). In the Google Cloud console open APIs & Services → Library → Gmail API, choose Enable, wait a few minutes and try again.")]
    ApiDisabled { detail: String },
    #[error("the sign-in does not allow Mailproof to {what} ({detail}). Authorize the profile again and tick every permission on Google's consent screen.")]
    Scope { what: String, detail: String },
    #[error("the consent was given for {actual}, not for this profile's {expected}. Authorize again and choose {expected} in Google's account chooser.")]
    WrongAccount { expected: String, actual: String },
    #[error("Gmail kept limiting the requests ({detail}); waited {waited_secs} s in all. Try again later, or run fewer actions at once: Gmail allows each user 250 quota units a second (a send costs 100).")]
    RateLimited { detail: String, waited_secs: u64 },
    #[error("the Google Cloud project has used up its daily Gmail API quota ({detail}). Try again tomorrow (quotas reset at midnight Pacific time), or ask for more under IAM & Admin → Quotas in the Google Cloud console.")]
    DailyQuota { detail: String },
    #[error("Gmail refused the sign-in's access token ({detail}). Authorize the profile again; if it keeps happening, the account's administrator may block the app.")]
    Unauthenticated { detail: String },
    #[error("Gmail refused {what}: HTTP {status}: {detail}")]
    Refused { what: String, status: u16, detail: String },
    #[error("cannot reach {host}: {detail}. Check this machine's network connection and proxy; Gmail needs HTTPS to {host}.")]
    Network { host: String, detail: String },
    #[error(
        "{what} did not answer within {secs} s. Try again; if it persists, check this machine's network connection."
    )]
    TimedOut { what: String, secs: u64 },
    #[error("{what} answered something Mailproof cannot read: {detail}")]
    BadAnswer { what: String, detail: String },
}

impl GmailError {
    /// A setup problem (the sign-in, the project, the scopes, the account): retrying will not help.
    pub fn is_setup(&self) -> bool {
        match self {
            GmailError::OAuth(e) => e.is_setup(),
            GmailError::ApiDisabled { .. }
            | GmailError::Scope { .. }
            | GmailError::WrongAccount { .. }
            | GmailError::DailyQuota { .. }
            | GmailError::Unauthenticated { .. } => true,
            _ => false,
        }
    }

    /// The item is no longer there (deleted, or a history start point Gmail no longer keeps).
    pub fn not_found(&self) -> bool {
        matches!(self, GmailError::Refused { status: 404, .. })
    }
}

#[derive(Debug, Deserialize)]
struct Body {
    error: Detail,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<Item>,
    #[serde(default)]
    details: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
struct Item {
    #[serde(default)]
    reason: String,
}

/// A Gmail API answer that is not 2xx, read once: what it means and whether to wait and retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Back off and try again (429, a per-user rate limit, a backend error).
    Retry { detail: String },
    /// Give up with this error.
    Fail(GmailError),
}

/// Reads a refusal of `what` (HTTP `status`, the body as sent).
pub(super) fn read_refusal(what: &str, status: u16, body: &[u8]) -> Refusal {
    let detail = serde_json::from_slice::<Body>(body).map(|b| b.error).unwrap_or_else(|_| Detail {
        message: String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned(),
        ..Detail::default()
    });
    let reasons: Vec<&str> = detail.errors.iter().chain(&detail.details).map(|i| i.reason.as_str()).collect();
    let has = |r: &str| reasons.iter().any(|x| x.eq_ignore_ascii_case(r));
    let shown = match (detail.status.as_str(), detail.message.as_str()) {
        ("", m) => m.to_owned(),
        (s, m) => format!("{s}: {m}"),
    };
    let fail = |e: GmailError| Refusal::Fail(e);
    match status {
        _ if has("dailyLimitExceeded") || has("quotaExceeded") => fail(GmailError::DailyQuota { detail: shown }),
        429 | 500 | 502 | 503 | 504 => Refusal::Retry { detail: format!("HTTP {status}: {shown}") },
        403 if has("rateLimitExceeded") || has("userRateLimitExceeded") || has("RATE_LIMIT_EXCEEDED") => {
            Refusal::Retry { detail: format!("HTTP {status}: {shown}") }
        }
        403 if has("accessNotConfigured") || has("SERVICE_DISABLED") => fail(GmailError::ApiDisabled { detail: shown }),
        403 if has("insufficientPermissions") || has("ACCESS_TOKEN_SCOPE_INSUFFICIENT") => {
            fail(GmailError::Scope { what: what.to_owned(), detail: shown })
        }
        401 => fail(GmailError::Unauthenticated { detail: shown }),
        _ => fail(GmailError::Refused { what: what.to_owned(), status, detail: shown }),
    }
}

/// How long to wait before retry `attempt` (0-based) when Gmail names no Retry-After: exponential back-off from
/// 1 s, at most 32 s, as Google's guidance for the Gmail API asks.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bodies in the shape Google's APIs send (google.rpc.Status with the legacy `errors` list), as quoted in
    // Google's Gmail API error-handling guide and public reports of these errors.

    #[test]
    fn rate_limits_are_retried_and_daily_quotas_are_not() {
        let user = br#"{"error":{"code":429,"message":"User-rate limit exceeded.  Retry after 2026-12-03T05:40:12.511Z","errors":[{"message":"User-rate limit exceeded.","domain":"usageLimits","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED"}}"#;
        assert!(
            matches!(read_refusal("listing history", 429, user), Refusal::Retry { detail } if detail.contains("RESOURCE_EXHAUSTED"))
        );
        let per_user = br#"{"error":{"code":403,"message":"User Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}]}}"#;
        assert!(matches!(read_refusal("sending", 403, per_user), Refusal::Retry { .. }));
        let daily = br#"{"error":{"code":403,"message":"Daily Limit Exceeded","errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}]}}"#;
        let Refusal::Fail(e) = read_refusal("sending", 403, daily) else { panic!("a daily quota is not retried") };
        assert!(e.to_string().contains("Quotas") && e.is_setup(), "{e}");
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(32));
    }

    #[test]
    fn setup_refusals_say_what_to_do_in_the_google_cloud_console() {
        let disabled = br#"{"error":{"code":403,"message":"Gmail API has not been used in project 123456 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/gmail.googleapis.com/overview?project=123456 then retry.","errors":[{"message":"Gmail API has not been used in project 123456 before or it is disabled.","domain":"usageLimits","reason":"accessNotConfigured","extendedHelp":"https://console.developers.google.com"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#;
        let Refusal::Fail(e) = read_refusal("reading the profile", 403, disabled) else { panic!() };
        assert!(matches!(e, GmailError::ApiDisabled { .. }) && e.to_string().contains("Library → Gmail API"), "{e}");
        let scope = br#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com"}]}}"#;
        let Refusal::Fail(e) = read_refusal("send mail", 403, scope) else { panic!() };
        assert!(e.to_string().starts_with("the sign-in does not allow Mailproof to send mail"), "{e}");
        let unauth = br#"{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}"#;
        assert!(matches!(read_refusal("x", 401, unauth), Refusal::Fail(GmailError::Unauthenticated { .. })));
        let gone = br#"{"error":{"code":404,"message":"Requested entity was not found.","errors":[{"message":"Requested entity was not found.","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}"#;
        let Refusal::Fail(e) = read_refusal("listing history", 404, gone) else { panic!() };
        assert!(e.not_found() && !e.is_setup());
        assert_eq!(
            e.to_string(),
            "Gmail refused listing history: HTTP 404: NOT_FOUND: Requested entity was not found."
        );
        let html = read_refusal("x", 400, b"<html>Bad Request</html>");
        assert_eq!(
            html,
            Refusal::Fail(GmailError::Refused {
                what: "x".into(),
                status: 400,
                detail: "<html>Bad Request</html>".into()
            })
        );
    }
}
