//! Autodiscovery of a mailbox's servers from its address, as mail clients do it: the domain's autoconfig
//! file (`autoconfig.<domain>` and `/.well-known/autoconfig/`), the Thunderbird ISPDB, RFC 6186/8314 SRV
//! records, the MX host's provider in the ISPDB, and finally guessing common host names and ports.
//!
//! Every source runs at the same time with its own time limit, so dead sources cost one time-out, not the
//! sum of them. Where the DNS and HTTP requests go is configurable (tests point them at local servers); the
//! real resolver and the real URLs are the defaults.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use serde::Serialize;

use crate::Encryption;

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
    let resolver = resolver(config);
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("Mailproof/", env!("CARGO_PKG_VERSION")))
        .build();

    let (autoconfig, well_known, ispdb, srv, mx, guess) = tokio::join!(
        within(config.timeout, SourceKind::Autoconfig, autoconfig_file(&http, config, &address, false)),
        within(config.timeout, SourceKind::WellKnown, autoconfig_file(&http, config, &address, true)),
        within(config.timeout, SourceKind::Ispdb, ispdb(&http, config, &address, &domain)),
        within(config.timeout, SourceKind::Srv, srv(&resolver, &domain)),
        within(config.timeout, SourceKind::Mx, mx(&resolver, &http, config, &address)),
        within(config.timeout, SourceKind::Guess, guess(&resolver, config, &address)),
    );
    let mut suggestions = Vec::new();
    let mut sources = Vec::new();
    for (report, suggestion) in [autoconfig, well_known, ispdb, srv, mx, guess] {
        sources.push(report);
        suggestions.extend(suggestion);
    }
    Discovery { domain, suggestions, sources, millis: started.elapsed().as_millis().min(u32::MAX as u128) as u32 }
}

struct Address {
    email: String,
    local: String,
    domain: String,
}

/// What a source produced: its report and, when it found something, its suggestion.
type SourceResult = (SourceReport, Option<Suggestion>);

/// A source's outcome before timing: what was asked, and the servers found (empty: not found) or why not.
type Found = (String, Result<(Vec<ServerHint>, Vec<ServerHint>, String), (SourceOutcome, String)>);

async fn within(limit: Duration, kind: SourceKind, work: impl std::future::Future<Output = Found>) -> SourceResult {
    let t = Instant::now();
    let (asked, result) = match tokio::time::timeout(limit, work).await {
        Ok(found) => found,
        Err(_) => {
            (String::new(), Err((SourceOutcome::TimedOut, format!("no answer within {} s", limit.as_secs_f32()))))
        }
    };
    let millis = t.elapsed().as_millis().min(u32::MAX as u128) as u32;
    match result {
        Ok((incoming, outgoing, detail)) if !incoming.is_empty() || !outgoing.is_empty() => (
            SourceReport { kind, asked: asked.clone(), outcome: SourceOutcome::Found, detail, millis },
            Some(Suggestion { source: kind, asked, incoming, outgoing }),
        ),
        Ok((_, _, detail)) => (SourceReport { kind, asked, outcome: SourceOutcome::NotFound, detail, millis }, None),
        Err((outcome, detail)) => (SourceReport { kind, asked, outcome, detail, millis }, None),
    }
}

fn resolver(config: &DiscoveryConfig) -> Result<TokioResolver, String> {
    let mut builder = match config.dns_server {
        Some(server) => {
            let group = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| format!("cannot read this machine's DNS settings: {e}"))?,
    };
    builder.options_mut().timeout = config.timeout;
    builder.options_mut().attempts = 1;
    Ok(builder.build())
}

