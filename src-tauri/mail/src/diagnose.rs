//! Connection diagnostics for IMAP, POP3 and SMTP servers, step by step: DNS, TCP, TLS (with the certificate),
//! greeting, capabilities, STARTTLS, login. Every failed step says what happened, the likely cause, and what
//! to do. This is what the profile wizard's "Test" step and `mailproof profile test` show.
//!
//! The dialogue is written here rather than through the session clients so every reply can be observed and
//! explained; it signs in exactly as the clients do.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, CertificateError};

use crate::certificate::{describe, CertificateInfo};
use crate::dialogue::{Dialogue, DialogueError, Direction, TranscriptLine};
use crate::stream::MailStream;
use crate::tls::{observed_client_config, Observer, Trust};
use crate::{Encryption, Login};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        }
    }
}

/// What to test.
#[derive(Debug, Clone)]
pub struct Target {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub trust: Trust,
    /// `None` skips the login step (an SMTP server that needs no authentication).
    pub login: Option<Login>,
    /// Sign in with NTLMv2 instead of a password mechanism (PLAIN, LOGIN, USER/PASS).
    pub ntlm: bool,
    /// Limit for each network step.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    Dns,
    Tcp,
    Tls,
    Greeting,
    Capabilities,
    StartTls,
    Login,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    Passed,
    /// Passed, but something deserves attention (clear-text login, a pinned certificate).
    Warning,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub kind: StepKind,
    /// E.g. "TLS handshake", "Capabilities (after STARTTLS)".
    pub title: String,
    pub status: StepStatus,
    /// What happened, with the server's own words where there are any.
    pub detail: String,
    /// For a failure or warning: the likely cause and what to do.
    pub hint: Option<String>,
    pub millis: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TlsReport {
    /// E.g. "TLSv1.3".
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// The server's certificate first, then the intermediates it sent.
    pub chain: Vec<CertificateInfo>,
    /// True when a trusted CA vouches for the certificate and the name matches.
    pub trusted: bool,
    /// Why it is not trusted, in words.
    pub trust_problem: Option<String>,
    /// True when the handshake went ahead only because this exact certificate is pinned.
    pub accepted_by_pin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub steps: Vec<Step>,
    pub tls: Option<TlsReport>,
    /// The capabilities the server announced last (after STARTTLS where used).
    pub capabilities: Vec<String>,
    /// The authentication mechanisms the server offers, upper-case (e.g. PLAIN, LOGIN, NTLM).
    pub auth_mechanisms: Vec<String>,
    /// When the certificate was refused only for want of trust: its SHA-256, which the user may pin.
    pub pinnable_sha256: Option<String>,
    /// The dialogue, with credentials removed.
    pub transcript: Vec<String>,
    pub ok: bool,
    pub millis: u32,
}

/// Runs the diagnostics, reporting each step to `on_step` as it completes.
pub async fn diagnose(target: &Target, on_step: &mut (dyn FnMut(&Step) + Send)) -> Diagnosis {
    let started = Instant::now();
    let mut run = Run { target, on_step, steps: Vec::new(), tls: None, pinnable: None };
    let mut learnt = Learnt::default();
    let _ = run.dialogue(&mut learnt).await;
    let Learnt { capabilities, mechanisms: auth_mechanisms, transcript } = learnt;
    let ok = run.steps.iter().all(|s| s.status != StepStatus::Failed);
    Diagnosis {
        protocol: target.protocol,
        host: target.host.clone(),
        port: target.port,
        steps: run.steps,
        tls: run.tls,
        capabilities,
        auth_mechanisms,
        pinnable_sha256: run.pinnable,
        transcript,
        ok,
        millis: millis(started),
    }
}

fn millis(since: Instant) -> u32 {
    since.elapsed().as_millis().min(u32::MAX as u128) as u32
}

/// What the dialogue learnt, kept even when a later step fails.
#[derive(Default)]
struct Learnt {
    capabilities: Vec<String>,
    mechanisms: Vec<String>,
    transcript: Vec<String>,
}

struct Run<'a> {
    target: &'a Target,
    on_step: &'a mut (dyn FnMut(&Step) + Send),
    steps: Vec<Step>,
    tls: Option<TlsReport>,
    pinnable: Option<String>,
}

/// Marks the end of the run after a failed step.
struct Stop;

