//! What the HTTPS clients (Microsoft Graph, the Gmail API, OAuth token endpoints) share: an answer read with a
//! size cap and a deadline per chunk, and a transport failure told apart as a timeout or a network problem. Each
//! client puts the failure in its own words.

use std::time::Duration;

/// Why a request or its answer did not come through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    TimedOut,
    /// The host (from the base URL) and the innermost cause.
    Network {
        host: String,
        detail: String,
    },
    /// The answer was over this many bytes.
    TooBig(usize),
    /// The answer broke off while it was read.
    Read(String),
}

/// An HTTPS client as every API client here uses it: rustls, no redirects followed (an API never redirects; a
/// redirect would carry a token elsewhere), connections limited to `connect_timeout`.
pub(crate) fn client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Mailproof/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads an answer's body, refusing one over `max` bytes and one that stalls past `timeout`.
pub(crate) async fn read_capped(
    mut answer: reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        let chunk = tokio::time::timeout(timeout, answer.chunk())
            .await
            .map_err(|_| Failure::TimedOut)?
            .map_err(|e| Failure::Read(e.to_string()))?;
        let Some(chunk) = chunk else { return Ok(out) };
        if out.len() + chunk.len() > max {
            return Err(Failure::TooBig(max));
        }
        out.extend_from_slice(&chunk);
    }
}

/// A request to `base` that failed before an answer came.
pub(crate) fn transport(base: &str, e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::TimedOut;
    }
    Failure::Network { host: host_of(base), detail: innermost(e) }
}

/// `https://host/path` → `host`.
pub(crate) fn host_of(url: &str) -> String {
    url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or(url).to_owned()
}

/// The innermost cause of an error: what actually went wrong ("connection refused"), not its wrappers.
pub(crate) fn innermost(e: &dyn std::error::Error) -> String {
    let mut source = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_read_from_a_base_url() {
        assert_eq!(host_of("https://graph.microsoft.com/"), "graph.microsoft.com");
        assert_eq!(host_of("http://127.0.0.1:8080/token"), "127.0.0.1:8080");
        assert_eq!(host_of("gmail.googleapis.com"), "gmail.googleapis.com");
    }
}
