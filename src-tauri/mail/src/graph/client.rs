//! One mailbox's Graph client: requests with a deadline each, the token renewed on a 401, throttling waited out as
//! Graph asks, four requests at most in flight, and a transcript of the exchange without any token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Semaphore;

use super::error::explain_refusal;
use super::token::{missing_roles, sign_in, Token};
use super::{GraphConfig, GraphError};
use crate::http::{host_of, read_capped, transport, Failure};

/// Exchange Online runs at most four concurrent requests per mailbox and app; more are throttled.
const MAILBOX_CONCURRENCY: usize = 4;
/// A Retry-After longer than this is waited in steps of this, so the total limit is checked.
const LONGEST_SINGLE_WAIT: Duration = Duration::from_secs(60);
/// When a 429 or 503 names no Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Transcript lines kept at most between two takes (a watch that nobody reads does not grow without end).
const MAX_TRANSCRIPT: usize = 2000;

/// A handle on one mailbox's Graph client. Handles made with [`Graph::handle`] share the token, the request gate
/// and the throttling count, and each keeps a transcript of its own requests: concurrent sends each get theirs.
pub struct Graph {
    shared: Arc<Shared>,
    config: GraphConfig,
    transcript: Mutex<Vec<String>>,
}

struct Shared {
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    gate: Semaphore,
    throttled_for: Mutex<Duration>,
}

/// A successful answer.
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

impl Graph {
    pub fn new(config: GraphConfig) -> Result<Graph, GraphError> {
        let http = crate::http::client(config.timeout)
            .map_err(|e| GraphError::Network { host: config.endpoints.graph.clone(), detail: e.to_string() })?;
        let shared = Shared {
            http,
            token: tokio::sync::Mutex::new(None),
            gate: Semaphore::new(MAILBOX_CONCURRENCY),
            throttled_for: Mutex::new(Duration::ZERO),
        };
        Ok(Graph { shared: Arc::new(shared), config, transcript: Mutex::new(Vec::new()) })
    }

    /// Another handle on the same client, with an empty transcript of its own.
    pub fn handle(&self) -> Graph {
        Graph { shared: Arc::clone(&self.shared), config: self.config.clone(), transcript: Mutex::new(Vec::new()) }
    }

    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// Signs in afresh and checks that the token carries Mail.Send and Mail.ReadWrite. Returns its roles.
    pub async fn sign_in(&self) -> Result<Vec<String>, GraphError> {
        let mut slot = self.shared.token.lock().await;
        let token = sign_in(&self.shared.http, &self.config).await?;
        self.note(format!(
            "POST {}/{}/oauth2/v2.0/token → 200 (signed in as the app)",
            self.login_host(),
            self.config.tenant
        ));
        let roles = token.roles.clone();
        *slot = Some(token);
        if let Some(missing) = missing_roles(&roles) {
            return Err(GraphError::NoConsent { missing, granted: roles.join(", ") });
        }
        Ok(roles)
    }

    /// A valid access token: the cached one, or a new one when it is due for renewal or `renew`.
    async fn bearer(&self, renew: bool) -> Result<String, GraphError> {
        let mut slot = self.shared.token.lock().await;
        if renew || !slot.as_ref().is_some_and(Token::fresh) {
            let token = sign_in(&self.shared.http, &self.config).await?;
            self.note(format!(
                "POST {}/{}/oauth2/v2.0/token → 200 ({})",
                self.login_host(),
                self.config.tenant,
                if renew { "renewed after a 401" } else { "signed in as the app" }
            ));
            *slot = Some(token);
        }
        Ok(slot.as_ref().map(|t| t.value.expose().to_owned()).unwrap_or_default())
    }

    fn login_host(&self) -> &str {
        self.config.endpoints.login.trim_end_matches('/')
    }

    /// `/users/{mailbox}` under Graph's v1.0, with the address escaped for a path.
    pub(super) fn user_path(&self, rest: &str) -> String {
        format!("/users/{}{rest}", escape(&self.config.mailbox))
    }

