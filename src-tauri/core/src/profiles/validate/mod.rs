//! Validation of a profile draft: every field, and choices that contradict each other. Errors block saving;
//! warnings are shown and saving goes on.

use std::net::IpAddr;

use serde::Serialize;

mod cloud;
mod oauth;

use super::{normalize_fingerprint, AuthMethod, ProfileDraft, Security, ServerType};
use crate::directory::Actor;

/// One problem with one field. `field` is the draft's path in camelCase, e.g. `incoming.port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FieldIssue {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Findings {
    pub errors: Vec<FieldIssue>,
    pub warnings: Vec<FieldIssue>,
}

impl Findings {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub(super) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldIssue { field: field.into(), message: message.into() });
    }

    pub(super) fn warn(&mut self, field: &str, message: impl Into<String>) {
        self.warnings.push(FieldIssue { field: field.into(), message: message.into() });
    }
}

/// Checks a draft on `today`. `editing` allows the password (a Graph profile's secret) to be left out (the stored
/// one is kept); `actors` are the actors that exist now.
pub fn validate_draft(draft: &ProfileDraft, editing: bool, actors: &[Actor], today: time::Date) -> Findings {
    let mut f = Findings::default();

    if let Err(why) = check_email(draft.email.trim()) {
        f.error("email", why);
    }

    if draft.server_type == ServerType::Graph {
        check_actors(draft, actors, &mut f);
        cloud::check_graph(draft, editing, today, &mut f);
        return f;
    }
    if draft.server_type == ServerType::Gmail {
        check_actors(draft, actors, &mut f);
        cloud::check_gmail(draft, editing, &mut f);
        return f;
    }

    let username = draft.username.trim();
    if let Err(why) = check_username(username) {
        f.error("username", why);
    }

    if draft.uses_oauth() {
        // The password field holds the OAuth client's secret, which a public client does not have.
        oauth::check_oauth(draft, &mut f);
    } else {
        match &draft.password {
            None if !editing => {
                f.error("password", "Enter the account's password. It is stored in the OS keyring only.")
            }
            Some(p) if p.expose().is_empty() => {
                f.error("password", "The password is empty. Enter the account's password.")
            }
            _ => {}
        }
    }

    check_actors(draft, actors, &mut f);

    let incoming_protocol = if draft.server_type == ServerType::Pop3 { Protocol::Pop3 } else { Protocol::Imap };
    let inc = &draft.incoming;
    check_server(
        &mut f,
        "incoming",
        incoming_protocol,
        &inc.host,
        inc.port,
        inc.security,
        inc.pinned_sha256.as_deref(),
    );
    check_ntlm_account(&mut f, "incoming.auth", inc.auth, &draft.username);
    if inc.security == Security::None && inc.auth != AuthMethod::OAuth2 {
        f.warn(
            "incoming.security",
            "With no encryption the password crosses the network in clear text when Mailproof signs in. Choose SSL/TLS or STARTTLS if the server offers it.",
        );
    }

    let out = &draft.outgoing;
    check_server(&mut f, "outgoing", Protocol::Smtp, &out.host, out.port, out.security, out.pinned_sha256.as_deref());
    if out.requires_auth {
        check_ntlm_account(&mut f, "outgoing.auth", out.auth, &draft.username);
        if out.security == Security::None && out.auth != AuthMethod::OAuth2 {
            f.warn(
                "outgoing.security",
                "Authentication is required but encryption is off: the password would cross the network in clear text. Choose STARTTLS or SSL/TLS.",
            );
        }
    }
    f
}

/// Checks an SMTP server on its own (Mailproof's verification sender): host, port vs security, the account
/// when authentication is required, and the From address.
pub fn validate_outgoing(
    host: &str,
    port: u32,
    security: Security,
    requires_auth: bool,
    username: &str,
    from_address: &str,
    pin: Option<&str>,
) -> Findings {
    let mut f = Findings::default();
    check_server(&mut f, "", Protocol::Smtp, host, port, security, pin);
    for issue in f.errors.iter_mut() {
        issue.field = issue.field.trim_start_matches('.').to_owned();
    }
    if requires_auth {
        if let Err(why) = check_username(username.trim()) {
            f.error("username", why);
        }
        if security == Security::None {
            f.warn("security", "Authentication is required but encryption is off: the password would cross the network in clear text. Choose STARTTLS or SSL/TLS.");
        }
    }
    if let Err(why) = check_email(from_address.trim()) {
        f.error("fromAddress", why);
    }
    f
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    /// The standard port that speaks TLS from the first byte, and those that start in clear text.
    fn ports(self) -> (u32, &'static [u32]) {
        match self {
            Protocol::Imap => (993, &[143]),
            Protocol::Pop3 => (995, &[110]),
            Protocol::Smtp => (465, &[587, 25]),
        }
    }
}

