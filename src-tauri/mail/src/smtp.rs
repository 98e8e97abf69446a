//! SMTP submission through lettre: clear, STARTTLS or implicit TLS, with optional authentication.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::tls::Trust;
use crate::{Encryption, Login};

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    /// `None` when the server takes mail without authentication.
    pub login: Option<Login>,
    /// Sign in with NTLMv2 (driven on lettre's lower-level connection; its mechanism list is closed).
    pub ntlm: bool,
    /// What to trust: the public roots, an extra CA, and a pinned certificate.
    pub trust: Trust,
    pub timeout: Duration,
}

/// What the server answered to the end of DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub code: u16,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot read the trusted CA file {path}: {detail}")]
    CaFile { path: PathBuf, detail: String },
    #[error("cannot set up TLS for {host}: {detail}")]
    Tls { host: String, detail: String },
    #[error("the server's certificate (SHA-256 {found}) is not the one pinned for it; nothing was sent. If the server's certificate changed, check the new one and pin it again.")]
    PinMismatch { found: String },
    #[error("the SMTP server refused the message permanently: {detail}")]
    Permanent { code: Option<u16>, detail: String },
    #[error("the SMTP server deferred the message (try again later): {detail}")]
    Transient { code: Option<u16>, detail: String },
    #[error("SMTP failed: {detail}")]
    Other { detail: String },
}

/// A plain-text message with the Message-ID `<message_id>`.
pub fn text_message(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> Result<Message, String> {
    Message::builder()
        .from(from.parse().map_err(|e| format!("{from} is not a valid address: {e}"))?)
        .to(to.parse().map_err(|e| format!("{to} is not a valid address: {e}"))?)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// Sends `message` and returns the server's final reply.
pub async fn send(config: &SmtpConfig, message: Message) -> Result<Accepted, SmtpError> {
    if config.ntlm || config.trust.pinned_sha256.is_some() {
        return send_low_level(config, message).await;
    }
    let transport = transport(config)?;
    let response = transport.send(message).await.map_err(classify)?;
    let text = response.message().collect::<Vec<_>>().join(" ");
    Ok(Accepted { code: u16::from(response.code()), text })
}

fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .timeout(Some(config.timeout));
    let tls_params = || -> Result<TlsParameters, SmtpError> {
        let mut params = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.trust.extra_ca {
            let pem =
                std::fs::read(path).map_err(|e| SmtpError::CaFile { path: path.clone(), detail: e.to_string() })?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| SmtpError::CaFile { path: path.clone(), detail: e.to_string() })?;
            params = params.add_root_certificate(cert);
        }
        params.build_rustls().map_err(|e| SmtpError::Tls { host: config.host.clone(), detail: e.to_string() })
    };
    builder = match config.encryption {
        Encryption::None => builder.tls(Tls::None),
        Encryption::StartTls => builder.tls(Tls::Required(tls_params()?)),
        Encryption::Tls => builder.tls(Tls::Wrapper(tls_params()?)),
    };
    if let Some(login) = &config.login {
        builder = builder
            .credentials(Credentials::new(login.username.clone(), login.password.expose().to_owned()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

/// Sends on lettre's lower-level connection, for what its transport cannot do: an exact certificate pin
/// (checked after the handshake and before any credential is sent) and AUTH NTLM as raw commands.
async fn send_low_level(config: &SmtpConfig, message: Message) -> Result<Accepted, SmtpError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    use lettre::transport::smtp::extension::ClientId;

    let hello = ClientId::default();
    let pinned = config.trust.pinned_sha256.clone();
    let params = || -> Result<TlsParameters, SmtpError> {
        let mut params = TlsParameters::builder(config.host.clone());
        if pinned.is_some() {
            // The pin replaces CA trust for this server: the certificate is compared below, byte for byte by its
            // SHA-256, before anything is sent. Handshake signatures are still verified by rustls.
            params = params.dangerous_accept_invalid_certs(true).dangerous_accept_invalid_hostnames(true);
        } else if let Some(path) = &config.trust.extra_ca {
            let pem =
                std::fs::read(path).map_err(|e| SmtpError::CaFile { path: path.clone(), detail: e.to_string() })?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| SmtpError::CaFile { path: path.clone(), detail: e.to_string() })?;
            params = params.add_root_certificate(cert);
        }
        params.build_rustls().map_err(|e| SmtpError::Tls { host: config.host.clone(), detail: e.to_string() })
    };
    let wrapper = if config.encryption == Encryption::Tls { Some(params()?) } else { None };
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (config.host.as_str(), config.port),
        Some(config.timeout),
        &hello,
        wrapper,
        None,
    )
    .await
    .map_err(classify)?;
    if config.encryption == Encryption::StartTls {
        conn.starttls(params()?, &hello).await.map_err(classify)?;
    }
    if let Some(pin) = &pinned {
        let found = conn
            .peer_certificate()
            .map(|der| crate::tls::sha256_hex(&der))
            .map_err(|e| SmtpError::Tls { host: config.host.clone(), detail: e.to_string() })?;
        if &found != pin {
            conn.abort().await;
            return Err(SmtpError::PinMismatch { found });
        }
    }
    if let Some(login) = &config.login {
        if config.ntlm {
            let refused = |detail: String| SmtpError::Permanent { code: Some(535), detail };
            conn.command("AUTH NTLM\r\n").await.map_err(classify)?;
            let challenge =
                conn.command(format!("{}\r\n", STANDARD.encode(crate::ntlm::negotiate()))).await.map_err(classify)?;
            let challenge = challenge.message().next().unwrap_or_default().trim().to_owned();
            let challenge =
                STANDARD.decode(challenge).map_err(|e| refused(format!("unreadable NTLM challenge: {e}")))?;
            let answer = crate::ntlm::authenticate(&challenge, &login.username, login.password.expose())
                .map_err(|e| refused(e.to_string()))?;
            conn.command(format!("{}\r\n", STANDARD.encode(answer))).await.map_err(classify)?;
        } else {
            let credentials = Credentials::new(login.username.clone(), login.password.expose().to_owned());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials).await.map_err(classify)?;
        }
    }
    let response = conn.send(message.envelope(), &message.formatted()).await.map_err(classify)?;
    let _ = conn.quit().await;
    let text = response.message().collect::<Vec<_>>().join(" ");
    Ok(Accepted { code: u16::from(response.code()), text })
}

fn classify(err: lettre::transport::smtp::Error) -> SmtpError {
    let code = err.status().map(u16::from);
    let detail = err.to_string();
    if err.is_permanent() {
        SmtpError::Permanent { code, detail }
    } else if err.is_transient() {
        SmtpError::Transient { code, detail }
    } else {
        SmtpError::Other { detail }
    }
}
