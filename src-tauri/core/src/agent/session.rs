//! The agent's sessions: a watch on a mailbox, or submission through its outgoing server, as the actor's machine,
//! held open for as long as the workstation's job needs and driven one step at a time. While a step works the
//! agent says it is alive every few seconds, so the workstation tells a slow server from a dead agent; a change
//! the server pushes (IMAP IDLE) is passed on at once. A session the workstation leaves without a word for
//! [`IDLE_LIMIT`] is closed.

use std::path::PathBuf;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use super::wire::{from_wire, next_line, to_wire, write_json, OutgoingAccess, Said, Step, WatchMailbox};
use crate::mailbox::{self, Mark};

/// How often a working step says it is alive.
pub const BEAT: Duration = Duration::from_secs(5);
/// A session without a step for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// What a session starts with.
pub(super) enum Opening {
    Watch(WatchMailbox),
    Submit(OutgoingAccess),
}

/// Runs one session on a paired connection until the workstation closes it, goes quiet or goes away.
pub(super) async fn run<R, W>(
    opening: Opening,
    mut reader: BufReader<R>,
    write: W,
    extra_ca: &Option<PathBuf>,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<(), String>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Said>();
    let writer = tokio::spawn(async move {
        let mut write = write;
        // A workstation that stops taking what it is told is gone: the session ends.
        while let Some(said) = rx.recv().await {
            match tokio::time::timeout(IDLE_LIMIT.min(Duration::from_secs(60)), write_json(&mut write, &said)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let _ = write.shutdown().await;
    });
    let outcome = match opening {
        Opening::Watch(w) => watch(w, &mut reader, &tx, extra_ca, log).await,
        Opening::Submit(s) => submit(s, &mut reader, &tx, extra_ca, log).await,
    };
    drop(tx);
    let _ = tokio::time::timeout(mailbox::CLOSE_LIMIT, writer).await;
    outcome
}

/// The next step, or `None` when the workstation closed, went quiet for [`IDLE_LIMIT`] or sent something else.
async fn next_step<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Option<Step>, String> {
    match tokio::time::timeout(IDLE_LIMIT, next_line(reader)).await {
        Err(_) => Err(format!("no step for {} min: closed", IDLE_LIMIT.as_secs() / 60)),
        Ok(Err(e)) => Err(e),
        Ok(Ok(None)) => Ok(None),
        Ok(Ok(Some(line))) => {
            serde_json::from_str(&line).map(Some).map_err(|_| "a step this agent does not understand".into())
        }
    }
}

/// Runs `work`, saying [`Said::Beat`] every [`BEAT`] until it is done.
async fn with_beats<T>(tx: &UnboundedSender<Said>, work: impl std::future::Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work.fuse());
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(BEAT) => { let _ = tx.send(Said::Beat); }
        }
    }
}

