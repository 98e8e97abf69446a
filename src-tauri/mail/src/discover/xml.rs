//! Thunderbird's autoconfig format (config-v1.1.xml), which the domain's own files and the ISPDB both serve:
//! its incoming and outgoing servers, with the address's placeholders filled in.

use super::http::Fetched;
use super::{Address, Failure, Found, HintProtocol, HintSecurity, OAuthHint, ServerHint, Servers, SourceOutcome};

/// What a fetched configuration file names, as a source's outcome.
pub(super) fn servers_of(fetched: Fetched, address: &Address) -> Found {
    let Fetched { asked, result } = fetched;
    let result = match result {
        Ok(None) => Ok(Servers::none("no such file (HTTP 404)")),
        Ok(Some(xml)) => match parse_config_xml(&xml, address) {
            Ok(ConfigServers { incoming, outgoing }) => {
                let detail = if incoming.is_empty() && outgoing.is_empty() {
                    "the file names no IMAP, POP3 or SMTP server".to_owned()
                } else {
                    format!("{} incoming and {} outgoing server(s)", incoming.len(), outgoing.len())
                };
                Ok(Servers { incoming, outgoing, detail })
            }
            Err(why) => {
                Err(Failure::new(SourceOutcome::Failed, format!("the file is not a valid mail configuration: {why}")))
            }
        },
        Err(e) => Err(e),
    };
    Found { asked, result }
}

