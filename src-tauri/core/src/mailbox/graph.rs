//! Microsoft 365 mailboxes through Microsoft Graph: submitted with sendMail (the MIME Mailproof composed, so the
//! message crosses Exchange Online's transport and its filters), watched by listing what arrived in every folder
//! since the watch began, searched the same way. One Graph client per mailbox: it holds the token, the request
//! gate and the transcript.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::graph::{Graph, GraphConfig, GraphError, MessageMeta};
use mailproof_mail::message::analyse;
use mailproof_mail::submit::Stage;
use mailproof_mail::watch::{Arrived, MAX_FETCH};
use time::OffsetDateTime;

use super::{Accepted, Find, Found, Mailbox, Mark, Refusal, Sent, Submit, SubmitRefusal, Watch};

/// Clocks differ: a watch or search reads from this long before it began (what it already saw is skipped).
const CLOCK_SLACK: Duration = Duration::from_secs(120);

pub(super) struct GraphMailbox {
    /// The client, or why it could not be set up (HTTPS unavailable): every role then says so.
    graph: Result<Arc<Graph>, GraphError>,
}

impl GraphMailbox {
    pub(super) fn new(config: GraphConfig) -> Self {
        GraphMailbox { graph: Graph::new(config).map(Arc::new) }
    }

    fn graph(&self) -> Result<&Arc<Graph>, GraphError> {
        self.graph.as_ref().map_err(Clone::clone)
    }
}

/// A Graph failure as a submission refusal: never an SMTP code, so a failed send is a setup problem (Errored),
/// not a defence at work; Exchange Online's own refusals come back later as NDRs.
fn refusal(e: &GraphError) -> Refusal {
    let stage = match e {
        _ if e.is_setup() => Stage::Auth,
        GraphError::Network { .. } | GraphError::TimedOut { .. } => Stage::Connect,
        _ => Stage::EndOfData,
    };
    Refusal { stage, code: None, text: e.to_string() }
}

impl Mailbox for GraphMailbox {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        Box::pin(async move {
            let graph = self.graph().map_err(|e| (refusal(&e), Vec::new()))?.handle();
            if let Err(e) = graph.sign_in().await {
                return Err((refusal(&e), graph.take_transcript()));
            }
            Ok(Box::new(GraphSubmit { graph }) as Box<dyn Submit>)
        })
    }

    fn watch(&self, mark: Mark, _idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move {
            let graph = self.graph().map_err(|e| e.to_string())?;
            let folders = Folders::read(graph).await.map_err(|e| e.to_string())?;
            let (since, seen) = match mark {
                Mark::Now => {
                    let since = OffsetDateTime::now_utc() - CLOCK_SLACK;
                    // What is there already is not news.
                    let mut there = graph.received_since(since, None, false).await.map_err(|e| e.to_string())?;
                    if let Some(r) = &folders.recoverable {
                        there.extend(graph.received_since(since, Some(r), false).await.map_err(|e| e.to_string())?);
                    }
                    (since, there.into_iter().map(|m| m.id).collect())
                }
                Mark::Since(day) => (day.midnight().assume_utc(), HashSet::new()),
            };
            Ok(Box::new(GraphWatch { graph: Arc::clone(graph), folders, since, seen, looks: 0 }) as Box<dyn Watch>)
        })
    }

    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        Box::pin(async move {
            let graph = self.graph().map_err(|e| e.to_string())?;
            let folders = Folders::read(graph).await.map_err(|e| e.to_string())?;
            let since = OffsetDateTime::now_utc() - CLOCK_SLACK;
            Ok(Box::new(GraphFind { graph: Arc::clone(graph), folders, since }) as Box<dyn Find>)
        })
    }
}

/// The mailbox's folders by id (their paths, `Inbox/Phishing`), which is the junk folder, and which hold what
/// was removed after delivery: Deleted Items, and Recoverable Items' Deletions where an administrator's or a
/// defence's soft delete puts mail (outside the mailbox's tree, so listed on its own).
struct Folders {
    names: HashMap<String, String>,
    junk: String,
    removed: HashSet<String>,
    recoverable: Option<String>,
}

