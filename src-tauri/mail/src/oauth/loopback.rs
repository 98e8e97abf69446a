//! The consent: a listener on 127.0.0.1 (a free port), the provider's consent page opened in the system browser
//! with PKCE and a random state, and the browser's redirect back to the listener, whose code is exchanged for the
//! tokens. Answers with a state other than ours are refused and waited past; the wait has a deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::{check_scopes, random_text, token_request, Grant, OAuthClient, OAuthError, Pkce, Provider, Tokens};

/// The most of a browser's request Mailproof reads (its request line and headers).
const MAX_REQUEST: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// A consent under way: the URL to open, and the listener its answer comes back to.
pub struct Consent {
    listener: TcpListener,
    redirect: String,
    state: String,
    pkce: Pkce,
    url: String,
    provider: Provider,
    client: OAuthClient,
}

impl Consent {
    /// Listens on a free loopback port and builds the consent URL. `login_hint` preselects the account.
    pub async fn begin(
        provider: Provider,
        client: OAuthClient,
        login_hint: Option<&str>,
    ) -> Result<Consent, OAuthError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| OAuthError::Loopback { detail: format!("cannot listen on 127.0.0.1: {e}") })?;
        let port = listener.local_addr().map_err(|e| OAuthError::Loopback { detail: e.to_string() })?.port();
        let redirect = format!("http://127.0.0.1:{port}/");
        let state = random_text(16);
        let pkce = Pkce::new();
        let mut url = reqwest::Url::parse(&provider.authorization).map_err(|e| OAuthError::BadAnswer {
            detail: format!("the authorization URL {}: {e}", provider.authorization),
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.id)
                .append_pair("redirect_uri", &redirect)
                .append_pair("scope", &provider.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256")
                // A refresh token, and a fresh one on every consent (Google sends one only on the first otherwise).
                .append_pair("access_type", "offline")
                .append_pair("prompt", "consent");
            if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(Consent { listener, redirect, state, pkce, url: url.into(), provider, client })
    }

    /// The consent page to open in the browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the browser comes back to: `http://127.0.0.1:PORT/`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect
    }

    /// Waits up to `wait` for the browser's redirect, then exchanges its code for tokens (with a refresh token).
    pub async fn finish(self, wait: Duration, timeout: Duration) -> Result<Tokens, OAuthError> {
        let http = crate::http::client(timeout).map_err(|e| OAuthError::Network {
            host: crate::http::host_of(&self.provider.token),
            detail: e.to_string(),
        })?;
        let http = &http;
        let deadline = Instant::now() + wait;
        let code = loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept())
                .await
                .map_err(|_| OAuthError::NoConsent { secs: wait.as_secs() })?;
            let Ok((mut conn, _)) = accepted else { continue };
            let Some(target) = read_target(&mut conn).await else { continue };
            match self.answer_of(&target) {
                Answer::NotOurs(status, page) => respond(&mut conn, status, &page).await,
                Answer::Refused(e) => {
                    respond(&mut conn, 200, &format!("Mailproof was not signed in: {e}")).await;
                    return Err(e);
                }
                Answer::Code(code) => {
                    respond(
                        &mut conn,
                        200,
                        "Mailproof has your consent. You can close this tab and go back to Mailproof.",
                    )
                    .await;
                    break code;
                }
            }
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", self.redirect.as_str()),
            ("client_id", self.client.id.as_str()),
            ("code_verifier", self.pkce.verifier.expose()),
        ];
        if !self.client.secret.expose().is_empty() {
            form.push(("client_secret", self.client.secret.expose()));
        }
        let tokens = token_request(http, &self.provider, &form, timeout, Grant::Code).await?;
        check_scopes(&self.provider, &tokens)?;
        if tokens.refresh.is_none() {
            return Err(OAuthError::NoRefreshToken {
                provider: self.provider.name.clone(),
                page: self.provider.account_page.clone(),
            });
        }
        Ok(tokens)
    }

    fn answer_of(&self, target: &str) -> Answer {
        let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
            return Answer::NotOurs(400, "Not a request Mailproof understands.".into());
        };
        let get = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        let (state, code, error) = (get("state"), get("code"), get("error"));
        if url.path() != "/" || (code.is_none() && error.is_none()) {
            return Answer::NotOurs(404, "Nothing here.".into());
        }
        if state.as_deref() != Some(self.state.as_str()) {
            return Answer::NotOurs(
                400,
                "This answer is not for the consent Mailproof started; it was ignored.".into(),
            );
        }
        match (code, error) {
            (_, Some(error)) => {
                Answer::Refused(OAuthError::explain(&self.provider, false, &error, get("error_description").as_deref()))
            }
            (Some(code), None) => Answer::Code(code),
            (None, None) => unreachable!("checked above"),
        }
    }
}

enum Answer {
    NotOurs(u16, String),
    Refused(OAuthError),
    Code(String),
}

/// The request target of a browser's GET, or `None` for anything else or a request that stalls.
async fn read_target(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 2048];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(REQUEST_WAIT, read).await.ok()??;
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    (parts.next()? == "GET").then_some(())?;
    parts.next().filter(|t| t.starts_with('/')).map(str::to_owned)
}

async fn respond(conn: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Mailproof</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>Mailproof</h1><p>{escaped}</p></body></html>"
    );
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REQUEST_WAIT, conn.write_all(reply.as_bytes())).await;
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(port: u16, target: &str) -> String {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_foreign_state_is_ignored_and_a_refusal_is_explained() {
        let client = OAuthClient { id: "client".into(), secret: crate::Password::new("s") };
        let consent = Consent::begin(Provider::google(Some("http://127.0.0.1:9")), client, Some("bob@example.test"))
            .await
            .unwrap();
        let url = reqwest::Url::parse(consent.url()).unwrap();
        let q = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned()).unwrap();
        assert_eq!(q("code_challenge_method"), "S256");
        assert_eq!(q("login_hint"), "bob@example.test");
        assert_eq!(q("redirect_uri"), consent.redirect_uri());
        let state = q("state");
        let port: u16 = consent.redirect_uri()[17..].trim_end_matches('/').parse().unwrap();
        let browser = tokio::spawn(async move {
            let favicon = get(port, "/favicon.ico").await;
            let forged = get(port, "/?code=stolen&state=guess").await;
            let denied = get(port, &format!("/?error=access_denied&state={state}")).await;
            (favicon, forged, denied)
        });
        let e = consent.finish(Duration::from_secs(5), Duration::from_secs(5)).await;
        assert!(matches!(e, Err(OAuthError::Denied { .. })), "{e:?}");
        let (favicon, forged, denied) = browser.await.unwrap();
        assert!(favicon.starts_with("HTTP/1.1 404"));
        assert!(forged.starts_with("HTTP/1.1 400") && forged.contains("not for the consent"), "{forged}");
        assert!(denied.contains("was not signed in: the sign-in was declined"), "{denied}");
    }

    #[tokio::test]
    async fn no_answer_ends_at_the_deadline() {
        let client = OAuthClient { id: "client".into(), secret: crate::Password::new("s") };
        let consent = Consent::begin(Provider::google(None), client, None).await.unwrap();
        let e = consent.finish(Duration::from_millis(200), Duration::from_secs(1)).await;
        assert!(matches!(e, Err(OAuthError::NoConsent { .. })), "{e:?}");
    }
}
