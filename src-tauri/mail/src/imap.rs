//! IMAP: connect (clear, STARTTLS or TLS), sign in (password, NTLMv2 or an OAuth 2.0 token), and find messages
//! by Message-ID.

use futures::TryStreamExt;

use crate::stream::{connect_tcp, start_tls, ConnectError, MailStream};
use crate::tls::{observed_client_config, TlsSetupError};
use crate::{Encryption, Login, SignIn};

pub type Session = async_imap::Session<MailStream>;

/// An IMAP server and account: the one mailbox config IMAP and POP3 share.
pub type ImapConfig = crate::MailboxConfig;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    #[error("the IMAP server closed the connection before greeting")]
    NoGreeting,
    #[error(
        "the IMAP server refused STARTTLS: {0}. Choose SSL/TLS on port 993, or check that the server offers STARTTLS."
    )]
    StartTls(String),
    #[error("the IMAP server rejected the login for {username}: {detail}. Check the username and password.")]
    Login { username: String, detail: String },
    #[error("the IMAP server refused the OAuth 2.0 token for {username}: {detail}. Sign the profile in again; if it persists, check that the granted scopes cover IMAP.")]
    TokenRefused { username: String, detail: String },
    #[error("the IMAP server offers no OAuth 2.0 sign-in (XOAUTH2 or OAUTHBEARER; it offers {offered}). Choose another sign-in method for this server.")]
    NoOAuth { offered: String },
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthError),
    #[error("IMAP {command} failed: {detail}")]
    Command { command: &'static str, detail: String },
    #[error("the IMAP server {host} did not finish {doing} within {secs} s; the session is given up (a stalled server or a very slow link).")]
    TooSlow { host: String, doing: &'static str, secs: u64 },
}

/// Connects and signs in, within `LIMIT_FACTOR` exchanges' time in all (each exchange has its own limit too).
pub async fn connect(config: &ImapConfig) -> Result<Session, ImapError> {
    within(config, "connecting and signing in", connect_unbounded(config)).await?
}

/// How many exchanges' time (`config.timeout`) a whole operation — signing in, or one look at a mailbox — may take:
/// each read already ends when the server goes silent, and this ends a server that answers a byte at a time.
pub const LIMIT_FACTOR: u32 = 4;

/// Runs `work` within [`LIMIT_FACTOR`] × `config.timeout`.
pub async fn within<T>(
    config: &ImapConfig,
    doing: &'static str,
    work: impl std::future::Future<Output = T>,
) -> Result<T, ImapError> {
    let limit = config.timeout * LIMIT_FACTOR;
    tokio::time::timeout(limit, work).await.map_err(|_| ImapError::TooSlow {
        host: config.host.clone(),
        doing,
        secs: limit.as_secs(),
    })
}

async fn connect_unbounded(config: &ImapConfig) -> Result<Session, ImapError> {
    let tcp = connect_tcp(&config.host, config.port, config.timeout).await?;
    let stream = match config.encryption {
        Encryption::Tls => start_tls(tcp, &config.host, observed_client_config(&config.trust)?.0).await?,
        Encryption::None | Encryption::StartTls => MailStream::Plain(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| ImapError::Command { command: "greeting", detail: e.to_string() })?
        .ok_or(ImapError::NoGreeting)?;
    if config.encryption == Encryption::StartTls {
        client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| ImapError::StartTls(e.to_string()))?;
        let MailStream::Plain(tcp) = client.into_inner() else { unreachable!("STARTTLS runs on a clear connection") };
        let tls = start_tls(tcp, &config.host, observed_client_config(&config.trust)?.0).await?;
        client = async_imap::Client::new(tls);
    }
    let refused = |(e, _): (async_imap::error::Error, _)| ImapError::Login {
        username: config.login.username.clone(),
        detail: e.to_string(),
    };
    match config.sign_in {
        SignIn::Ntlm => {
            let ntlm = NtlmAuthenticator { login: config.login.clone(), sent_negotiate: false };
            client.authenticate("NTLM", ntlm).await.map_err(refused)
        }
        SignIn::OAuth2 => {
            let offered = mechanisms(&mut client).await?;
            let mechanism = crate::sasl::oauth_mechanism(&offered)
                .ok_or_else(|| ImapError::NoOAuth { offered: offered.join(", ") })?;
            let mut token = crate::secret_of(&config.login, &config.tokens).await?;
            let mut renewed_once = false;
            loop {
                let response = crate::sasl::oauth_response(
                    mechanism,
                    &config.login.username,
                    token.expose(),
                    &config.host,
                    config.port,
                );
                let why = std::sync::Arc::new(std::sync::Mutex::new(None));
                let auth = OAuthAuthenticator { mechanism, response: Some(response), why: why.clone() };
                let (e, back) = match client.authenticate(mechanism, auth).await {
                    Ok(session) => return Ok(session),
                    Err(refused) => refused,
                };
                // A refused token is renewed once: the issuer either hands out a new one or says why not.
                if !renewed_once {
                    if let Some(new) = crate::renewed(&config.tokens, &token).await? {
                        (client, token, renewed_once) = (back, new, true);
                        continue;
                    }
                }
                let said = why.lock().unwrap_or_else(|p| p.into_inner()).take();
                let detail = match said {
                    Some(said) => format!("{e} (the server's reason: {said})"),
                    None => e.to_string(),
                };
                return Err(ImapError::TokenRefused { username: config.login.username.clone(), detail });
            }
        }
        SignIn::Password => client.login(&config.login.username, config.login.password.expose()).await.map_err(refused),
    }
}

/// The SASL mechanisms the server announces before sign-in (its `AUTH=` capabilities), upper-cased.
async fn mechanisms(client: &mut async_imap::Client<MailStream>) -> Result<Vec<String>, ImapError> {
    use async_imap::imap_proto::{Capability, Response};
    let (tx, rx) = async_channel::bounded(64);
    client
        .run_command_and_check_ok("CAPABILITY", Some(tx))
        .await
        .map_err(|e| ImapError::Command { command: "CAPABILITY", detail: e.to_string() })?;
    let mut offered = Vec::new();
    while let Ok(answer) = rx.try_recv() {
        if let async_imap::types::UnsolicitedResponse::Other(data) = answer {
            let Response::Capabilities(caps) = data.parsed() else { continue };
            offered.extend(caps.iter().filter_map(|c| match c {
                Capability::Auth(m) => Some(m.to_ascii_uppercase()),
                _ => None,
            }));
        }
    }
    Ok(offered)
}

/// Sends the OAuth 2.0 response at the server's go-ahead; to an error challenge (JSON), keeps its reason and
/// answers as the mechanism wants so the server ends the exchange with its refusal.
struct OAuthAuthenticator {
    mechanism: &'static str,
    response: Option<Vec<u8>>,
    why: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for OAuthAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if let Some(first) = self.response.take() {
            return first;
        }
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = Some(crate::sasl::oauth_error_text(challenge));
        crate::sasl::oauth_error_ack(self.mechanism)
    }
}