/// GETs `url` (or, with `http_base`, the same path from the base with `host` in the Host header).
async fn fetch(
    http: &Result<reqwest::Client, reqwest::Error>,
    config: &DiscoveryConfig,
    host: &str,
    path_and_query: &str,
) -> (String, Result<Option<String>, (SourceOutcome, String)>) {
    let http = match http {
        Ok(c) => c,
        Err(e) => return (String::new(), Err((SourceOutcome::Failed, format!("cannot set up HTTP: {e}")))),
    };
    let (url, request) = match &config.http_base {
        Some(base) => {
            let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
            (format!("https://{host}{path_and_query} (via {base})"), http.get(&url).header(reqwest::header::HOST, host))
        }
        None => {
            let url = format!("https://{host}{path_and_query}");
            (url.clone(), http.get(url))
        }
    };
    let result = match request.send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => Ok(None),
        Ok(resp) if !resp.status().is_success() => {
            Err((SourceOutcome::Failed, format!("the server answered HTTP {}", resp.status())))
        }
        Ok(resp) => match resp.text().await {
            Ok(body) => Ok(Some(body)),
            Err(e) => Err((SourceOutcome::Failed, format!("cannot read the answer: {e}"))),
        },
        Err(e) if e.is_timeout() => Err((SourceOutcome::TimedOut, "no answer in time".into())),
        Err(e) if e.is_connect() => Err((SourceOutcome::NotFound, format!("nothing answered ({})", root_cause(&e)))),
        Err(e) => Err((SourceOutcome::Failed, root_cause(&e))),
    };
    (url, result)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

async fn autoconfig_file(
    http: &Result<reqwest::Client, reqwest::Error>,
    config: &DiscoveryConfig,
    address: &Address,
    well_known: bool,
) -> Found {
    let (host, path) = if well_known {
        (address.domain.clone(), "/.well-known/autoconfig/mail/config-v1.1.xml".to_owned())
    } else {
        (format!("autoconfig.{}", address.domain), format!("/mail/config-v1.1.xml?emailaddress={}", address.email))
    };
    from_config_xml(fetch(http, config, &host, &path).await, address)
}

/// The provider database's entry for `domain` (the address's own, or its MX provider's).
async fn ispdb(
    http: &Result<reqwest::Client, reqwest::Error>,
    config: &DiscoveryConfig,
    address: &Address,
    domain: &str,
) -> Found {
    let url = format!("{}{domain}", config.ispdb_base);
    let Ok(http) = http else {
        return (url, Err((SourceOutcome::Failed, "cannot set up HTTP".into())));
    };
    let result = match http.get(&url).send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => Ok(None),
        Ok(resp) if !resp.status().is_success() => {
            Err((SourceOutcome::Failed, format!("the server answered HTTP {}", resp.status())))
        }
        Ok(resp) => {
            resp.text().await.map(Some).map_err(|e| (SourceOutcome::Failed, format!("cannot read the answer: {e}")))
        }
        Err(e) if e.is_timeout() => Err((SourceOutcome::TimedOut, "no answer in time".into())),
        Err(e) if e.is_connect() => Err((SourceOutcome::NotFound, format!("nothing answered ({})", root_cause(&e)))),
        Err(e) => Err((SourceOutcome::Failed, root_cause(&e))),
    };
    let asked = url;
    from_config_xml((asked, result), address)
}

fn from_config_xml(fetched: (String, Result<Option<String>, (SourceOutcome, String)>), address: &Address) -> Found {
    let (asked, result) = fetched;
    match result {
        Ok(None) => (asked, Ok((vec![], vec![], "no such file (HTTP 404)".into()))),
        Ok(Some(xml)) => match parse_config_xml(&xml, address) {
            Ok((incoming, outgoing)) => {
                let detail = if incoming.is_empty() && outgoing.is_empty() {
                    "the file names no IMAP, POP3 or SMTP server".to_owned()
                } else {
                    format!("{} incoming and {} outgoing server(s)", incoming.len(), outgoing.len())
                };
                (asked, Ok((incoming, outgoing, detail)))
            }
            Err(why) => {
                (asked, Err((SourceOutcome::Failed, format!("the file is not a valid mail configuration: {why}"))))
            }
        },
        Err(e) => (asked, Err(e)),
    }
}