fn check_server(
    f: &mut Findings,
    prefix: &str,
    protocol: Protocol,
    host: &str,
    port: u32,
    security: Security,
    pin: Option<&str>,
) {
    if let Err(why) = check_host(host.trim()) {
        f.error(&format!("{prefix}.host"), why);
    }
    if !(1..=65535).contains(&port) {
        f.error(&format!("{prefix}.port"), "The port must be a number from 1 to 65535.");
        return;
    }
    let (tls_port, clear_ports) = protocol.ports();
    let clear_hint = clear_ports[0];
    if port == tls_port && security != Security::Tls {
        f.error(
            &format!("{prefix}.security"),
            format!(
                "Port {port} expects TLS from the first byte; you chose {}. Choose SSL/TLS, or port {clear_hint}.",
                security.label()
            ),
        );
    }
    if clear_ports.contains(&port) && security == Security::Tls {
        f.error(
            &format!("{prefix}.security"),
            format!(
                "Port {port} starts in clear text (it upgrades with STARTTLS); you chose SSL/TLS. Choose STARTTLS, or port {tls_port}."
            ),
        );
    }
    if let Some(pin) = pin {
        if normalize_fingerprint(pin).is_none() {
            f.error(
                &format!("{prefix}.pinnedSha256"),
                "A pinned certificate must be its SHA-256 fingerprint: 64 hexadecimal digits (colons allowed).",
            );
        } else if security == Security::None {
            f.error(
                &format!("{prefix}.pinnedSha256"),
                "A pinned certificate needs an encrypted connection. Choose SSL/TLS or STARTTLS, or remove the pin.",
            );
        }
    }
}

/// NTLM servers usually need the domain: warn when the account is not written as DOMAIN\user.
fn check_ntlm_account(f: &mut Findings, field: &str, auth: AuthMethod, username: &str) {
    if auth == AuthMethod::Ntlm && !username.contains('\\') {
        f.warn(
            field,
            "NTLM servers usually need the account as DOMAIN\\user. If the test fails, write the user name that way.",
        );
    }
}

fn check_actors(draft: &ProfileDraft, actors: &[Actor], f: &mut Findings) {
    if draft.actor_ids.is_empty() {
        f.error("actorIds", "Choose at least one actor that reads this mailbox (This workstation is always there).");
    }
    for id in &draft.actor_ids {
        match actors.iter().find(|a| &a.id == id) {
            None => f.error("actorIds", format!("The actor {id} no longer exists. Choose the actors again.")),
            Some(a) => {
                if draft.zone_id.as_deref().is_some_and(|z| z != a.zone_id) {
                    f.error(
                        "actorIds",
                        format!("{} is in the zone {}, not the zone chosen for this profile.", a.name, a.zone_name),
                    );
                }
            }
        }
    }
    let mut ids = draft.actor_ids.clone();
    ids.sort();
    ids.dedup();
    if ids.len() != draft.actor_ids.len() {
        f.error("actorIds", "An actor is chosen twice.");
    }
}

/// An email address: `local@domain`, with a dot-atom local part and a host-name domain.
pub(crate) fn check_email(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("Enter an email address such as name@example.com.".into());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("The part before @ must be 1 to 64 characters.".into());
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| atext(c) || c == '.')
    {
        return Err(format!("\"{local}\" is not a valid name before the @ (letters, digits, dots and !#$%&'*+-/=?^_`{{|}}~ only; no leading, trailing or double dots)."));
    }
    check_domain(domain).map_err(|why| format!("The domain after @ is not valid: {why}"))?;
    if !domain.contains('.') {
        return Err("The domain after @ needs a dot, e.g. example.com.".into());
    }
    Ok(())
}

/// `user@domain`, `DOMAIN\user`, or a plain user name.
pub(crate) fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("Enter the account's user name: user@domain or DOMAIN\\user.".into());
    }
    if username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("The user name cannot contain spaces or control characters.".into());
    }
    if let Some((domain, user)) = username.split_once('\\') {
        if domain.is_empty() || user.is_empty() || user.contains('\\') {
            return Err("Write a Windows account as DOMAIN\\user, with one backslash and text on both sides.".into());
        }
        if !domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            return Err(format!("\"{domain}\" is not a valid Windows domain name (letters, digits, '-' and '.')."));
        }
        return Ok(());
    }
    if username.contains('@') {
        return check_email(username).map_err(|why| format!("As user@domain: {why}"));
    }
    Ok(())
}

