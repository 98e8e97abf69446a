//! The look loop over every mailbox of the job: pacing, cancellation, deadlines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use super::arrival::{judge_arrival, looks_like_bounce, on_bounce, on_copy};
use super::board::{lock, tokens_in, Board, Pending};
use super::engine::{setup, stopped, JobCtx, Watched};
use crate::jobs::verdict;
use crate::mailbox::wait_for_change;
use crate::store::StoreError;
use crate::tracking::{EventKind, TrackStatus};

/// The shortest pause between looks, right after sending or finding mail.
const FAST_LOOK: Duration = Duration::from_millis(5);

/// For this long after an action was accepted, its mail is expected any moment: looks stay fast.
const EXPECT_SOON: Duration = Duration::from_secs(2);

/// Watches until every action is decided (or the job is cancelled), then closes the mailboxes.
pub(super) async fn watch_all(
    job: Arc<JobCtx>,
    board: Arc<Mutex<Board>>,
    mut mailboxes: Vec<Watched>,
) -> Result<(), StoreError> {
    let result = watch_loop(&job, &board, &mut mailboxes).await;
    for m in mailboxes {
        m.watch.close().await;
    }
    result
}

async fn watch_loop(job: &JobCtx, board: &Mutex<Board>, mailboxes: &mut [Watched]) -> Result<(), StoreError> {
    let poll = Duration::from_millis(job.spec.timing.poll_millis.max(20).into());
    let changes: Vec<_> = mailboxes.iter().filter_map(|m| m.watch.changes()).collect();
    let mut interval = FAST_LOOK;
    // When each mailbox may be looked at next: a service with a request budget (Graph) sets a pace.
    let mut next_look: Vec<Option<std::time::Instant>> = vec![None; mailboxes.len()];
    loop {
        if lock(board).done() {
            return Ok(());
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
            tokio::time::sleep(poll).await;
            continue;
        }
        let (open, registered) = {
            let s = lock(board);
            (s.open.clone(), s.registered)
        };
        // Every mailbox that can hold something awaited is looked at, all at once: a look takes as long as the
        // slowest mailbox's, however many the job has.
        let now = job.clock.instant();
        let looks = mailboxes.iter_mut().zip(next_look.iter_mut()).filter_map(|(m, next)| {
            if next.is_some_and(|at| now < at) {
                return None;
            }
            let copies = m.copies && open.values().any(|dest| *dest == m.profile_id);
            let bounces = m.bounces && !open.is_empty();
            let open = &open;
            let mut wanted = move |header: &[u8]| {
                (copies && tokens_in(&String::from_utf8_lossy(header)).iter().any(|t| open.contains_key(*t)))
                    || (bounces && looks_like_bounce(header))
            };
            if copies || bounces {
                *next = Some(now + m.watch.pace());
            }
            (copies || bounces).then_some(async move {
                let found = m.watch.look(&mut wanted).await;
                (&*m, found)
            })
        });
        let mut found_any = false;
        // Each mailbox's news is judged as soon as its look ends.
        let mut looks: futures::stream::FuturesUnordered<_> = looks.collect();
        while let Some((m, found)) = looks.next().await {
            match found {
                Ok(found) => {
                    found_any |= !found.is_empty();
                    for a in found {
                        if m.copies {
                            on_copy(job, board, a)?;
                        } else {
                            on_bounce(job, board, a)?;
                        }
                    }
                }
                Err(e) if m.bounces => {
                    fail_pending(board, |_| true, &format!("Lost the source mailbox while watching for bounces: {e}"))?
                }
                Err(e) => fail_pending(
                    board,
                    |p| p.group.dest.id == m.profile_id,
                    &format!("Lost the destination mailbox while watching: {e}"),
                )?,
            }
        }
        // Judge early arrivals that are now due, and end the waits that ran out.
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
        // Look again soon while mail is flowing or expected (an action accepted moments ago); back off to the
        // configured interval when it is quiet.
        let expecting = lock(board).expecting(registered, now, EXPECT_SOON);
        interval = if found_any || expecting { FAST_LOOK } else { (interval * 2).min(poll) };
        wait_for_change(interval.min(poll), &changes).await;
    }
}

/// Ends the waits `which` picks as Errored: the mailbox their decision depends on is gone.
fn fail_pending(board: &Mutex<Board>, which: impl Fn(&Pending) -> bool, reason: &str) -> Result<(), StoreError> {
    let pending = lock(board).take_where(which);
    for mut p in pending {
        p.group.decide(&p.row_id, p.def, &setup(reason.to_owned()), &mut p.evidence, None, None)?;
    }
    Ok(())
}
