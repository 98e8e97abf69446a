//! The remote actor's side: `mailproof agent serve` answers the workstation it was paired with, looking in
//! mailboxes as its own machine through the mailbox seam.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use super::wire::{read_line, Answer, Ask, Found, Request};
use super::{AgentIdentity, CONNECT_TIMEOUT};
use crate::cancel::Cancel;
use crate::mailbox;

/// Serves the workstation until the listener fails: each connection is one request. `log` hears what was asked
/// (never a password or the code).
pub async fn serve(
    listener: TcpListener,
    identity: AgentIdentity,
    extra_ca: Option<PathBuf>,
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let identity = Arc::new(identity);
    let (extra_ca, log) = (Arc::new(extra_ca), Arc::new(log));
    loop {
        let (stream, peer) = listener.accept().await?;
        let (acceptor, identity, extra_ca, log) = (acceptor.clone(), identity.clone(), extra_ca.clone(), log.clone());
        tokio::spawn(async move {
            let answered = async {
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream))
                    .await
                    .map_err(|_| "the TLS handshake timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                let (read, mut write) = tokio::io::split(tls);
                let line = tokio::time::timeout(CONNECT_TIMEOUT, read_line(read))
                    .await
                    .map_err(|_| "no request within the time allowed".to_owned())??;
                let answer = answer(&line, &identity, &extra_ca, &*log, peer).await;
                let mut text = serde_json::to_string(&answer).expect("answers serialize");
                text.push('\n');
                write.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
                write.shutdown().await.map_err(|e| e.to_string())
            };
            if let Err(e) = answered.await {
                log(format!("{peer}: {e}"));
            }
        });
    }
}

async fn answer(
    line: &str,
    identity: &AgentIdentity,
    extra_ca: &Option<PathBuf>,
    log: &(dyn Fn(String) + Send + Sync),
    peer: std::net::SocketAddr,
) -> Answer {
    let Ok(request) = serde_json::from_str::<Request>(line) else {
        return Answer::Refused { reason: "the request is not one this agent understands (versions differ?)".into() };
    };
    if !same(request.code.as_bytes(), identity.code.expose().as_bytes()) {
        log(format!("{peer}: refused a request with a wrong pairing code"));
        return Answer::Refused { reason: "wrong pairing code: pair this agent again with the code it shows".into() };
    }
    match request.ask {
        Ask::Hello => Answer::Hello { fingerprint: identity.fingerprint() },
        Ask::FindMail(find) => {
            log(format!(
                "{peer}: looking for \"{}\" in {}@{}:{} for up to {} s",
                find.subject, find.mailbox.username, find.mailbox.host, find.mailbox.port, find.timing.wait_secs
            ));
            let mailbox = mailbox::open(find.mailbox.reach(extra_ca));
            let outcome = mailbox::look_for(&*mailbox, &find.subject, &find.timing, &Cancel::default()).await;
            log(format!("{peer}: {}", outcome.detail));
            Answer::Found(Found {
                verified: outcome.verified,
                detail: outcome.detail,
                found_after_millis: outcome.found_after_millis,
            })
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