    /// Sends one request (`target` is a path under `/v1.0`, or a `@odata.nextLink` Graph gave), reading at most
    /// `max_body` bytes of the answer. Renews the token once on a 401; waits out 429 and 503 as Retry-After says
    /// while the run's total wait allows; anything else that is not 2xx is explained.
    pub(super) async fn call(
        &self,
        what: &str,
        method: Method,
        target: &str,
        body: Option<(&'static str, Vec<u8>)>,
        max_body: usize,
    ) -> Result<Answer, GraphError> {
        let base = self.config.endpoints.graph.trim_end_matches('/');
        let url = if target.starts_with('/') {
            format!("{base}/v1.0{target}")
        } else if target.starts_with(&format!("{base}/")) {
            target.to_owned()
        } else {
            // Never send the token anywhere but Graph.
            return Err(GraphError::BadAnswer {
                what: what.into(),
                detail: format!("a next page outside Graph: {target}"),
            });
        };
        let shown = url.strip_prefix(base).unwrap_or(&url).to_owned();
        let mut renewed = false;
        let mut waited = Duration::ZERO;
        loop {
            let permit = self.shared.gate.acquire().await.expect("the gate is never closed");
            let token = self.bearer(false).await?;
            let mut request =
                self.shared.http.request(method.clone(), &url).timeout(self.config.timeout).bearer_auth(token);
            if let Some((content_type, bytes)) = &body {
                request = request.header(reqwest::header::CONTENT_TYPE, *content_type).body(bytes.clone());
            } else if method == Method::POST {
                // An action without parameters (permanentDelete): Graph's front door answers 411 to a POST that
                // does not say its length, and an empty body alone goes out without one.
                request = request.header(reqwest::header::CONTENT_LENGTH, "0").body(Vec::new());
            }
            let answer = request
                .send()
                .await
                .map_err(|e| transport_error(what, &self.config.endpoints.graph, self.config.timeout, &e))?;
            let status = answer.status().as_u16();
            let request_id = answer.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let retry_after = answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = read_capped(answer, max_body, self.config.timeout)
                .await
                .map_err(|f| failed(what, &self.config.endpoints.graph, self.config.timeout, f))?;
            drop(permit);
            let id = request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default();
            match status {
                200..=299 => {
                    self.note(format!("{method} {shown} → {status}{id}"));
                    return Ok(Answer { status, body: bytes, request_id });
                }
                401 if !renewed => {
                    self.note(format!("{method} {shown} → 401{id}: the token was refused; signing in again"));
                    renewed = true;
                    self.bearer(true).await?;
                }
                429 | 503 => {
                    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER).min(LONGEST_SINGLE_WAIT);
                    if waited + wait > self.config.max_throttle_wait {
                        self.note(format!("{method} {shown} → {status}{id}: throttled; giving up"));
                        return Err(GraphError::Throttled {
                            detail: format!("HTTP {status} on {what}"),
                            waited_secs: waited.as_secs(),
                        });
                    }
                    waited += wait;
                    *self.shared.throttled_for.lock().expect("not poisoned") += wait;
                    self.note(format!(
                        "{method} {shown} → {status}{id}: throttled; waiting {} s as Graph asks",
                        wait.as_secs()
                    ));
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    self.note(format!("{method} {shown} → {status}{id}"));
                    return Err(explain_refusal(&self.config.mailbox, what, status, &bytes, request_id.as_deref()));
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

    /// The exchange since the last call, one line per request: method, path, status, request id, waits.
    pub fn take_transcript(&self) -> Vec<String> {
        std::mem::take(&mut *self.transcript.lock().expect("not poisoned"))
    }

    /// How long this client (every handle) has waited out throttling in all.
    pub fn throttled_for(&self) -> Duration {
        *self.shared.throttled_for.lock().expect("not poisoned")
    }
}

/// A failed request or answer in Graph's words.
pub(super) fn failed(what: &str, base: &str, timeout: Duration, f: Failure) -> GraphError {
    match f {
        Failure::TimedOut => GraphError::TimedOut { what: what.to_owned(), secs: timeout.as_secs() },
        Failure::Network { detail, .. } => GraphError::Network { host: host_of(base), detail },
        Failure::TooBig(max) => {
            GraphError::BadAnswer { what: what.to_owned(), detail: format!("an answer over {max} bytes") }
        }
        Failure::Read(detail) => GraphError::BadAnswer { what: what.to_owned(), detail },
    }
}

pub(super) fn transport_error(what: &str, base: &str, timeout: Duration, e: &reqwest::Error) -> GraphError {
    failed(what, base, timeout, transport(base, e))
}

/// Escapes a path segment (an address, a Graph id) the way Graph expects.
pub(super) fn escape(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(escape("bob@example.test"), "bob@example.test");
        assert_eq!(escape("AAMk/a+b=="), "AAMk%2Fa%2Bb%3D%3D");
        assert_eq!(escape("o'brien@x"), "o%27brien@x");
    }
}
