//! Signing in as the app: the OAuth 2.0 client-credentials grant against the tenant's token endpoint. The access
//! token is held in memory only (never logged, never stored) and renewed five minutes before it expires.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::error::AadError;
use super::{GraphConfig, GraphError};
use crate::Password;

/// The application permissions Mailproof needs, with admin consent.
pub const REQUIRED_ROLES: [&str; 2] = ["Mail.Send", "Mail.ReadWrite"];

/// Renew this long before the token expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// An access token and when to renew it.
pub(super) struct Token {
    pub value: Password,
    pub renew_at: Instant,
    /// The application roles it carries (from its `roles` claim).
    pub roles: Vec<String>,
}

impl Token {
    pub fn fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// Asks the tenant's token endpoint for an app-only token for Graph.
pub(super) async fn sign_in(http: &reqwest::Client, config: &GraphConfig) -> Result<Token, GraphError> {
    let url = format!("{}/{}/oauth2/v2.0/token", config.endpoints.login.trim_end_matches('/'), config.tenant);
    let what = "The Microsoft sign-in";
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.secret.expose()),
        ("scope", &config.cloud.scope()),
    ];
    let answer = http
        .post(&url)
        .timeout(config.timeout)
        .form(&form)
        .send()
        .await
        .map_err(|e| super::client::transport_error(what, &config.endpoints.login, config.timeout, &e))?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| GraphError::BadAnswer { what: what.into(), detail: e.to_string() })?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<AadError>(&body) {
            Ok(aad) => aad.explain(&config.tenant, &config.client_id),
            Err(_) => GraphError::SignIn {
                detail: format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]).trim()),
            },
        });
    }
    let t: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| GraphError::BadAnswer { what: what.into(), detail: format!("no access token ({e})") })?;
    let lifetime = Duration::from_secs(t.expires_in.max(60));
    let roles = roles_of(&t.access_token);
    Ok(Token {
        renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2)),
        value: Password::new(t.access_token),
        roles,
    })
}

/// The application roles in an access token's `roles` claim (it is a JWT; the signature is Graph's business,
/// the claims tell which permissions were consented). Empty when the token is not a readable JWT.
pub fn roles_of(token: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        roles: Vec<String>,
    }
    let Some(payload) = token.split('.').nth(1) else { return Vec::new() };
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|json| serde_json::from_slice::<Claims>(&json).ok())
        .map(|c| c.roles)
        .unwrap_or_default()
}

/// The required roles a token lacks, in words, or `None` when it has them all.
pub(super) fn missing_roles(roles: &[String]) -> Option<String> {
    let missing: Vec<&str> =
        REQUIRED_ROLES.iter().copied().filter(|r| !roles.iter().any(|g| g.eq_ignore_ascii_case(r))).collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_the_tokens_claims() {
        let claims =
            URL_SAFE_NO_PAD.encode(br#"{"aud":"https://graph.microsoft.com","roles":["Mail.ReadWrite","Mail.Send"]}"#);
        let token = format!("eyJ0eXAiOiJKV1QifQ.{claims}.c2ln");
        assert_eq!(roles_of(&token), ["Mail.ReadWrite", "Mail.Send"]);
        assert_eq!(missing_roles(&roles_of(&token)), None);
        let none = format!("eyJ0eXAiOiJKV1QifQ.{}.c2ln", URL_SAFE_NO_PAD.encode(br#"{"aud":"x"}"#));
        assert_eq!(missing_roles(&roles_of(&none)).as_deref(), Some("Mail.Send and Mail.ReadWrite"));
        assert!(roles_of("not a jwt").is_empty());
        assert!(roles_of("a.%%%.c").is_empty());
    }
}
