//! What IMAP, POP3 and SMTP say differently, as one table: the greeting, the capability command, STARTTLS, the
//! TLS port, sign-in replies, the shape of a reply and the bye. The steps read the table; this is the one place
//! that matches on the protocol (besides the password dialogue of each, in `login.rs`).

use super::Protocol;

/// How a complete reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `250-` lines up to a `250 ` line.
    Smtp,
    /// Untagged lines up to the tagged one (or one line when there is no tag).
    Tagged,
    /// One status line; a capability list is a `+OK` line and a dot-terminated list.
    Pop3,
}

pub(crate) struct Dialect {
    /// The protocol's name as people write it.
    pub label: &'static str,
    pub framing: Framing,
    /// Greetings that mean "ready".
    pub greetings: &'static [&'static str],
    /// The capability command, and whether the client's own name follows it (SMTP's EHLO).
    pub capability: &'static str,
    pub capability_names_client: bool,
    pub capability_tag: Option<&'static str>,
    /// An old server may refuse the capability command and still work (POP3's CAPA, RFC 2449).
    pub capability_optional: bool,
    /// The capability that offers STARTTLS, the command, its tag and the reply that accepts it.
    pub starttls_offer: &'static str,
    pub starttls: &'static str,
    pub starttls_tag: Option<&'static str>,
    pub starttls_ok: &'static str,
    /// The implicit-TLS port to suggest when STARTTLS is not there.
    pub tls_port: u16,
    /// Sign-in: the tag of its replies, the reply that accepts it, the SASL command (its mechanism follows) and
    /// its continuation.
    pub login_tag: Option<&'static str>,
    pub login_ok: &'static str,
    pub authenticate: &'static str,
    pub continuation: &'static str,
    pub bye: &'static str,
    /// The capability words of a reply to the capability command, or the refusal's text.
    pub parse_capabilities: fn(&[String]) -> Result<Vec<String>, String>,
    /// The sign-in mechanisms the capabilities offer (raw; upper-cased and deduplicated by `auth_mechanisms`).
    pub mechanisms: fn(&[String]) -> Vec<String>,
}

const IMAP: Dialect = Dialect {
    label: "IMAP",
    framing: Framing::Tagged,
    greetings: &["* OK", "* PREAUTH"],
    capability: "c CAPABILITY",
    capability_names_client: false,
    capability_tag: Some("c"),
    capability_optional: false,
    starttls_offer: "STARTTLS",
    starttls: "s STARTTLS",
    starttls_tag: Some("s"),
    starttls_ok: "s OK",
    tls_port: 993,
    login_tag: Some("l"),
    login_ok: "l OK",
    authenticate: "l AUTHENTICATE",
    continuation: "+",
    bye: "z LOGOUT",
    parse_capabilities: |lines| {
        let last = lines.last().cloned().unwrap_or_default();
        if !last.starts_with("c OK") {
            return Err(last);
        }
        Ok(lines
            .iter()
            .filter_map(|l| l.strip_prefix("* CAPABILITY "))
            .flat_map(|l| l.split_whitespace().map(str::to_owned))
            .collect())
    },
    // IMAP's LOGIN command counts as "LOGIN" unless disabled.
    mechanisms: |caps| {
        let mut m: Vec<String> =
            caps.iter().filter_map(|c| c.to_ascii_uppercase().strip_prefix("AUTH=").map(str::to_owned)).collect();
        if !caps.iter().any(|c| c.eq_ignore_ascii_case("LOGINDISABLED")) {
            m.push("LOGIN".into());
        }
        m
    },
};

const POP3: Dialect = Dialect {
    label: "POP3",
    framing: Framing::Pop3,
    greetings: &["+OK"],
    capability: "CAPA",
    capability_names_client: false,
    capability_tag: None,
    capability_optional: true,
    starttls_offer: "STLS",
    starttls: "STLS",
    starttls_tag: None,
    starttls_ok: "+OK",
    tls_port: 995,
    login_tag: None,
    login_ok: "+OK",
    authenticate: "AUTH",
    continuation: "+",
    bye: "QUIT",
    parse_capabilities: |lines| {
        let first = lines.first().cloned().unwrap_or_default();
        if !first.starts_with("+OK") {
            return Err(first);
        }
        Ok(lines[1..].to_vec())
    },
    // POP3's USER/PASS counts as "USER".
    mechanisms: |caps| {
        let mut m: Vec<String> = caps.iter().flat_map(|c| crate::pop3::sasl_mechanisms(c)).collect();
        if caps.iter().any(|c| c.eq_ignore_ascii_case("USER")) {
            m.push("USER".into());
        }
        m
    },
};