/// Parses Thunderbird's autoconfig format (config-v1.1.xml), filling in %EMAILADDRESS% and friends.
pub fn parse_config_xml(
    xml: &str,
    address_parts: &(impl AddressParts + ?Sized),
) -> Result<(Vec<ServerHint>, Vec<ServerHint>), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    // The server being read: its type, whether it is incoming, and its fields so far.
    let mut current: Option<ServerBeingRead> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut saw_provider = false;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "emailProvider" => saw_provider = true,
                    "incomingServer" | "outgoingServer" => {
                        let kind = e
                            .try_get_attribute("type")
                            .ok()
                            .flatten()
                            .map(|a| String::from_utf8_lossy(&a.value).to_ascii_lowercase())
                            .unwrap_or_default();
                        current = Some((kind, name == "incomingServer", Vec::new()));
                    }
                    _ if current.is_some() => {
                        field = Some(name);
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().map_err(|e| e.to_string())?;
                text.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let (Some(f), Some((_, _, fields))) = (&field, current.as_mut()) {
                    if *f == name {
                        fields.push((name.clone(), text.trim().to_owned()));
                        field = None;
                        continue;
                    }
                }
                if name == "incomingServer" || name == "outgoingServer" {
                    if let Some((kind, is_incoming, fields)) = current.take() {
                        if let Some(hint) = hint_from_fields(&kind, &fields, address_parts) {
                            if is_incoming {
                                incoming.push(hint)
                            } else {
                                outgoing.push(hint)
                            }
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_provider {
        return Err("it has no <emailProvider> element".into());
    }
    Ok((incoming, outgoing))
}

type ServerBeingRead = (String, bool, Vec<(String, String)>);

/// The parts of an address the autoconfig placeholders stand for.
pub trait AddressParts {
    fn email(&self) -> &str;
    fn local(&self) -> &str;
    fn domain(&self) -> &str;
}

impl AddressParts for Address {
    fn email(&self) -> &str {
        &self.email
    }
    fn local(&self) -> &str {
        &self.local
    }
    fn domain(&self) -> &str {
        &self.domain
    }
}

impl AddressParts for str {
    fn email(&self) -> &str {
        self
    }
    fn local(&self) -> &str {
        self.rsplit_once('@').map_or(self, |(l, _)| l)
    }
    fn domain(&self) -> &str {
        self.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

fn hint_from_fields(kind: &str, fields: &[(String, String)], a: &(impl AddressParts + ?Sized)) -> Option<ServerHint> {
    let protocol = match kind {
        "imap" => HintProtocol::Imap,
        "pop3" => HintProtocol::Pop3,
        "smtp" => HintProtocol::Smtp,
        _ => return None, // e.g. exchange, jmap: not used by Mailproof
    };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let fill = |s: &str| {
        s.replace("%EMAILADDRESS%", a.email())
            .replace("%EMAILLOCALPART%", a.local())
            .replace("%EMAILDOMAIN%", a.domain())
    };
    let host = fill(get("hostname")?);
    let port = get("port")?.parse().ok()?;
    let security = match get("socketType").unwrap_or("plain").to_ascii_uppercase().as_str() {
        "SSL" | "TLS" => HintSecurity::Tls,
        "STARTTLS" => HintSecurity::StartTls,
        _ => HintSecurity::None,
    };
    let ntlm = fields.iter().any(|(n, v)| n == "authentication" && v.eq_ignore_ascii_case("NTLM"));
    Some(ServerHint { protocol, host, port, security, username: get("username").map(fill), ntlm })
}

async fn srv(resolver: &Result<TokioResolver, String>, domain: &str) -> Found {
    let asked = format!("_imaps/_imap/_pop3s/_pop3/_submissions/_submission._tcp.{domain}");
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return (asked, Err((SourceOutcome::Failed, e.clone()))),
    };
    use HintProtocol::{Imap, Pop3, Smtp};
    use HintSecurity::{StartTls, Tls};
    let services = [
        ("_imaps", Imap, Tls),
        ("_imap", Imap, StartTls),
        ("_pop3s", Pop3, Tls),
        ("_pop3", Pop3, StartTls),
        ("_submissions", Smtp, Tls),
        ("_submission", Smtp, StartTls),
    ];
    let lookups = futures::future::join_all(
        services.iter().map(|(svc, _, _)| resolver.srv_lookup(format!("{svc}._tcp.{domain}."))),
    )
    .await;
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut found = Vec::new();
    let mut failure = None;
    for ((svc, protocol, security), lookup) in services.iter().zip(lookups) {
        match lookup {
            Ok(records) => {
                let mut records: Vec<_> = records.iter().cloned().collect();
                records.sort_by_key(|r| (r.priority(), u16::MAX - r.weight()));
                for r in records {
                    let host = r.target().to_utf8().trim_end_matches('.').to_owned();
                    // RFC 6186: a target of "." means the service is not offered.
                    if host.is_empty() || r.port() == 0 {
                        continue;
                    }
                    found.push(format!("{svc} → {host}:{}", r.port()));
                    let hint = ServerHint {
                        protocol: *protocol,
                        host,
                        port: r.port(),
                        security: *security,
                        username: None,
                        ntlm: false,
                    };
                    if *protocol == Smtp {
                        outgoing.push(hint)
                    } else {
                        incoming.push(hint)
                    }
                }
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => failure = Some(e.to_string()),
        }
    }
    if found.is_empty() {
        if let Some(e) = failure {
            return (asked, Err((SourceOutcome::Failed, format!("DNS lookup failed: {e}"))));
        }
        return (asked, Ok((vec![], vec![], "no SRV records".into())));
    }
    (asked, Ok((incoming, outgoing, found.join(", "))))
}

async fn mx(
    resolver: &Result<TokioResolver, String>,
    http: &Result<reqwest::Client, reqwest::Error>,
    config: &DiscoveryConfig,
    address: &Address,
) -> Found {
    let asked = format!("MX {}", address.domain);
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return (asked, Err((SourceOutcome::Failed, e.clone()))),
    };
    let mut records: Vec<_> = match resolver.mx_lookup(format!("{}.", address.domain)).await {
        Ok(r) => r.iter().cloned().collect(),
        Err(e) if e.is_no_records_found() => return (asked, Ok((vec![], vec![], "no MX records".into()))),
        Err(e) => return (asked, Err((SourceOutcome::Failed, format!("DNS lookup failed: {e}")))),
    };
    records.sort_by_key(|r| r.preference());
    let Some(best) = records.first() else { return (asked, Ok((vec![], vec![], "no MX records".into()))) };
    let mx_host = best.exchange().to_utf8().trim_end_matches('.').to_ascii_lowercase();
    let provider = base_domain(&mx_host);
    if provider.is_empty() || provider == address.domain {
        return (
            asked,
            Ok((vec![], vec![], format!("mail goes to {mx_host}, the domain's own host; nothing more to learn"))),
        );
    }
    let (ispdb_asked, found) = ispdb(http, config, address, &provider).await;
    match found {
        Ok((incoming, outgoing, detail)) => (
            format!("{asked} → {mx_host} → {ispdb_asked}"),
            Ok((incoming, outgoing, format!("the provider {provider}: {detail}"))),
        ),
        Err(e) => (format!("{asked} → {mx_host} → {ispdb_asked}"), Err(e)),
    }
}

/// The last two labels of a host name (`mx1.mail.provider.example` → `provider.example`). Good enough for the
/// common providers; a public-suffix list would do better for `co.uk`-style names.
fn base_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() < 2 {
        return String::new();
    }
    labels[labels.len() - 2..].join(".")
}

async fn guess(resolver: &Result<TokioResolver, String>, config: &DiscoveryConfig, address: &Address) -> Found {
    let d = &address.domain;
    let asked = format!("imap./pop./pop3./smtp./mail.{d} and {d} on the standard ports");
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return (asked, Err((SourceOutcome::Failed, e.clone()))),
    };
    let hosts = |names: &[&str]| {
        names.iter().map(|n| if n.is_empty() { d.clone() } else { format!("{n}.{d}") }).collect::<Vec<_>>()
    };
    let plans = [
        (HintProtocol::Imap, hosts(&["imap", "mail", ""]), &config.guess_ports.imap),
        (HintProtocol::Pop3, hosts(&["pop", "pop3", "mail"]), &config.guess_ports.pop3),
        (HintProtocol::Smtp, hosts(&["smtp", "mail", ""]), &config.guess_ports.smtp),
    ];
    let connect_limit = config.timeout.mul_f32(0.8);
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut answered = Vec::new();
    for (protocol, names, ports) in plans {
        // Every candidate at once; the first in preference order that answers wins.
        let tries = names.iter().flat_map(|h| ports.iter().map(move |(p, e)| (h.clone(), *p, *e)));
        let results = futures::future::join_all(tries.map(|(host, port, enc)| async move {
            let ok = reachable(resolver, &host, port, connect_limit).await;
            (host, port, enc, ok)
        }))
        .await;
        if let Some((host, port, enc, _)) = results.into_iter().find(|r| r.3) {
            answered.push(format!("{host}:{port}"));
            let hint = ServerHint { protocol, host, port, security: enc.into(), username: None, ntlm: false };
            if protocol == HintProtocol::Smtp {
                outgoing.push(hint)
            } else {
                incoming.push(hint)
            }
        }
    }
    let detail = if answered.is_empty() {
        "no common host name answered".into()
    } else {
        format!("answered: {}", answered.join(", "))
    };
    (asked, Ok((incoming, outgoing, detail)))
}

async fn reachable(resolver: &TokioResolver, host: &str, port: u16, limit: Duration) -> bool {
    let ips: Vec<IpAddr> = match tokio::time::timeout(limit, resolver.lookup_ip(format!("{host}."))).await {
        Ok(Ok(ips)) => ips.iter().collect(),
        _ => return false,
    };
    for ip in ips {
        if let Ok(Ok(_)) = tokio::time::timeout(limit, tokio::net::TcpStream::connect((ip, port))).await {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example.test">
    <domain>example.test</domain>
    <incomingServer type="imap">
      <hostname>imap.example.test</hostname><port>993</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.test</hostname><port>110</port><socketType>STARTTLS</socketType>
      <authentication>NTLM</authentication><username>EXAMPLE\%EMAILLOCALPART%</username>
    </incomingServer>
    <incomingServer type="exchange"><hostname>ews.example.test</hostname><port>443</port></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
    <documentation url="https://example.test/help?a=1&amp;b=2"><descr>Help &amp; more</descr></documentation>
  </emailProvider>
</clientConfig>"#;

    #[test]
    fn thunderbird_autoconfig_files_are_read_with_placeholders_filled() {
        let (incoming, outgoing) = parse_config_xml(XML, "bob@example.test").unwrap();
        assert_eq!(incoming.len(), 2, "the exchange server is skipped");
        assert_eq!(
            incoming[0],
            ServerHint {
                protocol: HintProtocol::Imap,
                host: "imap.example.test".into(),
                port: 993,
                security: HintSecurity::Tls,
                username: Some("bob@example.test".into()),
                ntlm: false
            }
        );
        assert_eq!(incoming[1].security, HintSecurity::StartTls);
        assert_eq!(incoming[1].username.as_deref(), Some("EXAMPLE\\bob"));
        assert!(incoming[1].ntlm);
        assert_eq!(outgoing[0].host, "smtp.example.test");
    }

    #[test]
    fn broken_or_foreign_files_are_errors_not_panics() {
        assert!(parse_config_xml("<html><body>Not found</body></html>", "a@b.test").is_err());
        // A file cut off half-way: whatever the parser makes of it, it yields no server and does not panic.
        let truncated =
            parse_config_xml("<clientConfig><emailProvider><incomingServer type=\"imap\"><port>x", "a@b.test");
        assert!(truncated.map_or(true, |(incoming, _)| incoming.is_empty()));
        let (incoming, _) =
            parse_config_xml("<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>h</hostname><port>99999</port></incomingServer></emailProvider></clientConfig>", "a@b.test").unwrap();
        assert!(incoming.is_empty(), "an out-of-range port is dropped");
    }

    #[test]
    fn the_provider_of_an_mx_host_is_its_last_two_labels() {
        assert_eq!(base_domain("mx1.mail.provider.example"), "provider.example");
        assert_eq!(base_domain("localhost"), "");
    }
}
