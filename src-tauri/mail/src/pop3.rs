//! A small async POP3 client (RFC 1939, 2449 CAPA, 2595 STLS, 5034 AUTH): enough to sign in, list messages by
//! unique id, read headers or whole messages, and delete. No maintained crate fits, so it is written here,
//! generic over the stream so the dialogue is unit-tested over an in-memory pipe.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::dialogue::{Dialogue, DialogueError, TranscriptLine};
use crate::stream::{connect_tcp, start_tls, ConnectError, MailStream};
use crate::tls::{observed_client_config, TlsSetupError, Trust};
use crate::{Encryption, Login, SignIn};

/// The largest message RETR or TOP will read (a guard against a server that never ends its reply).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// A POP3 server and account: the one mailbox config IMAP and POP3 share.
pub type Pop3Config = crate::MailboxConfig;

#[derive(Debug, thiserror::Error)]
pub enum Pop3Error {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    #[error("POP3 {command}: {source}")]
    Dialogue {
        command: &'static str,
        #[source]
        source: DialogueError,
    },
    #[error("the POP3 server answered {command} with: {reply}")]
    Refused { command: &'static str, reply: String },
    #[error("the POP3 server does not offer STLS, so the connection cannot be encrypted on this port. Choose SSL/TLS (usually port 995).")]
    NoStls,
    #[error("the POP3 server sent data before the TLS handshake; the connection was dropped (it may have been tampered with).")]
    DataBeforeTls,
    #[error("the POP3 server sent a reply Mailproof cannot read: {0}")]
    Malformed(String),
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthError),
}

/// A TOP, RETR or DELE's outcome with a message another session removed since the list as `None`: for a
/// caller that skips it (nothing to read, or nothing left to delete) rather than failing the session.
pub fn still_there<T>(outcome: Result<T, Pop3Error>) -> Result<Option<T>, Pop3Error> {
    match outcome {
        Err(e) if e.message_gone() => Ok(None),
        other => other.map(Some),
    }
}

impl Pop3Error {
    /// The message asked for was removed by another session since this one listed it (Dovecot's "-ERR Message 2
    /// expunged.", "no such message"): skipped, not a failure of the mailbox.
    pub fn message_gone(&self) -> bool {
        let Pop3Error::Refused { command: "TOP" | "RETR" | "DELE", reply } = self else { return false };
        let lower = reply.to_ascii_lowercase();
        ["expunged", "no such message", "has been deleted", "message deleted"].iter().any(|w| lower.contains(w))
    }

    /// The RFC 2449 response code a refusal starts with, e.g. `IN-USE` in `-ERR [IN-USE] locked`.
    pub fn response_code(&self) -> Option<&str> {
        let Pop3Error::Refused { reply, .. } = self else { return None };
        reply.strip_prefix("-ERR [")?.split(']').next()
    }

    /// A refusal that says to come back later (the maildrop locked by another session, logins too close
    /// together, a passing system problem), not that the account or password is wrong.
    pub fn is_transient(&self) -> bool {
        self.response_code().is_some_and(|c| {
            let c = c.to_ascii_uppercase();
            c == "IN-USE" || c == "LOGIN-DELAY" || c.starts_with("SYS/TEMP")
        })
    }

    /// The server refused the account or its password: trying again would only count against the account.
    pub fn is_sign_in_refusal(&self) -> bool {
        matches!(self, Pop3Error::Refused { command: "USER" | "PASS" | "AUTH", .. }) && !self.is_transient()
    }
}

/// The shortest time between two sign-ins the server announces (RFC 2449 LOGIN-DELAY, seconds), if any.
pub fn login_delay(capabilities: &[String]) -> Option<Duration> {
    capabilities.iter().find_map(|c| {
        let mut words = c.split_whitespace();
        let name = words.next()?;
        name.eq_ignore_ascii_case("LOGIN-DELAY").then(|| words.next()?.parse().ok().map(Duration::from_secs))?
    })
}

/// A POP3 session. `greeting` is the server's first line.
pub struct Pop3<S> {
    dialogue: Dialogue<S>,
    timeout: Duration,
    pub greeting: String,
    /// What the server's CAPA announced as the shortest time between sign-ins.
    pub login_delay: Option<Duration>,
}

