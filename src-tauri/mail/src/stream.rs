//! A TCP connection that is either clear text or TLS, so protocol code is written once for both — and that
//! never waits for ever: every read and write fails when the other side makes no progress for the connection's
//! patience, and TCP keepalive notices a peer that vanished without a word.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

/// After this long without traffic the system starts probing the peer; a peer that stopped answering is given up
/// after a few minutes more at most, even on a session that waits on purpose (IMAP IDLE).
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub enum MailStream {
    Plain(Tcp),
    Tls(Box<TlsStream<Tcp>>),
}

impl MailStream {
    /// The connection's patience, to lengthen it for a wait that is meant to be long.
    pub fn patience(&self) -> Patience {
        match self {
            MailStream::Plain(s) => s.patience.clone(),
            MailStream::Tls(s) => s.get_ref().0.patience.clone(),
        }
    }
}

/// How long a connection waits for the other side to make progress. Shared by the connection and whoever holds a
/// clone: an IMAP session lengthens it while it idles and shortens it again for commands.
#[derive(Debug, Clone)]
pub struct Patience(Arc<AtomicU64>);

impl Patience {
    pub fn new(limit: Duration) -> Self {
        Patience(Arc::new(AtomicU64::new(millis(limit))))
    }

    pub fn set(&self, limit: Duration) {
        self.0.store(millis(limit), Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A TCP stream whose reads and writes fail with [`io::ErrorKind::TimedOut`] once the peer has made no progress
/// for the patience: a silent server, a half-open connection or a TLS handshake that never finishes end in words
/// instead of a hang.
#[derive(Debug)]
pub struct Tcp {
    inner: TcpStream,
    patience: Patience,
    reading: Stall,
    writing: Stall,
}

impl Tcp {
    pub fn new(inner: TcpStream, patience: Duration) -> Self {
        // Commands are small and each waits for its reply: send them at once (no Nagle delay).
        let _ = inner.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_AFTER).with_interval(KEEPALIVE_EVERY);
        let _ = socket2::SockRef::from(&inner).set_tcp_keepalive(&keepalive);
        Tcp { inner, patience: Patience::new(patience), reading: Stall::default(), writing: Stall::default() }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }

    pub fn patience(&self) -> Patience {
        self.patience.clone()
    }
}

/// The timer of one direction: armed when an operation first has to wait, disarmed by any progress.
#[derive(Debug, Default)]
struct Stall(Option<(Pin<Box<Sleep>>, Duration)>);

impl Stall {
    /// Call when the operation is pending: `Ready` with an error once the patience ran out.
    fn check<T>(&mut self, patience: &Patience, cx: &mut Context<'_>, doing: &str) -> Poll<io::Result<T>> {
        let limit = patience.get();
        // A patience changed while waiting counts from now.
        if self.0.as_ref().is_none_or(|(_, armed)| *armed != limit) {
            self.0 = Some((Box::pin(tokio::time::sleep(limit)), limit));
        }
        let (timer, _) = self.0.as_mut().expect("armed above");
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.0 = None;
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, stalled(doing, limit))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress(&mut self) {
        self.0 = None;
    }
}

/// The words of a stall, e.g. "the server sent nothing for 30 s".
fn stalled(doing: &str, limit: Duration) -> String {
    let secs = limit.as_secs_f64();
    let secs = if secs < 1.0 { format!("{secs:.1}") } else { format!("{}", limit.as_secs()) };
    format!("the server {doing} for {secs} s; the connection is given up (a dropped or stalled network link)")
}

impl AsyncRead for Tcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.reading.progress();
                Poll::Ready(r)
            }
            Poll::Pending => this.reading.check(&this.patience, cx, "sent nothing"),
        }
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.writing.progress();
                Poll::Ready(r)
            }
            Poll::Pending => this.writing.check(&this.patience, cx, "took nothing more"),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot find the server {host}: {source}. Check the spelling of the name; if it is only known inside your organisation, connect to its network (or VPN) first. If other names fail too, this machine's DNS is not working.")]
    Unresolved {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to {host}:{port}: {source}")]
    Tcp {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("no answer from {host}:{port} within {secs} s. Check the address and port, and that a firewall lets the connection through.")]
    TimedOut { host: String, port: u16, secs: u64 },
    #[error("TLS handshake with {host} failed: {}", tls_words(source))]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} is not a valid server name for TLS")]
    BadName { host: String },
}

