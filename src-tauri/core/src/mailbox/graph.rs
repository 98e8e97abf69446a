//! Microsoft 365 mailboxes through Microsoft Graph: submitted with sendMail (the MIME Mailproof composed, so the
//! message crosses Exchange Online's transport and its filters), watched by listing what arrived in every folder
//! since the watch began, searched the same way. One Graph client per mailbox: it holds the token, the request
//! gate and the transcript.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::graph::{Graph, GraphConfig, GraphError, MessageMeta};
use mailproof_mail::submit::Stage;
use mailproof_mail::watch::{Arrived, MAX_FETCH};
use time::OffsetDateTime;
use tokio::sync::Notify;

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
            let graph = self.graph().map_err(|e| (refusal(&e), Vec::new()))?;
            if let Err(e) = graph.sign_in().await {
                return Err((refusal(&e), graph.take_transcript()));
            }
            Ok(Box::new(GraphSubmit { graph: Arc::clone(graph) }) as Box<dyn Submit>)
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
                    let there = graph.received_since(since, None, false).await.map_err(|e| e.to_string())?;
                    (since, there.into_iter().map(|m| m.id).collect())
                }
                Mark::Since(day) => (day.midnight().assume_utc(), HashSet::new()),
            };
            Ok(Box::new(GraphWatch { graph: Arc::clone(graph), folders, since, seen }) as Box<dyn Watch>)
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

/// The mailbox's folders by id, with the junk folder's id.
struct Folders {
    names: HashMap<String, String>,
    junk: String,
}

impl Folders {
    async fn read(graph: &Graph) -> Result<Folders, GraphError> {
        let names = graph.folders().await?.into_iter().map(|f| (f.id, f.display_name)).collect();
        let junk = graph.well_known_folder("junkemail").await?.id;
        Ok(Folders { names, junk })
    }

    fn name(&self, id: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| "a folder Mailproof did not list".to_owned())
    }
}

struct GraphSubmit {
    graph: Arc<Graph>,
}

impl Submit for GraphSubmit {
    fn send<'a>(&'a mut self, _from: &'a str, _to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent> {
        // Graph sends to the message's own To, Cc and Bcc, as the mailbox; Mailproof's messages name their
        // recipient in To.
        Box::pin(async move {
            let result = match self.graph.send_mime(raw).await {
                Ok(sent) => {
                    let id = sent.request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default();
                    Ok(Accepted {
                        code: 202,
                        text: format!("Accepted by Microsoft Graph for delivery{id}"),
                        queue_id: sent.request_id,
                    })
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
}

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
        Ok(Arrived {
            folder: self.folders.name(&m.parent_folder_id),
            junk: m.parent_folder_id == self.folders.junk,
            uid: 0,
            uidl: Some(m.id.clone()),
            raw,
        })
    }
}

impl Watch for GraphWatch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move {
            let listed = self.graph.received_since(self.since, None, true).await.map_err(|e| e.to_string())?;
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
                // Marked seen only once read: a failed read is tried again on the next look.
                out.push(self.read(&m).await.map_err(|e| e.to_string())?);
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

    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
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
            let found =
                Found { folder: self.folders.name(&m.parent_folder_id), junk: m.parent_folder_id == self.folders.junk };
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