impl Run<'_> {
    fn record(
        &mut self,
        kind: StepKind,
        title: &str,
        status: StepStatus,
        detail: String,
        hint: Option<String>,
        t: Instant,
    ) {
        let step = Step { kind, title: title.to_owned(), status, detail, hint, millis: millis(t) };
        (self.on_step)(&step);
        self.steps.push(step);
    }

    fn pass(&mut self, kind: StepKind, title: &str, detail: String, t: Instant) {
        self.record(kind, title, StepStatus::Passed, detail, None, t);
    }

    fn fail(&mut self, kind: StepKind, title: &str, detail: String, hint: impl Into<String>, t: Instant) -> Stop {
        self.record(kind, title, StepStatus::Failed, detail, Some(hint.into()), t);
        Stop
    }

    async fn dialogue(&mut self, learnt: &mut Learnt) -> Result<(), Stop> {
        let tg = self.target;
        let addrs = self.resolve().await?;
        let tcp = self.connect(&addrs).await?;
        let local_ip = tcp.local_addr().map(|a| a.ip()).ok();
        let stream = if tg.encryption == Encryption::Tls {
            self.handshake(MailStream::Plain(tcp), "TLS handshake", false).await?
        } else {
            MailStream::Plain(tcp)
        };
        let (result, transcript) = self.converse(Dialogue::new(stream, tg.timeout), learnt, local_ip).await;
        learnt.transcript.extend(transcript_text(transcript));
        result
    }

    async fn resolve(&mut self) -> Result<Vec<SocketAddr>, Stop> {
        let tg = self.target;
        let t = Instant::now();
        let title = "DNS resolution";
        let bare = tg.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.pass(StepKind::Dns, title, format!("{ip} is an IP address; no lookup needed."), t);
            return Ok(vec![SocketAddr::new(ip, tg.port)]);
        }
        match tokio::time::timeout(tg.timeout, tokio::net::lookup_host((tg.host.as_str(), tg.port))).await {
            Ok(Ok(addrs)) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    return Err(self.fail(StepKind::Dns, title, format!("{} has no address records.", tg.host), dns_hint(&tg.host), t));
                }
                let list = addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                self.pass(StepKind::Dns, title, format!("{} resolves to {list}.", tg.host), t);
                Ok(addrs)
            }
            Ok(Err(e)) => Err(self.fail(StepKind::Dns, title, format!("Cannot find {} in DNS: {e}.", tg.host), dns_hint(&tg.host), t)),
            Err(_) => Err(self.fail(
                StepKind::Dns,
                title,
                format!("No DNS answer for {} within {} s.", tg.host, tg.timeout.as_secs()),
                "The DNS server did not answer. Check this machine's network and DNS settings, or enter the server's IP address.",
                t,
            )),
        }
    }

    async fn connect(&mut self, addrs: &[SocketAddr]) -> Result<TcpStream, Stop> {
        let tg = self.target;
        let t = Instant::now();
        let title = "TCP connection";
        let mut failures = Vec::new();
        let mut refused = false;
        let mut timed_out = false;
        for addr in addrs {
            match tokio::time::timeout(tg.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    let local = s.local_addr().map(|a| format!(" from {a}")).unwrap_or_default();
                    self.pass(StepKind::Tcp, title, format!("Connected to {addr}{local}."), t);
                    return Ok(s);
                }
                Ok(Err(e)) => {
                    refused |= e.kind() == std::io::ErrorKind::ConnectionRefused;
                    failures.push(format!("{addr}: {e}"));
                }
                Err(_) => {
                    timed_out = true;
                    failures.push(format!("{addr}: no answer within {} s", tg.timeout.as_secs()));
                }
            }
        }
        let interfaces = " If this machine has two network interfaces on the same subnet (for example wired and Wi-Fi, both from DHCP), replies may leave through the other one: disconnect one, or give the actor a single interface on that subnet.";
        let hint = if refused {
            format!(
                "Nothing accepts connections on port {} there. Check the port number and that the {} service runs on that server.{interfaces}",
                tg.port,
                tg.protocol.label()
            )
        } else if timed_out {
            format!("The server did not answer: a firewall may be dropping the connection, or the address is wrong. Check that this machine may reach {}:{}.{interfaces}", tg.host, tg.port)
        } else {
            format!("Check the address and port, and this machine's network connection.{interfaces}")
        };
        Err(self.fail(StepKind::Tcp, title, format!("Cannot connect: {}.", failures.join("; ")), hint, t))
    }

    /// TLS over `stream` (a clear TCP stream), recording the certificate and explaining a refusal.
    async fn handshake(&mut self, stream: MailStream, title: &str, after_starttls: bool) -> Result<MailStream, Stop> {
        let tg = self.target;
        let t = Instant::now();
        let MailStream::Plain(tcp) = stream else { return Ok(stream) };
        let (config, observer) = match observed_client_config(&tg.trust) {
            Ok(c) => c,
            Err(e) => {
                return Err(self.fail(StepKind::Tls, title, e.to_string(), "Fix the trusted CA file in Settings.", t))
            }
        };
        let bare = tg.host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let Ok(name) = rustls_pki_types::ServerName::try_from(bare) else {
            return Err(self.fail(
                StepKind::Tls,
                title,
                format!("{} is not a valid name for TLS.", tg.host),
                "Enter a host name or an IP address.",
                t,
            ));
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
        match tokio::time::timeout(tg.timeout, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                let version = conn.protocol_version().map(|v| version_name(v).to_owned());
                let cipher = conn.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite()));
                let report = self.tls_report(&observer, version.clone(), cipher.clone());
                let leaf = report.chain.first().map(|c| format!(" Certificate: {}, issued by {}.", c.subject, c.issuer)).unwrap_or_default();
                let detail = format!(
                    "{} with {}.{leaf}",
                    version.as_deref().unwrap_or("TLS"),
                    cipher.as_deref().unwrap_or("an unknown cipher")
                );
                let pinned = report.accepted_by_pin;
                self.tls = Some(report);
                if pinned {
                    self.record(
                        StepKind::Tls,
                        title,
                        StepStatus::Warning,
                        detail,
                        Some("No trusted CA vouches for this certificate; it is accepted because you pinned this exact certificate for this profile. If the server's certificate changes, the connection will be refused until you check and pin the new one.".into()),
                        t,
                    );
                } else {
                    self.pass(StepKind::Tls, title, detail, t);
                }
                Ok(MailStream::Tls(Box::new(tls)))
            }
            Ok(Err(e)) => {
                let report = self.tls_report(&observer, None, None);
                let (detail, hint) = explain_tls_failure(tg, &e, &report, after_starttls);
                if !report.chain.is_empty() && is_trust_only(&e) {
                    self.pinnable = report.chain.first().map(|c| c.sha256.clone());
                }
                if !report.chain.is_empty() {
                    self.tls = Some(report);
                }
                Err(self.fail(StepKind::Tls, title, detail, hint, t))
            }
            Err(_) => Err(self.fail(
                StepKind::Tls,
                title,
                format!("The TLS handshake did not finish within {} s.", tg.timeout.as_secs()),
                match tg.encryption {
                    Encryption::Tls => format!("The server may not speak TLS on port {}. Choose STARTTLS (or no encryption) if this port starts in clear text.", tg.port),
                    _ => "The server stopped answering during the handshake. Try again; if it persists, check the server's TLS configuration.".into(),
                },
                t,
            )),
        }
    }

    fn tls_report(&self, observer: &Observer, version: Option<String>, cipher: Option<String>) -> TlsReport {
        let presented = observer.presented();
        let chain =
            presented.as_ref().map(|p| p.chain.iter().filter_map(|c| describe(c)).collect()).unwrap_or_default();
        let problem = presented.as_ref().and_then(|p| p.problem.clone());
        TlsReport {
            version,
            cipher,
            chain,
            trusted: presented.is_some() && problem.is_none(),
            trust_problem: problem.map(|e| certificate_problem(&e, &self.target.host)),
            accepted_by_pin: presented.is_some_and(|p| p.accepted_by_pin),
        }
    }

    async fn converse(
        &mut self,
        mut d: Dialogue<MailStream>,
        learnt: &mut Learnt,
        local_ip: Option<IpAddr>,
    ) -> (Result<(), Stop>, Vec<TranscriptLine>) {
        let tg = self.target;
        macro_rules! step {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(stop) => return (Err(stop), d.take_transcript()),
                }
            };
        }
        step!(self.greeting(&mut d).await);
        let caps = step!(self.capabilities(&mut d, learnt, local_ip, "Capabilities").await);
        if tg.encryption == Encryption::StartTls {
            d = match self.starttls(d, &caps).await {
                Ok(upgraded) => upgraded,
                Err((stop, transcript)) => return (Err(stop), transcript),
            };
            step!(self.capabilities(&mut d, learnt, local_ip, "Capabilities (after STARTTLS)").await);
        }
        if let Some(login) = &tg.login {
            step!(self.login(&mut d, learnt, login).await);
        }
        let bye = match tg.protocol {
            Protocol::Imap => "z LOGOUT",
            Protocol::Pop3 | Protocol::Smtp => "QUIT",
        };
        let _ = d.send(bye).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), d.read_line()).await;
        (Ok(()), d.take_transcript())
    }

    async fn greeting(&mut self, d: &mut Dialogue<MailStream>) -> Result<(), Stop> {
        let tg = self.target;
        let t = Instant::now();
        let title = "Server greeting";
        let lines = match read_reply(tg.protocol, d, None).await {
            Ok(lines) => lines,
            Err(DialogueError::TimedOut(secs)) if tg.encryption != Encryption::Tls => {
                return Err(self.fail(
                    StepKind::Greeting,
                    title,
                    format!("The server sent no greeting within {secs} s."),
                    format!("The server is probably waiting for a TLS handshake: port {} expects TLS from the first byte. Choose SSL/TLS.", tg.port),
                    t,
                ))
            }
            Err(e) => return Err(self.fail(StepKind::Greeting, title, format!("No greeting: {e}."), "The server closed the connection or is not a mail server. Check the port and the connection security.", t)),
        };
        let first = lines.first().cloned().unwrap_or_default();
        let good = match tg.protocol {
            Protocol::Imap => first.starts_with("* OK") || first.starts_with("* PREAUTH"),
            Protocol::Pop3 => first.starts_with("+OK"),
            Protocol::Smtp => first.starts_with("220"),
        };
        if !good {
            return Err(self.fail(
                StepKind::Greeting,
                title,
                format!("The server greeted with: {first}"),
                format!("This is not the greeting of a {} server that accepts connections. Check the port (is it the right protocol?), or the server's own reason above.", tg.protocol.label()),
                t,
            ));
        }
        self.pass(StepKind::Greeting, title, lines.join(" | "), t);
        Ok(())
    }

    async fn capabilities(
        &mut self,
        d: &mut Dialogue<MailStream>,
        learnt: &mut Learnt,
        local_ip: Option<IpAddr>,
        title: &str,
    ) -> Result<Vec<String>, Stop> {
        let tg = self.target;
        let t = Instant::now();
        let (command, tag) = match tg.protocol {
            Protocol::Imap => ("c CAPABILITY".to_owned(), Some("c")),
            Protocol::Pop3 => ("CAPA".to_owned(), None),
            Protocol::Smtp => (format!("EHLO {}", ehlo_name(local_ip)), None),
        };
        let reply = match d.send(&command).await {
            Ok(()) => read_reply_list(tg.protocol, d, tag, true).await,
            Err(e) => Err(e),
        };
        let lines = match reply {
            Ok(lines) => lines,
            Err(e) => {
                return Err(self.fail(
                    StepKind::Capabilities,
                    title,
                    format!("No answer to {}: {e}.", command_name(&command)),
                    "The server stopped answering. Try again; if it persists, check the server.",
                    t,
                ))
            }
        };
        let caps = match parse_capabilities(tg.protocol, &lines) {
            Ok(caps) => caps,
            Err(reply) if tg.protocol == Protocol::Pop3 => {
                // CAPA is optional in POP3 (RFC 2449); an old server still works with USER/PASS.
                self.record(
                    StepKind::Capabilities,
                    title,
                    StepStatus::Warning,
                    format!("The server does not support CAPA ({reply})."),
                    Some("An old POP3 server: Mailproof will sign in with USER/PASS and cannot check for STLS or UIDL in advance.".into()),
                    t,
                );
                learnt.capabilities.clear();
                learnt.mechanisms = vec!["USER".into()];
                return Ok(Vec::new());
            }
            Err(reply) => return Err(self.fail(StepKind::Capabilities, title, format!("The server refused {}: {reply}", command_name(&command)), "The server does not follow the protocol as expected. Check that this port serves the protocol you chose.", t)),
        };
        learnt.mechanisms = auth_mechanisms(tg.protocol, &caps);
        learnt.capabilities = caps.clone();
        let mechs =
            if learnt.mechanisms.is_empty() { "none announced".to_owned() } else { learnt.mechanisms.join(", ") };
        self.pass(StepKind::Capabilities, title, format!("{} (authentication: {mechs})", caps.join(" ")), t);
        Ok(caps)
    }

    /// Upgrades the conversation with STARTTLS (STLS). On failure, hands back the transcript so far.
    async fn starttls(
        &mut self,
        mut d: Dialogue<MailStream>,
        caps: &[String],
    ) -> Result<Dialogue<MailStream>, (Stop, Vec<TranscriptLine>)> {
        let tg = self.target;
        let t = Instant::now();
        let title = "STARTTLS";
        let (offered, command, tag) = match tg.protocol {
            Protocol::Imap => (caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")), "s STARTTLS", Some("s")),
            Protocol::Pop3 => (caps.iter().any(|c| c.eq_ignore_ascii_case("STLS")), "STLS", None),
            Protocol::Smtp => (caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")), "STARTTLS", None),
        };
        let tls_port = match tg.protocol {
            Protocol::Imap => 993,
            Protocol::Pop3 => 995,
            Protocol::Smtp => 465,
        };
        if !offered && !caps.is_empty() {
            let transcript = d.take_transcript();
            return Err((self.fail(
                StepKind::StartTls,
                title,
                format!("The server does not offer {}.", command_name(command)),
                format!("This server cannot upgrade the connection to TLS on port {}. Choose SSL/TLS (usually port {tls_port}); choose no encryption only on a network you trust.", tg.port),
                t,
            ), transcript));
        }
        let reply = match d.send(command).await {
            Ok(()) => read_reply(tg.protocol, &mut d, tag).await,
            Err(e) => Err(e),
        };
        let last = match reply {
            Ok(lines) => lines.last().cloned().unwrap_or_default(),
            Err(e) => {
                let transcript = d.take_transcript();
                return Err((
                    self.fail(
                        StepKind::StartTls,
                        title,
                        format!("No answer to {}: {e}.", command_name(command)),
                        "Try again; if it persists, choose SSL/TLS.",
                        t,
                    ),
                    transcript,
                ));
            }
        };
        let accepted = match tg.protocol {
            Protocol::Imap => last.starts_with("s OK"),
            Protocol::Pop3 => last.starts_with("+OK"),
            Protocol::Smtp => last.starts_with("220"),
        };
        if !accepted {
            let transcript = d.take_transcript();
            return Err((
                self.fail(
                    StepKind::StartTls,
                    title,
                    format!("The server refused: {last}"),
                    format!(
                        "Choose SSL/TLS (usually port {tls_port}), or ask the server's owner why STARTTLS is refused."
                    ),
                    t,
                ),
                transcript,
            ));
        }
        if d.has_buffered() {
            let transcript = d.take_transcript();
            return Err((self.fail(
                StepKind::StartTls,
                title,
                "The server sent more data right after agreeing to STARTTLS, before the handshake.".into(),
                "Data sent in clear text before the handshake may have been injected by someone on the network (a STARTTLS injection). Mailproof stopped. Use SSL/TLS, or have the server checked.",
                t,
            ), transcript));
        }
        self.pass(StepKind::StartTls, title, format!("The server agreed: {last}"), t);
        let (stream, transcript) = d.into_inner();
        match self.handshake(stream, "TLS handshake (STARTTLS)", true).await {
            Ok(tls) => Ok(Dialogue::resume(tls, tg.timeout, transcript)),
            Err(stop) => Err((stop, transcript)),
        }
    }

    async fn login(&mut self, d: &mut Dialogue<MailStream>, learnt: &Learnt, login: &Login) -> Result<(), Stop> {
        let tg = self.target;
        let t = Instant::now();
        let title = "Login";
        let secured = tg.encryption != Encryption::None;
        let mechs = &learnt.mechanisms;
        let user = &login.username;
        let pass = login.password.expose();
        let outcome: Result<Result<String, String>, DialogueError> = async {
            if tg.ntlm {
                return ntlm_login(tg.protocol, d, mechs, user, pass).await;
            }
            match tg.protocol {
                Protocol::Imap => {
                    if learnt.capabilities.iter().any(|c| c.eq_ignore_ascii_case("LOGINDISABLED")) {
                        return Ok(Err(
                            "The server announces LOGINDISABLED: it refuses passwords on this connection.".to_owned()
                        ));
                    }
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("l AUTHENTICATE PLAIN {}", crate::sasl::plain(user, pass)),
                            "l AUTHENTICATE PLAIN <redacted>",
                        )
                        .await?;
                    } else {
                        d.send_shown(
                            &format!("l LOGIN {} {}", imap_quote(user), imap_quote(pass)),
                            &format!("l LOGIN {} <redacted>", imap_quote(user)),
                        )
                        .await?;
                    }
                    let lines = read_reply(Protocol::Imap, d, Some("l")).await?;
                    let last = lines.last().cloned().unwrap_or_default();
                    Ok(if last.starts_with("l OK") { Ok(last) } else { Err(last) })
                }
                Protocol::Pop3 => {
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("AUTH PLAIN {}", crate::sasl::plain(user, pass)),
                            "AUTH PLAIN <redacted>",
                        )
                        .await?;
                    } else {
                        d.send(&format!("USER {user}")).await?;
                        let reply = d.read_line().await?;
                        if !reply.starts_with("+OK") {
                            return Ok(Err(reply));
                        }
                        d.send_shown(&format!("PASS {pass}"), "PASS <redacted>").await?;
                    }
                    let reply = d.read_line().await?;
                    Ok(if reply.starts_with("+OK") { Ok(reply) } else { Err(reply) })
                }
                Protocol::Smtp => {
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("AUTH PLAIN {}", crate::sasl::plain(user, pass)),
                            "AUTH PLAIN <redacted>",
                        )
                        .await?;
                    } else if mechs.iter().any(|m| m == "LOGIN") {
                        d.send("AUTH LOGIN").await?;
                        for value in [user.as_str(), pass] {
                            let prompt = read_reply(Protocol::Smtp, d, None).await?.pop().unwrap_or_default();
                            if !prompt.starts_with("334") {
                                return Ok(Err(prompt));
                            }
                            d.send_shown(&crate::sasl::login_step(value), "<redacted>").await?;
                        }
                    } else {
                        return Ok(Err(String::new()));
                    }
                    let last = read_reply(Protocol::Smtp, d, None).await?.pop().unwrap_or_default();
                    Ok(if last.starts_with("235") { Ok(last) } else { Err(last) })
                }
            }
        }
        .await;
        match outcome {
            Ok(Ok(reply)) if secured => {
                self.pass(StepKind::Login, title, format!("Signed in as {user}: {reply}"), t);
                Ok(())
            }
            Ok(Ok(reply)) => {
                self.record(
                    StepKind::Login,
                    title,
                    StepStatus::Warning,
                    format!("Signed in as {user}: {reply}"),
                    Some("The password crossed the network in clear text. Choose SSL/TLS or STARTTLS if the server offers it.".into()),
                    t,
                );
                Ok(())
            }
            Ok(Err(reply)) => {
                let (detail, hint) = explain_login_failure(tg, user, &reply, mechs, secured);
                Err(self.fail(StepKind::Login, title, detail, hint, t))
            }
            Err(e) => Err(self.fail(
                StepKind::Login,
                title,
                format!("The server stopped answering during login: {e}."),
                "Try again; if it persists, check the server's logs.",
                t,
            )),
        }
    }
}

