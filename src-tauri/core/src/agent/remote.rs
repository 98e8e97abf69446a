//! A mailbox reached through a remote actor's agent: to the job engine one more implementation of the mailbox
//! seam. Watching and submitting happen on the actor's machine, in sessions on the agent's pinned TLS channel;
//! verdicts are still decided here.
//!
//! Each session is one connection, driven one step at a time (so the workstation sets the pace: nothing piles up
//! on either side). The agent says it is alive every few seconds while a step works; a session silent for
//! [`SILENCE`] is taken for broken. A watch whose connection broke is opened again from the day it began, and what
//! it had already passed on is recognised and not passed on twice: an agent restarted (or a network back) within
//! [`AGENT_GRACE`] loses nothing. One that stays away longer fails the look in words, and the engine ends what
//! waited on that mailbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::submit::{Refusal, Sent, Stage};
use mailproof_mail::watch::Arrived;
use tokio::io::{BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio_rustls::client::TlsStream;

use super::client::connect;
use super::session::BEAT;
use super::wire::{
    from_wire, next_line, to_wire, write_json, Answer, Ask, MailboxAccess, OnTheWire, OutgoingAccess, Request, Said,
    Step, WatchMailbox,
};
use super::{AgentAddress, AgentError};
use crate::mailbox::{Find, Mailbox, Mark, Submit, SubmitRefusal, Watch};
use crate::profiles::EmailProfile;
use crate::secrets::Secret;

/// A session that says nothing for this long (the agent beats every [`BEAT`] while it works) is broken.
pub const SILENCE: Duration = Duration::from_secs(6 * BEAT.as_secs());

/// How long a watch keeps trying to open its session again before the mailbox counts as lost.
pub const AGENT_GRACE: Duration = Duration::from_secs(30);

/// The actor an agent reaches mailboxes for: its name (for transcripts and errors), where its agent listens and
/// the pairing code.
#[derive(Clone)]
pub struct RemoteActor {
    pub name: String,
    pub agent: AgentAddress,
    pub code: Secret,
}

/// `profile`'s mailbox, watched and submitted to from `actor`'s machine with `password`.
pub fn remote_mailbox(actor: &RemoteActor, profile: &EmailProfile, password: &Secret) -> Box<dyn Mailbox> {
    Box::new(RemoteMailbox {
        actor: actor.clone(),
        incoming: MailboxAccess::of(profile, password),
        outgoing: OutgoingAccess::of(profile, password),
    })
}

struct RemoteMailbox {
    actor: RemoteActor,
    incoming: MailboxAccess,
    outgoing: OutgoingAccess,
}

/// One open session: where to write steps, and what the agent said, in order (beats included; pushed changes
/// go to `changes` instead).
struct Conn {
    write: WriteHalf<TlsStream<TcpStream>>,
    said: mpsc::UnboundedReceiver<Said>,
    _reader: ReaderTask,
}

struct ReaderTask(tokio::task::JoinHandle<()>);

impl Drop for ReaderTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    /// The next thing the agent says that is not a beat, within [`SILENCE`] of the last thing it said.
    async fn hear(&mut self) -> Result<Said, String> {
        loop {
            match tokio::time::timeout(SILENCE, self.said.recv()).await {
                Err(_) => return Err(format!("the agent said nothing for {} s", SILENCE.as_secs())),
                Ok(None) => return Err("the agent closed the connection".into()),
                Ok(Some(Said::Beat)) => continue,
                Ok(Some(said)) => return Ok(said),
            }
        }
    }

    async fn step(&mut self, step: &Step) -> Result<Said, String> {
        tokio::time::timeout(SILENCE, write_json(&mut self.write, step))
            .await
            .map_err(|_| format!("the agent took nothing for {} s", SILENCE.as_secs()))??;
        self.hear().await
    }
}

