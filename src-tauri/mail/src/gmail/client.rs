//! One mailbox's Gmail API client: requests with a deadline each, the access token from the refresh token (renewed
//! before it expires and once on a 401), rate limits waited out, a few requests at most in flight, and a
//! transcript of the exchange without any token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Semaphore;

use super::error::{backoff, read_refusal, Refusal};
use super::{GmailConfig, GmailError};
use crate::http::{host_of, read_capped, transport, Failure};
use crate::oauth::{self, Tokens};

/// Requests in flight per mailbox at most: Gmail answers "Too many concurrent requests for user" beyond a few.
const MAILBOX_CONCURRENCY: usize = 4;
/// A Retry-After longer than this is waited in steps of this, so the total limit is checked.
const LONGEST_SINGLE_WAIT: Duration = Duration::from_secs(60);
/// Transcript lines kept at most between two takes.
const MAX_TRANSCRIPT: usize = 2000;

/// A handle on one mailbox's client. Handles made with [`Gmail::handle`] share the token, the request gate and
/// the throttling count; each keeps a transcript of its own requests.
pub struct Gmail {
    shared: Arc<Shared>,
    config: GmailConfig,
    transcript: Mutex<Vec<String>>,
}

struct Shared {
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Tokens>>,
    gate: Semaphore,
    throttled_for: Mutex<Duration>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Gmail {
    pub fn new(config: GmailConfig) -> Result<Gmail, GmailError> {
        let http = crate::http::client(config.timeout)
            .map_err(|e| GmailError::Network { host: host_of(&config.api), detail: e.to_string() })?;
        let shared = Shared {
            http,
            token: tokio::sync::Mutex::new(None),
            gate: Semaphore::new(MAILBOX_CONCURRENCY),
            throttled_for: Mutex::new(Duration::ZERO),
        };
        Ok(Gmail { shared: Arc::new(shared), config, transcript: Mutex::new(Vec::new()) })
    }

    /// Another handle on the same client, with an empty transcript of its own.
    pub fn handle(&self) -> Gmail {
        Gmail { shared: Arc::clone(&self.shared), config: self.config.clone(), transcript: Mutex::new(Vec::new()) }
    }

    pub fn config(&self) -> &GmailConfig {
        &self.config
    }

    /// A valid access token: the cached one, or a new one from the refresh token when due or `renew`.
    async fn bearer(&self, renew: bool) -> Result<String, GmailError> {
        let mut slot = self.shared.token.lock().await;
        if renew || !slot.as_ref().is_some_and(Tokens::fresh) {
            let c = &self.config;
            let tokens = oauth::refresh(&self.shared.http, &c.provider, &c.client, &c.refresh_token, c.timeout).await;
            let tokens = match tokens {
                Ok(t) => t,
                Err(e) => {
                    self.note(format!("POST {} → refused: {e}", c.provider.token));
                    return Err(e.into());
                }
            };
            self.note(format!(
                "POST {} → 200 ({})",
                c.provider.token,
                if renew { "a new access token after a 401" } else { "an access token from the stored sign-in" }
            ));
            *slot = Some(tokens);
        }
        Ok(slot.as_ref().map(|t| t.bearer().to_owned()).unwrap_or_default())
    }

    /// Signs in with the stored consent now, and returns the scopes the access token carries.
    pub async fn sign_in(&self) -> Result<Vec<String>, GmailError> {
        self.bearer(false).await?;
        Ok(self.shared.token.lock().await.as_ref().map(|t| t.scopes.clone()).unwrap_or_default())
    }

    /// Sends one request to `path` under the API's base (`/gmail/v1/users/me/…`) with `query`, reading at most
    /// `max_body` bytes of the answer. Renews the token once on a 401; waits out rate limits while the run's total
    /// wait allows; anything else that is not 2xx is explained.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<(&'static str, Vec<u8>)>,
        max_body: usize,
    ) -> Result<Answer, GmailError> {
        let base = self.config.api.trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}{path}"))
            .map_err(|e| GmailError::BadAnswer { what: what.into(), detail: format!("the URL {base}{path}: {e}") })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let shown = match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let mut renewed = false;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let permit = self.shared.gate.acquire().await.expect("the gate is never closed");
            let token = self.bearer(false).await?;
            let mut request =
                self.shared.http.request(method.clone(), url.clone()).timeout(self.config.timeout).bearer_auth(token);
            if let Some((content_type, bytes)) = &body {
                request = request.header(reqwest::header::CONTENT_TYPE, *content_type).body(bytes.clone());
            } else if method == Method::POST {
                request = request.header(reqwest::header::CONTENT_LENGTH, "0").body(Vec::new());
            }
            let answer = request
                .send()
                .await
                .map_err(|e| failed(what, &self.config.api, self.config.timeout, transport(&self.config.api, &e)))?;
            let status = answer.status().as_u16();
            let retry_after = answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = read_capped(answer, max_body, self.config.timeout)
                .await
                .map_err(|f| failed(what, &self.config.api, self.config.timeout, f))?;
            drop(permit);
            if (200..300).contains(&status) {
                self.note(format!("{method} {shown} → {status}"));
                return Ok(Answer { status, body: bytes });
            }
            if status == 401 && !renewed {
                self.note(format!("{method} {shown} → 401: the access token was refused; asking for a new one"));
                renewed = true;
                self.bearer(true).await?;
                continue;
            }
            match read_refusal(what, status, &bytes) {
                Refusal::Fail(e) => {
                    self.note(format!("{method} {shown} → {status}"));
                    return Err(e);
                }
                Refusal::Retry { detail } => {
                    let wait = retry_after.unwrap_or_else(|| backoff(attempt)).min(LONGEST_SINGLE_WAIT);
                    attempt += 1;
                    if waited + wait > self.config.max_throttle_wait {
                        self.note(format!("{method} {shown} → {status}: rate limited; giving up"));
                        return Err(GmailError::RateLimited { detail, waited_secs: waited.as_secs() });
                    }
                    waited += wait;
                    *self.shared.throttled_for.lock().expect("not poisoned") += wait;
                    self.note(format!("{method} {shown} → {status}: rate limited; waiting {} s", wait.as_secs()));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn note(&self, line: String) {
        let mut t = self.transcript.lock().expect("not poisoned");
        if t.len() >= MAX_TRANSCRIPT {
            t.drain(..MAX_TRANSCRIPT / 2);
        }
        t.push(line);
    }

    /// The exchange since the last call, one line per request: method, path, status, waits.
    pub fn take_transcript(&self) -> Vec<String> {
        std::mem::take(&mut *self.transcript.lock().expect("not poisoned"))
    }

    /// How long this client (every handle) has waited out rate limits in all.
    pub fn throttled_for(&self) -> Duration {
        *self.shared.throttled_for.lock().expect("not poisoned")
    }
}

/// A failed request or answer in Gmail's words.
fn failed(what: &str, base: &str, timeout: Duration, f: Failure) -> GmailError {
    match f {
        Failure::TimedOut => GmailError::TimedOut { what: what.to_owned(), secs: timeout.as_secs() },
        Failure::Network { detail, .. } => GmailError::Network { host: host_of(base), detail },
        Failure::TooBig(max) => {
            GmailError::BadAnswer { what: what.to_owned(), detail: format!("an answer over {max} bytes") }
        }
        Failure::Read(detail) => GmailError::BadAnswer { what: what.to_owned(), detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{OAuthClient, OAuthError, Provider};
    use crate::Password;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers each request with the next of `replies` (status, body) and records the
    /// request lines and bodies it got.
    async fn serve(replies: Vec<(u16, &'static str)>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, body) in replies {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = c.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len || n == 0 {
                            seen.push(format!("{} {}", text.lines().next().unwrap(), &text[end + 4..]));
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                c.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (base, task)
    }

    fn config(base: &str) -> GmailConfig {
        let client = OAuthClient { id: "client-1".into(), secret: Password::new("client-secret-1") };
        let mut c = GmailConfig::new("bob@example.test", client, Password::new("refresh-1"));
        c.provider = Provider::google(Some(base));
        c.api = base.to_owned();
        c.timeout = Duration::from_secs(5);
        c
    }

    const TOKEN: &str = r#"{"access_token":"ya29.access-1","expires_in":3599,"scope":"https://www.googleapis.com/auth/gmail.modify","token_type":"Bearer"}"#;
    const LIMITED: &str = r#"{"error":{"code":429,"message":"Too many concurrent requests for user.","errors":[{"message":"Too many concurrent requests for user.","domain":"global","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED"}}"#;

    #[tokio::test]
    async fn a_rate_limit_is_waited_out_and_no_token_reaches_the_transcript() {
        let (base, server) =
            serve(vec![(200, TOKEN), (429, LIMITED), (200, r#"{"emailAddress":"bob@example.test"}"#)]).await;
        let gmail = Gmail::new(config(&base)).unwrap();
        let answer = gmail.call("reading the profile", Method::GET, "/gmail/v1/users/me/profile", &[], None, 1 << 20);
        let answer = answer.await.unwrap();
        assert!(String::from_utf8_lossy(&answer.body).contains("bob@example.test"));
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("POST /token ") && seen[0].contains("grant_type=refresh_token"), "{seen:?}");
        assert!(seen[1].starts_with("GET /gmail/v1/users/me/profile "), "{seen:?}");
        assert_eq!(gmail.throttled_for(), Duration::from_secs(1), "one back-off of 1 s");
        let transcript = gmail.take_transcript().join("\n");
        assert!(transcript.contains("→ 429: rate limited; waiting 1 s"), "{transcript}");
        for secret in ["ya29.access-1", "refresh-1", "client-secret-1"] {
            assert!(!transcript.contains(secret), "{transcript}");
        }
    }

    #[tokio::test]
    async fn a_revoked_sign_in_is_explained_with_the_fix() {
        let revoked = r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#;
        let (base, _server) = serve(vec![(400, revoked)]).await;
        let gmail = Gmail::new(config(&base)).unwrap();
        let e = gmail.call("reading the profile", Method::GET, "/gmail/v1/users/me/profile", &[], None, 1 << 20).await;
        let e = e.unwrap_err();
        assert!(matches!(e, GmailError::OAuth(OAuthError::Revoked { .. })), "{e:?}");
        assert!(e.is_setup() && e.to_string().contains("sign the profile in again"), "{e}");
    }
}