impl Pop3<MailStream> {
    /// Connects, secures the connection as configured (STLS for STARTTLS) and signs in.
    pub async fn connect(config: &Pop3Config) -> Result<Self, Pop3Error> {
        let tcp = connect_tcp(&config.host, config.port, config.timeout).await?;
        let stream = match config.encryption {
            Encryption::Tls => {
                let (tls, _) = observed_client_config(&config.trust)?;
                start_tls(tcp, &config.host, tls).await?
            }
            Encryption::None | Encryption::StartTls => MailStream::Plain(tcp),
        };
        let mut pop = Pop3::greet(stream, config.timeout).await?;
        if config.encryption == Encryption::StartTls {
            pop = pop.stls(&config.host, &config.trust).await?;
        }
        let capabilities = pop.capa().await.unwrap_or_default();
        pop.login_delay = login_delay(&capabilities);
        if config.sign_in == SignIn::Ntlm {
            pop.auth_ntlm(&config.login).await?;
        } else if config.sign_in == SignIn::OAuth2 {
            let offered: Vec<String> = capabilities.iter().flat_map(|c| sasl_mechanisms(c)).collect();
            let token = crate::secret_of(&config.login, &config.tokens).await?;
            let login = Login { username: config.login.username.clone(), password: token };
            let server = (config.host.as_str(), config.port);
            if let Err(refused) = pop.auth_oauth(&login, &offered, server).await {
                let offers_oauth = crate::sasl::oauth_mechanism(&offered).is_some();
                let renewed = if offers_oauth { crate::renewed(&config.tokens, &login.password).await? } else { None };
                let Some(token) = renewed else { return Err(refused) };
                pop.auth_oauth(&Login { password: token, ..login }, &offered, server).await?;
            }
        } else if capabilities.iter().any(|c| sasl_mechanisms(c).iter().any(|m| m == "PLAIN")) {
            pop.auth_plain(&config.login).await?;
        } else {
            pop.user_pass(&config.login).await?;
        }
        Ok(pop)
    }

