//! What came back — a copy or a bounce — turned into a decision, evidence and tracking events.

use std::sync::Mutex;

use mailproof_mail::message::analyse;
use time::OffsetDateTime;

use super::board::{lock, tokens_in, Board, Claim, Noticed, Pending, Sent};
use super::engine::JobCtx;
use crate::ids::TOKEN_LEN;
use crate::jobs::verdict::Decision;
use crate::jobs::verdict::{self, SentShape};
use crate::jobs::{ActionState, Cause, JobEvent, Notice, ReceivedCopy};
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

/// A message's header block (up to the blank line; its first 64 KiB when there is none).
fn header_of(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(crate::mailbox::header_block(raw))
}

/// Does the header say the message is one of ours — our Message-ID, or our action header (kept where a service
/// replaced the Message-ID)?
fn is_ours(header: &str) -> bool {
    header.lines().any(|l| {
        let name = l.split(':').next().unwrap_or("").trim();
        (name.eq_ignore_ascii_case("message-id") && l.contains("<mp-"))
            || name.eq_ignore_ascii_case("x-mailproof-action")
    })
}

/// Is `raw`, with its `header`, a bounce report?
fn is_bounce(header: &str, raw: &[u8]) -> bool {
    looks_like_bounce(header.as_bytes()) && mailproof_mail::bounce::parse(raw).is_some()
}

/// A copy of one of our messages arrived (or a bounce that reached the destination, when sending to oneself).
pub(super) fn on_copy(job: &JobCtx, board: &Mutex<Board>, a: Arrived) -> Result<(), StoreError> {
    let header = header_of(&a.raw).into_owned();
    if !is_ours(&header) && is_bounce(&header, &a.raw) {
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
            // Bounces arrive in the source's mailbox, which the sending actor watches.
            actor: job.remotes.source.as_ref().map(|a| a.name.as_str()),
        },
        &format!("Bounce report delivered to {} of {}, about {}", a.folder, job.source.email, p.evidence.message_id),
        seen.source_ip(),
    )?;
    p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)
}

/// The most of a notice's text kept as evidence.
const NOTICE_EXCERPT: usize = 4096;

/// Is a message in an alerts mailbox a gateway's notice rather than a copy of a test message (which carries our
/// Message-ID or action header) or — where that mailbox is also the job's source — a bounce of one?
pub(super) fn is_notice(raw: &[u8], bounces_arrive_here: bool) -> bool {
    let header = header_of(raw);
    !(is_ours(&header) || (bounces_arrive_here && is_bounce(&header, raw)))
}

/// A gateway's notice reached alerts mailbox `mailbox`: every action of the job it names (by token, in its
/// subject, its text or a quoted Message-ID) keeps it as evidence, and a decision already made is revised.
pub(super) fn on_notice(job: &JobCtx, board: &Mutex<Board>, mailbox: &str, a: Arrived) -> Result<(), StoreError> {
    let text = String::from_utf8_lossy(&a.raw[..a.raw.len().min(RAW_CAP)]).into_owned();
    let mut tokens = tokens_in(&text);
    tokens.sort_unstable();
    tokens.dedup();
    let seen = analyse(&a.raw[..a.raw.len().min(RAW_CAP)]);
    let mut excerpt = seen.body_text.trim().to_owned();
    if excerpt.len() > NOTICE_EXCERPT {
        let mut end = NOTICE_EXCERPT;
        while !excerpt.is_char_boundary(end) {
            end -= 1;
        }
        excerpt.truncate(end);
        excerpt.push('…');
    }
    let notice = Notice {
        mailbox: mailbox.to_owned(),
        from: seen.from.clone().unwrap_or_default(),
        subject: seen.subject.clone().unwrap_or_default(),
        message_id: seen.message_id.clone().unwrap_or_default(),
        found_at: job.clock.now_text(),
        excerpt,
    };
    let mut about = None;
    for t in tokens {
        let noticed = lock(board).notice(t, &notice);
        match noticed {
            Noticed::Unknown => continue,
            Noticed::Kept => {}
            Noticed::Decided(sent) => notice_after(job, &sent, &notice)?,
        }
        if about.is_none() {
            about = lock(board).sent.get(t).map(|s| s.row_id.clone());
        }
    }
    let Some(row_id) = about else { return Ok(()) };
    // The notice is a message Mailproof saw: logged as its own row, tied to the (first) action it names.
    job.store.track_seen(
        &NewTracked {
            message_id: &notice.message_id,
            envelope_sender: seen.header("Return-Path").unwrap_or(""),
            from_header: &notice.from,
            recipients: mailbox,
            to_header: &seen.to.join(", "),
            subject: &notice.subject,
            risk: None,
            at_millis: job.clock.now_millis(),
            job_action_id: Some(&row_id),
            verification_of: None,
            // Alerts mailboxes are watched from this workstation.
            actor: None,
        },
        &format!("Gateway notice delivered to {} of {mailbox}", a.folder),
        seen.source_ip(),
    )?;
    Ok(())
}

/// A gateway's notice about an action decided already: its decision is revised (an untouched arrival becomes
/// Alerted; any other keeps its verdict and says the notice) and the change reported.
fn notice_after(job: &JobCtx, sent: &Sent, notice: &Notice) -> Result<(), StoreError> {
    let Some((verdict, cause, reason, mut evidence)) = job.store.decided_action(&sent.row_id)? else { return Ok(()) };
    if evidence.notices.contains(notice) {
        return Ok(());
    }
    evidence.notices.push(notice.clone());
    let before = Decision { verdict, cause, reason, changes: evidence.changes.clone(), flags: evidence.flags.clone() };
    let d = verdict::with_notice(before, notice);
    if job.store.action_revised(&sent.row_id, d.verdict, d.cause.as_str(), &d.reason, &evidence, &job.owner)? {
        let _ = job.events.send(JobEvent {
            job_id: job.job_id.to_string(),
            group: sent.group,
            row_id: sent.row_id.clone(),
            action_id: sent.id.to_owned(),
            action_name: sent.name.to_owned(),
            state: ActionState::Decided,
            verdict: Some(d.verdict),
            reason: Some(d.reason),
        });
    }
    Ok(())
}
