//! The look loop over every mailbox of the job: each on its own schedule, with pacing, cancellation and deadlines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::arrival::{is_notice, judge_arrival, looks_like_bounce, on_bounce, on_copy, on_notice};
use super::board::{lock, tokens_in, Board, Pending};
use super::engine::{setup, stopped, JobCtx, Watched};
use crate::jobs::verdict;
use crate::mailbox::{wait_for_change, Arrived, CLOSE_LIMIT};
use crate::store::StoreError;
use crate::tracking::{EventKind, TrackStatus};

/// The shortest pause between looks, right after sending or finding mail.
const FAST_LOOK: Duration = Duration::from_millis(5);

/// For this long after an action was accepted, its mail is expected any moment: looks stay fast.
const EXPECT_SOON: Duration = Duration::from_secs(2);

/// How long alerts mailboxes are still watched after the last action was decided, at most (the job's time-out
/// if shorter): a gateway's notice about a delivered message comes after the message.
pub const NOTICE_WAIT: Duration = Duration::from_secs(30);

/// How often the loop wakes, at the longest, to end waits that ran out and to notice a cancel, whatever the
/// mailboxes are doing.
const TICK: Duration = Duration::from_millis(250);

/// Watches until every action is decided (or the job is cancelled), then closes the mailboxes.
pub(super) async fn watch_all(
    job: Arc<JobCtx>,
    board: Arc<Mutex<Board>>,
    mailboxes: Vec<Watched>,
) -> Result<(), StoreError> {
    let mut slots: Vec<Option<Slot>> = mailboxes.into_iter().map(|m| Some(Slot::new(m, job.clock.instant()))).collect();
    let result = watch_loop(&job, &board, &mut slots).await;
    // A mailbox still in the middle of a look is dropped with it; the others are logged out, briefly.
    let closing = slots.into_iter().flatten().map(|s| tokio::time::timeout(CLOSE_LIMIT, s.m.watch.close()));
    futures::future::join_all(closing).await;
    result
}

/// A mailbox between looks.
struct Slot {
    m: Watched,
    /// When it is looked at next, unless the server announces a change first.
    ready_at: Instant,
    /// Its pace: no look begins before this (a service with a request budget, such as Graph, sets one).
    paced_until: Instant,
    /// How long it waits between looks: short while mail flows or is expected, doubling to the poll interval.
    interval: Duration,
    /// How many actions the job had registered when its last look began: more since means mail is expected.
    registered: u64,
}

impl Slot {
    fn new(m: Watched, now: Instant) -> Self {
        Slot { m, ready_at: now, paced_until: now, interval: FAST_LOOK, registered: 0 }
    }

    fn due(&self) -> Instant {
        self.ready_at.max(self.paced_until)
    }
}

/// A look that ended: the slot it belongs to, the mailbox back, and what it found.
type Looked = (usize, Slot, Result<Vec<Arrived>, String>);

/// Every mailbox is looked at on its own schedule and its news judged as soon as its look ends, so a slow or
/// stalled mailbox holds up neither the others' verdicts, nor the end of waits that ran out, nor a cancel.
async fn watch_loop(job: &JobCtx, board: &Mutex<Board>, slots: &mut [Option<Slot>]) -> Result<(), StoreError> {
    let poll = Duration::from_millis(job.spec.timing.poll_millis.max(20).into());
    let changes: Vec<_> = slots.iter().flatten().filter_map(|s| s.m.watch.changes()).collect();
    let mut looks: FuturesUnordered<BoxFuture<'static, Looked>> = FuturesUnordered::new();
    let alerts = slots.iter().flatten().any(|s| s.m.notices);
    let notice_wait = NOTICE_WAIT.min(Duration::from_secs(job.spec.timing.timeout_secs.into()));
    let mut all_decided_at = None;
    loop {
        if lock(board).done() {
            // Notices about the last messages may still be on their way to an alerts mailbox.
            let now = job.clock.instant();
            let since = *all_decided_at.get_or_insert(now);
            if !alerts || job.cancel.is_cancelled() || now >= since + notice_wait {
                return Ok(());
            }
        }
        if job.cancel.is_cancelled() {
            let pending = lock(board).take_where(|_| true);
            let d = stopped("Cancelled while waiting for this message.");
            for mut p in pending {
                p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)?;
            }
            // The senders stop at their next action and mark the rest.
            if lock(board).senders == 0 {
                return Ok(());
            }
            tokio::time::sleep(TICK.min(poll)).await;
            continue;
        }
        start_looks(job, board, slots, &mut looks);
        // Sleep until a look ends, the server announces a change, the next look is due, or the tick.
        let now = job.clock.instant();
        let next = slots.iter().flatten().map(Slot::due).min().map_or(TICK, |at| at.saturating_duration_since(now));
        let nap = next.min(TICK);
        tokio::select! {
            Some((i, mut slot, found)) = looks.next(), if !looks.is_empty() => {
                let found_any = judge_look(board, job, &slot.m, found)?;
                let now = job.clock.instant();
                let expecting = lock(board).expecting(slot.registered, now, EXPECT_SOON);
                let busy = found_any || expecting || slot.m.watch.backlog();
                slot.interval = if busy { FAST_LOOK } else { (slot.interval * 2).min(poll) };
                slot.ready_at = now + slot.interval;
                slots[i] = Some(slot);
            }
            changed = wait_for_change(nap, &changes) => if changed {
                let now = job.clock.instant();
                for s in slots.iter_mut().flatten() {
                    s.ready_at = s.ready_at.min(now);
                }
            }
        }
        end_due_waits(job, board)?;
    }
}

