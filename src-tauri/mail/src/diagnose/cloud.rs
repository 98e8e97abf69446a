//! What the cloud mailboxes' connection tests share (Microsoft Graph, the Gmail API): both sides' steps recorded as
//! they complete, and an explanation split into what happened and what to do.

use std::time::Instant;

use super::{Diagnosis, Step, StepKind, StepStatus};

/// The steps of both sides as they complete.
pub(crate) struct Recorder<'a> {
    pub on_step: &'a mut (dyn FnMut(bool, &Step) + Send),
    pub reading: Vec<Step>,
    pub sending: Vec<Step>,
}

impl Recorder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        sending: bool,
        kind: StepKind,
        title: &str,
        status: StepStatus,
        detail: String,
        hint: Option<String>,
        t: Instant,
    ) {
        let step = Step::timed(kind, title, status, detail, hint, t);
        (self.on_step)(sending, &step);
        if sending { &mut self.sending } else { &mut self.reading }.push(step);
    }

    pub fn fail(&mut self, sending: bool, kind: StepKind, title: &str, explained: &str, t: Instant) {
        let (detail, hint) = split(explained);
        self.record(sending, kind, title, StepStatus::Failed, detail, Some(hint), t);
    }
}

impl<'a> Recorder<'a> {
    pub fn new(on_step: &'a mut (dyn FnMut(bool, &Step) + Send)) -> Recorder<'a> {
        Recorder { on_step, reading: Vec::new(), sending: Vec::new() }
    }

    /// Sending needs the same sign-in as reading: when it failed, the sending side shows the same failure.
    pub fn mirror_failed_sign_in(&mut self) {
        if let Some(failed) = self.reading.last().cloned() {
            (self.on_step)(true, &failed);
            self.sending.push(failed);
        }
    }

    /// Both sides' reports (reading, sending) of a test of `service` at `base` (the API's base URL).
    pub fn finish(
        self,
        service: &str,
        base: &str,
        mechanism: &str,
        transcript: Vec<String>,
        millis: u32,
    ) -> [Diagnosis; 2] {
        let (host, port) = host_and_port(base);
        let side = |steps: Vec<Step>| Diagnosis {
            service: service.into(),
            host: host.clone(),
            port,
            ok: !steps.is_empty() && steps.iter().all(|s| s.status != StepStatus::Failed),
            steps,
            tls: None,
            capabilities: Vec::new(),
            auth_mechanisms: vec![mechanism.into()],
            pinnable_sha256: None,
            transcript: transcript.clone(),
            millis,
        };
        [side(self.reading), side(self.sending)]
    }
}

/// `https://host[:port]/…` → the host and the port (443 for HTTPS, 80 for plain HTTP unless the URL names one).
fn host_and_port(base: &str) -> (String, u16) {
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if scheme == "http" { 80 } else { 443 };
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => match port.parse() {
            Ok(p) => (host.to_owned(), p),
            Err(_) => (authority.to_owned(), default),
        },
        _ => (authority.to_owned(), default),
    }
}

/// An explanation as a step shows it: what happened (its first sentence, the server's words in parentheses
/// included), then what to do.
pub(crate) fn split(text: &str) -> (String, String) {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 && text[i + 1..].starts_with(' ') => {
                return (text[..=i].to_owned(), text[i + 2..].to_owned());
            }
            _ => {}
        }
    }
    (text.to_owned(), "Check the profile's settings and try again.".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_apis_address_is_shown_as_host_and_port() {
        assert_eq!(super::host_and_port("https://gmail.googleapis.com"), ("gmail.googleapis.com".into(), 443));
        assert_eq!(super::host_and_port("http://127.0.0.1:38471/"), ("127.0.0.1".into(), 38471));
        assert_eq!(super::host_and_port("https://graph.microsoft.com/v1.0"), ("graph.microsoft.com".into(), 443));
    }

    #[test]
    fn explanations_split_after_the_servers_words() {
        let (detail, hint) = super::split("the secret is wrong (AADSTS7000215: Invalid. Ensure it). Paste its Value.");
        assert_eq!(detail, "the secret is wrong (AADSTS7000215: Invalid. Ensure it).");
        assert_eq!(hint, "Paste its Value.");
    }
}