impl Folders {
    async fn read(graph: &Graph) -> Result<Folders, GraphError> {
        let mut names: HashMap<String, String> =
            graph.folder_tree().await?.into_iter().map(|f| (f.id, f.path)).collect();
        let junk = graph.well_known_folder("junkemail").await?.id;
        let mut removed = HashSet::from([graph.well_known_folder("deleteditems").await?.id]);
        // Not every mailbox shows it (and national clouds may not): then only Deleted Items counts.
        let recoverable = graph.well_known_folder("recoverableitemsdeletions").await.ok().map(|f| {
            names.insert(f.id.clone(), format!("Recoverable Items/{}", f.display_name));
            removed.insert(f.id.clone());
            f.id
        });
        Ok(Folders { names, junk, removed, recoverable })
    }

    fn name(&self, id: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| "a folder Mailproof did not list".to_owned())
    }

    /// The folder a listed message is in, and whether it is the junk folder.
    fn found(&self, m: &MessageMeta) -> Found {
        Found { folder: self.name(&m.parent_folder_id), junk: m.parent_folder_id == self.junk }
    }

    /// The message is where deleted mail goes.
    fn removed(&self, m: &MessageMeta) -> bool {
        self.removed.contains(&m.parent_folder_id)
    }
}

struct GraphSubmit {
    /// A handle of its own: its transcript holds this session's requests only.
    graph: Graph,
}

impl GraphSubmit {
    /// The Message-ID of the copy Exchange saved in Sent Items: the one the message left with (Exchange may
    /// replace the one Mailproof set). Found by our Message-ID, else by the subject; `None` when the copy did not
    /// show within [`SENT_COPY_WAITS`] (saving it is asynchronous) — then the transcript says so.
    async fn kept_message_id(&self, raw: &[u8], sent_at: OffsetDateTime) -> Option<String> {
        let head = analyse(&raw[..raw.len().min(64 * 1024)]);
        let ours = head
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("message-id"))
            .map(|(_, v)| v.trim().to_owned())?;
        let subject = head.subject.unwrap_or_default();
        for wait in SENT_COPY_WAITS {
            tokio::time::sleep(wait).await;
            if let Ok(Some(m)) = self.graph.by_message_id(&ours, Some("sentitems")).await.map(|l| l.into_iter().next())
            {
                return m.internet_message_id;
            }
            if subject.is_empty() {
                continue;
            }
            if let Ok(Some(m)) = self.graph.sent_copy(sent_at - CLOCK_SLACK, &subject).await {
                return m.internet_message_id;
            }
        }
        None
    }
}

/// How long to wait before each look for the Sent Items copy: at once, then twice more within 1.5 s.
const SENT_COPY_WAITS: [Duration; 3] = [Duration::ZERO, Duration::from_millis(500), Duration::from_millis(1000)];