    /// Upgrades the connection with STLS.
    pub async fn stls(mut self, host: &str, trust: &Trust) -> Result<Self, Pop3Error> {
        self.command("STLS", "STLS").await.map_err(|e| match e {
            Pop3Error::Refused { .. } => Pop3Error::NoStls,
            other => other,
        })?;
        if self.dialogue.has_buffered() {
            return Err(Pop3Error::DataBeforeTls);
        }
        let timeout = self.timeout;
        let (stream, transcript) = self.dialogue.into_inner();
        let MailStream::Plain(tcp) = stream else {
            return Err(Pop3Error::Malformed("STLS on a TLS connection".into()));
        };
        let (tls, _) = observed_client_config(trust)?;
        let stream = start_tls(tcp, host, tls).await?;
        let dialogue = Dialogue::resume(stream, timeout, transcript);
        Ok(Pop3 { dialogue, timeout, greeting: self.greeting, login_delay: None })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3<S> {
    /// Reads the greeting on a fresh connection.
    pub async fn greet(stream: S, timeout: Duration) -> Result<Self, Pop3Error> {
        let mut dialogue = Dialogue::new(stream, timeout);
        let greeting =
            dialogue.read_line().await.map_err(|source| Pop3Error::Dialogue { command: "greeting", source })?;
        if !greeting.starts_with("+OK") {
            return Err(Pop3Error::Refused { command: "greeting", reply: greeting });
        }
        Ok(Pop3 { dialogue, timeout, greeting, login_delay: None })
    }

    pub fn transcript(&self) -> &[TranscriptLine] {
        self.dialogue.transcript()
    }

    /// The server's capabilities (CAPA), one per entry, e.g. `SASL PLAIN LOGIN`, `UIDL`, `STLS`.
    pub async fn capa(&mut self) -> Result<Vec<String>, Pop3Error> {
        self.command("CAPA", "CAPA").await?;
        let body = self.body("CAPA", 1 << 20).await?;
        Ok(String::from_utf8_lossy(&body).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect())
    }

    pub async fn user_pass(&mut self, login: &Login) -> Result<(), Pop3Error> {
        self.command("USER", &format!("USER {}", login.username)).await?;
        self.command_shown("PASS", &format!("PASS {}", login.password.expose()), "PASS <redacted>").await?;
        Ok(())
    }

    /// AUTH PLAIN with the initial response (RFC 5034).
    pub async fn auth_plain(&mut self, login: &Login) -> Result<(), Pop3Error> {
        let token = crate::sasl::plain(&login.username, login.password.expose());
        self.command_shown("AUTH", &format!("AUTH PLAIN {token}"), "AUTH PLAIN <redacted>").await?;
        Ok(())
    }

    /// AUTH NTLM (RFC 5034 framing): NEGOTIATE, then AUTHENTICATE answering the server's challenge.
    pub async fn auth_ntlm(&mut self, login: &Login) -> Result<(), Pop3Error> {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let err = |source| Pop3Error::Dialogue { command: "AUTH", source };
        let refused = |reply: String| Pop3Error::Refused { command: "AUTH", reply };
        self.dialogue.send("AUTH NTLM").await.map_err(err)?;
        let go_on = self.dialogue.read_line().await.map_err(err)?;
        if !go_on.starts_with('+') || go_on.starts_with("+OK") {
            return Err(refused(go_on));
        }
        self.dialogue
            .send_shown(&STANDARD.encode(crate::ntlm::negotiate()), "<NTLM negotiate message>")
            .await
            .map_err(err)?;
        let line = self.dialogue.read_line().await.map_err(err)?;
        let Some(challenge) = line.strip_prefix('+').filter(|_| !line.starts_with("+OK")) else {
            return Err(refused(line));
        };
        let challenge =
            STANDARD.decode(challenge.trim()).map_err(|e| Pop3Error::Malformed(format!("NTLM challenge: {e}")))?;
        let answer = crate::ntlm::authenticate(&challenge, &login.username, login.password.expose())
            .map_err(|e| Pop3Error::Malformed(e.to_string()))?;
        self.dialogue
            .send_shown(&STANDARD.encode(answer), "<NTLM authenticate message, redacted>")
            .await
            .map_err(err)?;
        let reply = self.dialogue.read_line().await.map_err(err)?;
        if reply.starts_with("+OK") {
            Ok(())
        } else {
            Err(refused(reply))
        }
    }

    /// Number of messages and their total size in octets.
    pub async fn stat(&mut self) -> Result<(u32, u64), Pop3Error> {
        let reply = self.command("STAT", "STAT").await?;
        let mut parts = reply.split_whitespace().skip(1);
        let count = parts.next().and_then(|n| n.parse().ok());
        let size = parts.next().and_then(|n| n.parse().ok());
        count.zip(size).ok_or(Pop3Error::Malformed(reply))
    }

    /// Message numbers with their unique ids.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, Pop3Error> {
        self.command("UIDL", "UIDL").await?;
        let body = self.body("UIDL", 64 << 20).await?;
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut parts = l.split_whitespace();
                let n = parts.next().and_then(|n| n.parse().ok());
                let uid = parts.next().map(str::to_owned);
                n.zip(uid).ok_or_else(|| Pop3Error::Malformed(l.to_owned()))
            })
            .collect()
    }

    /// The headers and the first `lines` body lines of message `n`.
    pub async fn top(&mut self, n: u32, lines: u32) -> Result<Vec<u8>, Pop3Error> {
        self.command("TOP", &format!("TOP {n} {lines}")).await?;
        self.body("TOP", MAX_MESSAGE).await
    }

    pub async fn retr(&mut self, n: u32) -> Result<Vec<u8>, Pop3Error> {
        self.retr_capped(n, MAX_MESSAGE).await
    }

    /// Message `n`, of which at most `keep` bytes are kept: the rest is read and dropped as it comes (the session
    /// stays in step), up to [`MAX_MESSAGE`] in all.
    pub async fn retr_capped(&mut self, n: u32, keep: usize) -> Result<Vec<u8>, Pop3Error> {
        self.command("RETR", &format!("RETR {n}")).await?;
        self.dialogue
            .read_dot_body_capped(keep, MAX_MESSAGE)
            .await
            .map_err(|source| Pop3Error::Dialogue { command: "RETR", source })
    }

    /// Marks message `n` for deletion; it goes when the session ends with QUIT.
    pub async fn dele(&mut self, n: u32) -> Result<(), Pop3Error> {
        self.command("DELE", &format!("DELE {n}")).await.map(drop)
    }

    /// Ends the session; deletions take effect.
    pub async fn quit(mut self) -> Result<(), Pop3Error> {
        self.command("QUIT", "QUIT").await.map(drop)
    }

    async fn command(&mut self, name: &'static str, line: &str) -> Result<String, Pop3Error> {
        self.command_shown(name, line, line).await
    }

    async fn command_shown(&mut self, name: &'static str, line: &str, shown: &str) -> Result<String, Pop3Error> {
        let err = |source| Pop3Error::Dialogue { command: name, source };
        self.dialogue.send_shown(line, shown).await.map_err(err)?;
        let reply = self.dialogue.read_line().await.map_err(err)?;
        if reply.starts_with("+OK") {
            Ok(reply)
        } else {
            Err(Pop3Error::Refused { command: name, reply })
        }
    }

    async fn body(&mut self, name: &'static str, max: usize) -> Result<Vec<u8>, Pop3Error> {
        self.dialogue.read_dot_body(max).await.map_err(|source| Pop3Error::Dialogue { command: name, source })
    }
}