pub(crate) fn transcript_text(lines: Vec<TranscriptLine>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| match l.direction {
            Direction::Client => format!("C: {}", l.text),
            Direction::Server => format!("S: {}", l.text),
        })
        .collect()
}

/// Signs in with NTLMv2: the command, then NEGOTIATE and AUTHENTICATE as continuation lines. `Ok(Err(reply))`
/// is a refusal in the server's words; an empty reply means the server does not offer NTLM.
pub(crate) async fn ntlm_login(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    mechs: &[String],
    user: &str,
    pass: &str,
) -> Result<Result<String, String>, DialogueError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    if !mechs.iter().any(|m| m == "NTLM") {
        return Ok(Err(String::new()));
    }
    let (command, more) = match protocol {
        Protocol::Imap => ("l AUTHENTICATE NTLM", "+"),
        Protocol::Pop3 => ("AUTH NTLM", "+"),
        Protocol::Smtp => ("AUTH NTLM", "334"),
    };
    d.send(command).await?;
    let go_on = d.read_line().await?;
    if !go_on.starts_with(more) {
        return Ok(Err(go_on));
    }
    d.send_shown(&STANDARD.encode(crate::ntlm::negotiate()), "<NTLM negotiate message>").await?;
    let challenge_line = d.read_line().await?;
    let Some(challenge_b64) = challenge_line.strip_prefix(more) else { return Ok(Err(challenge_line)) };
    let answer = STANDARD
        .decode(challenge_b64.trim())
        .map_err(|e| e.to_string())
        .and_then(|challenge| crate::ntlm::authenticate(&challenge, user, pass).map_err(|e| e.to_string()));
    let answer = match answer {
        Ok(a) => a,
        Err(why) => {
            // Cancel the exchange as each protocol expects, then report.
            d.send("*").await?;
            return Ok(Err(format!("cannot answer the server's NTLM challenge: {why}")));
        }
    };
    d.send_shown(&STANDARD.encode(answer), "<NTLM authenticate message, redacted>").await?;
    let last = match protocol {
        Protocol::Imap => read_reply(protocol, d, Some("l")).await?.pop().unwrap_or_default(),
        Protocol::Pop3 => d.read_line().await?,
        Protocol::Smtp => read_reply(protocol, d, None).await?.pop().unwrap_or_default(),
    };
    let ok = match protocol {
        Protocol::Imap => last.starts_with("l OK"),
        Protocol::Pop3 => last.starts_with("+OK"),
        Protocol::Smtp => last.starts_with("235"),
    };
    Ok(if ok { Ok(last) } else { Err(last) })
}

