//! The domain's own autoconfig file: `autoconfig.<domain>/mail/config-v1.1.xml` (with the address, as
//! Thunderbird asks) and `<domain>/.well-known/autoconfig/mail/config-v1.1.xml`.

use super::http::{fetch_from_host, Client};
use super::xml::servers_of;
use super::{Address, DiscoveryConfig, Found};

pub(super) async fn file(http: &Client, config: &DiscoveryConfig, address: &Address, well_known: bool) -> Found {
    let (host, path) = if well_known {
        (address.domain.clone(), "/.well-known/autoconfig/mail/config-v1.1.xml".to_owned())
    } else {
        (format!("autoconfig.{}", address.domain), format!("/mail/config-v1.1.xml?emailaddress={}", address.email))
    };
    servers_of(fetch_from_host(http, config, &host, &path).await, address)
}