/// A failed handshake in words, with what to do when it is the server's certificate that was refused.
fn tls_words(e: &io::Error) -> String {
    use tokio_rustls::rustls::{CertificateError as C, Error};
    let date = |t: &rustls_pki_types::UnixTime| {
        time::OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
            .map(|d| d.date().to_string())
            .unwrap_or_else(|_| "an unknown date".into())
    };
    let Some(Error::InvalidCertificate(c)) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) else {
        return e.to_string();
    };
    match c {
        C::Expired => "the server's certificate has expired. Ask the server's owner to renew it, and check this machine's clock.".into(),
        C::ExpiredContext { not_after, .. } => format!(
            "the server's certificate expired on {}. Ask the server's owner to renew it, and check this machine's clock.",
            date(not_after)
        ),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet. Check this machine's date and time.".into()
        }
        C::UnknownIssuer | C::BadSignature => "the server's certificate is issued by a CA this machine does not trust. Add your organisation's CA, or trust this exact certificate after checking its fingerprint (the profile's connection test shows it).".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server's certificate is not issued for this server name. Use a name the certificate lists (the profile's connection test shows them).".into()
        }
        C::Revoked => "the server's certificate has been revoked. Ask the server's owner for a new one.".into(),
        other => format!("the server's certificate was refused ({other:?})."),
    }
}

/// Connects within `timeout` (finding the server's address included); the connection then waits `timeout` at
/// most for each step of the conversation.
pub async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<Tcp, ConnectError> {
    let timed_out = || ConnectError::TimedOut { host: host.into(), port, secs: timeout.as_secs() };
    let deadline = tokio::time::Instant::now() + timeout;
    let addrs: Vec<_> = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| timed_out())?
        .map_err(|source| ConnectError::Unresolved { host: host.into(), source })?
        .collect();
    match tokio::time::timeout_at(deadline, TcpStream::connect(&addrs[..])).await {
        Ok(Ok(s)) => Ok(Tcp::new(s, timeout)),
        Ok(Err(source)) => Err(ConnectError::Tcp { host: host.into(), port, source }),
        Err(_) => Err(timed_out()),
    }
}

/// TLS over `tcp`; a handshake the server stalls ends with the connection's patience.
pub async fn start_tls(tcp: Tcp, host: &str, config: Arc<ClientConfig>) -> Result<MailStream, ConnectError> {
    let name = ServerName::try_from(host.to_owned()).map_err(|_| ConnectError::BadName { host: host.into() })?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls { host: host.into(), source })?;
    Ok(MailStream::Tls(Box::new(tls)))
}

impl AsyncRead for MailStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(patience: Duration) -> (Tcp, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, server) = tokio::join!(connect_tcp("127.0.0.1", port, patience), listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    #[tokio::test]
    async fn a_silent_peer_ends_a_read_in_words_and_any_progress_restarts_the_wait() {
        let (mut client, mut server) = pair(Duration::from_millis(300)).await;
        let mut byte = [0u8; 1];
        // A byte every 200 ms keeps a 300 ms patience from running out.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            server.write_all(b"x").await.unwrap();
            client.read_exact(&mut byte).await.unwrap();
        }
        let started = std::time::Instant::now();
        let e = client.read_exact(&mut byte).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("sent nothing for 0.3 s"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_longer_patience_set_while_waiting_holds_the_read() {
        let (mut client, mut server) = pair(Duration::from_millis(200)).await;
        let patience = client.patience();
        patience.set(Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte).await.map(|_| byte[0])
        });
        tokio::time::sleep(Duration::from_millis(600)).await;
        server.write_all(b"y").await.unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), b'y');
    }

    #[tokio::test]
    async fn a_tls_handshake_the_server_never_answers_ends_with_the_patience() {
        let (client, _server) = pair(Duration::from_millis(300)).await;
        let config = crate::tls::client_config(None).unwrap();
        let started = std::time::Instant::now();
        let e = start_tls(client, "mail.example.test", config).await.unwrap_err();
        assert!(e.to_string().contains("sent nothing"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
