//! The remote actor's side: `mailproof agent serve` answers the workstation it was paired with, looking in
//! mailboxes as its own machine through the mailbox seam.
//!
//! Hardened for a machine on a network others share: a cap on connections; a caller must finish its TLS
//! handshake and send its request within [`PRE_AUTH_LIMIT`]; an address that sends wrong pairing codes again
//! and again is shut out for a while; a failing accept is logged and survived; the time a search may take is
//! bounded; a search stops when its caller goes away; where the operator listed the mail servers it may reach,
//! it reaches no other.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use super::allow::{refusal, AllowedHost};
use super::session::{self, Opening};
use super::wire::{read_line, Answer, Ask, Found, Request};
use super::{AgentIdentity, PRE_AUTH_LIMIT};
use crate::cancel::Cancel;
use crate::mailbox;
use crate::secrets::Keyring;

/// At most this many connections at once; one more is closed as soon as it is accepted. A job's sessions count:
/// the widest (16 destinations at once, each watched and submitted to, and the source's watch) holds 33.
pub const MAX_CONNECTIONS: usize = 64;

/// After this many wrong pairing codes from one address within [`SHUT_OUT`], that address is refused for as long.
pub const WRONG_CODES: usize = 5;
pub const SHUT_OUT: Duration = Duration::from_secs(10 * 60);

/// How long the agent waits after an accept failed (out of file descriptors, say) before it accepts again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(200);

/// Serves the workstation until stopped: each connection is one request. `log` hears what was asked and what was
/// refused (never a password or the code). The pairing code is read from `keyring` for each request, so a
/// rotated code takes effect without a restart. With `allowed` listed, only those mail servers are reached.
pub async fn serve(
    listener: TcpListener,
    identity: AgentIdentity,
    keyring: Keyring,
    (extra_ca, allowed): (Option<PathBuf>, Vec<AllowedHost>),
    log: impl Fn(String) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth().with_single_cert(
                vec![CertificateDer::from(identity.certificate.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone())),
            )
        })
        .map_err(std::io::Error::other)?;
    let shared = Arc::new(Shared {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        identity,
        keyring,
        extra_ca,
        allowed,
        log: Box::new(log),
        slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        wrong: Mutex::new(HashMap::new()),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                (shared.log)(format!("cannot accept a connection: {e}; going on"));
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            (shared.log)(format!("{peer}: refused: already {MAX_CONNECTIONS} connections open"));
            continue;
        };
        if shared.shut_out(peer.ip()) {
            (shared.log)(format!("{peer}: refused: too many wrong pairing codes from this address"));
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = shared.one(stream, peer).await {
                (shared.log)(format!("{peer}: {e}"));
            }
        });
    }
}

