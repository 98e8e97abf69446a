//! The mail calls: the mailbox's profile (its address and history mark), send raw MIME, what was added since a
//! history mark, search, read a message's headers or MIME with its labels, trash, and the mailbox's labels.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::client::Gmail;
use super::GmailError;

/// The largest message read whole (Gmail takes up to 25 MB of attachments; Mailproof's test messages are small).
pub const MAX_MIME: usize = 40 * 1024 * 1024;
/// The largest JSON answer read (a raw message arrives as base64 inside JSON: a third larger).
const MAX_JSON: usize = MAX_MIME / 3 * 4 + 1024 * 1024;
/// Pages of a listing followed at most.
const MAX_PAGES: usize = 50;
/// The largest message sent through the media upload (the API's own limit is 35 MB).
pub const MAX_SEND: usize = 35 * 1024 * 1024;

/// The mailbox: whose it is, and where its history stands now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub email_address: String,
    #[serde(default)]
    pub history_id: String,
    #[serde(default)]
    pub messages_total: u64,
}

/// A message as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    pub id: String,
    #[serde(default)]
    pub thread_id: String,
}

/// A message read with its labels and headers (and its MIME, when read raw).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    #[serde(default)]
    pub label_ids: Vec<String>,
    /// Milliseconds since the epoch, as text: when Gmail received it.
    #[serde(default)]
    pub internal_date: String,
    #[serde(default)]
    pub payload: Option<Payload>,
    #[serde(default)]
    raw: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payload {
    #[serde(default)]
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.payload.as_ref()?.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    /// The headers as a message's header block (`Name: value` lines), for code that reads raw headers.
    pub fn header_block(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for h in self.payload.iter().flat_map(|p| &p.headers) {
            out.extend_from_slice(format!("{}: {}\r\n", h.name, h.value).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Gmail filed it as spam.
    pub fn spam(&self) -> bool {
        self.label_ids.iter().any(|l| l == "SPAM")
    }

    /// It is in the trash (deleted after delivery, by a person or a defence).
    pub fn trashed(&self) -> bool {
        self.label_ids.iter().any(|l| l == "TRASH")
    }

    /// Where a user would find it: Spam, Trash, Inbox, else its first own label (`labels` names them), else All
    /// Mail.
    pub fn place(&self, labels: &[Label]) -> String {
        let has = |l: &str| self.label_ids.iter().any(|x| x == l);
        for (id, name) in [("SPAM", "Spam"), ("TRASH", "Trash"), ("INBOX", "Inbox")] {
            if has(id) {
                return name.to_owned();
            }
        }
        self.label_ids
            .iter()
            .find_map(|id| labels.iter().find(|l| &l.id == id && l.kind == "user").map(|l| l.name.clone()))
            .unwrap_or_else(|| "All Mail".to_owned())
    }
}

/// A label: a system one (INBOX, SPAM, TRASH, SENT…) or the user's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `system` or `user`.
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// What history.list says was added since a mark.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Added {
    /// Added messages, oldest first, each once.
    pub ids: Vec<String>,
    /// The mark to read from next time.
    pub history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPage {
    #[serde(default)]
    history: Vec<HistoryRecord>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRecord {
    #[serde(default)]
    messages_added: Vec<MessageAdded>,
}

#[derive(Deserialize)]
struct MessageAdded {
    message: MessageRef,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    messages: Vec<MessageRef>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Labels {
    #[serde(default)]
    labels: Vec<Label>,
}

fn parse<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, GmailError> {
    serde_json::from_slice(body).map_err(|e| GmailError::BadAnswer { what: what.to_owned(), detail: e.to_string() })
}

/// Escapes a path segment (a message id).
fn escape(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Gmail {
    /// The mailbox's address and its history mark now.
    pub async fn profile(&self) -> Result<Profile, GmailError> {
        let what = "reading the mailbox's profile";
        let a = self.call(what, Method::GET, "/gmail/v1/users/me/profile", &[], None, MAX_JSON).await?;
        parse(what, &a.body)
    }

    /// Sends MIME as it is (Gmail sends to its To, Cc and Bcc; it may replace the Message-ID).
    pub async fn send_raw(&self, raw: &[u8]) -> Result<MessageRef, GmailError> {
        let what = "sending the message";
        if raw.len() > MAX_SEND {
            return Err(GmailError::Refused {
                what: what.into(),
                status: 413,
                detail: format!("the message is {} bytes; the Gmail API takes at most {MAX_SEND}", raw.len()),
            });
        }
        let path = "/upload/gmail/v1/users/me/messages/send";
        let body = Some(("message/rfc822", raw.to_vec()));
        let a = self.call(what, Method::POST, path, &[("uploadType", "media")], body, MAX_JSON).await?;
        parse(what, &a.body)
    }

    /// A message's labels and headers.
    pub async fn metadata(&self, id: &str) -> Result<Message, GmailError> {
        let what = "reading a message's headers";
        let path = format!("/gmail/v1/users/me/messages/{}", escape(id));
        let a = self.call(what, Method::GET, &path, &[("format", "metadata")], None, MAX_JSON).await?;
        parse(what, &a.body)
    }

    /// A message's labels and its MIME, as received.
    pub async fn raw(&self, id: &str) -> Result<(Message, Vec<u8>), GmailError> {
        let what = "reading a message";
        let path = format!("/gmail/v1/users/me/messages/{}", escape(id));
        let a = self.call(what, Method::GET, &path, &[("format", "raw")], None, MAX_JSON).await?;
        let mut m: Message = parse(what, &a.body)?;
        let text = m.raw.take().unwrap_or_default();
        let text = text.trim_end_matches('=');
        let mime = URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .map_err(|e| GmailError::BadAnswer { what: what.into(), detail: format!("the raw message: {e}") })?;
        Ok((m, mime))
    }

    /// The messages added since the history mark `start`, including Spam and Trash. A mark Gmail no longer keeps
    /// (about a week old, or less) is refused with 404 ([`GmailError::not_found`]): list by date instead then.
    pub async fn added_since(&self, start: &str) -> Result<Added, GmailError> {
        let what = "listing the mailbox's history";
        let mut added = Added { history_id: start.to_owned(), ..Added::default() };
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = vec![("startHistoryId", start), ("historyTypes", "messageAdded"), ("maxResults", "500")];
            if let Some(t) = &token {
                q.push(("pageToken", t));
            }
            let a = self.call(what, Method::GET, "/gmail/v1/users/me/history", &q, None, MAX_JSON).await?;
            let page: HistoryPage = parse(what, &a.body)?;
            for m in page.history.into_iter().flat_map(|h| h.messages_added) {
                if !added.ids.contains(&m.message.id) {
                    added.ids.push(m.message.id);
                }
            }
            if !page.history_id.is_empty() {
                added.history_id = page.history_id;
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(added)
    }

    /// The messages a Gmail search (`q`, e.g. `after:1764739200` or `subject:(…)`) finds, newest first.
    pub async fn search(&self, q: &str, include_spam_trash: bool) -> Result<Vec<MessageRef>, GmailError> {
        let what = "searching the mailbox";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let spam_trash = if include_spam_trash { "true" } else { "false" };
        for _ in 0..MAX_PAGES {
            let mut query = vec![("q", q), ("includeSpamTrash", spam_trash), ("maxResults", "500")];
            if let Some(t) = &token {
                query.push(("pageToken", t));
            }
            let a = self.call(what, Method::GET, "/gmail/v1/users/me/messages", &query, None, MAX_JSON).await?;
            let page: ListPage = parse(what, &a.body)?;
            out.extend(page.messages);
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    /// Moves a message to the trash (Gmail empties it after 30 days; deleting for good needs a wider scope).
    pub async fn trash(&self, id: &str) -> Result<(), GmailError> {
        let path = format!("/gmail/v1/users/me/messages/{}/trash", escape(id));
        self.call("moving a message to the trash", Method::POST, &path, &[], None, MAX_JSON).await.map(|_| ())
    }

    /// The mailbox's labels, system and user.
    pub async fn labels(&self) -> Result<Vec<Label>, GmailError> {
        let what = "reading the mailbox's labels";
        let a = self.call(what, Method::GET, "/gmail/v1/users/me/labels", &[], None, MAX_JSON).await?;
        Ok(parse::<Labels>(what, &a.body)?.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes as the Gmail API reference documents its Message, History and Label resources.

    #[test]
    fn a_message_tells_where_it_is_and_gives_its_headers() {
        let json = r#"{"id":"18c2f3a9b7d4e501","threadId":"18c2f3a9b7d4e501","labelIds":["SPAM","CATEGORY_PERSONAL"],
            "snippet":"x","historyId":"123456","internalDate":"1764739212000","sizeEstimate":2048,
            "payload":{"partId":"","mimeType":"text/plain","filename":"","headers":[
                {"name":"Message-ID","value":"<a1@example.test>"},{"name":"Subject","value":"[MP-1] Test"}]}}"#;
        let m: Message = serde_json::from_str(json).unwrap();
        assert!(m.spam() && !m.trashed());
        assert_eq!(m.header("message-id"), Some("<a1@example.test>"));
        assert_eq!(m.header_block(), b"Message-ID: <a1@example.test>\r\nSubject: [MP-1] Test\r\n\r\n");
        let labels: Labels = serde_json::from_str(
            r#"{"labels":[{"id":"INBOX","name":"INBOX","type":"system"},{"id":"Label_7","name":"Sorted","type":"user"}]}"#,
        )
        .unwrap();
        assert_eq!(m.place(&labels.labels), "Spam");
        let sorted = Message { label_ids: vec!["Label_7".into()], ..m.clone() };
        assert_eq!(sorted.place(&labels.labels), "Sorted");
        assert_eq!(Message { label_ids: vec![], ..m }.place(&labels.labels), "All Mail");
    }

    #[test]
    fn history_pages_give_the_added_messages() {
        let json = r#"{"history":[
            {"id":"1001","messages":[{"id":"a","threadId":"a"}],"messagesAdded":[{"message":{"id":"a","threadId":"a","labelIds":["INBOX","UNREAD"]}}]},
            {"id":"1002","messages":[{"id":"b","threadId":"a"}]}],
            "historyId":"1003"}"#;
        let page: HistoryPage = serde_json::from_str(json).unwrap();
        assert_eq!(page.history_id, "1003");
        let ids: Vec<_> = page.history.into_iter().flat_map(|h| h.messages_added).map(|m| m.message.id).collect();
        assert_eq!(ids, ["a"]);
        let empty: HistoryPage = serde_json::from_str(r#"{"historyId":"1003"}"#).unwrap();
        assert!(empty.history.is_empty() && empty.next_page_token.is_none());
        assert_eq!(escape("18c2/f3"), "18c2%2Ff3");
    }
}