async fn watch<R: AsyncRead + Unpin>(
    w: WatchMailbox,
    reader: &mut BufReader<R>,
    tx: &UnboundedSender<Said>,
    extra_ca: &Option<PathBuf>,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<(), String> {
    let at = format!("{}@{}:{}", w.mailbox.username, w.mailbox.host, w.mailbox.port);
    let mark = match w.since.as_deref().map(parse_day) {
        None => Mark::Now,
        Some(Ok(day)) => Mark::Since(day),
        Some(Err(e)) => return fail(tx, e),
    };
    let mailbox = mailbox::open(w.mailbox.reach(extra_ca));
    let mut watch = match with_beats(tx, mailbox.watch(mark, w.idle)).await {
        Ok(watch) => watch,
        Err(e) => {
            log(format!("cannot watch {at}: {e}"));
            return fail(tx, e);
        }
    };
    log(format!("watching {at}"));
    let pushes = watch.changes();
    let _ = tx.send(Said::Opened {
        server: format!("{}:{}", w.mailbox.host, w.mailbox.port),
        pace_millis: watch.pace().as_millis() as u64,
        pushes: pushes.is_some(),
    });
    let pusher = pushes.map(|changes| {
        let tx = tx.clone();
        Aborted(tokio::spawn(async move {
            loop {
                changes.notified().await;
                if tx.send(Said::Changed).is_err() {
                    return;
                }
            }
        }))
    });
    let mut outcome = Ok(());
    loop {
        match next_step(reader).await {
            Ok(Some(Step::Look)) => {
                let result = with_beats(tx, watch.look(&mut |_| true)).await;
                let result = result.map(|found| found.iter().map(to_wire).collect());
                let _ = tx.send(Said::Looked { result, backlog: watch.backlog() });
            }
            Ok(Some(Step::Delete { found })) => {
                let found: Result<Vec<_>, String> = found.into_iter().map(from_wire).collect();
                let result = match found {
                    Ok(found) => with_beats(tx, watch.delete(&found)).await,
                    Err(e) => Err(e),
                };
                let _ = tx.send(Said::Deleted { result });
            }
            Ok(Some(Step::Close) | None) => break,
            Ok(Some(Step::Send { .. })) => {
                outcome = Err("this is a watch session: nothing is sent here".into());
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    drop(pusher);
    let _ = tokio::time::timeout(mailbox::CLOSE_LIMIT, watch.close()).await;
    log(format!("stopped watching {at}"));
    outcome
}

async fn submit<R: AsyncRead + Unpin>(
    s: OutgoingAccess,
    reader: &mut BufReader<R>,
    tx: &UnboundedSender<Said>,
    extra_ca: &Option<PathBuf>,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<(), String> {
    let config = s.config(extra_ca);
    let mut session = match with_beats(tx, mailbox::open_submission(Some(&config))).await {
        Ok(session) => session,
        Err((refusal, transcript)) => {
            log(format!("cannot submit through {}:{}: {}", s.host, s.port, refusal.text));
            let _ = tx.send(Said::Failed { error: refusal.text.clone(), refusal: Some(refusal), transcript });
            return Ok(());
        }
    };
    log(format!("submitting through {}", session.server()));
    let _ = tx.send(Said::Opened { server: session.server(), pace_millis: 0, pushes: false });
    let mut outcome = Ok(());
    loop {
        match next_step(reader).await {
            Ok(Some(Step::Send { from, to, raw })) => {
                use base64::Engine;
                let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(raw.as_bytes()) else {
                    outcome = Err("a message that is not base64".into());
                    break;
                };
                let sent = with_beats(tx, session.send(&from, &to, &raw)).await;
                match &sent.result {
                    Ok(a) => log(format!("submitted a message for {} ({} {})", to.join(", "), a.code, a.text)),
                    Err(r) => log(format!("a message for {} was refused: {}", to.join(", "), r.text)),
                }
                let _ =
                    tx.send(Said::Sent { result: sent.result, transcript: sent.transcript, usable: session.usable() });
            }
            Ok(Some(Step::Close) | None) => break,
            Ok(Some(_)) => {
                outcome = Err("this is a submission session: only messages are sent here".into());
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let _ = tokio::time::timeout(mailbox::CLOSE_LIMIT, session.quit()).await;
    outcome
}

fn fail(tx: &UnboundedSender<Said>, error: String) -> Result<(), String> {
    let _ = tx.send(Said::Failed { error, refusal: None, transcript: Vec::new() });
    Ok(())
}

fn parse_day(text: &str) -> Result<time::Date, String> {
    let bad = || format!("{text} is not a day (YYYY-MM-DD)");
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<u16>().map_err(|_| bad()));
    let (y, m, d) = (parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??);
    let month = time::Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    time::Date::from_calendar_date(i32::from(y), month, u8::try_from(d).map_err(|_| bad())?).map_err(|_| bad())
}

/// A task stopped when its handle is dropped.
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}
