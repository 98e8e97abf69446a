//! Gmail mailboxes through the Gmail API: submitted as raw MIME (so the message crosses Gmail's own outbound path
//! and filters), watched through the mailbox's history from the mark the watch began at — Spam and Trash
//! included, a full listing by date when Gmail no longer keeps the mark — and searched by subject. One client per
//! mailbox: it holds the access token, the request gate and the transcript.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::gmail::{Gmail, GmailConfig, GmailError, Label, Message};
use mailproof_mail::submit::Stage;
use mailproof_mail::watch::{Arrived, MAX_FETCH};
use time::OffsetDateTime;

use super::{Accepted, Find, Found, Mailbox, Mark, Refusal, Sent, Submit, SubmitRefusal, Watch};

/// Clocks differ: a listing by date reads from this long before the watch began (what it saw is skipped).
const CLOCK_SLACK: Duration = Duration::from_secs(120);
/// Looks begin at most this often while mail is expected: a history listing costs 2 of a user's 250 quota units
/// a second, a read 5; two looks a second leave most of the quota for the sends (100 each).
const LOOK_PACE: Duration = Duration::from_millis(500);

pub(super) struct GmailMailbox {
    /// The client, or why it could not be set up (HTTPS unavailable): every role then says so.
    gmail: Result<Arc<Gmail>, GmailError>,
}

impl GmailMailbox {
    pub(super) fn new(config: GmailConfig) -> Self {
        GmailMailbox { gmail: Gmail::new(config).map(Arc::new) }
    }

    fn gmail(&self) -> Result<&Arc<Gmail>, GmailError> {
        self.gmail.as_ref().map_err(Clone::clone)
    }
}

/// Checks that the sign-in is the profile's own mailbox (a consent given with another Google account would send
/// and read the wrong one), and returns the mailbox's history mark now.
async fn own_mark(gmail: &Gmail) -> Result<String, GmailError> {
    let profile = gmail.profile().await?;
    let expected = &gmail.config().address;
    if !profile.email_address.eq_ignore_ascii_case(expected) {
        return Err(GmailError::WrongAccount { expected: expected.clone(), actual: profile.email_address });
    }
    Ok(profile.history_id)
}

/// A Gmail failure as a submission refusal: never an SMTP code, so a failed send is a setup problem (Errored),
/// not a defence at work; Gmail's own refusals of a recipient come back later as bounces.
fn refusal(e: &GmailError) -> Refusal {
    let stage = match e {
        _ if e.is_setup() => Stage::Auth,
        GmailError::Network { .. } | GmailError::TimedOut { .. } => Stage::Connect,
        _ => Stage::EndOfData,
    };
    Refusal { stage, code: None, text: e.to_string() }
}

impl Mailbox for GmailMailbox {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        Box::pin(async move {
            let gmail = self.gmail().map_err(|e| (refusal(&e), Vec::new()))?.handle();
            if let Err(e) = own_mark(&gmail).await {
                return Err((refusal(&e), gmail.take_transcript()));
            }
            Ok(Box::new(GmailSubmit { gmail }) as Box<dyn Submit>)
        })
    }

    fn watch(&self, mark: Mark, _idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move {
            let gmail = self.gmail().map_err(|e| e.to_string())?;
            let history = own_mark(gmail).await.map_err(|e| e.to_string())?;
            let labels = gmail.labels().await.map_err(|e| e.to_string())?;
            let began = OffsetDateTime::now_utc();
            let mut watch = GmailWatch {
                gmail: Arc::clone(gmail),
                labels,
                history,
                since: began,
                seen: HashSet::new(),
                backlog: Vec::new(),
            };
            if let Mark::Since(day) = mark {
                // Picking up an interrupted watch: everything since that day, then the history from now.
                watch.since = day.midnight().assume_utc();
                watch.backlog = watch.listed().await.map_err(|e| e.to_string())?;
            }
            Ok(Box::new(watch) as Box<dyn Watch>)
        })
    }

    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        Box::pin(async move {
            let gmail = self.gmail().map_err(|e| e.to_string())?;
            own_mark(gmail).await.map_err(|e| e.to_string())?;
            let labels = gmail.labels().await.map_err(|e| e.to_string())?;
            Ok(Box::new(GmailFind { gmail: Arc::clone(gmail), labels }) as Box<dyn Find>)
        })
    }
}

struct GmailSubmit {
    /// A handle of its own: its transcript holds this session's requests only.
    gmail: Gmail,
}

