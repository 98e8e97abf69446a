//! Runs a job: per group (source → destination), one SMTP session sends the actions one after another while
//! one watcher per mailbox looks for their arrival in the destination (every folder) and for bounces in the
//! source's mailbox. Every step is written to the store as it happens.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mailproof_mail::message::analyse;
use mailproof_mail::submit::{backoff, Session};
use mailproof_mail::watch::{wait_for_change, Arrived, ImapWatcher, Pop3Watcher, Watcher};
use time::OffsetDateTime;

use super::verdict::{self, Decision, SentShape};
use super::{ActionState, Cause, Evidence, JobEvent, JobSpec, ReceivedCopy, Verdict};
use crate::actions::compose::{compose, Composed};
use crate::actions::{ActionDef, BuildContext};
use crate::directory::ActorKind;
use crate::profiles::clients::{imap_config, pop3_config, smtp_config};
use crate::profiles::{profile_password, EmailProfile, ServerType, VerificationStatus};
use crate::secrets::Keyring;
use crate::store::jobs::{NewGroup, NewJob, NewTracked};
use crate::store::{utc_text, Store, StoreError};
use crate::verification::Cancel;

/// The received copy kept per action, at most.
pub const RAW_CAP: usize = 1 << 20;

/// Tries per message when the server defers it (4xx).
const SEND_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A CA trusted beyond the public roots (an organisation's; the lab's in tests).
    pub extra_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Selection(String),
    #[error("no actions selected: pick actions or a preset")]
    NothingSelected,
    #[error("no destination profile chosen")]
    NoDestination,
    #[error("there is no email profile {0}")]
    UnknownProfile(String),
    #[error("{email} is not verified, so Mailproof will not send test threats to it. Verify it in Email Profiles (or `mailproof profile verify`) first.")]
    Unverified { email: String },
    #[error("the spoofed From address \"{0}\" is not a valid email address")]
    BadSpoofedFrom(String),
    #[error("cannot read a profile's password: {0}")]
    Password(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A profile counts as verified when this workstation — the actor that does the watching — has verified it.
fn verified_here(store: &Store, profile: &EmailProfile) -> Result<bool, StoreError> {
    let actors = store.list_actors()?;
    Ok(profile.actors.iter().any(|pa| {
        pa.status == VerificationStatus::Verified
            && actors.iter().any(|a| a.id == pa.actor_id && a.kind == ActorKind::Workstation)
    }))
}

fn now_text() -> String {
    utc_text(OffsetDateTime::now_utc())
}

fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Runs `spec` to the end (or until cancelled) and returns the job id. Errors before the job starts (nothing
/// selected, an unverified destination …) create no job.
pub async fn run_job(
    store: &Store,
    keyring: &Keyring,
    spec: &JobSpec,
    opts: &RunOptions,
    cancel: &Cancel,
    on_event: &(dyn Fn(JobEvent) + Send + Sync),
) -> Result<String, JobError> {
    let actions = spec.selection.resolve().map_err(JobError::Selection)?;
    if actions.is_empty() {
        return Err(JobError::NothingSelected);
    }
    if spec.destination_profile_ids.is_empty() {
        return Err(JobError::NoDestination);
    }
    if let Some(spoof) = &spec.params.spoofed_from {
        if spoof.parse::<lettre::Address>().is_err() {
            return Err(JobError::BadSpoofedFrom(spoof.clone()));
        }
    }
    let load = |id: &str| -> Result<EmailProfile, JobError> {
        store.get_profile(id)?.ok_or_else(|| JobError::UnknownProfile(id.to_owned()))
    };
    let source = load(&spec.source_profile_id)?;
    let mut destinations = Vec::new();
    for id in &spec.destination_profile_ids {
        let d = load(id)?;
        if !verified_here(store, &d)? {
            return Err(JobError::Unverified { email: d.email });
        }
        destinations.push(d);
    }

    let job_id = uuid::Uuid::new_v4().to_string();
    let now = now_text();
    let groups: Vec<NewGroup> = destinations
        .iter()
        .map(|d| NewGroup {
            id: uuid::Uuid::new_v4().to_string(),
            source_profile_id: &source.id,
            source_email: &source.email,
            destination_profile_id: &d.id,
            destination_email: &d.email,
            actions: actions
                .iter()
                .map(|a| (uuid::Uuid::new_v4().to_string(), *a, crate::actions::compose::new_token()))
                .collect(),
        })
        .collect();
    store.create_job(
        &NewJob {
            id: &job_id,
            name: &spec.name,
            selection_json: serde_json::to_string(&spec.selection).expect("serializes"),
            params_json: serde_json::to_string(&(&spec.params, &spec.timing)).expect("serializes"),
            now: &now,
            now_millis: now_millis(),
        },
        &groups,
    )?;

    let rules = Arc::new(crate::rules::Classifier::load(store)?);
    let source_password = profile_password(store, keyring, &source.id).map_err(|e| JobError::Password(e.to_string()));
    let (events, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let (job, spec_shared, opts_shared) =
        (Arc::<str>::from(job_id.as_str()), Arc::new(spec.clone()), Arc::new(opts.clone()));
    let source_shared = Arc::new(source.clone());
    let work = async {
        // Groups run side by side, at most `concurrency` at once: a group spends most of its time waiting for mail.
        let runs: Vec<_> = groups
            .iter()
            .zip(&destinations)
            .enumerate()
            .map(|(gi, (group, dest))| {
                let ctx = GroupCtx {
                    store: store.clone(),
                    job_id: job.clone(),
                    group: gi as u32,
                    source: source_shared.clone(),
                    dest: Arc::new(dest.clone()),
                    spec: spec_shared.clone(),
                    opts: opts_shared.clone(),
                    cancel: cancel.clone(),
                    events: events.clone(),
                    rules: rules.clone(),
                };
                let source_password = &source_password;
                async move {
                    store.set_group_time(&group.id, Some(&now_text()), None)?;
                    let dest_password = profile_password(store, keyring, &dest.id).map_err(|e| e.to_string());
                    match (source_password, dest_password) {
                        (Ok(sp), Ok(dp)) => run_group(ctx, &group.actions, sp, &dp).await?,
                        (Err(e), _) => ctx.error_all(&group.actions, &format!("Setup: {e}"))?,
                        (_, Err(e)) => ctx
                            .error_all(&group.actions, &format!("Setup: cannot read {}'s password: {e}", dest.email))?,
                    }
                    store.set_group_time(&group.id, None, Some(&now_text()))?;
                    Ok::<(), JobError>(())
                }
            })
            .collect();
        // Only the groups hold senders now: progress ends when the last group does.
        drop(events);
        let concurrency = spec.timing.concurrency.clamp(1, super::MAX_CONCURRENCY) as usize;
        let mut running = futures::stream::iter(runs).buffer_unordered(concurrency);
        while let Some(done) = running.next().await {
            done?;
        }
        Ok::<(), JobError>(())
    };
    let forward = async {
        while let Some(e) = progress.recv().await {
            on_event(e);
        }
    };
    let (worked, ()) = tokio::join!(work, forward);
    worked?;

    let report = store.job_report(&job_id)?.expect("just written");
    let status = if cancel.is_cancelled() {
        "cancelled"
    } else if report.count(Verdict::Incomplete) > 0 {
        "incomplete"
    } else if report.count(Verdict::Errored) == report.actions.len() {
        "errored"
    } else {
        "completed"
    };
    store.finish_job(&job_id, status, None, &now_text())?;
    Ok(job_id)
}

/// How often a running engine says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A running job whose engine has not beaten for this long was interrupted.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Closes jobs whose engine stopped (the app or command exited mid-job) at least `stale_after` ago: their
/// undecided actions end Incomplete. Jobs a live engine is running — in this process or another — are left
/// alone. Call at start-up and when listing jobs.
pub fn recover_interrupted(store: &Store, stale_after: Duration) -> Result<usize, StoreError> {
    let now = OffsetDateTime::now_utc();
    store.close_interrupted_jobs(
        "Mailproof stopped before this action was decided (the app or command exited while the job ran).",
        &utc_text(now),
        now_millis() - stale_after.as_millis() as i64,
    )
}

/// What a group's tasks share. Owned, so the watcher runs as a task of its own, beside the sender.
#[derive(Clone)]
struct GroupCtx {
    store: Store,
    job_id: Arc<str>,
    group: u32,
    source: Arc<EmailProfile>,
    dest: Arc<EmailProfile>,
    spec: Arc<JobSpec>,
    opts: Arc<RunOptions>,
    cancel: Cancel,
    /// Progress goes back to the task that runs the job, which hands it to the caller.
    events: tokio::sync::mpsc::UnboundedSender<JobEvent>,
    rules: Arc<crate::rules::Classifier>,
}

/// An action sent and accepted, waiting for its fate.
struct Pending {
    row_id: String,
    def: &'static ActionDef,
    composed: Composed,
    evidence: Evidence,
    tracked: i64,
    /// Look no earlier than this (the job's extra sleep).
    due: Instant,
    deadline: Instant,
    /// Arrived before it was due; judged when due.
    early: Option<Arrived>,
}

impl GroupCtx {
    fn event(
        &self,
        row_id: &str,
        def: &ActionDef,
        state: ActionState,
        verdict: Option<Verdict>,
        reason: Option<String>,
    ) {
        let _ = self.events.send(JobEvent {
            job_id: self.job_id.to_string(),
            group: self.group,
            row_id: row_id.to_owned(),
            action_id: def.id.to_owned(),
            action_name: def.name.to_owned(),
            state,
            verdict,
            reason,
        });
    }

    fn decide(
        &self,
        row_id: &str,
        def: &ActionDef,
        d: &Decision,
        evidence: &mut Evidence,
        delivered_at: Option<&str>,
        raw: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        evidence.changes = d.changes.clone();
        evidence.flags = d.flags.clone();
        self.store.action_decided(
            row_id,
            d.verdict,
            d.cause.as_str(),
            &d.reason,
            evidence,
            delivered_at,
            raw,
            &now_text(),
        )?;
        self.event(row_id, def, ActionState::Decided, Some(d.verdict), Some(d.reason.clone()));
        Ok(())
    }

    fn error_all(&self, actions: &[(String, &'static ActionDef, String)], reason: &str) -> Result<(), StoreError> {
        let d = Decision {
            verdict: Verdict::Errored,
            cause: Cause::Setup,
            reason: reason.to_owned(),
            changes: Vec::new(),
            flags: Vec::new(),
        };
        for (row_id, def, _) in actions {
            self.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
        }
        Ok(())
    }

    fn build_context(&self) -> BuildContext<'_> {
        BuildContext {
            source: &self.source.email,
            destination: &self.dest.email,
            spoofed_from: self.spec.params.spoofed_from.as_deref(),
        }
    }
}

async fn open_watcher(
    profile: &EmailProfile,
    password: &crate::secrets::Secret,
    opts: &RunOptions,
) -> Result<Watcher, String> {
    match profile.server_type {
        ServerType::Pop3 => Pop3Watcher::open(&pop3_config(profile, password, &opts.extra_ca))
            .await
            .map(Watcher::Pop3)
            .map_err(|e| e.to_string()),
        _ => {
            let mut w =
                ImapWatcher::open(&imap_config(profile, password, &opts.extra_ca)).await.map_err(|e| e.to_string())?;
            w.start_idle().await.map_err(|e| e.to_string())?;
            Ok(Watcher::Imap(w))
        }
    }
}

async fn run_group(
    ctx: GroupCtx,
    actions: &[(String, &'static ActionDef, String)],
    source_password: &crate::secrets::Secret,
    dest_password: &crate::secrets::Secret,
) -> Result<(), JobError> {
    let dest_watch = match open_watcher(&ctx.dest, dest_password, &ctx.opts).await {
        Ok(w) => w,
        Err(e) => {
            ctx.error_all(actions, &format!("Setup: cannot read {}'s mailbox: {e}", ctx.dest.email))?;
            return Ok(());
        }
    };
    let bounce_watch = match open_watcher(&ctx.source, source_password, &ctx.opts).await {
        Ok(w) => w,
        Err(e) => {
            dest_watch.close().await;
            let reason = format!("Setup: cannot read {}'s mailbox, where bounces arrive: {e}", ctx.source.email);
            ctx.error_all(actions, &reason)?;
            return Ok(());
        }
    };
    let shared = Arc::new(Mutex::new(Shared {
        pending: Vec::new(),
        sending_done: false,
        open: actions.iter().map(|(_, _, token)| token.clone()).collect(),
        unclaimed: HashMap::new(),
        registered: 0,
    }));
    // The watcher is a task of its own, so looking at the mailboxes never waits behind sending (and runs on
    // another core when the runtime has one).
    let watcher = tokio::spawn(watch_all(ctx.clone(), shared.clone(), dest_watch, bounce_watch));
    let sent = send_all(&ctx, actions, source_password, &shared).await;
    let watched = match watcher.await {
        Ok(w) => w,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: the job is being dropped with it.
        Err(_) => Ok(()),
    };
    sent?;
    watched?;
    Ok(())
}

struct Shared {
    pending: Vec<Pending>,
    sending_done: bool,
    /// Tokens of the group's actions not decided yet: what the watchers fetch.
    open: HashSet<String>,
    /// Copies and bounces that arrived before their action was registered as sent (delivery can beat the
    /// sender's bookkeeping): claimed when it is.
    unclaimed: HashMap<String, Vec<(Arrived, bool)>>,
    /// Actions registered since the watcher last looked: it looks again soon.
    registered: u64,
}

/// The tokens a text may carry: our Message-ID (`mp-<token>.`), the subject tag (`[MP-<token>]`) and the
/// action header (`token=<token>`).
fn tokens_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for marker in ["mp-", "[MP-", "token="] {
        let mut rest = text;
        while let Some(at) = rest.find(marker) {
            let after = &rest[at + marker.len()..];
            let candidate = after.get(..TOKEN_LEN).unwrap_or("");
            if candidate.len() == TOKEN_LEN
                && candidate.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
            {
                out.push(candidate);
            }
            rest = after;
        }
    }
    out
}

const TOKEN_LEN: usize = 12;

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

async fn send_all(
    ctx: &GroupCtx,
    actions: &[(String, &'static ActionDef, String)],
    password: &crate::secrets::Secret,
    shared: &Mutex<Shared>,
) -> Result<(), StoreError> {
    let result = send_each(ctx, actions, password, shared).await;
    lock(shared).sending_done = true;
    result
}

async fn send_each(
    ctx: &GroupCtx,
    actions: &[(String, &'static ActionDef, String)],
    password: &crate::secrets::Secret,
    shared: &Mutex<Shared>,
) -> Result<(), StoreError> {
    let config = smtp_config(&ctx.source, password, &ctx.opts.extra_ca);
    let timing = &ctx.spec.timing;
    let mut session: Option<Session> = None;
    for (i, (row_id, def, token)) in actions.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            let d = stopped("Cancelled before this action was sent.");
            for (row_id, def, _) in &actions[i..] {
                ctx.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
            }
            break;
        }
        let composed = match compose(def, &ctx.build_context(), token) {
            Ok(c) => c,
            Err(e) => {
                let d = setup(format!("Cannot build the message: {e}"));
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
        ctx.store.action_sending(row_id, &composed.message_id, &now_text())?;
        let tracked = ctx.store.track_message(&NewTracked {
            message_id: &composed.message_id,
            envelope_sender: &composed.envelope_from,
            from_header: &composed.from_header,
            recipients: &composed.to,
            to_header: &composed.to,
            subject: &composed.subject,
            risk: Some(def.risk.as_str()),
            at_millis: now_millis(),
            job_action_id: Some(row_id),
            verification_of: None,
        })?;
        ctx.event(row_id, def, ActionState::Sending, None, None);

        let mut outcome = None;
        for attempt in 1..=SEND_ATTEMPTS {
            evidence.attempts = attempt;
            if !session.as_ref().is_some_and(Session::usable) {
                match Session::open(&config).await {
                    Ok(s) => session = Some(s),
                    Err((refusal, transcript)) => {
                        evidence.transcript.extend(transcript);
                        if refusal.transient() && attempt < SEND_ATTEMPTS {
                            tokio::time::sleep(backoff(attempt - 1)).await;
                            continue;
                        }
                        outcome = Some(Err(refusal));
                        break;
                    }
                }
            }
            let s = session.as_mut().expect("opened above");
            let sent = s.send(&composed.envelope_from, std::slice::from_ref(&composed.to), &composed.raw).await;
            evidence.transcript.extend(sent.transcript);
            match sent.result {
                Err(r) if (r.transient() || (r.code.is_none() && !s.usable())) && attempt < SEND_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt - 1)).await;
                }
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        match outcome.expect("the loop always ends with an outcome") {
            Ok(accepted) => {
                evidence.smtp_reply = Some(format!("{} {}", accepted.code, accepted.text));
                evidence.queue_id = accepted.queue_id.clone();
                ctx.store.action_watching(row_id, &now_text(), &evidence)?;
                let qid = accepted.queue_id.as_deref().map(|q| format!(", queue id {q}")).unwrap_or_default();
                ctx.store.track_event(
                    tracked,
                    now_millis(),
                    "sent",
                    None,
                    &format!("Accepted by {}:{}{qid}", config.host, config.port),
                    None,
                )?;
                let sleep = Duration::from_secs(ctx.spec.params.extra_sleep_secs.into());
                let now = Instant::now();
                let token = composed.token.clone();
                let mut s = lock(shared);
                s.registered += 1;
                s.pending.push(Pending {
                    row_id: row_id.clone(),
                    def,
                    composed,
                    evidence,
                    tracked,
                    due: now + sleep,
                    deadline: now + sleep + Duration::from_secs(timing.timeout_secs.into()),
                    early: None,
                });
                let unclaimed = s.unclaimed.remove(&token).unwrap_or_default();
                drop(s);
                ctx.event(row_id, def, ActionState::Watching, None, None);
                for (a, bounce) in unclaimed {
                    if bounce {
                        on_bounce(ctx, shared, a)?;
                    } else {
                        on_copy(ctx, shared, a)?;
                    }
                }
            }
            Err(refusal) => {
                let d = if refusal.transient() {
                    setup(format!(
                        "The server deferred the message {SEND_ATTEMPTS} times ({}): try again later.",
                        refusal.text
                    ))
                } else {
                    verdict::refused(&refusal)
                };
                ctx.store.track_event(tracked, now_millis(), "unsuccessful", Some("unsuccessful"), &d.reason, None)?;
                ctx.decide(row_id, def, &d, &mut evidence, None, None)?;
                lock(shared).open.remove(token);
            }
        }
        if timing.pause_millis > 0 && i + 1 < actions.len() {
            tokio::time::sleep(Duration::from_millis(timing.pause_millis.into())).await;
        }
    }
    if let Some(s) = session {
        s.quit().await;
    }
    Ok(())
}

fn setup(reason: String) -> Decision {
    Decision { verdict: Verdict::Errored, cause: Cause::Setup, reason, changes: Vec::new(), flags: Vec::new() }
}

fn stopped(reason: &str) -> Decision {
    Decision {
        verdict: Verdict::Incomplete,
        cause: Cause::Stopped,
        reason: reason.to_owned(),
        changes: Vec::new(),
        flags: Vec::new(),
    }
}

/// Does a message header look like a bounce report?
fn looks_like_bounce(header: &[u8]) -> bool {
    let h = String::from_utf8_lossy(header).to_ascii_lowercase();
    h.contains("multipart/report")
        || h.contains("mailer-daemon")
        || h.contains("postmaster@")
        || ["undeliver", "delivery status", "failure notice", "returned mail", "delivery failed", "delivery has failed"]
            .iter()
            .any(|s| h.contains(s))
}

async fn watch_all(
    ctx: GroupCtx,
    shared: Arc<Mutex<Shared>>,
    mut dest: Watcher,
    mut bounces: Watcher,
) -> Result<(), StoreError> {
    let result = watch_loop(&ctx, &shared, &mut dest, &mut bounces).await;
    dest.close().await;
    bounces.close().await;
    result
}

async fn watch_loop(
    ctx: &GroupCtx,
    shared: &Mutex<Shared>,
    dest: &mut Watcher,
    bounces: &mut Watcher,
) -> Result<(), StoreError> {
    let poll = Duration::from_millis(ctx.spec.timing.poll_millis.max(20).into());
    let changes: Vec<_> = [dest.changes(), bounces.changes()].into_iter().flatten().collect();
    let mut beat = Instant::now();
    let mut interval = FAST_LOOK;
    loop {
        if beat.elapsed() >= HEARTBEAT {
            ctx.store.job_heartbeat(&ctx.job_id, now_millis())?;
            beat = Instant::now();
        }
        {
            let s = lock(shared);
            if s.sending_done && s.pending.is_empty() {
                return Ok(());
            }
        }
        if ctx.cancel.is_cancelled() {
            let pending = std::mem::take(&mut lock(shared).pending);
            let d = stopped("Cancelled while waiting for this message.");
            for mut p in pending {
                ctx.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)?;
            }
            // The sender stops at its next action and marks the rest.
            if lock(shared).sending_done {
                return Ok(());
            }
            tokio::time::sleep(poll).await;
            continue;
        }
        let open: HashSet<String> = lock(shared).open.clone();
        let registered = lock(shared).registered;
        let mut found_any = false;
        if !open.is_empty() {
            let mut wanted =
                |header: &[u8]| tokens_in(&String::from_utf8_lossy(header)).iter().any(|t| open.contains(*t));
            match dest.poll(&mut wanted).await {
                Ok(found) => {
                    found_any |= !found.is_empty();
                    for a in found {
                        on_copy(ctx, shared, a)?;
                    }
                }
                Err(e) => fail_pending(ctx, shared, &format!("Lost the destination mailbox while watching: {e}"))?,
            }
            let mut wanted_bounce = |header: &[u8]| looks_like_bounce(header);
            match bounces.poll(&mut wanted_bounce).await {
                Ok(found) => {
                    found_any |= !found.is_empty();
                    for a in found {
                        on_bounce(ctx, shared, a)?;
                    }
                }
                Err(e) => {
                    fail_pending(ctx, shared, &format!("Lost the source mailbox while watching for bounces: {e}"))?
                }
            }
        }
        // Judge early arrivals that are now due, and end the waits that ran out.
        let now = Instant::now();
        let (due, expired): (Vec<Pending>, Vec<Pending>) = {
            let mut s = lock(shared);
            let all = std::mem::take(&mut s.pending);
            let (ready, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.early.is_some() && p.due <= now);
            let (expired, keep): (Vec<_>, Vec<_>) = rest.into_iter().partition(|p| p.deadline <= now);
            s.pending = keep;
            for p in ready.iter().chain(&expired) {
                s.open.remove(&p.composed.token);
            }
            (ready, expired)
        };
        for mut p in due {
            let a = p.early.take().expect("partitioned on early");
            judge_arrival(ctx, p, a)?;
        }
        for mut p in expired {
            let d = verdict::not_delivered(ctx.spec.timing.timeout_secs);
            ctx.store.track_event(p.tracked, now_millis(), "notReceived", Some("notReceived"), &d.reason, None)?;
            ctx.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)?;
        }
        // Look again soon while mail is flowing or expected (an action accepted moments ago); back off to the
        // configured interval when it is quiet.
        let expecting = {
            let s = lock(shared);
            s.registered != registered || s.pending.iter().any(|p| p.due <= now && now < p.due + EXPECT_SOON)
        };
        interval = if found_any || expecting { FAST_LOOK } else { (interval * 2).min(poll) };
        wait_for_change(interval.min(poll), &changes).await;
    }
}

/// The shortest pause between looks, right after sending or finding mail.
const FAST_LOOK: Duration = Duration::from_millis(10);

/// For this long after an action was accepted, its mail is expected any moment: looks stay fast.
const EXPECT_SOON: Duration = Duration::from_secs(2);

fn fail_pending(ctx: &GroupCtx, shared: &Mutex<Shared>, reason: &str) -> Result<(), StoreError> {
    let pending = {
        let mut s = lock(shared);
        let pending = std::mem::take(&mut s.pending);
        for p in &pending {
            s.open.remove(&p.composed.token);
        }
        pending
    };
    for mut p in pending {
        ctx.decide(&p.row_id, p.def, &setup(reason.to_owned()), &mut p.evidence, None, None)?;
    }
    Ok(())
}

/// A copy of one of our messages arrived (or a bounce that reached the destination, when sending to oneself).
fn on_copy(ctx: &GroupCtx, shared: &Mutex<Shared>, a: Arrived) -> Result<(), StoreError> {
    let header_end = a.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(a.raw.len().min(64 * 1024));
    let header = String::from_utf8_lossy(&a.raw[..header_end]).into_owned();
    let ours = header
        .lines()
        .any(|l| l.get(..11).is_some_and(|n| n.eq_ignore_ascii_case("message-id:")) && l.contains("<mp-"));
    if !ours && looks_like_bounce(header.as_bytes()) && mailproof_mail::bounce::parse(&a.raw).is_some() {
        return on_bounce(ctx, shared, a);
    }
    let candidates: Vec<String> = tokens_in(&header).into_iter().map(str::to_owned).collect();
    let taken = {
        let mut s = lock(shared);
        let Some(token) = candidates.iter().find(|t| s.open.contains(t.as_str())).cloned() else { return Ok(()) };
        match s.pending.iter().position(|p| p.composed.token == token) {
            // Registered but its extra sleep has not passed: judged when it has.
            Some(i) if s.pending[i].due > Instant::now() => {
                s.pending[i].early = Some(a.clone());
                None
            }
            Some(i) => {
                s.open.remove(&token);
                Some(s.pending.remove(i))
            }
            None => {
                s.unclaimed.entry(token).or_default().push((a.clone(), false));
                None
            }
        }
    };
    match taken {
        Some(p) => judge_arrival(ctx, p, a),
        None => Ok(()),
    }
}

fn judge_arrival(ctx: &GroupCtx, mut p: Pending, a: Arrived) -> Result<(), StoreError> {
    let got = analyse(&a.raw);
    let sent =
        SentShape { subject: &p.composed.subject, parts: &p.composed.parts, body_payload: &p.composed.body_payload };
    let d = verdict::arrived(&sent, &got, &a.folder, a.junk);
    let delivered_at = got
        .hops
        .iter()
        .rev()
        .find_map(|h| h.at)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(utc_text);
    let truncated = a.raw.len() >= mailproof_mail::watch::MAX_FETCH;
    p.evidence.received = Some(ReceivedCopy {
        folder: a.folder.clone(),
        junk: a.junk,
        headers: got.headers.clone(),
        hops: got.hops.clone(),
        parts: got.parts.clone(),
        links: got.links.clone(),
        authentication_results: got.authentication_results.clone(),
        source_ip: got.source_ip().map(str::to_owned),
        size: u32::try_from(a.raw.len()).unwrap_or(u32::MAX),
        truncated: truncated || a.raw.len() > RAW_CAP,
    });
    let (kind, status) = match d.cause {
        Cause::Modified => ("modified", "modified"),
        Cause::Junk => ("delivered", "deliveredToJunk"),
        _ => ("delivered", "delivered"),
    };
    ctx.store.track_event(
        p.tracked,
        now_millis(),
        kind,
        Some(status),
        &format!(
            "Delivered to {}{}",
            a.folder,
            if d.changes.is_empty() { String::new() } else { format!(": {}", d.changes.join("; ")) }
        ),
        got.source_ip(),
    )?;
    let raw = &a.raw[..a.raw.len().min(RAW_CAP)];
    ctx.decide(&p.row_id, p.def, &d, &mut p.evidence, delivered_at.as_deref(), Some(raw))
}

fn on_bounce(ctx: &GroupCtx, shared: &Mutex<Shared>, a: Arrived) -> Result<(), StoreError> {
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
    let mut s = lock(shared);
    let Some(token) = candidates.iter().find(|t| s.open.contains(**t)).map(|t| t.to_string()) else { return Ok(()) };
    let Some(i) = s.pending.iter().position(|p| p.composed.token == token) else {
        s.unclaimed.entry(token).or_default().push((a, true));
        return Ok(());
    };
    // The analyst's email rules come first: they may call a bounce a block or a setup problem.
    let subject = analyse(&a.raw[..a.raw.len().min(64 * 1024)]).subject.unwrap_or_default();
    let rule = ctx.rules.classify(&subject, &text).cloned();
    if !b.permanent && rule.is_none() {
        s.pending[i].evidence.delay_notices.push(b.summary());
        return Ok(());
    }
    s.open.remove(&token);
    let mut p = s.pending.remove(i);
    drop(s);
    p.evidence.bounce = Some(b.clone());
    let d = match rule {
        Some(r) => verdict::by_rule(&b, &r),
        None => verdict::bounced(&b),
    };
    ctx.store.track_event(p.tracked, now_millis(), "unsuccessful", Some("unsuccessful"), &d.reason, None)?;
    // The bounce report is a message Mailproof saw: logged as its own row, tied to the same action.
    let seen = analyse(&a.raw[..a.raw.len().min(RAW_CAP)]);
    let return_path = seen.header("Return-Path").unwrap_or("<>").to_owned();
    ctx.store.track_seen(
        &NewTracked {
            message_id: seen.message_id.as_deref().unwrap_or(""),
            envelope_sender: &return_path,
            from_header: seen.from.as_deref().unwrap_or(""),
            recipients: &ctx.source.email,
            to_header: &seen.to.join(", "),
            subject: seen.subject.as_deref().unwrap_or(""),
            risk: None,
            at_millis: now_millis(),
            job_action_id: Some(&p.row_id),
            verification_of: None,
        },
        &format!("Bounce report delivered to {} of {}, about {}", a.folder, ctx.source.email, p.composed.message_id),
        seen.source_ip(),
    )?;
    ctx.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)
}

#[cfg(test)]
mod tests {
    use super::tokens_in;

    #[test]
    fn tokens_are_read_from_message_ids_subjects_and_the_action_header() {
        let t = "abcdefgh2345";
        assert_eq!(tokens_in(&format!("Message-ID: <mp-{t}.0f0f@example.test>")), [t]);
        assert_eq!(tokens_in(&format!("Subject: [SUSPICIOUS] [MP-{t}] EICAR")), [t]);
        assert_eq!(tokens_in(&format!("X-Mailproof-Action: A100-001 token={t}")), [t]);
        assert!(tokens_in("mp-short. [MP-UPPERCASE123] token=has0and1and8").is_empty());
    }
}
