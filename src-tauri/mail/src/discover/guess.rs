//! The last source: common host names (imap., pop., smtp., mail., the domain itself) on the standard ports,
//! each tried at once; the first in preference order that accepts a connection wins.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;

use super::dns::Resolver;
use super::{Address, DiscoveryConfig, Failure, Found, HintProtocol, ServerHint, Servers, SourceOutcome};

pub(super) async fn guess(resolver: &Resolver, config: &DiscoveryConfig, address: &Address) -> Found {
    let d = &address.domain;
    let asked = format!("imap./pop./pop3./smtp./mail.{d} and {d} on the standard ports");
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => return Found { asked, result: Err(Failure::new(SourceOutcome::Failed, e.clone())) },
    };
    let hosts = |names: &[&str]| {
        names.iter().map(|n| if n.is_empty() { d.clone() } else { format!("{n}.{d}") }).collect::<Vec<_>>()
    };
    let plans = [
        (HintProtocol::Imap, hosts(&["imap", "mail", ""]), &config.guess_ports.imap),
        (HintProtocol::Pop3, hosts(&["pop", "pop3", "mail"]), &config.guess_ports.pop3),
        (HintProtocol::Smtp, hosts(&["smtp", "mail", ""]), &config.guess_ports.smtp),
    ];
    let connect_limit = config.timeout.mul_f32(0.8);
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut answered = Vec::new();
    for (protocol, names, ports) in plans {
        // Every candidate at once; the first in preference order that answers wins.
        let tries = names.iter().flat_map(|h| ports.iter().map(move |(p, e)| (h.clone(), *p, *e)));
        let results = futures::future::join_all(tries.map(|(host, port, enc)| async move {
            let ok = reachable(resolver, &host, port, connect_limit).await;
            (host, port, enc, ok)
        }))
        .await;
        if let Some((host, port, enc, _)) = results.into_iter().find(|r| r.3) {
            answered.push(format!("{host}:{port}"));
            let hint =
                ServerHint { protocol, host, port, security: enc.into(), username: None, ntlm: false, oauth: None };
            if protocol == HintProtocol::Smtp {
                outgoing.push(hint)
            } else {
                incoming.push(hint)
            }
        }
    }
    let detail = if answered.is_empty() {
        "no common host name answered".into()
    } else {
        format!("answered: {}", answered.join(", "))
    };
    Found { asked, result: Ok(Servers { incoming, outgoing, detail }) }
}

async fn reachable(resolver: &TokioResolver, host: &str, port: u16, limit: Duration) -> bool {
    let ips: Vec<IpAddr> = match tokio::time::timeout(limit, resolver.lookup_ip(format!("{host}."))).await {
        Ok(Ok(ips)) => ips.iter().collect(),
        _ => return false,
    };
    for ip in ips {
        if let Ok(Ok(_)) = tokio::time::timeout(limit, tokio::net::TcpStream::connect((ip, port))).await {
            return true;
        }
    }
    false
}