impl Submit for GmailSubmit {
    fn send<'a>(&'a mut self, _from: &'a str, _to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent> {
        // Gmail sends to the message's own To, Cc and Bcc, as the mailbox; Mailproof's messages name their
        // recipient in To.
        Box::pin(async move {
            let sent = match self.gmail.send_raw(raw).await {
                Ok(sent) => sent,
                Err(e) => return Sent { result: Err(refusal(&e)), transcript: self.gmail.take_transcript() },
            };
            // Gmail may replace the Message-ID: the sent copy says which one the message left with.
            let kept = self.gmail.metadata(&sent.id).await.ok().and_then(|m| m.header("Message-ID").map(str::to_owned));
            let mut transcript = self.gmail.take_transcript();
            transcript.push(match &kept {
                Some(id) => format!("The sent copy {} carries Message-ID {id}", sent.id),
                None => format!("The sent copy {} could not be read: the Message-ID Gmail kept is not known", sent.id),
            });
            let accepted = Accepted {
                code: 200,
                text: format!("Accepted by the Gmail API for delivery (message {})", sent.id),
                queue_id: Some(sent.id),
                message_id: kept,
            };
            Sent { result: Ok(accepted), transcript }
        })
    }

    fn usable(&self) -> bool {
        true
    }

    fn server(&self) -> String {
        let api = &self.gmail.config().api;
        format!("Gmail API ({})", api.split("://").nth(1).unwrap_or(api).trim_end_matches('/'))
    }

    fn quit(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

struct GmailWatch {
    gmail: Arc<Gmail>,
    labels: Vec<Label>,
    /// The history mark the next look reads from.
    history: String,
    /// When the watch began (or the day it picks up from): a listing by date starts there.
    since: OffsetDateTime,
    seen: HashSet<String>,
    /// Messages listed by date that the next look reads first.
    backlog: Vec<String>,
}

impl GmailWatch {
    /// Every message received since the watch's start, Spam and Trash included, oldest first.
    async fn listed(&self) -> Result<Vec<String>, GmailError> {
        let after = (self.since - CLOCK_SLACK).unix_timestamp();
        let mut ids: Vec<String> =
            self.gmail.search(&format!("after:{after}"), true).await?.into_iter().map(|m| m.id).collect();
        ids.reverse();
        Ok(ids)
    }

    /// The messages added since the mark; when Gmail no longer keeps it, everything since the watch began (what
    /// was seen is skipped), and the mark starts again from now.
    async fn added(&mut self) -> Result<Vec<String>, GmailError> {
        match self.gmail.added_since(&self.history).await {
            Ok(added) => {
                self.history = added.history_id;
                Ok(added.ids)
            }
            Err(e) if e.not_found() => {
                self.history = self.gmail.profile().await?.history_id;
                self.listed().await
            }
            Err(e) => Err(e),
        }
    }

    fn arrived(&self, m: &Message, raw: Vec<u8>) -> Arrived {
        Arrived {
            folder: m.place(&self.labels),
            junk: m.spam(),
            removed: m.trashed(),
            uid: 0,
            uidl: Some(m.id.clone()),
            raw,
        }
    }
}

/// A copy the mailbox sent, not one it received.
fn sent_only(m: &Message) -> bool {
    let has = |l: &str| m.label_ids.iter().any(|x| x == l);
    has("SENT") && !has("INBOX") && !has("SPAM") && !has("TRASH")
}

impl Watch for GmailWatch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move {
            let mut ids = std::mem::take(&mut self.backlog);
            ids.extend(self.added().await.map_err(|e| e.to_string())?);
            let mut out = Vec::new();
            for id in ids {
                if self.seen.contains(&id) {
                    continue;
                }
                let m = match self.gmail.metadata(&id).await {
                    Ok(m) => m,
                    // Gone since it was listed (moved or deleted): where it went shows up as an addition.
                    Err(e) if e.not_found() => {
                        self.seen.insert(id);
                        continue;
                    }
                    Err(e) => return Err(e.to_string()),
                };
                if sent_only(&m) || !wanted(&m.header_block()) {
                    self.seen.insert(id);
                    continue;
                }
                match self.gmail.raw(&id).await {
                    Ok((m, mut raw)) => {
                        raw.truncate(MAX_FETCH);
                        out.push(self.arrived(&m, raw));
                    }
                    Err(e) if e.not_found() => {}
                    Err(e) => return Err(e.to_string()),
                }
                self.seen.insert(id);
            }
            Ok(out)
        })
    }

    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for id in found.iter().filter_map(|a| a.uidl.as_deref()) {
                self.gmail.trash(id).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn pace(&self) -> Duration {
        LOOK_PACE
    }
}

struct GmailFind {
    gmail: Arc<Gmail>,
    labels: Vec<Label>,
}

impl Find for GmailFind {
    fn find<'a>(&'a mut self, subject: &'a str, delete: bool) -> BoxFuture<'a, Result<Option<Found>, String>> {
        Box::pin(async move {
            let q = format!("subject:({subject})");
            for r in self.gmail.search(&q, true).await.map_err(|e| e.to_string())? {
                let m = match self.gmail.metadata(&r.id).await {
                    Ok(m) => m,
                    Err(e) if e.not_found() => continue,
                    Err(e) => return Err(e.to_string()),
                };
                // Gmail's search matches words; the subject must hold the code itself.
                if sent_only(&m) || !m.header("Subject").is_some_and(|s| s.contains(subject)) {
                    continue;
                }
                let found = Found { folder: m.place(&self.labels), junk: m.spam() };
                if delete {
                    self.gmail.trash(&m.id).await.map_err(|e| e.to_string())?;
                }
                return Ok(Some(found));
            }
            Ok(None)
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