/// Reads one complete reply: SMTP multi-line (`250-` … `250 `), IMAP untagged lines up to the tagged one (or
/// one line when there is no tag), POP3 one status line — or, with `pop_list`, a `+OK` line and the
/// dot-terminated list after it (CAPA).
pub(crate) async fn read_reply(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    tag: Option<&str>,
) -> Result<Vec<String>, DialogueError> {
    read_reply_list(protocol, d, tag, false).await
}

async fn read_reply_list(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    tag: Option<&str>,
    pop_list: bool,
) -> Result<Vec<String>, DialogueError> {
    let mut lines = Vec::new();
    loop {
        let line = d.read_line().await?;
        let done = match protocol {
            Protocol::Smtp => line.len() < 4 || line.as_bytes()[3] != b'-',
            Protocol::Imap => tag.is_none_or(|tag| line.starts_with(&format!("{tag} "))),
            Protocol::Pop3 if pop_list && lines.is_empty() => !line.starts_with("+OK"),
            Protocol::Pop3 if pop_list => {
                if line == "." {
                    return Ok(lines);
                }
                false
            }
            Protocol::Pop3 => true,
        };
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
}

/// The capability words from a reply, or the reply's text when the server refused the command.
fn parse_capabilities(protocol: Protocol, lines: &[String]) -> Result<Vec<String>, String> {
    match protocol {
        Protocol::Imap => {
            let last = lines.last().cloned().unwrap_or_default();
            if !last.starts_with("c OK") {
                return Err(last);
            }
            Ok(lines
                .iter()
                .filter_map(|l| l.strip_prefix("* CAPABILITY "))
                .flat_map(|l| l.split_whitespace().map(str::to_owned))
                .collect())
        }
        Protocol::Pop3 => {
            let first = lines.first().cloned().unwrap_or_default();
            if !first.starts_with("+OK") {
                return Err(first);
            }
            Ok(lines[1..].to_vec())
        }
        Protocol::Smtp => {
            let last = lines.last().cloned().unwrap_or_default();
            if !last.starts_with("250") {
                return Err(last);
            }
            Ok(lines.iter().skip(1).map(|l| l.get(4..).unwrap_or_default().to_owned()).collect())
        }
    }
}

/// The mechanisms a server offers, upper-case. IMAP's LOGIN command counts as "LOGIN" unless disabled;
/// POP3's USER/PASS as "USER".
fn auth_mechanisms(protocol: Protocol, caps: &[String]) -> Vec<String> {
    let mut mechs: Vec<String> = match protocol {
        Protocol::Imap => {
            let mut m: Vec<String> =
                caps.iter().filter_map(|c| c.to_ascii_uppercase().strip_prefix("AUTH=").map(str::to_owned)).collect();
            if !caps.iter().any(|c| c.eq_ignore_ascii_case("LOGINDISABLED")) {
                m.push("LOGIN".into());
            }
            m
        }
        Protocol::Pop3 => {
            let mut m: Vec<String> = caps.iter().flat_map(|c| crate::pop3::sasl_mechanisms(c)).collect();
            if caps.iter().any(|c| c.eq_ignore_ascii_case("USER")) {
                m.push("USER".into());
            }
            m
        }
        Protocol::Smtp => caps
            .iter()
            .filter_map(|c| {
                let upper = c.to_ascii_uppercase();
                upper.strip_prefix("AUTH ").or_else(|| upper.strip_prefix("AUTH=")).map(str::to_owned)
            })
            .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    mechs.retain(|m| seen.insert(m.clone()));
    mechs
}

pub(crate) fn ehlo_name(local_ip: Option<IpAddr>) -> String {
    match local_ip {
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        None => "mailproof.localdomain".into(),
    }
}

fn command_name(command: &str) -> &str {
    let mut words = command.split_whitespace();
    match words.next() {
        Some(first) if first.len() == 1 => words.next().unwrap_or(first),
        Some(first) => first,
        None => command,
    }
}

fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "an old TLS version",
    }
}

