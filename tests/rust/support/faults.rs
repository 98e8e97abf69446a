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
}

pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    upstream: u16,
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
            fault: Mutex::new(Fault::Pass),
            accepted: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let fault = *s.fault.lock().unwrap();
                s.serve(inbound, fault).await;
            }
        });
        FaultProxy { port, shared, task }
    }

    /// Sets what happens to connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
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
    async fn serve(&self, inbound: TcpStream, fault: Fault) {
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
            Fault::Pass | Fault::Drip(_) => {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", self.upstream)).await else { return };
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