impl Submit for GraphSubmit {
    fn send<'a>(&'a mut self, _from: &'a str, _to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent> {
        // Graph sends to the message's own To, Cc and Bcc, as the mailbox; Mailproof's messages name their
        // recipient in To.
        Box::pin(async move {
            let sent_at = OffsetDateTime::now_utc();
            let result = match self.graph.send_mime(raw).await {
                Ok(sent) => {
                    let id = sent.request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default();
                    let message_id = self.kept_message_id(raw, sent_at).await;
                    let mut transcript = self.graph.take_transcript();
                    transcript.push(match &message_id {
                        Some(kept) => format!("Sent Items holds the copy, Message-ID {kept}"),
                        None => {
                            "Sent Items did not show the copy within 1.5 s: the Message-ID Exchange kept is not known"
                                .to_owned()
                        }
                    });
                    let accepted = Accepted {
                        code: 202,
                        text: format!("Accepted by Microsoft Graph for delivery{id}"),
                        queue_id: sent.request_id,
                        message_id,
                    };
                    return Sent { result: Ok(accepted), transcript };
                }
                Err(e) => Err(refusal(&e)),
            };
            Sent { result, transcript: self.graph.take_transcript() }
        })
    }

    fn usable(&self) -> bool {
        true
    }

    fn server(&self) -> String {
        let c = self.graph.config();
        format!("Microsoft Graph ({})", c.endpoints.graph.split("://").nth(1).unwrap_or(&c.endpoints.graph))
    }

    fn quit(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

struct GraphWatch {
    graph: Arc<Graph>,
    folders: Folders,
    since: OffsetDateTime,
    seen: HashSet<String>,
    looks: u32,
}

/// Looks begin at most this often while mail is expected. Graph allows 10,000 requests per app and mailbox in 10
/// minutes (16 a second): two listings a second, the Recoverable Items listing every fifth look and a read per
/// message leave most of it for the sends and for other tools; a message is seen 250 ms after it lands, on average.
const LOOK_PACE: Duration = Duration::from_millis(500);

/// Recoverable Items is listed on every this many looks (it is outside the mailbox-wide listing): one request
/// more per five keeps a 1 s schedule far inside Graph's per-mailbox limit (10,000 requests in 10 minutes).
const RECOVERABLE_EVERY: u32 = 5;

impl GraphWatch {
    async fn read(&mut self, m: &MessageMeta) -> Result<Arrived, GraphError> {
        if !self.folders.names.contains_key(&m.parent_folder_id) {
            // A folder made since the watch began.
            if let Ok(fresh) = Folders::read(&self.graph).await {
                self.folders = fresh;
            }
        }
        let mut raw = self.graph.mime(&m.id).await?;
        raw.truncate(MAX_FETCH);
        let Found { folder, junk } = self.folders.found(m);
        Ok(Arrived { folder, junk, removed: self.folders.removed(m), uid: 0, uidl: Some(m.id.clone()), raw })
    }
}

impl Watch for GraphWatch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move {
            self.looks += 1;
            let mut listed = self.graph.received_since(self.since, None, true).await.map_err(|e| e.to_string())?;
            if let Some(r) = self.folders.recoverable.as_deref().filter(|_| self.looks % RECOVERABLE_EVERY == 1) {
                let removed = self.graph.received_since(self.since, Some(r), true).await.map_err(|e| e.to_string())?;
                listed.extend(removed);
                listed.sort_by(|a, b| b.received_date_time.cmp(&a.received_date_time));
            }
            let mut out = Vec::new();
            // Oldest first, as they arrived.
            for m in listed.into_iter().rev() {
                if self.seen.contains(&m.id) {
                    continue;
                }
                if !wanted(&m.header_block()) {
                    self.seen.insert(m.id);
                    continue;
                }
                // Marked seen only once read: a failed read is tried again on the next look, and a message moved
                // since the listing (a defence removing it, say) shows up in its new folder, with a new id.
                match self.read(&m).await {
                    Ok(arrived) => out.push(arrived),
                    Err(e) if e.item_gone() => continue,
                    Err(e) => return Err(e.to_string()),
                }
                self.seen.insert(m.id);
            }
            Ok(out)
        })
    }

    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for id in found.iter().filter_map(|a| a.uidl.as_deref()) {
                self.graph.delete(id).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn pace(&self) -> Duration {
        LOOK_PACE
    }
}

struct GraphFind {
    graph: Arc<Graph>,
    folders: Folders,
    since: OffsetDateTime,
}

impl Find for GraphFind {
    fn find<'a>(&'a mut self, subject: &'a str, delete: bool) -> BoxFuture<'a, Result<Option<Found>, String>> {
        Box::pin(async move {
            let listed = self.graph.received_since(self.since, None, false).await.map_err(|e| e.to_string())?;
            let Some(m) = listed.iter().find(|m| m.subject.as_deref().is_some_and(|s| s.contains(subject))) else {
                return Ok(None);
            };
            let found = self.folders.found(m);
            if delete {
                self.graph.delete(&m.id).await.map_err(|e| e.to_string())?;
            }
            Ok(Some(found))
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