fn dns_hint(host: &str) -> String {
    format!("Check the spelling of {host}. If the name is only known inside your organisation, connect to its network (or VPN) first, or enter the server's IP address.")
}

/// Whether the handshake failed only because no trusted CA vouches for the certificate (the case a pin fixes).
fn is_trust_only(e: &std::io::Error) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature))
    )
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The certificate problem in words, as shown beside the certificate.
fn certificate_problem(e: &rustls::Error, host: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "issued by a CA this machine does not trust".into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("not issued for {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "not valid yet".into(),
            CertificateError::Revoked => "revoked".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

fn explain_tls_failure(tg: &Target, e: &std::io::Error, report: &TlsReport, after_starttls: bool) -> (String, String) {
    let leaf = report.chain.first();
    let names = leaf.map(|c| c.names.join(", ")).filter(|n| !n.is_empty()).unwrap_or_else(|| "no names".into());
    match rustls_error(e) {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => (
                format!(
                    "The certificate was issued by {}, which this machine does not trust.",
                    leaf.map_or("an unknown CA", |c| c.issuer.as_str())
                ),
                format!(
                    "If this server uses your organisation's own CA, add that CA in Settings. Or, after checking the fingerprint with the server's owner, trust this exact certificate for this profile (SHA-256 {}). Mailproof never accepts any certificate blindly.",
                    leaf.map_or("unknown", |c| c.sha256.as_str())
                ),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                format!("The certificate is for {names}, not {}.", tg.host),
                format!("Use one of the names on the certificate ({names}) as the server address, or ask the server's owner for a certificate that names {}.", tg.host),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                format!("The certificate expired on {}.", leaf.map_or("an earlier date", |c| c.not_after.as_str())),
                "Ask the server's owner to renew the certificate. Also check this machine's clock.".into(),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                format!("The certificate is valid only from {}.", leaf.map_or("a later date", |c| c.not_before.as_str())),
                "Check this machine's date and time; if they are right, the server's certificate is misconfigured.".into(),
            ),
            other => (format!("The certificate was refused: {other:?}."), "Ask the server's owner to check its certificate.".into()),
        },
        Some(rustls::Error::InvalidMessage(_)) | Some(rustls::Error::InappropriateMessage { .. })
        | Some(rustls::Error::InappropriateHandshakeMessage { .. })
            if !after_starttls =>
        {
            (
                format!("The server did not answer with TLS: {e}."),
                format!("Port {} seems to start in clear text. Choose STARTTLS (or no encryption), or the TLS port for this protocol.", tg.port),
            )
        }
        Some(rustls::Error::AlertReceived(alert)) => (
            format!("The server ended the handshake with the alert {alert:?}."),
            "The server and Mailproof share no TLS version or cipher, or the server wants a client certificate. Mailproof speaks TLS 1.2 and 1.3; ask the server's owner to enable them.".into(),
        ),
        Some(other) => (format!("The TLS handshake failed: {other}."), "Check the connection security setting and the port.".into()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => (
            "The server closed the connection during the TLS handshake.".into(),
            format!("The server may not speak TLS on port {}, or it refused Mailproof's TLS versions. Check the connection security setting.", tg.port),
        ),
        None => (format!("The TLS handshake failed: {e}."), "Check the connection security setting and the port.".into()),
    }
}

fn explain_login_failure(tg: &Target, user: &str, reply: &str, mechs: &[String], secured: bool) -> (String, String) {
    if reply.is_empty() && tg.ntlm {
        let offered = if mechs.is_empty() { "nothing".to_owned() } else { mechs.join(", ") };
        return (
            format!("The server does not offer NTLM sign-in (it offers: {offered})."),
            if secured {
                "Choose Plain authentication, or ask the server's owner to enable NTLM.".into()
            } else {
                "Some servers offer NTLM only after STARTTLS. Choose STARTTLS or SSL/TLS, or choose Plain.".into()
            },
        );
    }
    if reply.is_empty() {
        return (
            "The server announces no authentication mechanism Mailproof can use (PLAIN or LOGIN).".into(),
            if secured {
                "Choose NTLM if the server offers it, or untick \"requires authentication\" if this server takes mail without it.".into()
            } else {
                "Many servers offer authentication only after STARTTLS. Choose STARTTLS or SSL/TLS.".into()
            },
        );
    }
    let code = reply.get(..3).unwrap_or_default();
    if tg.protocol == Protocol::Smtp {
        match code {
            "535" => return (format!("The server rejected the user name or password: {reply}"), format!("Check the user name ({user}) and the password. Some providers need an app password when two-factor sign-in is on.")),
            "534" | "538" => return (format!("The server refused this authentication method: {reply}"), "The server wants a stronger method or an encrypted connection. Choose STARTTLS or SSL/TLS.".into()),
            "454" => return (format!("Temporary authentication failure: {reply}"), "The server could not check the password just now. Try again later.".into()),
            "503" => return (format!("The server does not accept authentication here: {reply}"), "Untick \"requires authentication\" if this server takes mail without it, or use the submission port (587).".into()),
            _ => {}
        }
    }
    let _ = mechs;
    if tg.ntlm && !user.contains('\\') {
        return (
            format!("The server rejected the NTLM login for {user}: {reply}"),
            format!("Check the password, and write the account as DOMAIN\\user (e.g. LAB\\{}) — NTLM servers often need the domain.", user.split('@').next().unwrap_or(user)),
        );
    }
    (
        format!("The server rejected the login for {user}: {reply}"),
        format!("Check the user name ({user}) and the password. If they are right, the account may be locked or {} access disabled for it.", tg.protocol.label()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_are_read_from_each_protocols_capabilities() {
        let imap: Vec<String> = ["IMAP4rev1", "SASL-IR", "AUTH=PLAIN", "AUTH=ntlm"].map(String::from).to_vec();
        assert_eq!(auth_mechanisms(Protocol::Imap, &imap), ["PLAIN", "NTLM", "LOGIN"]);
        let imap_disabled: Vec<String> = ["IMAP4rev1", "STARTTLS", "LOGINDISABLED"].map(String::from).to_vec();
        assert!(auth_mechanisms(Protocol::Imap, &imap_disabled).is_empty());
        let pop: Vec<String> = ["TOP", "USER", "SASL PLAIN LOGIN", "UIDL"].map(String::from).to_vec();
        assert_eq!(auth_mechanisms(Protocol::Pop3, &pop), ["PLAIN", "LOGIN", "USER"]);
        let smtp: Vec<String> =
            ["PIPELINING", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "8BITMIME"].map(String::from).to_vec();
        assert_eq!(auth_mechanisms(Protocol::Smtp, &smtp), ["PLAIN", "LOGIN"]);
    }

    #[test]
    fn smtp_ehlo_replies_become_capabilities() {
        let lines: Vec<String> =
            ["250-lab.example.test", "250-STARTTLS", "250 AUTH PLAIN LOGIN"].map(String::from).to_vec();
        assert_eq!(parse_capabilities(Protocol::Smtp, &lines).unwrap(), ["STARTTLS", "AUTH PLAIN LOGIN"]);
        let refused = vec!["502 5.5.2 Error: command not recognized".to_owned()];
        assert!(parse_capabilities(Protocol::Smtp, &refused).is_err());
    }

    #[test]
    fn login_failures_are_explained_by_reply_code() {
        let tg = Target {
            protocol: Protocol::Smtp,
            host: "127.0.0.1".into(),
            port: 587,
            encryption: Encryption::StartTls,
            trust: Trust::default(),
            login: None,
            ntlm: false,
            timeout: Duration::from_secs(1),
        };
        let (detail, hint) = explain_login_failure(&tg, "bob", "535 5.7.8 Error: authentication failed", &[], true);
        assert!(detail.contains("rejected the user name or password") && hint.contains("Check the user name (bob)"));
        let (detail, _) = explain_login_failure(&tg, "bob", "", &[], false);
        assert!(detail.contains("no authentication mechanism"));
    }

    /// A server that answers every connection with `script` and then closes (or keeps quiet).
    async fn misbehaving_server(script: &'static [u8], then_close: bool) -> u16 {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = sock.write_all(script).await;
                    if !then_close {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn malformed_servers_end_in_an_explained_failure_never_a_panic() {
        let endless: &'static [u8] = Box::leak(vec![b'x'; crate::dialogue::MAX_LINE + 100].into_boxed_slice());
        let cases: [(&'static [u8], bool); 6] = [
            (b"", true),
            (b"\x00\xff\xfe garbage \x16\x03\x01\r\n", true),
            (b"* OK ready\r\n* CAPABILITY \xff\xfe\r\n", true),
            (b"220-first\r\n220-second\r\n", true),
            (b"+OK pop\r\n", false),
            (endless, false),
        ];
        for protocol in [Protocol::Imap, Protocol::Pop3, Protocol::Smtp] {
            for (script, close) in cases {
                let port = misbehaving_server(script, close).await;
                for encryption in [Encryption::None, Encryption::StartTls, Encryption::Tls] {
                    let target = Target {
                        protocol,
                        host: "127.0.0.1".into(),
                        port,
                        encryption,
                        trust: Trust::default(),
                        login: Some(Login { username: "u".into(), password: crate::Password::new("p") }),
                        ntlm: false,
                        timeout: Duration::from_millis(300),
                    };
                    let d = diagnose(&target, &mut |_| {}).await;
                    assert!(
                        !d.ok,
                        "{protocol:?} {encryption:?} {:?}",
                        String::from_utf8_lossy(&script[..script.len().min(20)])
                    );
                    let failed = d.steps.iter().find(|s| s.status == StepStatus::Failed).expect("a failed step");
                    assert!(failed.hint.as_deref().is_some_and(|h| !h.is_empty()), "{failed:?}");
                }
            }
        }
    }

    #[test]
    fn ehlo_names_are_address_literals() {
        assert_eq!(ehlo_name(Some("127.0.0.1".parse().unwrap())), "[127.0.0.1]");
        assert_eq!(ehlo_name(Some("::1".parse().unwrap())), "[IPv6:::1]");
    }
}