/// A host name or an IP address literal (IPv6 with or without brackets).
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("Enter the server's host name or IP address.".into());
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if host.contains(':') {
        return Err(format!(
            "\"{host}\" is not a valid IP address. Enter the port in the port field, not after the host."
        ));
    }
    check_domain(host)
}

pub(super) fn check_domain(name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err("a host name has 1 to 253 characters.".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("\"{name}\" has an empty or over-long part between dots."));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!(
                "\"{name}\" is not a valid host name (letters, digits and '-' between dots; no '-' at either end of a part)."
            ));
        }
    }
    if name.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("\"{name}\" looks like an IP address but is not a valid one."));
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::directory::ActorKind;
    use crate::profiles::{IncomingServer, OutgoingServer};
    use crate::secrets::Secret;

    pub(super) fn actors() -> Vec<Actor> {
        vec![
            Actor {
                id: "this-workstation".into(),
                name: "This workstation".into(),
                kind: ActorKind::Workstation,
                zone_id: "default".into(),
                zone_name: "Default".into(),
                built_in: true,
                agent_address: None,
                agent_version: None,
                agent_seen_at: None,
            },
            Actor {
                id: "dmz-reader".into(),
                name: "DMZ reader".into(),
                kind: ActorKind::Remote,
                zone_id: "dmz".into(),
                zone_name: "DMZ".into(),
                built_in: false,
                agent_address: None,
                agent_version: None,
                agent_seen_at: None,
            },
        ]
    }

    pub(super) fn draft() -> ProfileDraft {
        ProfileDraft {
            email: "bob@example.test".into(),
            server_type: ServerType::Imap,
            manual_verification: false,
            zone_id: None,
            actor_ids: vec!["this-workstation".into()],
            username: "bob@example.test".into(),
            password: Some(Secret::new("pw")),
            incoming: IncomingServer {
                host: "imap.example.test".into(),
                port: 993,
                security: Security::Tls,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
            outgoing: OutgoingServer {
                host: "smtp.example.test".into(),
                port: 587,
                security: Security::StartTls,
                requires_auth: true,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
            graph: None,
            gmail: None,
            oauth: None,
        }
    }

    pub(super) fn today() -> time::Date {
        time::macros::date!(2026 - 12 - 02)
    }

    pub(super) fn errors_for(d: &ProfileDraft, field: &str) -> Vec<String> {
        validate_draft(d, false, &actors(), today())
            .errors
            .into_iter()
            .filter(|i| i.field == field)
            .map(|i| i.message)
            .collect()
    }

    #[test]
    fn a_complete_draft_is_valid_without_warnings() {
        let f = validate_draft(&draft(), false, &actors(), today());
        assert_eq!(f, Findings::default());
    }

    #[test]
    fn email_addresses() {
        for good in ["bob@example.test", "first.last+tag@mail.example.co.uk", "o'neil@example.com"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("bob", "such as name@example.com"),
            ("@example.com", "1 to 64"),
            ("bob..x@example.com", "double dots"),
            ("bob@localhost", "needs a dot"),
            ("bob@exa_mple.com", "not a valid host name"),
            ("bo b@example.com", "not a valid name"),
        ] {
            let err = check_email(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn both_username_forms_and_bad_ones() {
        for good in ["bob@example.test", "LAB\\bob", "lab.test\\bob", "bob"] {
            assert_eq!(check_username(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "user@domain or DOMAIN\\user"),
            ("LAB\\", "one backslash"),
            ("\\bob", "one backslash"),
            ("bo b", "spaces"),
            ("bob@", "As user@domain"),
        ] {
            let err = check_username(bad).expect_err(bad);
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn hosts_are_names_or_ip_literals() {
        for good in ["127.0.0.1", "::1", "[::1]", "mail.example.com", "mail.example.com.", "localhost"] {
            assert_eq!(check_host(good), Ok(()), "{good}");
        }
        for bad in ["", "mail example.com", "-mail.example.com", "256.1.1.1", "mail.example.com:993", "a..b"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports_outside_the_range_are_refused() {
        let mut d = draft();
        d.incoming.port = 0;
        d.outgoing.port = 70000;
        assert_eq!(errors_for(&d, "incoming.port"), ["The port must be a number from 1 to 65535."]);
        assert_eq!(errors_for(&d, "outgoing.port").len(), 1);
    }

    #[test]
    fn tls_mode_and_port_that_contradict_each_other_are_explained() {
        let mut d = draft();
        d.incoming.port = 143;
        d.incoming.security = Security::Tls;
        let e = errors_for(&d, "incoming.security");
        assert_eq!(e, ["Port 143 starts in clear text (it upgrades with STARTTLS); you chose SSL/TLS. Choose STARTTLS, or port 993."]);

        let mut d = draft();
        d.incoming.port = 993;
        d.incoming.security = Security::StartTls;
        assert_eq!(
            errors_for(&d, "incoming.security"),
            ["Port 993 expects TLS from the first byte; you chose STARTTLS. Choose SSL/TLS, or port 143."]
        );

        let mut d = draft();
        d.server_type = ServerType::Pop3;
        d.incoming.port = 993;
        assert!(errors_for(&d, "incoming.security").is_empty(), "993 is not a POP3 port; no claim about it");
        d.incoming.port = 995;
        d.incoming.security = Security::None;
        assert_eq!(errors_for(&d, "incoming.security").len(), 1);

        let mut d = draft();
        d.outgoing.port = 465;
        assert!(errors_for(&d, "outgoing.security")[0].starts_with("Port 465 expects TLS"));
        d.outgoing.port = 25;
        d.outgoing.security = Security::Tls;
        assert!(errors_for(&d, "outgoing.security")[0].starts_with("Port 25 starts in clear text"));
    }

    #[test]
    fn clear_text_credentials_are_warned_about_not_refused() {
        let mut d = draft();
        d.outgoing.port = 25;
        d.outgoing.security = Security::None;
        let f = validate_draft(&d, false, &actors(), today());
        assert!(f.is_ok());
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].field, "outgoing.security");
        d.outgoing.requires_auth = false;
        assert!(
            validate_draft(&d, false, &actors(), today()).warnings.is_empty(),
            "no credentials, nothing to warn about"
        );
    }

    #[test]
    fn a_password_is_needed_for_a_new_profile_only() {
        let mut d = draft();
        d.password = None;
        assert_eq!(errors_for(&d, "password").len(), 1);
        assert!(validate_draft(&d, true, &actors(), today()).is_ok(), "editing keeps the stored password");
        d.password = Some(Secret::new(""));
        assert!(!validate_draft(&d, true, &actors(), today()).is_ok());
    }

    #[test]
    fn actors_must_exist_and_be_in_the_chosen_zone() {
        let mut d = draft();
        d.actor_ids = vec![];
        assert_eq!(errors_for(&d, "actorIds").len(), 1);
        d.actor_ids = vec!["gone".into()];
        assert!(errors_for(&d, "actorIds")[0].contains("no longer exists"));
        d.actor_ids = vec!["dmz-reader".into()];
        d.zone_id = Some("default".into());
        assert!(errors_for(&d, "actorIds")[0].contains("is in the zone DMZ"));
        d.actor_ids = vec!["this-workstation".into(), "this-workstation".into()];
        assert_eq!(errors_for(&d, "actorIds"), ["An actor is chosen twice."]);
    }

    #[test]
    fn ntlm_is_accepted_and_a_missing_domain_is_warned_about() {
        let mut d = draft();
        d.incoming.auth = AuthMethod::Ntlm;
        let f = validate_draft(&d, false, &actors(), today());
        assert!(f.is_ok());
        assert_eq!(f.warnings[0].field, "incoming.auth");
        d.username = "LAB\\bob".into();
        assert!(validate_draft(&d, false, &actors(), today()).warnings.is_empty());
        d.username = "bob@example.test".into();
        d.outgoing.requires_auth = false;
        d.outgoing.auth = AuthMethod::Ntlm;
        let f = validate_draft(&d, false, &actors(), today());
        assert!(!f.warnings.iter().any(|w| w.field == "outgoing.auth"), "ignored when no authentication is required");
    }

    #[test]
    fn a_pin_must_be_a_sha256_fingerprint_on_an_encrypted_connection() {
        let mut d = draft();
        d.incoming.pinned_sha256 = Some("abc".into());
        assert_eq!(errors_for(&d, "incoming.pinnedSha256").len(), 1);
        d.incoming.pinned_sha256 = Some("AB:".repeat(31) + "AB");
        assert!(errors_for(&d, "incoming.pinnedSha256").is_empty());
    }
}
