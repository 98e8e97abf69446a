//! What came back — a copy or a bounce — turned into a decision, evidence and tracking events.

use std::sync::Mutex;

use mailproof_mail::message::analyse;
use time::OffsetDateTime;

use super::board::{lock, tokens_in, Board, Claim, Pending};
use super::engine::JobCtx;
use crate::ids::TOKEN_LEN;
use crate::jobs::verdict::{self, SentShape};
use crate::jobs::{Cause, ReceivedCopy};
use crate::mailbox::{Arrived, MAX_FETCH};
use crate::store::jobs::NewTracked;
use crate::store::{utc_text, StoreError};
use crate::tracking::{EventKind, TrackStatus};

/// The received copy kept per action, at most.
pub const RAW_CAP: usize = 1 << 20;

/// Does a message header look like a bounce report?
pub(super) fn looks_like_bounce(header: &[u8]) -> bool {
    let h = String::from_utf8_lossy(header).to_ascii_lowercase();
    h.contains("multipart/report")
        || h.contains("mailer-daemon")
        || h.contains("postmaster@")
        || ["undeliver", "delivery status", "failure notice", "returned mail", "delivery failed", "delivery has failed"]
            .iter()
            .any(|s| h.contains(s))
}

/// A copy of one of our messages arrived (or a bounce that reached the destination, when sending to oneself).
pub(super) fn on_copy(job: &JobCtx, board: &Mutex<Board>, a: Arrived) -> Result<(), StoreError> {
    let header_end = a.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(a.raw.len().min(64 * 1024));
    let header = String::from_utf8_lossy(&a.raw[..header_end]).into_owned();
    let ours = header
        .lines()
        .any(|l| l.get(..11).is_some_and(|n| n.eq_ignore_ascii_case("message-id:")) && l.contains("<mp-"));
    if !ours && looks_like_bounce(header.as_bytes()) && mailproof_mail::bounce::parse(&a.raw).is_some() {
        return on_bounce(job, board, a);
    }
    let candidates = tokens_in(&header);
    let claim = {
        let mut s = lock(board);
        let Some(token) = s.open_token(&candidates) else { return Ok(()) };
        // Registered but its extra sleep has not passed: judged when it has.
        s.claim_copy(token, &a, job.clock.instant())
    };
    match claim {
        Claim::Taken(p) => judge_arrival(job, p, a),
        Claim::Unknown | Claim::Early | Claim::Unclaimed => Ok(()),
    }
}

pub(super) fn judge_arrival(job: &JobCtx, mut p: Pending, a: Arrived) -> Result<(), StoreError> {
    let got = analyse(&a.raw);
    let sent = SentShape {
        subject: &p.evidence.subject,
        parts: &p.evidence.sent_parts,
        body_payload: &p.evidence.body_payload,
    };
    let d = verdict::arrived(&sent, &got, verdict::Filed { folder: &a.folder, junk: a.junk, removed: a.removed });
    let delivered_at = got
        .hops
        .iter()
        .rev()
        .find_map(|h| h.at)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(utc_text);
    let truncated = a.raw.len() >= MAX_FETCH;
    p.evidence.received = Some(ReceivedCopy {
        folder: a.folder.clone(),
        junk: a.junk,
        headers: got.headers.clone(),
        hops: got.hops.clone(),
        parts: got.parts.clone(),
        links: got.links.clone(),
        authentication_results: got.authentication_results.clone(),
        authentication: got.authentication.clone(),
        source_ip: got.source_ip().map(str::to_owned),
        size: u32::try_from(a.raw.len()).unwrap_or(u32::MAX),
        truncated: truncated || a.raw.len() > RAW_CAP,
    });
    let status = match d.cause {
        Cause::Modified => TrackStatus::Modified,
        Cause::Junk => TrackStatus::DeliveredToJunk,
        Cause::Removed => TrackStatus::Deleted,
        _ => TrackStatus::Delivered,
    };
    job.store.track_event(
        p.tracked,
        job.clock.now_millis(),
        EventKind::reaching(status),
        Some(status),
        &format!(
            "{} {}{}",
            if a.removed { "Removed after delivery: found in" } else { "Delivered to" },
            a.folder,
            if d.changes.is_empty() { String::new() } else { format!(": {}", d.changes.join("; ")) }
        ),
        got.source_ip(),
    )?;
    let raw = &a.raw[..a.raw.len().min(RAW_CAP)];
    p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, delivered_at.as_deref(), Some(raw))
}

pub(super) fn on_bounce(job: &JobCtx, board: &Mutex<Board>, a: Arrived) -> Result<(), StoreError> {
    let Some(b) = mailproof_mail::bounce::parse(&a.raw) else { return Ok(()) };
    let text = String::from_utf8_lossy(&a.raw).into_owned();
    let mut candidates: Vec<&str> = b
        .original_message_id
        .as_deref()
        .and_then(|id| id.strip_prefix("mp-"))
        .and_then(|id| id.get(..TOKEN_LEN))
        .into_iter()
        .collect();
    candidates.extend(tokens_in(&text));
    // The analyst's email rules come first: they may call a bounce a block or a setup problem.
    let subject = analyse(&a.raw[..a.raw.len().min(64 * 1024)]).subject.unwrap_or_default();
    let rule = job.rules.classify(&subject, &text).cloned();
    let mut s = lock(board);
    let Some(token) = s.open_token(&candidates).map(str::to_owned) else {
        return Ok(());
    };
    let Some(p) = s.pending.get_mut(&token) else {
        s.unclaimed.entry(token).or_default().push((a, true));
        return Ok(());
    };
    if !b.permanent && rule.is_none() {
        p.evidence.delay_notices.push(b.summary());
        return Ok(());
    }
    let mut p = s.take(&token).expect("found above");
    drop(s);
    p.evidence.bounce = Some(b.clone());
    let d = match rule {
        Some(r) => verdict::by_rule(&b, &r),
        None => verdict::bounced(&b),
    };
    let bounced = Some(TrackStatus::Unsuccessful);
    job.store.track_event(p.tracked, job.clock.now_millis(), EventKind::Unsuccessful, bounced, &d.reason, None)?;
    // The bounce report is a message Mailproof saw: logged as its own row, tied to the same action.
    let seen = analyse(&a.raw[..a.raw.len().min(RAW_CAP)]);
    let return_path = seen.header("Return-Path").unwrap_or("<>").to_owned();
    job.store.track_seen(
        &NewTracked {
            message_id: seen.message_id.as_deref().unwrap_or(""),
            envelope_sender: &return_path,
            from_header: seen.from.as_deref().unwrap_or(""),
            recipients: &job.source.email,
            to_header: &seen.to.join(", "),
            subject: seen.subject.as_deref().unwrap_or(""),
            risk: None,
            at_millis: job.clock.now_millis(),
            job_action_id: Some(&p.row_id),
            verification_of: None,
        },
        &format!("Bounce report delivered to {} of {}, about {}", a.folder, job.source.email, p.evidence.message_id),
        seen.source_ip(),
    )?;
    p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)
}
