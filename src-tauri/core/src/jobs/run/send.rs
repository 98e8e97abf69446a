//! Sending a group's actions: one submission session per group, retries with back-off, accepted → the board.

use std::sync::Mutex;
use std::time::Duration;

use super::arrival::{on_bounce, on_copy};
use super::board::{lock, Board, Pending, Wait};
use super::engine::{setup, stopped, GroupCtx};
use crate::actions::compose::compose;
use crate::jobs::verdict;
use crate::jobs::{ActionState, Evidence};
use crate::mailbox::{backoff, Mailbox, Submit};
use crate::store::jobs::NewTracked;
use crate::store::StoreError;
use crate::tracking::{EventKind, TrackStatus};

/// Tries per message when the server defers it (4xx).
const SEND_ATTEMPTS: u32 = 3;

const CANCELLED_RETRYING: &str = "Cancelled while waiting to try this action again: the server had deferred it.";

/// How sending one action ended.
enum Stop {
    /// The server's last word: accepted, or refused.
    Done(Result<crate::mailbox::Accepted, crate::mailbox::Refusal>),
    /// The run was cancelled first; why, in words.
    Cancelled(&'static str),
}

/// Waits `d` before another try; true when the run was cancelled meanwhile.
async fn pause(job: &super::engine::JobCtx, d: Duration) -> bool {
    job.cancel.unless(tokio::time::sleep(d)).await.is_none()
}

/// Sends a group's actions over one submission session, one after another, and hands each accepted one to the
/// watcher.
pub(super) async fn send_all(ctx: &GroupCtx, outbox: &dyn Mailbox, board: &Mutex<Board>) -> Result<(), StoreError> {
    let result = send_each(ctx, outbox, board).await;
    lock(board).senders -= 1;
    result
}

async fn send_each(ctx: &GroupCtx, outbox: &dyn Mailbox, board: &Mutex<Board>) -> Result<(), StoreError> {
    let job = &ctx.job;
    let timing = &job.spec.timing;
    let actions = ctx.actions.as_slice();
    let mut session: Option<Box<dyn Submit>> = None;
    for (i, (row_id, def, token)) in actions.iter().enumerate() {
        if job.cancel.is_cancelled() {
            let d = stopped("Cancelled before this action was sent.");
            for (row_id, def, token) in &actions[i..] {
                lock(board).close(token);
                ctx.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
            }
            break;
        }
        let composed = match compose(def, &ctx.build_context(), token) {
            Ok(c) => c,
            Err(e) => {
                let d = setup(format!("Cannot build the message: {e}"));
                lock(board).close(token);
                ctx.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
                continue;
            }
        };
        let mut evidence = Evidence {
            envelope_from: composed.envelope_from.clone(),
            from_header: composed.from_header.clone(),
            to: composed.to.clone(),
            subject: composed.subject.clone(),
            message_id: composed.message_id.clone(),
            token: composed.token.clone(),
            sent_parts: composed.parts.clone(),
            body_payload: composed.body_payload.clone(),
            ..Evidence::default()
        };
        job.store.action_sending(row_id, &composed.message_id, &job.clock.now_text())?;
        let tracked = job.store.track_message(&NewTracked {
            message_id: &composed.message_id,
            envelope_sender: &composed.envelope_from,
            from_header: &composed.from_header,
            recipients: &composed.to,
            to_header: &composed.to,
            subject: &composed.subject,
            risk: Some(def.risk.as_str()),
            at_millis: job.clock.now_millis(),
            job_action_id: Some(row_id),
            verification_of: None,
            actor: job.remotes.source.as_ref().map(|a| a.name.as_str()),
        })?;
        ctx.event(row_id, def, ActionState::Sending, None, None);

        let mut outcome = None;
        for attempt in 1..=SEND_ATTEMPTS {
            evidence.attempts = attempt;
            if !session.as_ref().is_some_and(|s| s.usable()) {
                let Some(opened) = job.cancel.unless(outbox.submit()).await else {
                    outcome = Some(Stop::Cancelled("Cancelled before this action was sent."));
                    break;
                };
                match opened {
                    Ok(s) => session = Some(s),
                    Err((refusal, transcript)) => {
                        evidence.transcript.extend(transcript);
                        if refusal.transient() && attempt < SEND_ATTEMPTS {
                            if pause(job, backoff(attempt - 1)).await {
                                outcome = Some(Stop::Cancelled(CANCELLED_RETRYING));
                                break;
                            }
                            continue;
                        }
                        outcome = Some(Stop::Done(Err(refusal)));
                        break;
                    }
                }
            }
            let s = session.as_mut().expect("opened above");
            let sending = s.send(&composed.envelope_from, std::slice::from_ref(&composed.to), &composed.raw);
            let Some(sent) = job.cancel.unless(sending).await else {
                // The session is mid-conversation: it is dropped, not ended politely.
                session = None;
                outcome = Some(Stop::Cancelled(
                    "Cancelled while this action was being sent: the server may have taken it, so a copy may still arrive.",
                ));
                break;
            };
            evidence.transcript.extend(sent.transcript);
            match sent.result {
                Err(r) if (r.transient() || (r.code.is_none() && !s.usable())) && attempt < SEND_ATTEMPTS => {
                    if pause(job, backoff(attempt - 1)).await {
                        outcome = Some(Stop::Cancelled(CANCELLED_RETRYING));
                        break;
                    }
                }
                other => {
                    outcome = Some(Stop::Done(other));
                    break;
                }
            }
        }
        // What became of it: accepted, or the decision of an action that never got through.
        let outcome = match outcome.expect("the loop always ends with an outcome") {
            Stop::Done(Ok(accepted)) => Ok(accepted),
            Stop::Done(Err(refusal)) if refusal.transient() => Err(setup(format!(
                "The server deferred the message {SEND_ATTEMPTS} times ({}): try again later.",
                refusal.text
            ))),
            Stop::Done(Err(refusal)) => Err(verdict::refused(&refusal)),
            Stop::Cancelled(why) => Err(stopped(why)),
        };
        match outcome {
            Ok(accepted) => {
                evidence.smtp_reply = Some(format!("{} {}", accepted.code, accepted.text));
                evidence.queue_id = accepted.queue_id.clone();
                // Exchange writes it with its angle brackets; Mailproof keeps Message-IDs bare.
                let replaced = accepted
                    .message_id
                    .map(|kept| kept.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
                    .filter(|kept| *kept != composed.message_id);
                if let Some(kept) = &replaced {
                    job.store.track_message_id(tracked, kept)?;
                    job.store.track_event(
                        tracked,
                        job.clock.now_millis(),
                        EventKind::Sent,
                        None,
                        &format!("The mail service replaced the Message-ID {} with {kept}", composed.message_id),
                        None,
                    )?;
                }
                evidence.sent_message_id = replaced;
                job.store.action_watching(row_id, &job.clock.now_text(), &evidence)?;
                let qid = accepted.queue_id.as_deref().map(|q| format!(", queue id {q}")).unwrap_or_default();
                job.store.track_event(
                    tracked,
                    job.clock.now_millis(),
                    EventKind::Sent,
                    None,
                    &format!("Accepted by {}{qid}", session.as_ref().map(|s| s.server()).unwrap_or_default()),
                    None,
                )?;
                let sleep = Duration::from_secs(job.spec.params.extra_sleep_secs.into());
                let now = job.clock.instant();
                let wait = Wait {
                    due: now + sleep,
                    deadline: now + sleep + Duration::from_secs(timing.timeout_secs.into()),
                    early: None,
                };
                let pending = Pending { group: ctx.clone(), row_id: row_id.clone(), def, evidence, tracked, wait };
                let unclaimed = lock(board).register(composed.token.clone(), pending);
                ctx.event(row_id, def, ActionState::Watching, None, None);
                for (a, bounce) in unclaimed {
                    if bounce {
                        on_bounce(job, board, a)?;
                    } else {
                        on_copy(job, board, a)?;
                    }
                }
            }
            Err(d) => {
                job.store.track_event(
                    tracked,
                    job.clock.now_millis(),
                    EventKind::Unsuccessful,
                    Some(TrackStatus::Unsuccessful),
                    &d.reason,
                    None,
                )?;
                lock(board).close(token);
                ctx.decide(row_id, def, &d, &mut evidence, None, None)?;
            }
        }
        if timing.pause_millis > 0 && i + 1 < actions.len() {
            // A cancel meanwhile is handled at the next action.
            pause(job, Duration::from_millis(timing.pause_millis.into())).await;
        }
    }
    if let Some(s) = session {
        let _ = tokio::time::timeout(crate::mailbox::CLOSE_LIMIT, s.quit()).await;
    }
    Ok(())
}
