//! A fault-injecting TCP proxy on loopback, between Mailproof and one of the lab's servers: the network an
//! analyst's laptop meets (a stalled server, a link that drops, a server that answers a byte at a time), made to
//! order. Every connection it accepts is relayed to the lab port until a fault says otherwise.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One line of the fault matrix, as tests/bench/faults.sh collects it from the tests that print one.
pub fn matrix(fault: &str, expected: &str, seen: &str) {
    eprintln!("FAULT | {fault} | expected: {expected} | seen: {seen}");
}

/// What the proxy does with the connections it accepts from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Relays both ways.
    Pass,
    /// Accepts and then says nothing, ever (a server that stopped answering; a TLS handshake that never ends).
    Silent,
    /// Relays, but the server's side one byte every so often.
    Drip(Duration),
    /// Closes the connection at once.
    Refuse,
    /// Says this line (e.g. a 421 greeting) and closes the connection.
    Greet(&'static str),
    /// Relays until the client has sent this text and then this many bytes more, then resets the connection
    /// (e.g. mid-DATA) — once: the connections after it are relayed.
    CutAfter(&'static str, usize),
    /// Relays until the client sends this text, answers it with this line in the server's place and closes (a
    /// server shutting down mid-session: "421 … closing transmission channel") — once.
    SayAfter(&'static str, &'static str),
}

pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    upstream: u16,
    upstream_host: Mutex<&'static str>,
    fault: Mutex<Fault>,
    accepted: AtomicUsize,
    live: Mutex<Vec<Live>>,
}

/// A relayed connection: whether it is frozen, and its pumps (aborted to cut it).
struct Live {
    frozen: Arc<AtomicBool>,
    pumps: Vec<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy to the lab's `upstream` port, relaying.
    pub async fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            upstream_host: Mutex::new("127.0.0.1"),
            fault: Mutex::new(Fault::Pass),
            accepted: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let fault = *s.fault.lock().unwrap();
                Shared::serve(&s, inbound, fault).await;
            }
        });
        FaultProxy { port, shared, task }
    }

    /// Sets what happens to connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// Connections accepted from now on are relayed to the same port on `host` (e.g. the lab's 127.0.0.2, where
    /// Dovecot shows an expired certificate).
    pub fn relay_to(&self, host: &'static str) {
        *self.shared.upstream_host.lock().unwrap() = host;
    }

    /// The connections open now stop relaying in both directions and stay open: a half-open link, a server
    /// that stalled mid-session. New connections are served as [`FaultProxy::set`] says.
    pub fn freeze_open(&self) {
        for l in self.shared.live.lock().unwrap().iter() {
            l.frozen.store(true, Ordering::SeqCst);
        }
    }

    /// Cuts every open connection (each side sees it closed).
    pub fn cut_open(&self) {
        for l in self.shared.live.lock().unwrap().drain(..) {
            l.pumps.iter().for_each(JoinHandle::abort);
        }
    }

    /// The server goes down: nothing listens on the port any more, and the open connections are cut.
    pub fn go_down(&self) {
        self.task.abort();
        self.cut_open();
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_open();
    }
}

impl Shared {
    fn upstream_host(&self) -> &'static str {
        *self.upstream_host.lock().unwrap()
    }

    async fn serve(self: &Arc<Self>, inbound: TcpStream, fault: Fault) {
        let frozen = Arc::new(AtomicBool::new(false));
        let pumps = match fault {
            Fault::Refuse => return,
            Fault::Greet(line) => {
                let mut inbound = inbound;
                let _ = inbound.write_all(format!("{line}\r\n").as_bytes()).await;
                return;
            }
            Fault::Silent => {
                // Reads and drops what the client says, answers nothing.
                let (mut r, _w) = inbound.into_split();
                vec![tokio::spawn(async move {
                    let _keep_open = _w;
                    let mut buf = [0u8; 4096];
                    while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
                })]
            }
            Fault::CutAfter(text, more) => {
                let Ok(outbound) = TcpStream::connect((self.upstream_host(), self.upstream)).await else { return };
                // A reset, not a polite close: the client sees the connection torn down under it.
                let _ = socket2::SockRef::from(&inbound).set_linger(Some(Duration::ZERO));
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                let (me, frozen) = (self.clone(), frozen.clone());
                vec![tokio::spawn(async move {
                    tokio::select! {
                        _ = pump(or, iw, frozen, None) => {}
                        cut = relay_until(ir, ow, text.as_bytes(), more) => if cut {
                            *me.fault.lock().unwrap() = Fault::Pass;
                        }
                    }
                })]
            }
            Fault::SayAfter(text, line) => {
                let Ok(outbound) = TcpStream::connect((self.upstream_host(), self.upstream)).await else { return };
                let me = self.clone();
                vec![tokio::spawn(async move {
                    if say_after(inbound, outbound, text.as_bytes(), line).await {
                        *me.fault.lock().unwrap() = Fault::Pass;
                    }
                })]
            }
            Fault::Pass | Fault::Drip(_) => {
                let Ok(outbound) = TcpStream::connect((self.upstream_host(), self.upstream)).await else { return };
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                let drip = match fault {
                    Fault::Drip(every) => Some(every),
                    _ => None,
                };
                vec![tokio::spawn(pump(ir, ow, frozen.clone(), None)), tokio::spawn(pump(or, iw, frozen.clone(), drip))]
            }
        };
        let mut live = self.live.lock().unwrap();
        live.retain(|l| l.pumps.iter().any(|p| !p.is_finished()));
        live.push(Live { frozen, pumps });
    }
}

/// Copies `from` to `to` until either closes; holds everything while `frozen`; with `drip`, one byte per interval.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    frozen: Arc<AtomicBool>,
    drip: Option<Duration>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let written = match drip {
            None => to.write_all(&buf[..n]).await,
            Some(every) => {
                let mut r = Ok(());
                for b in &buf[..n] {
                    tokio::time::sleep(every).await;
                    r = to.write_all(std::slice::from_ref(b)).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// Relays `from` to `to` until `text` and `more` bytes after it have gone through; true if it stopped there.
async fn relay_until(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    text: &[u8],
    more: usize,
) -> bool {
    let (mut seen, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let before = seen.len();
        seen.extend_from_slice(&buf[..n]);
        let cut_at = seen.windows(text.len()).position(|w| w == text).map(|i| i + text.len() + more);
        let upto = cut_at.map_or(seen.len(), |c| c.min(seen.len()));
        if to.write_all(&seen[before..upto]).await.is_err() {
            return false;
        }
        if cut_at.is_some_and(|c| c <= seen.len()) {
            return true;
        }
    }
}

/// Relays both ways until the client sends `text`; then says `line` to it instead and closes. True if it did.
async fn say_after(inbound: TcpStream, outbound: TcpStream, text: &[u8], line: &str) -> bool {
    let ((mut ir, mut iw), (mut or, mut ow)) = (inbound.into_split(), outbound.into_split());
    let (mut seen, mut up, mut down) = (Vec::new(), vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            n = ir.read(&mut up) => {
                let Ok(n @ 1..) = n else { return false };
                seen.extend_from_slice(&up[..n]);
                if seen.windows(text.len()).any(|w| w == text) {
                    let _ = iw.write_all(format!("{line}\r\n").as_bytes()).await;
                    return true;
                }
                if ow.write_all(&up[..n]).await.is_err() {
                    return false;
                }
            }
            n = or.read(&mut down) => {
                let Ok(n @ 1..) = n else { return false };
                if iw.write_all(&down[..n]).await.is_err() {
                    return false;
                }
            }
        }
    }
}
