//! TLS client settings shared by every protocol: the public web PKI roots plus, optionally, a CA the user
//! (or a test) trusts explicitly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the trusted CA file {path}: {detail}. Choose a PEM file holding the CA certificate.")]
    CaFile { path: PathBuf, detail: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A rustls client configuration using the ring provider, trusting the web PKI and `extra_ca` (a PEM file).
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in read_pem_certificates(path)? {
            roots.add(cert).map_err(|e| TlsSetupError::CaFile { path: path.to_owned(), detail: e.to_string() })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates in a PEM file; an empty or unreadable file is an error.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |detail: String| TlsSetupError::CaFile { path: path.to_owned(), detail };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("it holds no certificate".into()));
    }
    Ok(certs)
}

/// What Mailproof trusts for one server: the web PKI, optionally an extra CA, and optionally one pinned
/// certificate (by SHA-256) the user chose to trust although no trusted CA signed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub extra_ca: Option<PathBuf>,
    /// 64 lower-case hex digits.
    pub pinned_sha256: Option<String>,
}

/// The certificate chain a server presented and what Mailproof made of it, recorded during the handshake so
/// it can be shown even when the handshake is refused.
#[derive(Debug, Clone)]
pub struct Presented {
    pub chain: Vec<CertificateDer<'static>>,
    /// `None` when a trusted CA signed the certificate for this name; otherwise why not, in rustls' words.
    pub problem: Option<rustls::Error>,
    /// True when the certificate was accepted only because it is the pinned one.
    pub accepted_by_pin: bool,
}

/// Records what the verifier saw. Cheap to clone; every clone sees the same record.
#[derive(Debug, Clone, Default)]
pub struct Observer(Arc<std::sync::Mutex<Option<Presented>>>);

impl Observer {
    pub fn presented(&self) -> Option<Presented> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A client configuration for `trust` whose verifier records the presented chain in the returned observer.
pub fn observed_client_config(trust: &Trust) -> Result<(Arc<ClientConfig>, Observer), TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &trust.extra_ca {
        for cert in read_pem_certificates(path)? {
            roots.add(cert).map_err(|e| TlsSetupError::CaFile { path: path.clone(), detail: e.to_string() })?;
        }
    }
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))?;
    let observer = Observer::default();
    let verifier = PinningVerifier { inner, pinned: trust.pinned_sha256.clone(), observer: observer.clone() };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous() // only to install our verifier, which verifies as strictly as the default plus an exact pin
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((Arc::new(config), observer))
}

/// The SHA-256 of a DER certificate as 64 lower-case hex digits.
pub fn sha256_hex(der: &[u8]) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Verifies like rustls' default (web PKI + extra CA, name check, expiry), except that the one certificate the
/// user pinned is accepted as it is. Handshake signatures are always checked, so a pin still proves the server
/// holds that certificate's key.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Option<String>,
    observer: Observer,
}

impl rustls::client::danger::ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let pinned = self.pinned.as_deref().is_some_and(|pin| pin == sha256_hex(end_entity));
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        let (result, problem, accepted_by_pin) = match verdict {
            Ok(ok) => (Ok(ok), None, false),
            Err(e) if pinned => (Ok(rustls::client::danger::ServerCertVerified::assertion()), Some(e), true),
            Err(e) => (Err(e.clone()), Some(e), false),
        };
        *self.observer.0.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Presented { chain, problem, accepted_by_pin });
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
