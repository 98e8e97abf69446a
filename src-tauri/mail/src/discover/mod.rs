//! Autodiscovery of a mailbox's servers from its address, as mail clients do it: the domain's autoconfig
//! file (`autoconfig.<domain>` and `/.well-known/autoconfig/`), the Thunderbird ISPDB, RFC 6186/8314 SRV
//! records, the MX host's provider in the ISPDB, and finally guessing common host names and ports — a file
//! for each source.
//!
//! Every source runs at the same time with its own time limit, so dead sources cost one time-out, not the
//! sum of them. Where the DNS and HTTP requests go is configurable (tests point them at local servers); the
//! real resolver and the real URLs are the defaults.

mod autoconfig;
mod dns;
mod guess;
mod http;
mod ispdb;
mod xml;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Encryption;

pub use xml::{parse_config_xml, AddressParts, ConfigServers};

/// The Thunderbird ISPDB, the default provider database.
pub const ISPDB_BASE: &str = "https://autoconfig.thunderbird.net/v1.1/";

#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// A DNS server to ask instead of the system's resolver.
    pub dns_server: Option<SocketAddr>,
    /// Fetch the domain's autoconfig files from this base URL (e.g. `http://127.0.0.1:8080`) with the real
    /// host in the `Host` header, instead of from the real hosts over HTTPS.
    pub http_base: Option<String>,
    /// The provider database's base URL; the domain is appended.
    pub ispdb_base: String,
    /// Limit for each source.
    pub timeout: Duration,
    /// The ports the guess tries, per protocol, encrypted first.
    pub guess_ports: GuessPorts,
}

#[derive(Debug, Clone)]
pub struct GuessPorts {
    pub imap: Vec<(u16, Encryption)>,
    pub pop3: Vec<(u16, Encryption)>,
    pub smtp: Vec<(u16, Encryption)>,
}

impl Default for GuessPorts {
    fn default() -> Self {
        use Encryption::*;
        GuessPorts {
            imap: vec![(993, Tls), (143, StartTls)],
            pop3: vec![(995, Tls), (110, StartTls)],
            smtp: vec![(465, Tls), (587, StartTls), (25, StartTls)],
        }
    }
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            dns_server: None,
            http_base: None,
            ispdb_base: ISPDB_BASE.to_owned(),
            // Each source gets this long; they run side by side, so a dead one costs this once.
            timeout: Duration::from_millis(2500),
            guess_ports: GuessPorts::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// `autoconfig.<domain>/mail/config-v1.1.xml`
    Autoconfig,
    /// `<domain>/.well-known/autoconfig/mail/config-v1.1.xml`
    WellKnown,
    /// The Thunderbird ISPDB entry for the domain.
    Ispdb,
    /// RFC 6186 / RFC 8314 SRV records.
    Srv,
    /// The ISPDB entry of the provider that runs the domain's MX host.
    Mx,
    /// Common host names and ports that answered.
    Guess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum SourceOutcome {
    Found,
    NotFound,
    Failed,
    TimedOut,
}

/// What one source did, for the wizard's "where this came from" list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SourceReport {
    pub kind: SourceKind,
    /// What was asked, e.g. the URL or the record name.
    pub asked: String,
    pub outcome: SourceOutcome,
    pub detail: String,
    pub millis: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum HintProtocol {
    Imap,
    Pop3,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum HintSecurity {
    None,
    StartTls,
    Tls,
}

impl From<Encryption> for HintSecurity {
    fn from(e: Encryption) -> Self {
        match e {
            Encryption::None => HintSecurity::None,
            Encryption::StartTls => HintSecurity::StartTls,
            Encryption::Tls => HintSecurity::Tls,
        }
    }
}

/// One server a source suggests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ServerHint {
    pub protocol: HintProtocol,
    pub host: String,
    pub port: u16,
    pub security: HintSecurity,
    /// The user name the source says to use, placeholders filled in.
    pub username: Option<String>,
    /// True when the source names NTLM as the sign-in method.
    pub ntlm: bool,
    /// Where the source says the server takes OAuth 2.0 (`<authentication>OAuth2`), with its issuer when the
    /// file names one (`<oAuth2>`).
    pub oauth: Option<OAuthHint>,
}

/// The OAuth 2.0 issuer an autoconfig file names for its servers, as Thunderbird reads it. Empty fields are unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct OAuthHint {
    /// The issuer's host, e.g. `accounts.google.com`, `login.microsoftonline.com`.
    pub issuer: String,
    /// The scopes, separated by spaces (Thunderbird's include its address book and calendar ones).
    pub scopes: String,
    pub authorization_url: String,
    pub token_url: String,
}

