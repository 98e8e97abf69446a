//! SMTP submission for test mail: one session carries many messages, and every message keeps the exact
//! conversation that sent it (credentials removed) as evidence. The server's first refusal — its stage, code
//! and words — is what a verdict of "rejected at SMTP" rests on.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::diagnose::{ehlo_name, ntlm_login, oauth_login, read_reply, transcript_text, Protocol};
use crate::dialogue::{Dialogue, DialogueError};
use crate::smtp::SmtpConfig;
use crate::stream::{connect_tcp, start_tls, MailStream};
use crate::tls::observed_client_config;
use crate::{Encryption, SignIn};

/// Where in the conversation something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    Connect,
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    EndOfData,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Connect => "connecting",
            Stage::Greeting => "the greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "authentication",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::EndOfData => "the end of DATA",
        }
    }

    /// Before the message was offered: a failure here is a setup problem, not the defences at work.
    pub fn is_setup(self) -> bool {
        matches!(self, Stage::Connect | Stage::Greeting | Stage::Ehlo | Stage::StartTls | Stage::Auth)
    }
}

/// The server said no, or the conversation broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub stage: Stage,
    /// The SMTP reply code; `None` when the connection failed rather than the server answering.
    pub code: Option<u16>,
    /// The server's reply (all lines joined) or what went wrong.
    pub text: String,
}

impl Refusal {
    pub fn permanent(&self) -> bool {
        self.code.is_some_and(|c| (500..600).contains(&c))
    }
    pub fn transient(&self) -> bool {
        self.code.is_some_and(|c| (400..500).contains(&c))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(_) => write!(f, "refused at {}: {}", self.stage.label(), self.text),
            None => write!(f, "failed at {}: {}", self.stage.label(), self.text),
        }
    }
}

/// The server took the message: its reply to the end of DATA (usually with a queue id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub code: u16,
    pub text: String,
    /// The queue id when the reply names one (Postfix `queued as X`, Exchange `<id> Queued mail for delivery`).
    pub queue_id: Option<String>,
    /// The Message-ID the message left with, where the service says (Exchange's Sent Items copy); SMTP never does.
    pub message_id: Option<String>,
}

/// One message's result and the conversation that produced it, `C:`/`S:` lines.
#[derive(Debug, Clone)]
pub struct Sent {
    pub result: Result<Accepted, Refusal>,
    pub transcript: Vec<String>,
}

/// An open SMTP session, signed in, ready for messages.
pub struct Session {
    d: Dialogue<MailStream>,
    /// Greeting to AUTH, shown at the top of every message's transcript.
    opening: Vec<String>,
    broken: bool,
}

