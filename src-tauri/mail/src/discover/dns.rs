//! The DNS sources: RFC 6186 / RFC 8314 SRV records, and the MX host's provider. The resolver is the system's,
//! or the configured DNS server (tests).

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::http::Client;
use super::ispdb;
use super::{Address, DiscoveryConfig, Failure, Found, HintProtocol, HintSecurity, ServerHint, Servers, SourceOutcome};

/// The resolver, or why this machine's DNS settings cannot be read.
pub(super) type Resolver = Result<TokioResolver, String>;

pub(super) fn resolver(config: &DiscoveryConfig) -> Result<TokioResolver, String> {
    let mut builder = match config.dns_server {
        Some(server) => {
            let group = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| format!("cannot read this machine's DNS settings: {e}"))?,
    };
    builder.options_mut().timeout = config.timeout;
    builder.options_mut().attempts = 1;
    Ok(builder.build())
}

pub(super) async fn srv(resolver: &Resolver, domain: &str) -> Found {
    let asked = format!("_imaps/_imap/_pop3s/_pop3/_submissions/_submission._tcp.{domain}");
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return Found { asked, result: Err(Failure::new(SourceOutcome::Failed, e.clone())) },
    };
    use HintProtocol::{Imap, Pop3, Smtp};
    use HintSecurity::{StartTls, Tls};
    let services = [
        ("_imaps", Imap, Tls),
        ("_imap", Imap, StartTls),
        ("_pop3s", Pop3, Tls),
        ("_pop3", Pop3, StartTls),
        ("_submissions", Smtp, Tls),
        ("_submission", Smtp, StartTls),
    ];
    let lookups = futures::future::join_all(
        services.iter().map(|(svc, _, _)| resolver.srv_lookup(format!("{svc}._tcp.{domain}."))),
    )
    .await;
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut found = Vec::new();
    let mut failure = None;
    for ((svc, protocol, security), lookup) in services.iter().zip(lookups) {
        match lookup {
            Ok(records) => {
                let mut records: Vec<_> = records.iter().cloned().collect();
                records.sort_by_key(|r| (r.priority(), u16::MAX - r.weight()));
                for r in records {
                    let host = r.target().to_utf8().trim_end_matches('.').to_owned();
                    // RFC 6186: a target of "." means the service is not offered.
                    if host.is_empty() || r.port() == 0 {
                        continue;
                    }
                    found.push(format!("{svc} → {host}:{}", r.port()));
                    let hint = ServerHint {
                        protocol: *protocol,
                        host,
                        port: r.port(),
                        security: *security,
                        username: None,
                        ntlm: false,
                        oauth: None,
                    };
                    if *protocol == Smtp {
                        outgoing.push(hint)
                    } else {
                        incoming.push(hint)
                    }
                }
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let result = match failure {
        Some(e) if found.is_empty() => Err(Failure::new(SourceOutcome::Failed, format!("DNS lookup failed: {e}"))),
        _ if found.is_empty() => Ok(Servers::none("no SRV records")),
        _ => Ok(Servers { incoming, outgoing, detail: found.join(", ") }),
    };
    Found { asked, result }
}

/// The MX host's provider, looked up in the provider database: a domain hosted at a big provider often has no
/// configuration of its own.
pub(super) async fn mx(resolver: &Resolver, http: &Client, config: &DiscoveryConfig, address: &Address) -> Found {
    let asked = format!("MX {}", address.domain);
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return Found { asked, result: Err(Failure::new(SourceOutcome::Failed, e.clone())) },
    };
    let mut records: Vec<_> = match resolver.mx_lookup(format!("{}.", address.domain)).await {
        Ok(r) => r.iter().cloned().collect(),
        Err(e) if e.is_no_records_found() => return Found { asked, result: Ok(Servers::none("no MX records")) },
        Err(e) => {
            return Found { asked, result: Err(Failure::new(SourceOutcome::Failed, format!("DNS lookup failed: {e}"))) }
        }
    };
    records.sort_by_key(|r| r.preference());
    let Some(best) = records.first() else { return Found { asked, result: Ok(Servers::none("no MX records")) } };
    let mx_host = best.exchange().to_utf8().trim_end_matches('.').to_ascii_lowercase();
    let provider = base_domain(&mx_host);
    if provider.is_empty() || provider == address.domain {
        let detail = format!("mail goes to {mx_host}, the domain's own host; nothing more to learn");
        return Found { asked, result: Ok(Servers::none(detail)) };
    }
    let entry = ispdb::entry(http, config, address, &provider).await;
    Found {
        asked: format!("{asked} → {mx_host} → {}", entry.asked),
        result: entry.result.map(|s| Servers { detail: format!("the provider {provider}: {}", s.detail), ..s }),
    }
}

/// The last two labels of a host name (`mx1.mail.provider.example` → `provider.example`). Good enough for the
/// common providers; a public-suffix list would do better for `co.uk`-style names.
fn base_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() < 2 {
        return String::new();
    }
    labels[labels.len() - 2..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_of_an_mx_host_is_its_last_two_labels() {
        assert_eq!(base_domain("mx1.mail.provider.example"), "provider.example");
        assert_eq!(base_domain("localhost"), "");
    }
}