struct Shared {
    acceptor: tokio_rustls::TlsAcceptor,
    identity: AgentIdentity,
    keyring: Keyring,
    extra_ca: Option<PathBuf>,
    allowed: Vec<AllowedHost>,
    log: Box<dyn Fn(String) + Send + Sync>,
    slots: Arc<tokio::sync::Semaphore>,
    /// When each address last sent wrong pairing codes.
    wrong: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl Shared {
    /// Has `ip` sent [`WRONG_CODES`] wrong codes within [`SHUT_OUT`]?
    fn shut_out(&self, ip: IpAddr) -> bool {
        let mut wrong = self.wrong.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        wrong.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < SHUT_OUT);
            !times.is_empty()
        });
        wrong.get(&ip).is_some_and(|t| t.len() >= WRONG_CODES)
    }

    fn wrong_code(&self, ip: IpAddr) {
        self.wrong.lock().unwrap_or_else(|p| p.into_inner()).entry(ip).or_default().push(Instant::now());
    }

    /// One connection: the handshake and the request within [`PRE_AUTH_LIMIT`], then the answer.
    async fn one(&self, stream: tokio::net::TcpStream, peer: std::net::SocketAddr) -> Result<(), String> {
        let request = async {
            let tls = self.acceptor.accept(stream).await.map_err(|e| format!("TLS handshake failed: {e}"))?;
            let (mut read, write) = tokio::io::split(tls);
            let line = read_line(&mut read).await?;
            Ok::<_, String>((read, write, line))
        };
        let (read, write, line) = tokio::time::timeout(PRE_AUTH_LIMIT, request)
            .await
            .map_err(|_| format!("closed: no request within {} s", PRE_AUTH_LIMIT.as_secs()))??;
        let ask = match self.admit(&line, peer) {
            Ok(ask) => ask,
            Err(refused) => return self.say(write, &refused).await,
        };
        let opening = match ask {
            Ask::Watch(w) => Opening::Watch(w),
            Ask::Submit(s) => Opening::Submit(s),
            ask => return self.one_answer(ask, read, write, peer).await,
        };
        let (host, port) = match &opening {
            Opening::Watch(w) => (w.mailbox.host.clone(), w.mailbox.port),
            Opening::Submit(s) => (s.host.clone(), s.port),
        };
        if let Some(reason) = refusal(&self.allowed, &host, port) {
            (self.log)(format!("{peer}: refused a session with {host}:{port}: not an allowed host"));
            return self.say(write, &Answer::Refused { reason }).await;
        }
        let log = |line: String| (self.log)(format!("{peer}: {line}"));
        session::run(opening, tokio::io::BufReader::new(read), write, &self.extra_ca, &log).await
    }

    /// A request that is answered once: the answer, unless the caller went away first.
    async fn one_answer<R, W>(&self, ask: Ask, mut read: R, write: W, peer: std::net::SocketAddr) -> Result<(), String>
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        // A caller that closes the connection, or says anything more, has gone away: what it asked stops.
        let gone = Cancel::default();
        let watch_caller = {
            let gone = gone.clone();
            async move {
                let mut byte = [0u8; 1];
                let _ = read.read(&mut byte).await;
                gone.cancel();
                std::future::pending::<()>().await;
            }
        };
        let answer = tokio::select! {
            answer = self.answer(ask, peer, &gone) => answer,
            () = watch_caller => unreachable!("watching the caller never ends by itself"),
        };
        if gone.is_cancelled() {
            return Err("the workstation went away; the search was stopped".into());
        }
        self.say(write, &answer).await
    }

    /// Sends `answer` and closes.
    async fn say(&self, mut write: impl tokio::io::AsyncWrite + Unpin, answer: &Answer) -> Result<(), String> {
        let mut text = serde_json::to_string(answer).expect("answers serialize");
        text.push('\n');
        let sent = async {
            write.write_all(text.as_bytes()).await?;
            write.shutdown().await
        };
        tokio::time::timeout(PRE_AUTH_LIMIT, sent)
            .await
            .map_err(|_| "the workstation did not take the answer".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// The request, if it is one this agent understands with the pairing code it shows; else the refusal.
    fn admit(&self, line: &str, peer: std::net::SocketAddr) -> Result<Ask, Answer> {
        let Ok(request) = serde_json::from_str::<Request>(line) else {
            return Err(Answer::Refused {
                reason: "the request is not one this agent understands (versions differ?)".into(),
            });
        };
        let code = self.identity.current_code(&self.keyring);
        if !same(request.code.0.expose().as_bytes(), code.expose().as_bytes()) {
            self.wrong_code(peer.ip());
            (self.log)(format!("{peer}: refused a request with a wrong pairing code"));
            return Err(Answer::Refused {
                reason: "wrong pairing code: pair this agent again with the code it shows".into(),
            });
        }
        Ok(request.ask)
    }

    async fn answer(&self, ask: Ask, peer: std::net::SocketAddr, gone: &Cancel) -> Answer {
        let log = &self.log;
        match ask {
            Ask::Hello => Answer::Hello { fingerprint: self.identity.fingerprint(), version: VERSION.to_owned() },
            Ask::Watch(_) | Ask::Submit(_) => unreachable!("sessions are run apart"),
            Ask::FindMail(find) => {
                if let Some(problem) = find.timing.problem() {
                    log(format!("{peer}: refused a search: {problem}"));
                    return Answer::Refused { reason: format!("the search's timing is out of bounds: {problem}") };
                }
                if let Some(reason) = refusal(&self.allowed, &find.mailbox.host, find.mailbox.port) {
                    log(format!(
                        "{peer}: refused a search in {}:{}: not an allowed host",
                        find.mailbox.host, find.mailbox.port
                    ));
                    return Answer::Refused { reason };
                }
                log(format!(
                    "{peer}: looking for \"{}\" in {}@{}:{} for up to {} s",
                    find.subject, find.mailbox.username, find.mailbox.host, find.mailbox.port, find.timing.wait_secs
                ));
                let mailbox = mailbox::open(find.mailbox.reach(&self.extra_ca));
                let outcome = mailbox::look_for(&*mailbox, &find.subject, &find.timing, gone).await;
                log(format!("{peer}: {}", outcome.detail));
                Answer::Found(Found {
                    verified: outcome.verified,
                    detail: outcome.detail,
                    found_after_millis: outcome.found_after_millis,
                })
            }
        }
    }
}

/// This agent's version, said in its hello.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