impl Session {
    /// Connects, greets, secures and signs in as `config` says. On failure, the refusal and the conversation so
    /// far.
    pub async fn open(config: &SmtpConfig) -> Result<Session, (Refusal, Vec<String>)> {
        let fail = |stage, code, text: String, d: Option<&Dialogue<MailStream>>| {
            let transcript = d.map(|d| transcript_text(d.transcript().to_vec())).unwrap_or_default();
            (Refusal { stage, code, text }, transcript)
        };
        let tcp = connect_tcp(&config.host, config.port, config.timeout)
            .await
            .map_err(|e| fail(Stage::Connect, None, e.to_string(), None))?;
        let helo = ehlo_name(tcp.local_addr().ok().map(|a| a.ip()));
        let tls_config =
            observed_client_config(&config.trust).map_err(|e| fail(Stage::Connect, None, e.to_string(), None))?.0;
        let stream = match config.encryption {
            Encryption::Tls => start_tls(tcp, &config.host, tls_config.clone())
                .await
                .map_err(|e| fail(Stage::Connect, None, e.to_string(), None))?,
            _ => MailStream::Plain(tcp),
        };
        let mut d = Dialogue::new(stream, config.timeout);
        let reply = expect(&mut d, 220, Stage::Greeting).await.map_err(|r| fail(r.stage, r.code, r.text, Some(&d)))?;
        let _ = reply;
        d.send(&format!("EHLO {helo}")).await.map_err(|e| fail(Stage::Ehlo, None, e.to_string(), Some(&d)))?;
        let mut ehlo = expect(&mut d, 250, Stage::Ehlo).await.map_err(|r| fail(r.stage, r.code, r.text, Some(&d)))?;
        if config.encryption == Encryption::StartTls {
            d.send("STARTTLS").await.map_err(|e| fail(Stage::StartTls, None, e.to_string(), Some(&d)))?;
            expect(&mut d, 220, Stage::StartTls).await.map_err(|r| fail(r.stage, r.code, r.text, Some(&d)))?;
            if d.has_buffered() {
                return Err(fail(
                    Stage::StartTls,
                    None,
                    "the server sent data before the TLS handshake (possible command injection); stopped".into(),
                    Some(&d),
                ));
            }
            let (stream, lines) = d.into_inner();
            let MailStream::Plain(tcp) = stream else { unreachable!("STARTTLS runs on a clear connection") };
            let tls = start_tls(tcp, &config.host, tls_config).await.map_err(|e| {
                (Refusal { stage: Stage::StartTls, code: None, text: e.to_string() }, transcript_text(lines.clone()))
            })?;
            d = Dialogue::resume(tls, config.timeout, lines);
            d.send(&format!("EHLO {helo}")).await.map_err(|e| fail(Stage::Ehlo, None, e.to_string(), Some(&d)))?;
            ehlo = expect(&mut d, 250, Stage::Ehlo).await.map_err(|r| fail(r.stage, r.code, r.text, Some(&d)))?;
        }
        if let Some(login) = &config.login {
            let mechs: Vec<String> = ehlo
                .iter()
                .filter_map(|l| l.get(4..))
                .filter_map(|l| l.strip_prefix("AUTH ").or_else(|| l.strip_prefix("AUTH=")))
                .flat_map(|m| m.split_whitespace().map(str::to_ascii_uppercase))
                .collect();
            let user = &login.username;
            let pass = login.password.expose();
            let outcome: Result<Result<String, String>, DialogueError> = if config.sign_in == SignIn::Ntlm {
                ntlm_login(Protocol::Smtp, &mut d, &mechs, user, pass).await
            } else if config.sign_in == SignIn::OAuth2 {
                let token = match crate::secret_of(login, &config.tokens).await {
                    Ok(t) => t,
                    Err(e) => return Err(fail(Stage::Auth, None, e.to_string(), Some(&d))),
                };
                let server = (config.host.as_str(), config.port);
                let first = oauth_login(Protocol::Smtp, &mut d, &mechs, (user, token.expose()), server).await;
                match first {
                    // A refused token is renewed once: the issuer either hands out a new one or says why not.
                    Ok(Err(reply)) if !reply.is_empty() => match crate::renewed(&config.tokens, &token).await {
                        Ok(Some(new)) => {
                            oauth_login(Protocol::Smtp, &mut d, &mechs, (user, new.expose()), server).await
                        }
                        Ok(None) => Ok(Err(reply)),
                        Err(e) => return Err(fail(Stage::Auth, None, e.to_string(), Some(&d))),
                    },
                    other => other,
                }
            } else if mechs.iter().any(|m| m == "PLAIN") || !mechs.iter().any(|m| m == "LOGIN") {
                let token = STANDARD.encode(format!("\0{user}\0{pass}"));
                match d.send_shown(&format!("AUTH PLAIN {token}"), "AUTH PLAIN <credentials removed>").await {
                    Ok(()) => last_line(&mut d).await.map(|l| if l.starts_with("235") { Ok(l) } else { Err(l) }),
                    Err(e) => Err(e),
                }
            } else {
                auth_login(&mut d, user, pass).await
            };
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err(reply)) => {
                    let reply = match (reply.is_empty(), config.sign_in) {
                        (false, _) => reply,
                        (true, SignIn::OAuth2) => format!(
                            "the server offers no OAuth 2.0 sign-in (XOAUTH2, OAUTHBEARER); it offers {}",
                            mechs.join(", ")
                        ),
                        (true, _) => "the server does not offer NTLM".to_owned(),
                    };
                    return Err(fail(Stage::Auth, code_of(&reply), reply, Some(&d)));
                }
                Err(e) => return Err(fail(Stage::Auth, None, e.to_string(), Some(&d))),
            }
        }
        let opening = transcript_text(d.take_transcript());
        Ok(Session { d, opening, broken: false })
    }

    /// False once the connection broke; open a new session then.
    pub fn usable(&self) -> bool {
        !self.broken
    }

    /// Sends one message. A refusal of one recipient or of the message leaves the session usable (RSET).
    pub async fn send(&mut self, from: &str, to: &[String], data: &[u8]) -> Sent {
        let result = self.converse(from, to, data).await;
        if let Err(r) = &result {
            if r.code.is_some() && !self.broken {
                // Reset the transaction so the next message starts clean; a failure here means the link is gone.
                if self.d.send("RSET").await.is_err() || last_line(&mut self.d).await.is_err() {
                    self.broken = true;
                }
            } else {
                self.broken = true;
            }
        }
        let mut transcript = self.opening.clone();
        transcript.extend(transcript_text(self.d.take_transcript()));
        Sent { result, transcript }
    }

    async fn converse(&mut self, from: &str, to: &[String], data: &[u8]) -> Result<Accepted, Refusal> {
        let broke = |stage, e: DialogueError| Refusal { stage, code: None, text: e.to_string() };
        self.d.send(&format!("MAIL FROM:<{from}>")).await.map_err(|e| broke(Stage::MailFrom, e))?;
        expect(&mut self.d, 250, Stage::MailFrom).await?;
        for rcpt in to {
            self.d.send(&format!("RCPT TO:<{rcpt}>")).await.map_err(|e| broke(Stage::RcptTo, e))?;
            expect(&mut self.d, 250, Stage::RcptTo).await?;
        }
        self.d.send("DATA").await.map_err(|e| broke(Stage::Data, e))?;
        expect(&mut self.d, 354, Stage::Data).await?;
        self.d.send_data(data).await.map_err(|e| broke(Stage::EndOfData, e))?;
        let reply = expect(&mut self.d, 250, Stage::EndOfData).await?;
        let text = reply.iter().map(|l| l.get(4..).unwrap_or("")).collect::<Vec<_>>().join(" ");
        Ok(Accepted { code: 250, queue_id: queue_id(&text), text, message_id: None })
    }

    /// Ends the session politely.
    pub async fn quit(mut self) {
        if !self.broken && self.d.send("QUIT").await.is_ok() {
            let _ = last_line(&mut self.d).await;
        }
    }
}