/// Opens a session: the request, then the agent's first word on it.
async fn open(actor: &RemoteActor, ask: Ask, changes: Option<Arc<Notify>>) -> Result<(Conn, Said), AgentError> {
    let address = actor.agent.address.clone();
    let broken = |detail: String| AgentError::Broken { address: address.clone(), detail };
    let tls = connect(&actor.agent).await?;
    let (read, mut write) = tokio::io::split(tls);
    write_json(&mut write, &Request { code: OnTheWire(actor.code.clone()), ask }).await.map_err(&broken)?;
    let (tx, said) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_said(BufReader::new(read), tx, changes));
    let mut conn = Conn { write, said, _reader: ReaderTask(reader) };
    let first = conn.hear().await.map_err(&broken)?;
    if let Said::Failed { .. } | Said::Opened { .. } = first {
        return Ok((conn, first));
    }
    Err(broken("an unexpected answer to opening a session".into()))
}

/// Reads what the agent says until it closes: pushed changes wake `changes`, the rest goes to the session. A
/// refusal (wrong code, not an allowed host) arrives as the agent's one-line answer and is passed on as a failure.
async fn read_said(
    mut reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    tx: mpsc::UnboundedSender<Said>,
    changes: Option<Arc<Notify>>,
) {
    while let Ok(Some(line)) = next_line(&mut reader).await {
        let said = match serde_json::from_str::<Said>(&line) {
            Ok(Said::Changed) => {
                if let Some(c) = &changes {
                    c.notify_one();
                }
                continue;
            }
            Ok(said) => said,
            Err(_) => match serde_json::from_str::<Answer>(&line) {
                Ok(Answer::Refused { reason }) => Said::Failed { error: reason, refusal: None, transcript: Vec::new() },
                _ => return,
            },
        };
        if tx.send(said).is_err() {
            return;
        }
    }
}

impl RemoteMailbox {
    fn through(&self, what: &str) -> String {
        format!("{what} through actor {} (agent at {})", self.actor.name, self.actor.agent.address)
    }
}

impl Mailbox for RemoteMailbox {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        Box::pin(async move {
            let refused = |text: String| (Refusal { stage: Stage::Connect, code: None, text }, Vec::new());
            match open(&self.actor, Ask::Submit(self.outgoing.clone()), None).await {
                Ok((conn, Said::Opened { server, .. })) => {
                    let note = format!("Mailproof: {}", self.through(&format!("submitted to {server}")));
                    Ok(Box::new(RemoteSubmit { conn: Some(conn), server, note, usable: true }) as Box<dyn Submit>)
                }
                Ok((_, Said::Failed { error, refusal, transcript })) => {
                    Err((refusal.unwrap_or(Refusal { stage: Stage::Connect, code: None, text: error }), transcript))
                }
                Ok(_) => Err(refused(self.through("an unexpected answer"))),
                Err(e) => Err(refused(e.to_string())),
            }
        })
    }

    fn watch(&self, mark: Mark, idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move {
            let today = time::OffsetDateTime::now_utc().date();
            let since = match mark {
                Mark::Now => None,
                Mark::Since(day) => Some(day),
            };
            let mut watch = RemoteWatch {
                actor: self.actor.clone(),
                access: self.incoming.clone(),
                idle,
                reopen_from: since.unwrap_or(today),
                conn: None,
                changes: Arc::new(Notify::new()),
                pushes: false,
                pace: Duration::ZERO,
                backlog: false,
                passed_on: HashSet::new(),
                away_since: None,
            };
            watch.open(since).await?;
            Ok(Box::new(watch) as Box<dyn Watch>)
        })
    }

    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        // Verification reaches a remote actor through the agent's own search request (`agent::find_mail`).
        Box::pin(async move { Err(self.through("searching is verification's request, not a session,")) })
    }
}

struct RemoteWatch {
    actor: RemoteActor,
    access: MailboxAccess,
    idle: bool,
    /// A broken session is opened again from this day.
    reopen_from: time::Date,
    conn: Option<Conn>,
    changes: Arc<Notify>,
    pushes: bool,
    pace: Duration,
    backlog: bool,
    /// What this watch passed on, by digest: after a reopening the agent reads from `reopen_from` again.
    passed_on: HashSet<[u8; 32]>,
    /// Since when the session could not be opened again (the agent away).
    away_since: Option<std::time::Instant>,
}

