//! The mail calls: send MIME through Exchange Online's transport, list what arrived since a time in every folder,
//! find by Message-ID, read a message's MIME, delete, and the mailbox's folders.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::OffsetDateTime;

use super::client::{escape, Graph};
use super::GraphError;

/// The largest message read whole (Exchange Online takes up to 150 MB; Mailproof's test messages are small).
pub const MAX_MIME: usize = 40 * 1024 * 1024;
/// The largest JSON page read.
const MAX_JSON: usize = 16 * 1024 * 1024;
/// Pages of a listing followed at most (100 messages each).
const MAX_PAGES: usize = 50;
/// Folders read at most when walking a mailbox's tree, and how deep.
pub const MAX_FOLDERS: usize = 1000;
const MAX_DEPTH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub total_item_count: u64,
    #[serde(default)]
    pub child_folder_count: u64,
    /// Its place in the tree, `Inbox/Phishing` (filled in by [`Graph::folder_tree`]; the display name otherwise).
    #[serde(skip)]
    pub path: String,
}

/// A message as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageMeta {
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// With its angle brackets, as Exchange keeps it.
    #[serde(default)]
    pub internet_message_id: Option<String>,
    #[serde(default)]
    pub parent_folder_id: String,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub received_date_time: String,
    /// The internet headers, when the listing asked for them.
    #[serde(default)]
    pub internet_message_headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl MessageMeta {
    /// The headers as a message's header block (`Name: value` lines), for code that reads raw headers.
    pub fn header_block(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for h in &self.internet_message_headers {
            out.extend_from_slice(format!("{}: {}\r\n", h.name, h.value).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Graph took the message for delivery (202 Accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub request_id: Option<String>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

const MESSAGE_FIELDS: &str = "id,subject,internetMessageId,parentFolderId,receivedDateTime";

impl Graph {
    /// The mailbox's top-level folders.
    pub async fn folders(&self) -> Result<Vec<Folder>, GraphError> {
        let path = self.user_path(&format!("/mailFolders?{}", query(&[("$top", "100")])));
        let mut out: Vec<Folder> = self.all_pages("reading the mailbox's folders", path).await?;
        for f in &mut out {
            f.path = f.display_name.clone();
        }
        Ok(out)
    }

    /// Every folder of the mailbox, parents before their children, each with its path (at most [`MAX_FOLDERS`],
    /// ten levels deep).
    pub async fn folder_tree(&self) -> Result<Vec<Folder>, GraphError> {
        let mut out = self.folders().await?;
        let mut next = 0;
        let mut depth_of = vec![0; out.len()];
        while next < out.len() && out.len() < MAX_FOLDERS {
            let (parent, depth) = (out[next].clone(), depth_of[next]);
            next += 1;
            if parent.child_folder_count == 0 || depth + 1 >= MAX_DEPTH {
                continue;
            }
            let path = self.user_path(&format!(
                "/mailFolders/{}/childFolders?{}",
                escape(&parent.id),
                query(&[("$top", "100")])
            ));
            let children: Vec<Folder> = self.all_pages("reading the mailbox's folders", path).await?;
            for mut child in children.into_iter().take(MAX_FOLDERS - out.len()) {
                child.path = format!("{}/{}", parent.path, child.display_name);
                out.push(child);
                depth_of.push(depth + 1);
            }
        }
        Ok(out)
    }

    /// A well-known folder (`inbox`, `junkemail`, `deleteditems`, `sentitems`, …).
    pub async fn well_known_folder(&self, name: &str) -> Result<Folder, GraphError> {
        let what = format!("reading the folder {name}");
        let path = self.user_path(&format!("/mailFolders/{}", escape(name)));
        let answer = self.call(&what, Method::GET, &path, None, MAX_JSON).await?;
        let mut folder: Folder = json(&what, &answer.body)?;
        folder.path = folder.display_name.clone();
        Ok(folder)
    }

    /// Sends `raw` (a whole MIME message) through Exchange Online, as the mailbox: its recipients are the
    /// message's To, Cc and Bcc. The message goes through the tenant's transport and its filters.
    pub async fn send_mime(&self, raw: &[u8]) -> Result<SentMail, GraphError> {
        let body = STANDARD.encode(raw).into_bytes();
        let path = self.user_path("/sendMail");
        let answer = self.call("sendMail", Method::POST, &path, Some(("text/plain", body)), MAX_JSON).await?;
        if answer.status != 202 {
            return Err(GraphError::BadAnswer {
                what: "sendMail".into(),
                detail: format!("HTTP {} where 202 Accepted was expected", answer.status),
            });
        }
        Ok(SentMail { request_id: answer.request_id })
    }

    /// Messages received at or after `since` (to the second), newest first: in `folder` (an id or a well-known
    /// name), or in every folder of the mailbox; with their internet headers when `headers`.
    pub async fn received_since(
        &self,
        since: OffsetDateTime,
        folder: Option<&str>,
        headers: bool,
    ) -> Result<Vec<MessageMeta>, GraphError> {
        let filter = format!("receivedDateTime ge {}", graph_time(since));
        let fields =
            if headers { format!("{MESSAGE_FIELDS},internetMessageHeaders") } else { MESSAGE_FIELDS.to_owned() };
        let q = query(&[
            ("$filter", &filter),
            ("$orderby", "receivedDateTime desc"),
            ("$select", &fields),
            ("$top", "100"),
        ]);
        self.all_pages("listing new messages", self.messages_path(folder, &q)).await
    }

    /// Messages whose Message-ID is `message_id` (with or without its angle brackets).
    pub async fn by_message_id(&self, message_id: &str, folder: Option<&str>) -> Result<Vec<MessageMeta>, GraphError> {
        let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let filter = format!("internetMessageId eq '<{}>'", bare.replace('\'', "''"));
        let q = query(&[("$filter", &filter), ("$select", MESSAGE_FIELDS), ("$top", "100")]);
        self.all_pages("finding a message by its Message-ID", self.messages_path(folder, &q)).await
    }

    /// A message's whole MIME.
    pub async fn mime(&self, id: &str) -> Result<Vec<u8>, GraphError> {
        let path = self.user_path(&format!("/messages/{}/$value", escape(id)));
        Ok(self.call("reading a message", Method::GET, &path, None, MAX_MIME).await?.body)
    }

    /// The copy Exchange saved in Sent Items of a message sent at or after `since` whose subject holds `token`:
    /// its Message-ID is the one Exchange kept. `None` while it is not there yet.
    pub async fn sent_copy(&self, since: OffsetDateTime, token: &str) -> Result<Option<MessageMeta>, GraphError> {
        let listed = self.received_since(since, Some("sentitems"), false).await?;
        Ok(listed.into_iter().find(|m| m.subject.as_deref().is_some_and(|s| s.contains(token))))
    }

    /// Deletes a message for good where the cloud offers it (`permanentDelete`: to the Purges folder, out of the
    /// user's sight), else as Outlook does (to Deleted Items).
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        if self.config().cloud.permanent_delete() {
            let path = self.user_path(&format!("/messages/{}/permanentDelete", escape(id)));
            return self.call("deleting a message", Method::POST, &path, None, MAX_JSON).await.map(drop);
        }
        let path = self.user_path(&format!("/messages/{}", escape(id)));
        self.call("deleting a message", Method::DELETE, &path, None, MAX_JSON).await.map(drop)
    }

    fn messages_path(&self, folder: Option<&str>, query: &str) -> String {
        match folder {
            Some(f) => self.user_path(&format!("/mailFolders/{}/messages?{query}", escape(f))),
            None => self.user_path(&format!("/messages?{query}")),
        }
    }

    async fn all_pages<T: DeserializeOwned>(&self, what: &str, first: String) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        for _ in 0..MAX_PAGES {
            let Some(target) = next.take() else { break };
            let answer = self.call(what, Method::GET, &target, None, MAX_JSON).await?;
            let page: Page<T> = json(what, &answer.body)?;
            out.extend(page.value);
            next = page.next_link;
        }
        Ok(out)
    }
}

fn json<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|e| GraphError::BadAnswer { what: what.to_owned(), detail: e.to_string() })
}

/// A time as Graph's filters take it: RFC 3339, UTC, whole seconds.
fn graph_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An OData query string: the `$` names as they are, the values percent-escaped.
fn query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", escape(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_written_as_graph_reads_them() {
        let t = time::macros::datetime!(2026-12-02 17:10:11.5 +01:00);
        assert_eq!(graph_time(t), "2026-12-02T16:10:11Z");
        assert_eq!(
            query(&[("$filter", "internetMessageId eq '<a&b@x>'"), ("$top", "100")]),
            "$filter=internetMessageId%20eq%20%27%3Ca%26b@x%3E%27&$top=100"
        );
    }
}
