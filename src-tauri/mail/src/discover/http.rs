//! The HTTP side of discovery: one client with the sources' time limit, and GETs that tell "no such file" from
//! a failure.

use super::{DiscoveryConfig, Failure, SourceOutcome};

pub(super) type Client = Result<reqwest::Client, reqwest::Error>;

pub(super) fn client(config: &DiscoveryConfig) -> Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("Mailproof/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A GET's outcome: what was asked, and the body (`None`: HTTP 404) or why not.
pub(super) struct Fetched {
    pub asked: String,
    pub result: Result<Option<String>, Failure>,
}

/// GETs `https://{host}{path_and_query}` (or, with `http_base`, the same path from the base with `host` in the
/// Host header).
pub(super) async fn fetch_from_host(
    http: &Client,
    config: &DiscoveryConfig,
    host: &str,
    path_and_query: &str,
) -> Fetched {
    let http = match http {
        Ok(c) => c,
        Err(e) => {
            return Fetched {
                asked: String::new(),
                result: Err(Failure::new(SourceOutcome::Failed, format!("cannot set up HTTP: {e}"))),
            }
        }
    };
    let (asked, request) = match &config.http_base {
        Some(base) => {
            let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
            (format!("https://{host}{path_and_query} (via {base})"), http.get(&url).header(reqwest::header::HOST, host))
        }
        None => {
            let url = format!("https://{host}{path_and_query}");
            (url.clone(), http.get(url))
        }
    };
    Fetched { asked, result: body(request).await }
}

/// GETs `url` as it is.
pub(super) async fn fetch_url(http: &Client, url: String) -> Fetched {
    match http {
        Ok(http) => {
            let result = body(http.get(&url)).await;
            Fetched { asked: url, result }
        }
        Err(_) => Fetched { asked: url, result: Err(Failure::new(SourceOutcome::Failed, "cannot set up HTTP")) },
    }
}

async fn body(request: reqwest::RequestBuilder) -> Result<Option<String>, Failure> {
    match request.send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => Ok(None),
        Ok(resp) if !resp.status().is_success() => {
            Err(Failure::new(SourceOutcome::Failed, format!("the server answered HTTP {}", resp.status())))
        }
        Ok(resp) => match resp.text().await {
            Ok(body) => Ok(Some(body)),
            Err(e) => Err(Failure::new(SourceOutcome::Failed, format!("cannot read the answer: {e}"))),
        },
        Err(e) if e.is_timeout() => Err(Failure::new(SourceOutcome::TimedOut, "no answer in time")),
        Err(e) if e.is_connect() => {
            Err(Failure::new(SourceOutcome::NotFound, format!("nothing answered ({})", root_cause(&e))))
        }
        Err(e) => Err(Failure::new(SourceOutcome::Failed, root_cause(&e))),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