/// Answers the server's continuations: the first (empty) with NEGOTIATE, the challenge with AUTHENTICATE.
struct NtlmAuthenticator {
    login: Login,
    sent_negotiate: bool,
}

impl async_imap::Authenticator for NtlmAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if !self.sent_negotiate {
            self.sent_negotiate = true;
            return crate::ntlm::negotiate();
        }
        // An unreadable challenge gets an empty answer, which the server refuses; the login error says so.
        crate::ntlm::authenticate(challenge, &self.login.username, self.login.password.expose()).unwrap_or_default()
    }
}

/// UIDs of the messages in `mailbox` whose Message-ID header contains `message_id`.
pub async fn find_by_message_id(session: &mut Session, mailbox: &str, message_id: &str) -> Result<Vec<u32>, ImapError> {
    session.examine(mailbox).await.map_err(|e| ImapError::Command { command: "EXAMINE", detail: e.to_string() })?;
    let query = format!("HEADER Message-ID {}", quote(message_id));
    let mut uids: Vec<u32> = session
        .uid_search(&query)
        .await
        .map_err(|e| ImapError::Command { command: "UID SEARCH", detail: e.to_string() })?
        .into_iter()
        .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The raw bytes (RFC 822) of the message with `uid` in the currently selected mailbox.
pub async fn fetch_raw(session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?
        .try_collect()
        .await
        .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?;
    Ok(fetches.iter().find_map(|f| f.body().map(<[u8]>::to_vec)))
}

/// A selectable mailbox and whether the server marks it as the junk folder or the trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub junk: bool,
    /// Where deleted mail goes: a message found here was removed after it was delivered.
    pub removed: bool,
}