/// Starts a look at every mailbox that is due and can hold something awaited; one that cannot is asked again
/// shortly.
fn start_looks(
    job: &JobCtx,
    board: &Mutex<Board>,
    slots: &mut [Option<Slot>],
    looks: &mut FuturesUnordered<BoxFuture<'static, Looked>>,
) {
    let now = job.clock.instant();
    if !slots.iter().flatten().any(|s| s.due() <= now) {
        return;
    }
    // What is awaited, read once for all the looks that start now.
    let (open, registered, any_sent) = {
        let b = lock(board);
        (Arc::new(b.open.clone()), b.registered, !b.sent.is_empty())
    };
    for (i, entry) in slots.iter_mut().enumerate() {
        let Some(slot) = entry.as_mut().filter(|s| s.due() <= now) else { continue };
        let copies = slot.m.copies && open.values().any(|dest| *dest == slot.m.profile_id);
        let bounces = slot.m.bounces && !open.is_empty();
        let notices = slot.m.notices && (any_sent || !open.is_empty());
        if !copies && !bounces && !notices {
            slot.ready_at = now + FAST_LOOK;
            continue;
        }
        let mut slot = entry.take().expect("checked above");
        slot.paced_until = now + slot.m.watch.pace();
        slot.registered = registered;
        let open = open.clone();
        looks.push(Box::pin(async move {
            // A notice may name the message in its text only: every new message of an alerts mailbox is read.
            let mut wanted = move |header: &[u8]| {
                notices
                    || (copies && tokens_in(&String::from_utf8_lossy(header)).iter().any(|t| open.contains_key(*t)))
                    || (bounces && looks_like_bounce(header))
            };
            let found = slot.m.watch.look(&mut wanted).await;
            (i, slot, found)
        }));
    }
}

/// Judges what one look found, or ends the waits that depended on a mailbox that failed. Says whether it found
/// anything.
fn judge_look(
    board: &Mutex<Board>,
    job: &JobCtx,
    m: &Watched,
    found: Result<Vec<Arrived>, String>,
) -> Result<bool, StoreError> {
    match found {
        Ok(found) => {
            let any = !found.is_empty();
            for a in found {
                if m.notices && is_notice(&a.raw, m.bounces) {
                    on_notice(job, board, &m.email, a)?;
                } else if m.copies {
                    on_copy(job, board, a)?;
                } else if m.bounces {
                    on_bounce(job, board, a)?;
                }
            }
            Ok(any)
        }
        Err(e) if !m.copies && !m.bounces => {
            job.alerts_unwatched(&m.email, &e);
            Ok(false)
        }
        Err(e) if m.bounces => {
            fail_pending(board, |_| true, &format!("Lost the source mailbox while watching for bounces: {e}"))?;
            Ok(false)
        }
        Err(e) => {
            fail_pending(
                board,
                |p| p.group.dest.id == m.profile_id,
                &format!("Lost the destination mailbox while watching: {e}"),
            )?;
            Ok(false)
        }
    }
}

/// Judges early arrivals that are now due, and ends the waits that ran out.
fn end_due_waits(job: &JobCtx, board: &Mutex<Board>) -> Result<(), StoreError> {
    let now = job.clock.instant();
    let (due, expired) = lock(board).take_due(now);
    for mut p in due {
        let a = p.wait.early.take().expect("taken as due for its early arrival");
        judge_arrival(job, p, a)?;
    }
    for mut p in expired {
        let d = verdict::not_delivered(job.spec.timing.timeout_secs);
        job.store.track_event(
            p.tracked,
            job.clock.now_millis(),
            EventKind::NotReceived,
            Some(TrackStatus::NotReceived),
            &d.reason,
            None,
        )?;
        p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)?;
    }
    Ok(())
}

/// Ends the waits `which` picks as Errored: the mailbox their decision depends on is gone.
fn fail_pending(board: &Mutex<Board>, which: impl Fn(&Pending) -> bool, reason: &str) -> Result<(), StoreError> {
    let pending = lock(board).take_where(which);
    for mut p in pending {
        p.group.decide(&p.row_id, p.def, &setup(reason.to_owned()), &mut p.evidence, None, None)?;
    }
    Ok(())
}