impl Pop3<MailStream> {
    /// AUTH with an OAuth 2.0 access token (OAUTHBEARER or XOAUTH2, whichever `offered` has).
    pub async fn auth_oauth(
        &mut self,
        login: &Login,
        offered: &[String],
        server: (&str, u16),
    ) -> Result<(), Pop3Error> {
        let login = (login.username.as_str(), login.password.expose());
        let outcome =
            crate::diagnose::oauth_login(crate::diagnose::Protocol::Pop3, &mut self.dialogue, offered, login, server)
                .await
                .map_err(|source| Pop3Error::Dialogue { command: "AUTH", source })?;
        match outcome {
            Ok(_) => Ok(()),
            Err(reply) if reply.is_empty() => Err(Pop3Error::Refused {
                command: "AUTH",
                reply: format!(
                    "the server offers no OAuth 2.0 sign-in (XOAUTH2, OAUTHBEARER); it offers {}",
                    offered.join(", ")
                ),
            }),
            Err(reply) => Err(Pop3Error::Refused { command: "AUTH", reply }),
        }
    }
}

/// The mechanisms in a CAPA `SASL …` line, upper-cased; empty for other lines.
pub fn sasl_mechanisms(capability: &str) -> Vec<String> {
    let mut words = capability.split_whitespace();
    match words.next() {
        Some(w) if w.eq_ignore_ascii_case("SASL") => words.map(str::to_ascii_uppercase).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Password;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A scripted POP3 server: answers each expected command with its reply.
    async fn serve(stream: tokio::io::DuplexStream, script: Vec<(&'static str, &'static str)>) {
        let (read, mut write) = tokio::io::split(stream);
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"+OK lab POP3 ready\r\n").await.unwrap();
        for (expect, reply) in script {
            let got = lines.next_line().await.unwrap().unwrap();
            assert_eq!(got, expect);
            write.write_all(reply.as_bytes()).await.unwrap();
        }
    }

    fn login() -> Login {
        Login { username: "bob@example.test".into(), password: Password::new("s3cret") }
    }

    #[tokio::test]
    async fn a_session_lists_reads_deletes_and_quits() {
        let (client, server) = tokio::io::duplex(4096);
        let server = tokio::spawn(serve(
            server,
            vec![
                ("CAPA", "+OK\r\nUIDL\r\nTOP\r\nSASL PLAIN LOGIN\r\n.\r\n"),
                ("AUTH PLAIN AGJvYkBleGFtcGxlLnRlc3QAczNjcmV0", "+OK welcome\r\n"),
                ("STAT", "+OK 2 320\r\n"),
                ("UIDL", "+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n"),
                ("TOP 2 0", "+OK\r\nSubject: hi\r\n..dotted\r\n\r\n.\r\n"),
                // Another session expunged message 1 since the list (Dovecot's words).
                ("TOP 1 0", "-ERR Message 1 expunged.\r\n"),
                ("DELE 2", "+OK deleted\r\n"),
                ("QUIT", "+OK bye\r\n"),
            ],
        ));
        let mut pop = Pop3::greet(client, Duration::from_secs(2)).await.unwrap();
        let capa = pop.capa().await.unwrap();
        assert_eq!(sasl_mechanisms(&capa[2]), ["PLAIN", "LOGIN"]);
        pop.auth_plain(&login()).await.unwrap();
        assert_eq!(pop.stat().await.unwrap(), (2, 320));
        assert_eq!(pop.uidl().await.unwrap(), [(1, "aaa".into()), (2, "bbb".into())]);
        assert_eq!(pop.top(2, 0).await.unwrap(), b"Subject: hi\r\n.dotted\r\n\r\n");
        let gone = pop.top(1, 0).await;
        assert!(matches!(&gone, Err(e) if e.message_gone()), "{gone:?}");
        assert!(still_there(gone).unwrap().is_none(), "skipped, not an error");
        pop.dele(2).await.unwrap();
        let transcript: Vec<String> = pop.transcript().iter().map(|l| l.text.clone()).collect();
        assert!(transcript.contains(&"AUTH PLAIN <redacted>".to_owned()));
        assert!(!transcript.iter().any(|l| l.contains("AGJvYk")), "the credentials never reach the transcript");
        pop.quit().await.unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_password_carries_the_server_reply() {
        let (client, server) = tokio::io::duplex(4096);
        tokio::spawn(serve(
            server,
            vec![("USER bob@example.test", "+OK\r\n"), ("PASS s3cret", "-ERR [AUTH] Authentication failed.\r\n")],
        ));
        let mut pop = Pop3::greet(client, Duration::from_secs(2)).await.unwrap();
        let err = pop.user_pass(&login()).await.unwrap_err();
        assert!(
            matches!(&err, Pop3Error::Refused { command: "PASS", reply } if reply.contains("Authentication failed")),
            "{err}"
        );
    }

    #[test]
    fn the_login_delay_and_the_response_codes_are_read_as_rfc_2449_writes_them() {
        // The CAPA example of RFC 2449, section 6 (IETF Trust; quoted for its exact shape).
        let capa: Vec<String> = "TOP\nUSER\nSASL CRAM-MD5 KERBEROS_V4\nRESP-CODES\nLOGIN-DELAY 900\nPIPELINING\nEXPIRE 60\nUIDL\nIMPLEMENTATION Shlemazle-Plotz-v302"
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(login_delay(&capa), Some(Duration::from_secs(900)));
        assert_eq!(login_delay(&capa[..4]), None);
        let refused = |command, reply: &str| Pop3Error::Refused { command, reply: reply.into() };
        // RFC 2449 section 8.1's examples, and Dovecot's own wording.
        let in_use = refused("PASS", "-ERR [IN-USE] Do you have another POP session running?");
        assert!(in_use.is_transient() && !in_use.is_sign_in_refusal());
        assert!(refused("PASS", "-ERR [LOGIN-DELAY] minimum time between mail checks violation").is_transient());
        assert!(refused("AUTH", "-ERR [SYS/TEMP] Temporary authentication failure.").is_transient());
        let wrong = refused("AUTH", "-ERR [AUTH] Authentication failed.");
        assert!(wrong.is_sign_in_refusal() && !wrong.is_transient());
        assert!(refused("PASS", "-ERR invalid password").is_sign_in_refusal());
        assert!(!refused("UIDL", "-ERR [SYS/PERM] broken").is_sign_in_refusal());
    }

    #[tokio::test]
    async fn a_garbled_reply_is_an_error_not_a_panic() {
        let (client, server) = tokio::io::duplex(4096);
        tokio::spawn(serve(server, vec![("STAT", "+OK lots\r\n"), ("UIDL", "+OK\r\nnonsense\r\n.\r\n")]));
        let mut pop = Pop3::greet(client, Duration::from_secs(2)).await.unwrap();
        assert!(matches!(pop.stat().await, Err(Pop3Error::Malformed(_))));
        assert!(matches!(pop.uidl().await, Err(Pop3Error::Malformed(_))));
    }
}
