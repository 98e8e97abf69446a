//! Access tokens for the mail protocols' sessions: one sign-in's refresh token turned into access tokens when a
//! session needs one, renewed before they expire, shared by every session of a mailbox (a job's watcher and its
//! sender, their reconnects) so the provider sees one refresh an hour, not one per connection.

use std::sync::Arc;
use std::time::Duration;

use super::{refresh, OAuthClient, OAuthError, Provider, Tokens};
use crate::Password;

/// Where a mailbox's sessions get their access token. Prints without any secret.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Provider,
    client: OAuthClient,
    refresh_token: Password,
    timeout: Duration,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Tokens>>,
}

impl TokenSource {
    pub fn new(
        provider: Provider,
        client: OAuthClient,
        refresh_token: Password,
        timeout: Duration,
    ) -> Result<TokenSource, OAuthError> {
        let http = crate::http::client(timeout)
            .map_err(|e| OAuthError::Network { host: crate::http::host_of(&provider.token), detail: e.to_string() })?;
        let cached = tokio::sync::Mutex::new(None);
        Ok(TokenSource { inner: Arc::new(Inner { provider, client, refresh_token, timeout, http, cached }) })
    }

    /// A valid access token: the one in hand, or a new one from the refresh token when it is due.
    pub async fn bearer(&self) -> Result<Password, OAuthError> {
        let i = &self.inner;
        let mut slot = i.cached.lock().await;
        if !slot.as_ref().is_some_and(Tokens::fresh) {
            *slot = Some(refresh(&i.http, &i.provider, &i.client, &i.refresh_token, i.timeout).await?);
        }
        Ok(slot.as_ref().map(|t| t.access.clone()).expect("just filled"))
    }

    /// A mail server refused `refused`, a token from here: a new one to try once more, `None` when the issuer
    /// hands out the same token again, or the issuer's own refusal ("… no longer accepts this profile's sign-in
    /// …") — which says what to do where the server's "authentication failed" does not.
    pub async fn renew(&self, refused: &Password) -> Result<Option<Password>, OAuthError> {
        let i = &self.inner;
        let mut slot = i.cached.lock().await;
        // Another session of the mailbox may have renewed it meanwhile.
        if let Some(t) = slot.as_ref().filter(|t| t.fresh() && t.access.expose() != refused.expose()) {
            return Ok(Some(t.access.clone()));
        }
        let tokens = refresh(&i.http, &i.provider, &i.client, &i.refresh_token, i.timeout).await?;
        let new = (tokens.access.expose() != refused.expose()).then(|| tokens.access.clone());
        *slot = Some(tokens);
        Ok(new)
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenSource({}, client {}, <refresh token redacted>)",
            self.inner.provider.name, self.inner.client.id
        )
    }
}
