//! Autodiscovery against local stand-ins for the internet: a real DNS server (dnsmasq) with SRV, MX and A
//! records on loopback, and a local HTTP server for the autoconfig files and the ISPDB. Also: dead sources
//! time out together, not one after another.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;

use mailproof_mail::discover::{
    discover, DiscoveryConfig, GuessPorts, HintProtocol, HintSecurity, SourceKind, SourceOutcome,
};
use mailproof_mail::Encryption;
use mailproof_tests::{missing, Lab};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback port free for both UDP and TCP (dnsmasq binds both; a TCP clash would make it exit).
fn free_dns_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// True once a DNS server on `port` answers a query (any answer) over UDP.
fn answers_dns(port: u16) -> bool {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // A standard query for "example.test" type A, id 0x4d50.
    let mut query = vec![0x4d, 0x50, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    for label in ["example", "test"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut buf = [0u8; 512];
    sock.send_to(&query, ("127.0.0.1", port)).is_ok()
        && sock.recv(&mut buf).is_ok_and(|n| n >= 12 && buf[..2] == [0x4d, 0x50])
}

/// dnsmasq answering only from its command line, on a free loopback port.
struct Dns {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq(records: &[String]) -> Option<Dns> {
    let Ok(path) = which("dnsmasq") else { return missing("dnsmasq (Debian package dnsmasq-base)") };
    let port = free_dns_port();
    let mut child = Command::new(path)
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces"])
        .args([
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--pid-file=",
            "--user=root",
            "--log-facility=-",
        ])
        .args(records)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq starts");
    // Ready when it answers a query; if it exits instead, say why rather than let lookups time out.
    for _ in 0..50 {
        if answers_dns(port) {
            return Some(Dns { child, addr: ([127, 0, 0, 1], port).into() });
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dnsmasq exited ({status}) instead of serving on port {port}");
        }
    }
    panic!("dnsmasq did not answer on port {port} within 5 s");
}

fn which(name: &str) -> Result<String, ()> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return Ok(p);
        }
    }
    Err(())
}

/// A tiny HTTP/1.1 server: answers by Host header and path; `None` from `route` means 404.
async fn http_server(route: fn(&str, &str, &Lab) -> Option<String>, lab: Lab) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lab = std::sync::Arc::new(lab);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let lab = lab.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: ")))
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let response = match route(&host, &path, &lab) {
                    Some(body) => format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                };
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

fn config_xml(imap_host: &str, imap_port: u16, smtp_host: &str, smtp_port: u16) -> String {
    format!(
        r#"<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="x"><domain>example.test</domain>
<incomingServer type="imap"><hostname>{imap_host}</hostname><port>{imap_port}</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication></incomingServer>
<outgoingServer type="smtp"><hostname>{smtp_host}</hostname><port>{smtp_port}</port><socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"#
    )
}

fn routes(host: &str, path: &str, lab: &Lab) -> Option<String> {
    let (imaps, submission) = (lab.port("LAB_IMAPS_PORT"), lab.port("LAB_SUBMISSION_PORT"));
    match (host, path) {
        ("autoconfig.example.test", p) if p.starts_with("/mail/config-v1.1.xml?emailaddress=bob@example.test") => {
            Some(config_xml("127.0.0.1", imaps, "127.0.0.1", submission))
        }
        (_, "/ispdb/provider.test") => Some(config_xml("imap.provider.test", 993, "smtp.provider.test", 587)),
        _ => None,
    }
}