/// The settings one source suggests, best first within each list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub source: SourceKind,
    pub asked: String,
    pub incoming: Vec<ServerHint>,
    pub outgoing: Vec<ServerHint>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    pub domain: String,
    /// Most trustworthy source first: the domain's own files, then the ISPDB, SRV, MX and the guess.
    pub suggestions: Vec<Suggestion>,
    pub sources: Vec<SourceReport>,
    pub millis: u32,
}

/// Discovers the servers for `email`. Never fails: sources that fail say so in `sources`.
pub async fn discover(email: &str, config: &DiscoveryConfig) -> Discovery {
    let started = Instant::now();
    let (local, domain) = match email.trim().rsplit_once('@') {
        Some((l, d)) if !l.is_empty() && !d.is_empty() => (l.to_owned(), d.trim_end_matches('.').to_ascii_lowercase()),
        _ => {
            return Discovery { domain: String::new(), suggestions: Vec::new(), sources: Vec::new(), millis: 0 };
        }
    };
    let address = Address { email: format!("{local}@{domain}"), local, domain: domain.clone() };
    let resolver = dns::resolver(config);
    let http = http::client(config);

    let (autoconfig, well_known, ispdb, srv, mx, guess) = tokio::join!(
        within(config.timeout, SourceKind::Autoconfig, autoconfig::file(&http, config, &address, false)),
        within(config.timeout, SourceKind::WellKnown, autoconfig::file(&http, config, &address, true)),
        within(config.timeout, SourceKind::Ispdb, ispdb::entry(&http, config, &address, &domain)),
        within(config.timeout, SourceKind::Srv, dns::srv(&resolver, &domain)),
        within(config.timeout, SourceKind::Mx, dns::mx(&resolver, &http, config, &address)),
        within(config.timeout, SourceKind::Guess, guess::guess(&resolver, config, &address)),
    );
    let mut suggestions = Vec::new();
    let mut sources = Vec::new();
    for heard in [autoconfig, well_known, ispdb, srv, mx, guess] {
        sources.push(heard.report);
        suggestions.extend(heard.suggestion);
    }
    Discovery { domain, suggestions, sources, millis: started.elapsed().as_millis().min(u32::MAX as u128) as u32 }
}

/// The address being discovered, split.
struct Address {
    email: String,
    local: String,
    domain: String,
}

/// The servers a source named, and how it says it found them.
struct Servers {
    incoming: Vec<ServerHint>,
    outgoing: Vec<ServerHint>,
    detail: String,
}

impl Servers {
    fn none(detail: impl Into<String>) -> Servers {
        Servers { incoming: Vec::new(), outgoing: Vec::new(), detail: detail.into() }
    }
}

/// Why a source gave nothing.
struct Failure {
    outcome: SourceOutcome,
    detail: String,
}

impl Failure {
    fn new(outcome: SourceOutcome, detail: impl Into<String>) -> Failure {
        Failure { outcome, detail: detail.into() }
    }
}

/// A source's outcome before timing: what was asked, and the servers found (none: not found) or why not.
struct Found {
    asked: String,
    result: Result<Servers, Failure>,
}

/// What a source produced: its report and, when it found something, its suggestion.
struct Heard {
    report: SourceReport,
    suggestion: Option<Suggestion>,
}

async fn within(limit: Duration, kind: SourceKind, work: impl std::future::Future<Output = Found>) -> Heard {
    let t = Instant::now();
    let found = match tokio::time::timeout(limit, work).await {
        Ok(found) => found,
        Err(_) => Found {
            asked: String::new(),
            result: Err(Failure::new(SourceOutcome::TimedOut, format!("no answer within {} s", limit.as_secs_f32()))),
        },
    };
    let millis = t.elapsed().as_millis().min(u32::MAX as u128) as u32;
    let Found { asked, result } = found;
    match result {
        Ok(s) if !s.incoming.is_empty() || !s.outgoing.is_empty() => Heard {
            report: SourceReport {
                kind,
                asked: asked.clone(),
                outcome: SourceOutcome::Found,
                detail: s.detail,
                millis,
            },
            suggestion: Some(Suggestion { source: kind, asked, incoming: s.incoming, outgoing: s.outgoing }),
        },
        Ok(s) => Heard {
            report: SourceReport { kind, asked, outcome: SourceOutcome::NotFound, detail: s.detail, millis },
            suggestion: None,
        },
        Err(f) => Heard {
            report: SourceReport { kind, asked, outcome: f.outcome, detail: f.detail, millis },
            suggestion: None,
        },
    }
}