const SMTP: Dialect = Dialect {
    label: "SMTP",
    framing: Framing::Smtp,
    greetings: &["220"],
    capability: "EHLO",
    capability_names_client: true,
    capability_tag: None,
    capability_optional: false,
    starttls_offer: "STARTTLS",
    starttls: "STARTTLS",
    starttls_tag: None,
    starttls_ok: "220",
    tls_port: 465,
    login_tag: None,
    login_ok: "235",
    authenticate: "AUTH",
    continuation: "334",
    bye: "QUIT",
    parse_capabilities: |lines| {
        let last = lines.last().cloned().unwrap_or_default();
        if !last.starts_with("250") {
            return Err(last);
        }
        Ok(lines.iter().skip(1).map(|l| l.get(4..).unwrap_or_default().to_owned()).collect())
    },
    mechanisms: |caps| {
        caps.iter()
            .filter_map(|c| {
                let upper = c.to_ascii_uppercase();
                upper.strip_prefix("AUTH ").or_else(|| upper.strip_prefix("AUTH=")).map(str::to_owned)
            })
            .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    },
};

impl Protocol {
    pub(crate) fn dialect(self) -> &'static Dialect {
        match self {
            Protocol::Imap => &IMAP,
            Protocol::Pop3 => &POP3,
            Protocol::Smtp => &SMTP,
        }
    }
}

impl Dialect {
    /// The capability words from a reply, or the reply's text when the server refused the command.
    pub fn capabilities(&self, lines: &[String]) -> Result<Vec<String>, String> {
        (self.parse_capabilities)(lines)
    }

    /// The mechanisms a server offers, upper-case, each once.
    pub fn auth_mechanisms(&self, caps: &[String]) -> Vec<String> {
        let mut mechs = (self.mechanisms)(caps);
        let mut seen = std::collections::HashSet::new();
        mechs.retain(|m| seen.insert(m.clone()));
        mechs
    }

    pub fn greets(&self, first: &str) -> bool {
        self.greetings.iter().any(|g| first.starts_with(g))
    }

    pub fn offers_starttls(&self, caps: &[String]) -> bool {
        caps.iter().any(|c| c.eq_ignore_ascii_case(self.starttls_offer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_are_read_from_each_protocols_capabilities() {
        let imap: Vec<String> = ["IMAP4rev1", "SASL-IR", "AUTH=PLAIN", "AUTH=ntlm"].map(String::from).to_vec();
        assert_eq!(IMAP.auth_mechanisms(&imap), ["PLAIN", "NTLM", "LOGIN"]);
        let imap_disabled: Vec<String> = ["IMAP4rev1", "STARTTLS", "LOGINDISABLED"].map(String::from).to_vec();
        assert!(IMAP.auth_mechanisms(&imap_disabled).is_empty());
        let pop: Vec<String> = ["TOP", "USER", "SASL PLAIN LOGIN", "UIDL"].map(String::from).to_vec();
        assert_eq!(POP3.auth_mechanisms(&pop), ["PLAIN", "LOGIN", "USER"]);
        let smtp: Vec<String> =
            ["PIPELINING", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "8BITMIME"].map(String::from).to_vec();
        assert_eq!(SMTP.auth_mechanisms(&smtp), ["PLAIN", "LOGIN"]);
    }

    #[test]
    fn capability_replies_become_capabilities_or_the_refusal() {
        let lines: Vec<String> =
            ["250-lab.example.test", "250-STARTTLS", "250 AUTH PLAIN LOGIN"].map(String::from).to_vec();
        assert_eq!(SMTP.capabilities(&lines).unwrap(), ["STARTTLS", "AUTH PLAIN LOGIN"]);
        let refused = vec!["502 5.5.2 Error: command not recognized".to_owned()];
        assert_eq!(SMTP.capabilities(&refused).unwrap_err(), refused[0]);
        let imap: Vec<String> = ["* CAPABILITY IMAP4rev1 STARTTLS", "c OK done"].map(String::from).to_vec();
        assert_eq!(IMAP.capabilities(&imap).unwrap(), ["IMAP4rev1", "STARTTLS"]);
        assert!(IMAP.offers_starttls(&IMAP.capabilities(&imap).unwrap()));
        let pop: Vec<String> = ["-ERR unknown command"].map(String::from).to_vec();
        assert!(POP3.capabilities(&pop).is_err());
    }

    #[test]
    fn greetings_of_each_protocol() {
        assert!(IMAP.greets("* PREAUTH ready") && IMAP.greets("* OK Dovecot ready."));
        assert!(!IMAP.greets("* BYE too many connections"));
        assert!(POP3.greets("+OK Dovecot ready.") && !POP3.greets("-ERR go away"));
        assert!(SMTP.greets("220 lab ESMTP") && !SMTP.greets("554 5.7.1 no service"));
    }
}
