//! What a certificate says, in the terms an analyst checks: subject, issuer, names, validity, fingerprint.

use serde::Serialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses from the Subject Alternative Name extension.
    pub names: Vec<String>,
    /// Validity, UTC, RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER certificate, 64 lower-case hex digits.
    pub sha256: String,
    pub self_signed: bool,
}

/// Describes a DER certificate; `None` if it cannot be parsed (a server may send anything).
pub fn describe(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.push((*n).to_owned()),
                GeneralName::IPAddress(bytes) => names.push(match bytes.len() {
                    4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string(),
                    16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string(),
                    _ => continue,
                }),
                _ => {}
            }
        }
    }
    let rfc3339 = |t: &x509_parser::time::ASN1Time| {
        time::OffsetDateTime::from_unix_timestamp(t.timestamp())
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| t.to_string())
    };
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: rfc3339(&cert.validity().not_before),
        not_after: rfc3339(&cert.validity().not_after),
        sha256: crate::tls::sha256_hex(der),
        self_signed: cert.subject() == cert.issuer(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(super::describe(b"not a certificate"), None);
        assert_eq!(super::describe(&[]), None);
    }
}
