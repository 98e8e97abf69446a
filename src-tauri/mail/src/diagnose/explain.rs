//! Failures in words: what happened, the likely cause, and what to do — for DNS, TLS and sign-in.

use tokio_rustls::rustls::{self, CertificateError};

use super::{Protocol, Target, TlsReport};
use crate::SignIn;

pub(super) fn version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "an old TLS version",
    }
}

pub(super) fn dns_hint(host: &str) -> String {
    format!("Check the spelling of {host}. If the name is only known inside your organisation, connect to its network (or VPN) first, or enter the server's IP address.")
}

/// Whether the handshake failed only because no trusted CA vouches for the certificate (the case a pin fixes).
pub(super) fn is_trust_only(e: &std::io::Error) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature))
    )
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The certificate problem in words, as shown beside the certificate.
pub(super) fn certificate_problem(e: &rustls::Error, host: &str) -> String {
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

pub(super) fn explain_tls_failure(
    tg: &Target,
    e: &std::io::Error,
    report: &TlsReport,
    after_starttls: bool,
) -> (String, String) {
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

pub(super) fn explain_login_failure(
    tg: &Target,
    user: &str,
    reply: &str,
    mechs: &[String],
    secured: bool,
) -> (String, String) {
    let offered = || if mechs.is_empty() { "nothing".to_owned() } else { mechs.join(", ") };
    if tg.sign_in == SignIn::OAuth2 {
        if reply.is_empty() {
            return (
                format!(
                    "The server does not offer OAuth 2.0 sign-in, XOAUTH2 or OAUTHBEARER (it offers: {}).",
                    offered()
                ),
                if secured {
                    "Choose Plain or NTLM for this server, or ask its owner to enable OAuth 2.0 (for Dovecot, an oauth2 passdb).".into()
                } else {
                    "Servers offer OAuth 2.0 only on an encrypted connection. Choose STARTTLS or SSL/TLS.".into()
                },
            );
        }
        return (
            format!("The server refused the OAuth 2.0 token for {user}: {reply}"),
            format!("Sign the profile in again: the sign-in may have been revoked, or an app still in testing had it expire. If it persists, check that the scopes you granted cover {} (Google: https://mail.google.com/; Microsoft 365: IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) and that the account may use {} at all.", tg.protocol.label(), tg.protocol.label()),
        );
    }
    if reply.is_empty() && tg.sign_in == SignIn::Ntlm {
        return (
            format!("The server does not offer NTLM sign-in (it offers: {}).", offered()),
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
    if tg.sign_in == SignIn::Ntlm && !user.contains('\\') {
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
    use std::time::Duration;

    use super::*;
    use crate::tls::Trust;
    use crate::Encryption;

    #[test]
    fn login_failures_are_explained_by_reply_code() {
        let tg = Target {
            protocol: Protocol::Smtp,
            host: "127.0.0.1".into(),
            port: 587,
            encryption: Encryption::StartTls,
            trust: Trust::default(),
            login: None,
            sign_in: SignIn::Password,
            tokens: None,
            timeout: Duration::from_secs(1),
        };
        let (detail, hint) = explain_login_failure(&tg, "bob", "535 5.7.8 Error: authentication failed", &[], true);
        assert!(detail.contains("rejected the user name or password") && hint.contains("Check the user name (bob)"));
        let (detail, _) = explain_login_failure(&tg, "bob", "", &[], false);
        assert!(detail.contains("no authentication mechanism"));
        let imap = Target { protocol: Protocol::Imap, sign_in: SignIn::Ntlm, ..tg.clone() };
        let (_, hint) = explain_login_failure(&imap, "bob", "l NO [AUTHENTICATIONFAILED] failed", &[], true);
        assert!(hint.contains("LAB\\bob"), "{hint}");
        let oauth = Target { protocol: Protocol::Imap, sign_in: SignIn::OAuth2, ..tg };
        let (detail, hint) = explain_login_failure(&oauth, "bob", "", &["PLAIN".into()], true);
        assert!(
            detail.contains("does not offer OAuth 2.0") && detail.contains("PLAIN") && hint.contains("oauth2 passdb")
        );
        let (detail, hint) = explain_login_failure(
            &oauth,
            "bob",
            "l NO [AUTHENTICATIONFAILED] (the token was refused: invalid_token)",
            &[],
            true,
        );
        assert!(detail.contains("refused the OAuth 2.0 token for bob") && hint.contains("Sign the profile in again"));
    }
}
