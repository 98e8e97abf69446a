//! The wire of a diagnosis: reading a complete reply, signing in with NTLM or an OAuth 2.0 token, the EHLO name,
//! the transcript. The submission session and the POP3 client sign in and read replies through these too.

use std::net::IpAddr;

use super::dialect::Framing;
use super::Protocol;
use crate::dialogue::{Dialogue, DialogueError, Direction, TranscriptLine};
use crate::stream::MailStream;

pub(crate) fn transcript_text(lines: Vec<TranscriptLine>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| match l.direction {
            Direction::Client => format!("C: {}", l.text),
            Direction::Server => format!("S: {}", l.text),
        })
        .collect()
}

/// Signs in with NTLMv2: the command, then NEGOTIATE and AUTHENTICATE as continuation lines. `Ok(Err(reply))`
/// is a refusal in the server's words; an empty reply means the server does not offer NTLM.
pub(crate) async fn ntlm_login(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    mechs: &[String],
    user: &str,
    pass: &str,
) -> Result<Result<String, String>, DialogueError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    if !mechs.iter().any(|m| m == "NTLM") {
        return Ok(Err(String::new()));
    }
    let dialect = protocol.dialect();
    let more = dialect.continuation;
    d.send(&format!("{} NTLM", dialect.authenticate)).await?;
    let go_on = d.read_line().await?;
    if !go_on.starts_with(more) {
        return Ok(Err(go_on));
    }
    d.send_shown(&STANDARD.encode(crate::ntlm::negotiate()), "<NTLM negotiate message>").await?;
    let challenge_line = d.read_line().await?;
    let Some(challenge_b64) = challenge_line.strip_prefix(more) else { return Ok(Err(challenge_line)) };
    let answer = STANDARD
        .decode(challenge_b64.trim())
        .map_err(|e| e.to_string())
        .and_then(|challenge| crate::ntlm::authenticate(&challenge, user, pass).map_err(|e| e.to_string()));
    let answer = match answer {
        Ok(a) => a,
        Err(why) => {
            // Cancel the exchange as each protocol expects, then report.
            d.send("*").await?;
            return Ok(Err(format!("cannot answer the server's NTLM challenge: {why}")));
        }
    };
    d.send_shown(&STANDARD.encode(answer), "<NTLM authenticate message, redacted>").await?;
    let last = read_reply(protocol, d, dialect.login_tag).await?.pop().unwrap_or_default();
    Ok(if last.starts_with(dialect.login_ok) { Ok(last) } else { Err(last) })
}

/// Signs in with an OAuth 2.0 access token: OAUTHBEARER or XOAUTH2, whichever `mechs` offers (OAUTHBEARER
/// first), its response sent after the server's go-ahead (a token makes it too long for an initial response on
/// POP3's AUTH line). A refusal's error challenge (JSON) is acknowledged so the server can end the exchange, and
/// put in words after the server's final reply. An empty refusal means the server offers neither mechanism.
pub(crate) async fn oauth_login(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    mechs: &[String],
    login: (&str, &str),
    server: (&str, u16),
) -> Result<Result<String, String>, DialogueError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let Some(mechanism) = crate::sasl::oauth_mechanism(mechs) else { return Ok(Err(String::new())) };
    let (user, token) = login;
    let dialect = protocol.dialect();
    let more = dialect.continuation;
    let is_more = |line: &str| line.starts_with(more) && !line.starts_with("+OK");
    d.send(&format!("{} {mechanism}", dialect.authenticate)).await?;
    let go_on = d.read_line().await?;
    if !is_more(&go_on) {
        return Ok(Err(go_on));
    }
    let response = STANDARD.encode(crate::sasl::oauth_response(mechanism, user, token, server.0, server.1));
    d.send_shown(&response, &format!("<{mechanism} response with the access token, redacted>")).await?;
    let first = d.read_line().await?;
    let (first, why) = match first.strip_prefix(more).filter(|_| is_more(&first)) {
        Some(challenge) => {
            let challenge = challenge.trim();
            let why = STANDARD
                .decode(challenge)
                .map(|c| crate::sasl::oauth_error_text(&c))
                .unwrap_or_else(|_| challenge.to_owned());
            d.send(&STANDARD.encode(crate::sasl::oauth_error_ack(mechanism))).await?;
            (d.read_line().await?, Some(why))
        }
        None => (first, None),
    };
    // The final reply: IMAP's tagged line (untagged lines may come first), SMTP's last line of a multi-line one.
    let unfinished = match dialect.framing {
        Framing::Tagged => dialect.login_tag.is_some_and(|tag| !first.starts_with(&format!("{tag} "))),
        Framing::Smtp => first.get(3..4) == Some("-"),
        Framing::Pop3 => false,
    };
    let last =
        if unfinished { read_reply(protocol, d, dialect.login_tag).await?.pop().unwrap_or_default() } else { first };
    Ok(match why {
        _ if last.starts_with(dialect.login_ok) => Ok(last),
        Some(why) => Err(format!("{last} (the token was refused: {why})")),
        None => Err(last),
    })
}

/// Reads one complete reply: SMTP multi-line (`250-` … `250 `), IMAP untagged lines up to the tagged one (or
/// one line when there is no tag), POP3 one status line — or, with `pop_list`, a `+OK` line and the
/// dot-terminated list after it (CAPA).
pub(crate) async fn read_reply(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    tag: Option<&str>,
) -> Result<Vec<String>, DialogueError> {
    read_reply_list(protocol, d, tag, false).await
}

pub(super) async fn read_reply_list(
    protocol: Protocol,
    d: &mut Dialogue<MailStream>,
    tag: Option<&str>,
    pop_list: bool,
) -> Result<Vec<String>, DialogueError> {
    let mut lines = Vec::new();
    loop {
        let line = d.read_line().await?;
        let done = match protocol.dialect().framing {
            Framing::Smtp => line.len() < 4 || line.as_bytes()[3] != b'-',
            Framing::Tagged => tag.is_none_or(|tag| line.starts_with(&format!("{tag} "))),
            Framing::Pop3 if pop_list && lines.is_empty() => !line.starts_with("+OK"),
            Framing::Pop3 if pop_list => {
                if line == "." {
                    return Ok(lines);
                }
                false
            }
            Framing::Pop3 => true,
        };
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
}

pub(crate) fn ehlo_name(local_ip: Option<IpAddr>) -> String {
    match local_ip {
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        None => "mailproof.localdomain".into(),
    }
}

pub(super) fn command_name(command: &str) -> &str {
    let mut words = command.split_whitespace();
    match words.next() {
        Some(first) if first.len() == 1 => words.next().unwrap_or(first),
        Some(first) => first,
        None => command,
    }
}

pub(super) fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_names_are_address_literals() {
        assert_eq!(ehlo_name(Some("127.0.0.1".parse().unwrap())), "[127.0.0.1]");
        assert_eq!(ehlo_name(Some("::1".parse().unwrap())), "[IPv6:::1]");
    }

    #[test]
    fn command_names_skip_imap_tags() {
        assert_eq!(command_name("c CAPABILITY"), "CAPABILITY");
        assert_eq!(command_name("EHLO [127.0.0.1]"), "EHLO");
        assert_eq!(imap_quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
