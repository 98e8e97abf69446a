//! The provider database (Thunderbird's ISPDB by default): its entry for a domain, the address's own or, for
//! the MX source, its mail provider's.

use super::http::{fetch_url, Client};
use super::xml::servers_of;
use super::{Address, DiscoveryConfig, Found};

pub(super) async fn entry(http: &Client, config: &DiscoveryConfig, address: &Address, domain: &str) -> Found {
    servers_of(fetch_url(http, format!("{}{domain}", config.ispdb_base)).await, address)
}
