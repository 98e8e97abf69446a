//! The mail servers an agent may reach for its caller. A paired workstation names the server of each profile it
//! asks about; where the agent's operator lists servers (`mailproof agent serve --allow-host`), a request for
//! any other is refused before a connection is made, so a workstation that was taken over cannot use the agent
//! to reach other hosts of the actor's network.

use std::fmt;
use std::str::FromStr;

/// A server the agent may reach: a host name or address, on one port or on any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    /// `mail.corp.example`, `mail.corp.example:993`, `192.0.2.25`, `[2001:db8::25]:993`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a host or host:port (e.g. mail.corp.example or mail.corp.example:993)");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else if s.matches(':').count() == 1 {
            let (host, port) = s.split_once(':').ok_or_else(bad)?;
            (host, Some(port))
        } else {
            (s, None)
        };
        let port = port.map(|p| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)).transpose()?;
        let name_ok = host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
        if host.is_empty() || !name_ok {
            return Err(bad());
        }
        Ok(AllowedHost { host: host.trim_end_matches('.').to_ascii_lowercase(), port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.host.contains(':'), self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            _ => f.write_str(&self.host),
        }
    }
}

impl AllowedHost {
    fn admits(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

/// Why the agent will not reach `host:port` for its caller, if it will not: `allowed` empty admits every server.
pub fn refusal(allowed: &[AllowedHost], host: &str, port: u16) -> Option<String> {
    if allowed.is_empty() || allowed.iter().any(|a| a.admits(host, port)) {
        return None;
    }
    let list = allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    Some(format!(
        "this agent may reach only {list} (its --allow-host list), and {host}:{port} is not among them. Check the profile's server, or add it to the list where the agent is started."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_are_read_and_matched_as_an_operator_writes_them() {
        let list: Vec<AllowedHost> =
            ["Mail.Corp.Example:993", "192.0.2.25", "[2001:db8::25]:995"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(refusal(&list, "mail.corp.example", 993), None);
        assert_eq!(refusal(&list, "MAIL.corp.example.", 993), None, "case and a trailing dot do not matter");
        assert!(refusal(&list, "mail.corp.example", 143).is_some(), "another port");
        assert_eq!(refusal(&list, "192.0.2.25", 110), None, "any port when none is given");
        assert_eq!(refusal(&list, "2001:db8::25", 995), None);
        let refused = refusal(&list, "intranet.corp.example", 80).unwrap();
        assert!(refused.contains("mail.corp.example:993, 192.0.2.25, [2001:db8::25]:995"), "{refused}");
        assert!(refused.contains("intranet.corp.example:80"), "{refused}");
        assert_eq!(refusal(&[], "anything.example", 25), None, "no list: every server");
        for bad in ["", "mail.example:0", "mail.example:99999", "mail example", "[::1", "http://mail.example"] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad:?}");
        }
    }
}
