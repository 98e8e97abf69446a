//! Autodiscovery for the wizard: where the lookups go, and the lookup itself.

use mailproof_mail::discover::{discover, Discovery, DiscoveryConfig};

/// A DNS server (`ip:port`) to ask instead of the system's resolver.
pub const DNS_ENV: &str = "MAILPROOF_DISCOVERY_DNS";
/// A base URL to fetch the domain's autoconfig files from (the real host goes in the Host header).
pub const HTTP_BASE_ENV: &str = "MAILPROOF_DISCOVERY_HTTP_BASE";
/// The provider database's base URL (default: the Thunderbird ISPDB).
pub const ISPDB_ENV: &str = "MAILPROOF_ISPDB_BASE";

/// The discovery settings: the real resolver and URLs, unless the environment points them elsewhere (a
/// closed network's own DNS and mirror, or tests). A malformed value is reported and ignored.
pub fn discovery_config() -> DiscoveryConfig {
    let mut config = DiscoveryConfig::default();
    if let Ok(dns) = std::env::var(DNS_ENV) {
        match dns.parse() {
            Ok(addr) => config.dns_server = Some(addr),
            Err(_) => eprintln!("mailproof: {DNS_ENV}={dns:?} is not ip:port; using the system's DNS settings"),
        }
    }
    if let Ok(base) = std::env::var(HTTP_BASE_ENV) {
        config.http_base = Some(base);
    }
    if let Ok(base) = std::env::var(ISPDB_ENV) {
        config.ispdb_base = base;
    }
    config
}

/// Discovers the servers for `email` with [`discovery_config`].
pub async fn discover_settings(email: &str) -> Discovery {
    discover(email, &discovery_config()).await
}
