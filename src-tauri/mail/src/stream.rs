//! A TCP connection that is either clear text or TLS, so protocol code is written once for both.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

#[derive(Debug)]
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Tcp {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("no answer from {host}:{port} within {secs} s. Check the address and port, and that a firewall lets the connection through.")]
    TimedOut { host: String, port: u16, secs: u64 },
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} is not a valid server name for TLS")]
    BadName { host: String },
}

pub async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            // Commands are small and each waits for its reply: send them at once (no Nagle delay).
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(source)) => Err(ConnectError::Tcp { host: host.into(), port, source }),
        Err(_) => Err(ConnectError::TimedOut { host: host.into(), port, secs: timeout.as_secs() }),
    }
}

pub async fn start_tls(tcp: TcpStream, host: &str, config: Arc<ClientConfig>) -> Result<MailStream, ConnectError> {
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