#[tokio::test]
async fn every_source_is_asked_and_says_where_its_settings_came_from() {
    let Some(lab) = Lab::running() else { return };
    let (imaps, pop3s, submission) =
        (lab.port("LAB_IMAPS_PORT"), lab.port("LAB_POP3S_PORT"), lab.port("LAB_SUBMISSION_PORT"));
    let Some(dns) = dnsmasq(&[
        "--address=/example.test/127.0.0.1".into(),
        format!("--srv-host=_imaps._tcp.example.test,mail.example.test,{imaps},0,1"),
        format!("--srv-host=_submission._tcp.example.test,mail.example.test,{submission},0,1"),
        "--mx-host=example.test,mx1.mail.provider.test,10".into(),
    ]) else {
        return;
    };
    let http = http_server(routes, Lab::running().unwrap()).await;
    let config = DiscoveryConfig {
        dns_server: Some(dns.addr),
        http_base: Some(format!("http://{http}")),
        ispdb_base: format!("http://{http}/ispdb/"),
        timeout: Duration::from_secs(3),
        // The lab's ports stand in for the standard ones, which a test cannot own.
        guess_ports: GuessPorts {
            imap: vec![(imaps, Encryption::Tls)],
            pop3: vec![(pop3s, Encryption::Tls)],
            smtp: vec![(submission, Encryption::StartTls)],
        },
    };
    let found = discover("bob@example.test", &config).await;

    let outcome = |kind| found.sources.iter().find(|s| s.kind == kind).map(|s| s.outcome).unwrap();
    assert_eq!(outcome(SourceKind::Autoconfig), SourceOutcome::Found, "{:#?}", found.sources);
    assert_eq!(outcome(SourceKind::WellKnown), SourceOutcome::NotFound);
    assert_eq!(outcome(SourceKind::Ispdb), SourceOutcome::NotFound);
    assert_eq!(outcome(SourceKind::Srv), SourceOutcome::Found, "{:#?}", found.sources);
    assert_eq!(outcome(SourceKind::Mx), SourceOutcome::Found, "{:#?}", found.sources);
    assert_eq!(outcome(SourceKind::Guess), SourceOutcome::Found, "{:#?}", found.sources);

    let order: Vec<SourceKind> = found.suggestions.iter().map(|s| s.source).collect();
    assert_eq!(order, [SourceKind::Autoconfig, SourceKind::Srv, SourceKind::Mx, SourceKind::Guess]);
    let best = &found.suggestions[0];
    assert_eq!((best.incoming[0].host.as_str(), best.incoming[0].port), ("127.0.0.1", imaps));
    assert_eq!(best.incoming[0].username.as_deref(), Some("bob@example.test"));
    assert_eq!(best.outgoing[0].security, HintSecurity::StartTls);

    let srv = &found.suggestions[1];
    assert_eq!((srv.incoming[0].host.as_str(), srv.incoming[0].port), ("mail.example.test", imaps));
    assert_eq!((srv.outgoing[0].host.as_str(), srv.outgoing[0].port), ("mail.example.test", submission));
    let mx = &found.suggestions[2];
    assert_eq!(mx.incoming[0].host, "imap.provider.test");
    assert!(mx.asked.contains("mx1.mail.provider.test"), "{}", mx.asked);
    let guess = &found.suggestions[3];
    let guessed: Vec<(HintProtocol, &str)> =
        guess.incoming.iter().chain(&guess.outgoing).map(|h| (h.protocol, h.host.as_str())).collect();
    assert_eq!(
        guessed,
        [
            (HintProtocol::Imap, "imap.example.test"),
            (HintProtocol::Pop3, "pop.example.test"),
            (HintProtocol::Smtp, "smtp.example.test")
        ]
    );
}

#[tokio::test]
async fn dead_sources_time_out_in_parallel() {
    if Lab::running().is_none() {
        return;
    }
    // A DNS server that never answers and an HTTP server that accepts and never answers.
    let dead_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = dead_http.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = dead_http.accept().await {
            held.push(sock);
        }
    });
    let config = DiscoveryConfig {
        dns_server: Some(dead_dns.local_addr().unwrap()),
        http_base: Some(format!("http://{http_addr}")),
        ispdb_base: format!("http://{http_addr}/ispdb/"),
        timeout: Duration::from_millis(1500),
        guess_ports: GuessPorts::default(),
    };
    let started = std::time::Instant::now();
    let found = discover("bob@example.test", &config).await;
    let elapsed = started.elapsed();
    assert!(found.suggestions.is_empty());
    assert!(found.sources.iter().all(|s| s.outcome != SourceOutcome::Found), "{:#?}", found.sources);
    assert!(
        found.sources.iter().filter(|s| s.outcome == SourceOutcome::TimedOut).count() >= 3,
        "the dead sources say they timed out: {:#?}",
        found.sources
    );
    // Six sources of 1.5 s each, one after another, would take 9 s.
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
}