/// Sends one message on a session of its own (open, send, quit): the server's reply or refusal, and the whole
/// conversation.
pub async fn send_one(config: &SmtpConfig, from: &str, to: &[String], data: &[u8]) -> Sent {
    match Session::open(config).await {
        Ok(mut session) => {
            let sent = session.send(from, to, data).await;
            session.quit().await;
            sent
        }
        Err((refusal, transcript)) => Sent { result: Err(refusal), transcript },
    }
}

async fn auth_login(
    d: &mut Dialogue<MailStream>,
    user: &str,
    pass: &str,
) -> Result<Result<String, String>, DialogueError> {
    d.send("AUTH LOGIN").await?;
    let l = last_line(d).await?;
    if !l.starts_with("334") {
        return Ok(Err(l));
    }
    d.send_shown(&STANDARD.encode(user), "<username, base64>").await?;
    let l = last_line(d).await?;
    if !l.starts_with("334") {
        return Ok(Err(l));
    }
    d.send_shown(&STANDARD.encode(pass), "<password removed>").await?;
    let l = last_line(d).await?;
    Ok(if l.starts_with("235") { Ok(l) } else { Err(l) })
}

async fn last_line(d: &mut Dialogue<MailStream>) -> Result<String, DialogueError> {
    Ok(read_reply(Protocol::Smtp, d, None).await?.pop().unwrap_or_default())
}

/// Reads a reply and checks its code; anything else is a refusal at `stage`.
async fn expect(d: &mut Dialogue<MailStream>, want: u16, stage: Stage) -> Result<Vec<String>, Refusal> {
    let lines =
        read_reply(Protocol::Smtp, d, None).await.map_err(|e| Refusal { stage, code: None, text: e.to_string() })?;
    let last = lines.last().cloned().unwrap_or_default();
    match code_of(&last) {
        Some(code) if code == want => Ok(lines),
        code => Err(Refusal { stage, code, text: lines.join(" ") }),
    }
}

fn code_of(line: &str) -> Option<u16> {
    line.get(..3).and_then(|c| c.parse().ok()).filter(|c| (200..600).contains(c))
}

/// Postfix: "2.0.0 Ok: queued as 4Ab1Cd"; Exchange: "2.6.0 <id> [InternalId=…] Queued mail for delivery";
/// Exim: "OK id=1abc-00-XY"; Sendmail: "2.0.0 x1234 Message accepted for delivery".
pub fn queue_id(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(at) = t.find("queued as ") {
        return t[at + 10..].split_whitespace().next().map(str::to_owned);
    }
    if let Some(at) = t.find("id=") {
        return t[at + 3..].split_whitespace().next().map(str::to_owned);
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.len() >= 2 && crate::bounce::enhanced_status(words[0]).is_some() && t.contains("accepted for delivery") {
        return Some(words[1].to_owned());
    }
    None
}

/// How long to wait before the `attempt`-th retry of a deferred message (1 s, 2 s, 4 s … up to 30 s).
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_are_read_from_common_replies() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4Ab1Cd").as_deref(), Some("4Ab1Cd"));
        assert_eq!(queue_id("OK id=1abc-00-XY").as_deref(), Some("1abc-00-XY"));
        assert_eq!(queue_id("2.0.0 x1234 Message accepted for delivery").as_deref(), Some("x1234"));
        assert_eq!(queue_id("Ok"), None);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(9), Duration::from_secs(30));
    }
}