fn digest(raw: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, raw);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl RemoteWatch {
    async fn open(&mut self, since: Option<time::Date>) -> Result<(), String> {
        let ask = Ask::Watch(WatchMailbox {
            mailbox: self.access.clone(),
            since: since.map(|d| d.to_string()),
            idle: self.idle,
        });
        match open(&self.actor, ask, Some(self.changes.clone())).await.map_err(|e| e.to_string())? {
            (conn, Said::Opened { pace_millis, pushes, .. }) => {
                self.conn = Some(conn);
                self.pace = Duration::from_millis(pace_millis);
                self.pushes = pushes;
                Ok(())
            }
            (_, Said::Failed { error, .. }) => Err(format!("actor {} cannot read it: {error}", self.actor.name)),
            _ => Err("an unexpected answer to opening a watch".into()),
        }
    }

    async fn look_once(&mut self) -> Result<Vec<Arrived>, String> {
        let conn = self.conn.as_mut().ok_or("not open")?;
        match conn.step(&Step::Look).await? {
            Said::Looked { result, backlog } => {
                self.backlog = backlog;
                result?.into_iter().map(from_wire).collect()
            }
            _ => Err("an unexpected answer to a look".into()),
        }
    }
}

impl Watch for RemoteWatch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move {
            let found = match self.look_once().await {
                Ok(found) => found,
                Err(first) => {
                    // The session broke: open it again from the day it began, and look once more; while the
                    // agent is away, the next looks try again, for up to AGENT_GRACE.
                    self.conn = None;
                    let from = Some(self.reopen_from);
                    if let Err(e) = self.open(from).await {
                        let away = *self.away_since.get_or_insert_with(std::time::Instant::now);
                        if away.elapsed() < AGENT_GRACE {
                            return Ok(Vec::new());
                        }
                        return Err(format!(
                            "the watch through actor {} (agent at {}) broke off ({first}) and could not be opened again within {} s: {e}",
                            self.actor.name,
                            self.actor.agent.address,
                            AGENT_GRACE.as_secs()
                        ));
                    }
                    self.away_since = None;
                    self.look_once().await?
                }
            };
            let mut out = Vec::new();
            for a in found {
                if self.passed_on.insert(digest(&a.raw)) && wanted(crate::mailbox::header_block(&a.raw)) {
                    out.push(a);
                }
            }
            Ok(out)
        })
    }

    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let found = found.iter().map(|a| to_wire(&Arrived { raw: Vec::new(), ..a.clone() })).collect();
            let conn = self.conn.as_mut().ok_or("the watch is not open")?;
            match conn.step(&Step::Delete { found }).await? {
                Said::Deleted { result } => result,
                _ => Err("an unexpected answer to a delete".into()),
            }
        })
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        self.pushes.then(|| self.changes.clone())
    }

    fn pace(&self) -> Duration {
        self.pace
    }

    fn backlog(&self) -> bool {
        self.backlog
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn {
                let _ = write_json(&mut conn.write, &Step::Close).await;
            }
        })
    }
}

struct RemoteSubmit {
    conn: Option<Conn>,
    server: String,
    /// The line every transcript starts with: which actor sent it.
    note: String,
    usable: bool,
}

impl Submit for RemoteSubmit {
    fn send<'a>(&'a mut self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            use base64::Engine;
            let step = Step::Send {
                from: from.to_owned(),
                to: to.to_vec(),
                raw: base64::engine::general_purpose::STANDARD.encode(raw),
            };
            let heard = match self.conn.as_mut() {
                Some(conn) => conn.step(&step).await,
                None => Err("the session is closed".into()),
            };
            match heard {
                Ok(Said::Sent { result, mut transcript, usable }) => {
                    self.usable = usable;
                    transcript.insert(0, self.note.clone());
                    Sent { result, transcript }
                }
                other => {
                    // Whether the server took the message is unknown: the engine treats it as not sent.
                    self.usable = false;
                    self.conn = None;
                    let why = match other {
                        Err(e) => e,
                        Ok(_) => "an unexpected answer to a message".into(),
                    };
                    let text = format!("{}: {why}", self.note.trim_start_matches("Mailproof: "));
                    Sent {
                        result: Err(Refusal { stage: Stage::Data, code: None, text }),
                        transcript: vec![self.note.clone()],
                    }
                }
            }
        })
    }

    fn usable(&self) -> bool {
        self.usable && self.conn.is_some()
    }

    fn server(&self) -> String {
        self.server.clone()
    }

    fn quit(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn {
                let _ = write_json(&mut conn.write, &Step::Close).await;
            }
        })
    }
}