/// Every selectable mailbox. A folder is junk when the server says so (RFC 6154 `\Junk`) or, failing that,
/// when it is named Junk or Spam; the trash likewise (`\Trash`, or Trash, Deleted Items, Deleted Messages, Bin).
pub async fn folders(session: &mut Session) -> Result<Vec<Folder>, ImapError> {
    use async_imap::imap_proto::NameAttribute;
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .map_err(|e| ImapError::Command { command: "LIST", detail: e.to_string() })?
        .try_collect()
        .await
        .map_err(|e| ImapError::Command { command: "LIST", detail: e.to_string() })?;
    let mut folders: Vec<Folder> = names
        .iter()
        .filter(|n| !n.attributes().iter().any(|a| matches!(a, NameAttribute::NoSelect)))
        .map(|n| {
            let flagged = |want: &NameAttribute| n.attributes().iter().any(|a| a == want);
            let leaf = n.name().rsplit(['/', '.']).next().unwrap_or(n.name()).to_ascii_lowercase();
            Folder {
                name: n.name().to_owned(),
                junk: flagged(&NameAttribute::Junk) || leaf == "junk" || leaf == "spam",
                removed: flagged(&NameAttribute::Trash)
                    || ["trash", "deleted items", "deleted messages", "bin"].contains(&leaf.as_str()),
            }
        })
        .collect();
    // INBOX first: it is where mail is expected.
    folders.sort_by_key(|f| (!f.name.eq_ignore_ascii_case("INBOX"), f.name.clone()));
    Ok(folders)
}

/// UIDs of the messages in `mailbox` whose Subject contains `text`.
pub async fn find_by_subject(session: &mut Session, mailbox: &str, text: &str) -> Result<Vec<u32>, ImapError> {
    session.examine(mailbox).await.map_err(|e| ImapError::Command { command: "EXAMINE", detail: e.to_string() })?;
    let mut uids: Vec<u32> = session
        .uid_search(format!("SUBJECT {}", quote(text)))
        .await
        .map_err(|e| ImapError::Command { command: "UID SEARCH", detail: e.to_string() })?
        .into_iter()
        .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// Deletes the messages `uids` from `mailbox` (flag \Deleted, then expunge).
pub async fn delete(session: &mut Session, mailbox: &str, uids: &[u32]) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    session.select(mailbox).await.map_err(|e| ImapError::Command { command: "SELECT", detail: e.to_string() })?;
    let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let _: Vec<_> = session
        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
        .await
        .map_err(|e| ImapError::Command { command: "UID STORE", detail: e.to_string() })?
        .try_collect()
        .await
        .map_err(|e| ImapError::Command { command: "UID STORE", detail: e.to_string() })?;
    let _: Vec<_> = session
        .expunge()
        .await
        .map_err(|e| ImapError::Command { command: "EXPUNGE", detail: e.to_string() })?
        .try_collect()
        .await
        .map_err(|e| ImapError::Command { command: "EXPUNGE", detail: e.to_string() })?;
    Ok(())
}

/// An IMAP quoted string (RFC 3501 §4.3).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| *c != '\r' && *c != '\n') {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_escapes_quotes_and_backslashes_and_drops_line_breaks() {
        assert_eq!(quote("<a@b>"), "\"<a@b>\"");
        assert_eq!(quote("a\"b\\c\r\nd"), "\"a\\\"b\\\\cd\"");
    }
}