/// Parses Thunderbird's autoconfig format (config-v1.1.xml), filling in %EMAILADDRESS% and friends.
pub fn parse_config_xml(xml: &str, address_parts: &(impl AddressParts + ?Sized)) -> Result<ConfigServers, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut current: Option<ServerBeingRead> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut saw_provider = false;
    // The <oAuth2> block (after the servers in ISPDB files): its fields, and whether we are inside it.
    let mut oauth: Option<Vec<(String, String)>> = None;
    let mut in_oauth = false;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "emailProvider" => saw_provider = true,
                    "oAuth2" if current.is_none() => {
                        in_oauth = true;
                        oauth = Some(Vec::new());
                    }
                    _ if in_oauth => {
                        field = Some(name);
                        text.clear();
                    }
                    "incomingServer" | "outgoingServer" => {
                        let kind = e
                            .try_get_attribute("type")
                            .ok()
                            .flatten()
                            .map(|a| String::from_utf8_lossy(&a.value).to_ascii_lowercase())
                            .unwrap_or_default();
                        current =
                            Some(ServerBeingRead { kind, incoming: name == "incomingServer", fields: Vec::new() });
                    }
                    _ if current.is_some() => {
                        field = Some(name);
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().map_err(|e| e.to_string())?;
                text.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "oAuth2" {
                    in_oauth = false;
                }
                if let (true, Some(f), Some(fields)) = (in_oauth, &field, oauth.as_mut()) {
                    if *f == name {
                        fields.push((name.clone(), text.trim().to_owned()));
                        field = None;
                        continue;
                    }
                }
                if let (Some(f), Some(server)) = (&field, current.as_mut()) {
                    if *f == name {
                        server.fields.push((name.clone(), text.trim().to_owned()));
                        field = None;
                        continue;
                    }
                }
                if name == "incomingServer" || name == "outgoingServer" {
                    if let Some(server) = current.take() {
                        if let Some(hint) = hint_from_fields(&server.kind, &server.fields, address_parts) {
                            if server.incoming {
                                incoming.push(hint)
                            } else {
                                outgoing.push(hint)
                            }
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_provider {
        return Err("it has no <emailProvider> element".into());
    }
    if let Some(fields) = oauth {
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
        let named = OAuthHint {
            issuer: get("issuer"),
            scopes: get("scope").split_whitespace().collect::<Vec<_>>().join(" "),
            authorization_url: get("authURL"),
            token_url: get("tokenURL"),
        };
        for hint in incoming.iter_mut().chain(outgoing.iter_mut()) {
            if let Some(o) = hint.oauth.as_mut() {
                *o = named.clone();
            }
        }
    }
    Ok(ConfigServers { incoming, outgoing })
}

/// The servers a configuration file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigServers {
    pub incoming: Vec<ServerHint>,
    pub outgoing: Vec<ServerHint>,
}

/// The server element being read: its type, whether it is incoming, and its fields so far.
struct ServerBeingRead {
    kind: String,
    incoming: bool,
    fields: Vec<(String, String)>,
}

/// The parts of an address the autoconfig placeholders stand for.
pub trait AddressParts {
    fn email(&self) -> &str;
    fn local(&self) -> &str;
    fn domain(&self) -> &str;
}

impl AddressParts for Address {
    fn email(&self) -> &str {
        &self.email
    }
    fn local(&self) -> &str {
        &self.local
    }
    fn domain(&self) -> &str {
        &self.domain
    }
}

impl AddressParts for str {
    fn email(&self) -> &str {
        self
    }
    fn local(&self) -> &str {
        self.rsplit_once('@').map_or(self, |(l, _)| l)
    }
    fn domain(&self) -> &str {
        self.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

fn hint_from_fields(kind: &str, fields: &[(String, String)], a: &(impl AddressParts + ?Sized)) -> Option<ServerHint> {
    let protocol = match kind {
        "imap" => HintProtocol::Imap,
        "pop3" => HintProtocol::Pop3,
        "smtp" => HintProtocol::Smtp,
        _ => return None, // e.g. exchange, jmap: not used by Mailproof
    };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let fill = |s: &str| {
        s.replace("%EMAILADDRESS%", a.email())
            .replace("%EMAILLOCALPART%", a.local())
            .replace("%EMAILDOMAIN%", a.domain())
    };
    let host = fill(get("hostname")?);
    let port = get("port")?.parse().ok()?;
    let security = match get("socketType").unwrap_or("plain").to_ascii_uppercase().as_str() {
        "SSL" | "TLS" => HintSecurity::Tls,
        "STARTTLS" => HintSecurity::StartTls,
        _ => HintSecurity::None,
    };
    let says = |method: &str| fields.iter().any(|(n, v)| n == "authentication" && v.eq_ignore_ascii_case(method));
    let (ntlm, oauth) = (says("NTLM"), says("OAuth2").then(OAuthHint::default));
    Some(ServerHint { protocol, host, port, security, username: get("username").map(fill), ntlm, oauth })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{HintProtocol, HintSecurity};

    /// Real ISPDB entries (Thunderbird's autoconfig repository, MPL 2.0; see tests/fixtures/ispdb/README.md).
    const OFFICE365: &str = include_str!("../../../../tests/fixtures/ispdb/office365.com.xml");
    const GOOGLEMAIL: &str = include_str!("../../../../tests/fixtures/ispdb/googlemail.com.xml");

    #[test]
    fn ispdb_entries_name_oauth_and_its_issuer_for_each_server() {
        let ms = parse_config_xml(OFFICE365, "bob@contoso.onmicrosoft.com").unwrap();
        let imap = ms.incoming.iter().find(|h| h.protocol == HintProtocol::Imap).unwrap();
        let o = imap.oauth.as_ref().expect("Exchange Online's IMAP takes OAuth 2.0");
        assert_eq!(o.issuer, "login.microsoftonline.com");
        assert!(o.scopes.contains("IMAP.AccessAsUser.All") && o.token_url.ends_with("/oauth2/v2.0/token"), "{o:?}");
        assert_eq!(ms.outgoing[0].oauth.as_ref().map(|o| o.issuer.as_str()), Some("login.microsoftonline.com"));
        assert_eq!(imap.username.as_deref(), Some("bob@contoso.onmicrosoft.com"));
        let g = parse_config_xml(GOOGLEMAIL, "bob@gmail.com").unwrap();
        let smtp = &g.outgoing[0];
        assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.gmail.com", 465));
        let o = smtp.oauth.as_ref().expect("Gmail's SMTP takes OAuth 2.0");
        assert!(o.issuer == "accounts.google.com" && o.scopes.starts_with("https://mail.google.com/"), "{o:?}");
        assert!(g.incoming.iter().all(|h| h.oauth.is_some() && !h.ntlm));
    }

    const XML: &str = r#"<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example.test">
    <domain>example.test</domain>
    <incomingServer type="imap">
      <hostname>imap.example.test</hostname><port>993</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.test</hostname><port>110</port><socketType>STARTTLS</socketType>
      <authentication>NTLM</authentication><username>EXAMPLE\%EMAILLOCALPART%</username>
    </incomingServer>
    <incomingServer type="exchange"><hostname>ews.example.test</hostname><port>443</port></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
    <documentation url="https://example.test/help?a=1&amp;b=2"><descr>Help &amp; more</descr></documentation>
  </emailProvider>
</clientConfig>"#;

    #[test]
    fn thunderbird_autoconfig_files_are_read_with_placeholders_filled() {
        let ConfigServers { incoming, outgoing } = parse_config_xml(XML, "bob@example.test").unwrap();
        assert_eq!(incoming.len(), 2, "the exchange server is skipped");
        assert_eq!(
            incoming[0],
            ServerHint {
                protocol: HintProtocol::Imap,
                host: "imap.example.test".into(),
                port: 993,
                security: HintSecurity::Tls,
                username: Some("bob@example.test".into()),
                ntlm: false,
                oauth: None
            }
        );
        assert_eq!(incoming[1].security, HintSecurity::StartTls);
        assert_eq!(incoming[1].username.as_deref(), Some("EXAMPLE\\bob"));
        assert!(incoming[1].ntlm);
        assert_eq!(outgoing[0].host, "smtp.example.test");
    }

    #[test]
    fn broken_or_foreign_files_are_errors_not_panics() {
        assert!(parse_config_xml("<html><body>Not found</body></html>", "a@b.test").is_err());
        // A file cut off half-way: whatever the parser makes of it, it yields no server and does not panic.
        let truncated =
            parse_config_xml("<clientConfig><emailProvider><incomingServer type=\"imap\"><port>x", "a@b.test");
        assert!(truncated.map_or(true, |s| s.incoming.is_empty()));
        let ConfigServers { incoming, .. } =
            parse_config_xml("<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>h</hostname><port>99999</port></incomingServer></emailProvider></clientConfig>", "a@b.test").unwrap();
        assert!(incoming.is_empty(), "an out-of-range port is dropped");
    }
}
