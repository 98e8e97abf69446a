//! The steps of a diagnosis, in order: DNS, TCP, TLS, greeting, capabilities, STARTTLS (sign-in is in
//! `login.rs`). Each records what happened and, when it fails, why and what to do, then stops the run.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::explain::{certificate_problem, dns_hint, explain_tls_failure, is_trust_only, version_name};
use super::wire::{command_name, ehlo_name, read_reply, read_reply_list, transcript_text};
use super::{Step, StepKind, StepStatus, Target, TlsReport};
use crate::certificate::describe;
use crate::dialogue::{Dialogue, DialogueError, TranscriptLine};
use crate::stream::{MailStream, Tcp};
use crate::tls::{observed_client_config, Observer};
use crate::Encryption;

/// What the dialogue learnt, kept even when a later step fails.
#[derive(Default)]
pub(super) struct Learnt {
    pub capabilities: Vec<String>,
    pub mechanisms: Vec<String>,
    pub transcript: Vec<String>,
}

pub(super) struct Run<'a> {
    pub target: &'a Target,
    pub on_step: &'a mut (dyn FnMut(&Step) + Send),
    pub steps: Vec<Step>,
    pub tls: Option<TlsReport>,
    pub pinnable: Option<String>,
}

/// Marks the end of the run after a failed step.
pub(super) struct Stop;

impl Run<'_> {
    pub(super) fn record(
        &mut self,
        kind: StepKind,
        title: &str,
        status: StepStatus,
        detail: String,
        hint: Option<String>,
        t: Instant,
    ) {
        let step = Step::timed(kind, title, status, detail, hint, t);
        (self.on_step)(&step);
        self.steps.push(step);
    }

    pub(super) fn pass(&mut self, kind: StepKind, title: &str, detail: String, t: Instant) {
        self.record(kind, title, StepStatus::Passed, detail, None, t);
    }

    pub(super) fn fail(
        &mut self,
        kind: StepKind,
        title: &str,
        detail: String,
        hint: impl Into<String>,
        t: Instant,
    ) -> Stop {
        self.record(kind, title, StepStatus::Failed, detail, Some(hint.into()), t);
        Stop
    }

    pub(super) async fn dialogue(&mut self, learnt: &mut Learnt) -> Result<(), Stop> {
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

    async fn connect(&mut self, addrs: &[SocketAddr]) -> Result<Tcp, Stop> {
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
                    return Ok(Tcp::new(s, tg.timeout));
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
        let _ = d.send(tg.protocol.dialect().bye).await;
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
        if !tg.protocol.dialect().greets(&first) {
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
        let dialect = tg.protocol.dialect();
        let tag = dialect.capability_tag;
        let command = if dialect.capability_names_client {
            format!("{} {}", dialect.capability, ehlo_name(local_ip))
        } else {
            dialect.capability.to_owned()
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
        let caps = match dialect.capabilities(&lines) {
            Ok(caps) => caps,
            Err(reply) if dialect.capability_optional => {
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
        learnt.mechanisms = dialect.auth_mechanisms(&caps);
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
        let dialect = tg.protocol.dialect();
        let (offered, command, tag) = (dialect.offers_starttls(caps), dialect.starttls, dialect.starttls_tag);
        let tls_port = dialect.tls_port;
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
        let accepted = last.starts_with(dialect.starttls_ok);
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
}
