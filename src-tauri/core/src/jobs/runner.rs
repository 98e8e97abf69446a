//! Runs a job: per group (source → destination), one SMTP session sends the actions one after another, while one
//! task watches every mailbox of the job once — the destinations' (every folder) for the copies, the source's for
//! bounces. Every step is written to the store as it happens, so an interrupted job can be picked up again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mailproof_mail::message::analyse;
use mailproof_mail::submit::{backoff, Session};
use mailproof_mail::watch::{wait_for_change, Arrived, ImapWatcher, Pop3Watcher, Watcher};
use time::OffsetDateTime;

use super::verdict::{self, Decision, SentShape};
use super::{ActionState, Cause, Evidence, JobEvent, JobSpec, ReceivedCopy, Verdict};
use crate::actions::compose::compose;
use crate::actions::{ActionDef, BuildContext};
use crate::directory::ActorKind;
use crate::profiles::clients::{imap_config, pop3_config, smtp_config};
use crate::profiles::{profile_password, EmailProfile, ServerType, VerificationStatus};
use crate::secrets::Keyring;
use crate::store::jobs::{NewGroup, NewJob, NewTracked, WatchedAction};
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
    let job = Arc::new(JobCtx {
        store: store.clone(),
        job_id: Arc::from(job_id.as_str()),
        source: Arc::new(source.clone()),
        spec: Arc::new(spec.clone()),
        opts: Arc::new(opts.clone()),
        cancel: cancel.clone(),
        events,
        rules,
    });
    let work = async {
        // The block owns the job's context: progress ends when it is done.
        let job = job;
        let groups: Vec<GroupCtx> = groups
            .iter()
            .zip(&destinations)
            .enumerate()
            .map(|(gi, (group, dest))| GroupCtx {
                job: job.clone(),
                group: gi as u32,
                group_id: Arc::from(group.id.as_str()),
                dest: Arc::new(dest.clone()),
                actions: Arc::new(group.actions.clone()),
                undecided: Arc::new(AtomicUsize::new(group.actions.len())),
            })
            .collect();
        let _alive = heartbeat(&job);
        let ready = open_mailboxes(&job, keyring, source_password.as_ref(), &groups, None).await?;
        let Some((mailboxes, ready)) = ready else { return Ok(()) };
        let board = Arc::new(Mutex::new(Board {
            pending: HashMap::new(),
            senders: ready.len(),
            open: ready
                .iter()
                .flat_map(|g| g.actions.iter().map(|(_, _, token)| (token.clone(), g.dest.id.clone())))
                .collect(),
            unclaimed: HashMap::new(),
            registered: 0,
        }));
        // One task watches every mailbox of the job, so looking never waits behind sending (and runs on another
        // core when the runtime has one). Groups send side by side, at most `concurrency` at once.
        let mut watcher = JobTask(tokio::spawn(watch_all(job.clone(), board.clone(), mailboxes)));
        let source_password = source_password.as_ref().expect("groups are ready only with the source's password");
        let concurrency = spec.timing.concurrency.clamp(1, super::MAX_CONCURRENCY) as usize;
        let mut sending = futures::stream::iter(ready.into_iter().map(|g| {
            let board = board.clone();
            async move { send_all(&g, source_password, &board).await }
        }))
        .buffer_unordered(concurrency);
        let mut sent = Ok(());
        while let Some(done) = sending.next().await {
            sent = sent.and(done);
        }
        let watched = match (&mut watcher.0).await {
            Ok(w) => w,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: the job is being dropped with it.
            Err(_) => Ok(()),
        };
        sent?;
        watched?;
        Ok::<(), JobError>(())
    };
    let forward = async {
        // Ends when the last holder of the job's context — a group, a pending action, the watcher — is gone.
        while let Some(e) = progress.recv().await {
            on_event(e);
        }
    };
    let (worked, ()) = tokio::join!(work, forward);
    worked?;
    finish(store, &job_id, cancel)?;
    Ok(job_id)
}

/// A task of the job's (its watcher, its heartbeat), stopped when the job is dropped (its caller went away)
/// rather than left running.
struct JobTask<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for JobTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Says the job's engine is alive every few seconds for as long as the job runs, whatever it waits on (a server
/// slow to answer a login, a long send), so no other engine takes it for interrupted.
fn heartbeat(job: &JobCtx) -> JobTask<()> {
    let (store, job_id) = (job.store.clone(), job.job_id.clone());
    JobTask(tokio::spawn(async move {
        loop {
            if let Err(e) = store.job_heartbeat(&job_id, now_millis()) {
                eprintln!("mailproof: cannot note that job {job_id} is running: {e}");
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    }))
}

/// Ends a job with the status its verdicts give it.
fn finish(store: &Store, job_id: &str, cancel: &Cancel) -> Result<(), StoreError> {
    let report = store.job_report(job_id)?.expect("just written");
    let status = if cancel.is_cancelled() {
        "cancelled"
    } else if report.count(Verdict::Incomplete) > 0 {
        "incomplete"
    } else if report.count(Verdict::Errored) == report.actions.len() {
        "errored"
    } else {
        "completed"
    };
    store.finish_job(job_id, status, None, &now_text())
}

/// Picks up the jobs whose engine stopped (the app or command exited mid-job) at least `stale_after` ago, and
/// runs them to their end: actions never sent end Incomplete; the ones sent and accepted are watched for again —
/// from the mail received since the job started, so what arrived or bounced while no engine ran is found — until
/// their time-out, and decided as usual. A job a live engine runs is left alone. Returns the jobs picked up.
pub async fn resume_interrupted(
    store: &Store,
    keyring: &Keyring,
    opts: &RunOptions,
    stale_after: Duration,
    cancel: &Cancel,
    on_event: &(dyn Fn(JobEvent) + Send + Sync),
) -> Result<Vec<String>, JobError> {
    let mut claimed = Vec::new();
    // One at a time: a job waiting its turn keeps a stale heartbeat, so another engine may take it meanwhile.
    loop {
        let now = now_millis();
        let Some(job_id) = store.claim_interrupted_job(now - stale_after.as_millis() as i64, now)? else { break };
        resume_job(store, keyring, opts, &job_id, cancel, on_event).await?;
        finish(store, &job_id, cancel)?;
        claimed.push(job_id);
    }
    Ok(claimed)
}

async fn resume_job(
    store: &Store,
    keyring: &Keyring,
    opts: &RunOptions,
    job_id: &str,
    cancel: &Cancel,
    on_event: &(dyn Fn(JobEvent) + Send + Sync),
) -> Result<(), JobError> {
    let Some(job) = store.interrupted_job(
        job_id,
        "Mailproof stopped before this action was sent (the app or command exited while the job ran).",
        "Mailproof stopped while sending this action, so whether the server accepted it is unknown.",
        &now_text(),
    )?
    else {
        return Ok(());
    };
    let started = OffsetDateTime::parse(&job.started_at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    // An action that cannot be watched for again ends Incomplete, keeping what was sent.
    let give_up = |a: &WatchedAction, reason: &str| {
        let at = now_text();
        store.action_decided(
            &a.row_id,
            Verdict::Incomplete,
            Cause::Stopped.as_str(),
            reason,
            &a.evidence,
            None,
            None,
            &at,
        )
    };
    let source = match store.get_profile(&job.spec.source_profile_id)? {
        Some(p) => p,
        None => {
            let reason = "Mailproof stopped before this action was decided, and its source profile has been deleted \
                          since, so the job cannot be picked up.";
            for a in job.groups.iter().flat_map(|g| &g.watching) {
                give_up(a, reason)?;
            }
            return Ok(());
        }
    };
    let (events, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(JobCtx {
        store: store.clone(),
        job_id: Arc::from(job_id),
        source: Arc::new(source.clone()),
        spec: Arc::new(job.spec.clone()),
        opts: Arc::new(opts.clone()),
        cancel: cancel.clone(),
        events,
        rules: Arc::new(crate::rules::Classifier::load(store)?),
    });
    let work = async {
        let ctx = ctx;
        let timing = &ctx.spec.timing;
        let mut groups = Vec::new();
        let mut watched = Vec::new();
        for g in job.groups.iter().filter(|g| !g.watching.is_empty()) {
            let mut known = Vec::new();
            for a in &g.watching {
                match crate::actions::find(&a.action_id) {
                    Some(def) => known.push((a, def)),
                    None => give_up(
                        a,
                        &format!(
                            "Mailproof stopped before this action was decided, and this version no longer has action {}.",
                            a.action_id
                        ),
                    )?,
                }
            }
            let actions: Vec<(String, &'static ActionDef, String)> =
                known.iter().map(|(a, def)| (a.row_id.clone(), *def, a.evidence.token.clone())).collect();
            let dest = match &g.destination_profile_id {
                Some(id) => store.get_profile(id)?,
                None => None,
            };
            let group = GroupCtx {
                job: ctx.clone(),
                group: g.position,
                group_id: Arc::from(g.id.as_str()),
                // A deleted destination's group is only closed below: the source stands in for its profile.
                dest: Arc::new(dest.clone().unwrap_or_else(|| source.clone())),
                undecided: Arc::new(AtomicUsize::new(actions.len())),
                actions: Arc::new(actions),
            };
            if dest.is_none() {
                group.error_all(&format!(
                    "Setup: {} was deleted while Mailproof was stopped, so this action cannot be watched for.",
                    g.destination_email
                ))?;
                continue;
            }
            watched.extend(known.into_iter().map(|(a, def)| (group.clone(), a, def)));
            groups.push(group);
        }
        let source_password =
            profile_password(store, keyring, &source.id).map_err(|e| JobError::Password(e.to_string()));
        // Mail that arrived while no engine ran counts: every mailbox is read from the day before the job started
        // (a server's internal dates may be in another time zone than ours).
        let since = started.date().previous_day().unwrap_or(started.date());
        let _alive = heartbeat(&ctx);
        let ready = open_mailboxes(&ctx, keyring, source_password.as_ref(), &groups, Some(since)).await?;
        let Some((mailboxes, ready)) = ready else { return Ok(()) };
        let now = (Instant::now(), OffsetDateTime::now_utc());
        let at = |accepted: &Option<String>, extra: Duration| {
            let accepted = accepted
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
                .unwrap_or(now.1);
            let left = (accepted + extra - now.1).max(time::Duration::ZERO);
            now.0 + Duration::try_from(left).unwrap_or_default()
        };
        let sleep = Duration::from_secs(ctx.spec.params.extra_sleep_secs.into());
        let timeout = Duration::from_secs(timing.timeout_secs.into());
        let mut board = Board {
            pending: HashMap::new(),
            senders: 0,
            open: HashMap::new(),
            unclaimed: HashMap::new(),
            registered: 0,
        };
        for (group, a, def) in watched {
            if !ready.iter().any(|g| g.group_id == group.group_id) {
                continue;
            }
            let token = a.evidence.token.clone();
            board.open.insert(token.clone(), group.dest.id.clone());
            board.pending.insert(
                token,
                Pending {
                    group,
                    row_id: a.row_id.clone(),
                    def,
                    evidence: a.evidence.clone(),
                    tracked: a.tracked.unwrap_or_default(),
                    due: at(&a.accepted_at, sleep),
                    deadline: at(&a.accepted_at, sleep + timeout),
                    early: None,
                },
            );
        }
        watch_all(ctx, Arc::new(Mutex::new(board)), mailboxes).await?;
        Ok::<(), JobError>(())
    };
    let forward = async {
        while let Some(e) = progress.recv().await {
            on_event(e);
        }
    };
    let (worked, ()) = tokio::join!(work, forward);
    worked
}

/// How often a running engine says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A running job whose engine has not beaten for this long was interrupted.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// How many jobs stopped mid-run (the app or command exited) at least `stale_after` ago and wait to be picked up
/// by `resume_interrupted`.
pub fn interrupted_jobs(store: &Store, stale_after: Duration) -> Result<usize, StoreError> {
    store.count_interrupted_jobs(now_millis() - stale_after.as_millis() as i64)
}

/// What every part of a running job shares.
struct JobCtx {
    store: Store,
    job_id: Arc<str>,
    source: Arc<EmailProfile>,
    spec: Arc<JobSpec>,
    opts: Arc<RunOptions>,
    cancel: Cancel,
    /// Progress goes back to the task that runs the job, which hands it to the caller.
    events: tokio::sync::mpsc::UnboundedSender<JobEvent>,
    rules: Arc<crate::rules::Classifier>,
}

/// One group (source → destination): its actions (row id, action, token) and how many are still undecided.
#[derive(Clone)]
struct GroupCtx {
    job: Arc<JobCtx>,
    group: u32,
    group_id: Arc<str>,
    dest: Arc<EmailProfile>,
    actions: Arc<Vec<(String, &'static ActionDef, String)>>,
    /// The group ends when its last action is decided.
    undecided: Arc<AtomicUsize>,
}

/// An action sent and accepted, waiting for its fate.
struct Pending {
    group: GroupCtx,
    row_id: String,
    def: &'static ActionDef,
    /// What was sent (subject, parts, digests, token) and the evidence gathered so far.
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
        let _ = self.job.events.send(JobEvent {
            job_id: self.job.job_id.to_string(),
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
        let store = &self.job.store;
        store.action_decided(
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
        if self.undecided.fetch_sub(1, Ordering::SeqCst) == 1 {
            store.set_group_time(&self.group_id, None, Some(&now_text()))?;
        }
        Ok(())
    }

    fn error_all(&self, reason: &str) -> Result<(), StoreError> {
        let d = setup(reason.to_owned());
        for (row_id, def, _) in self.actions.iter() {
            self.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
        }
        Ok(())
    }

    fn build_context(&self) -> BuildContext<'_> {
        BuildContext {
            source: &self.job.source.email,
            destination: &self.dest.email,
            spoofed_from: self.job.spec.params.spoofed_from.as_deref(),
        }
    }
}

/// A mailbox the job watches: a destination's, where copies arrive, and the source's, where bounces do (one
/// mailbox may be both, when a profile sends to itself). Each is watched once, however many groups use it.
struct Mailbox {
    profile_id: String,
    watcher: Watcher,
    copies: bool,
    bounces: bool,
}

/// Opens a watcher on `profile`'s mailbox: from now on, or — picking up an interrupted job — from mail received
/// on or after `since`.
async fn open_watcher(
    profile: &EmailProfile,
    password: &crate::secrets::Secret,
    opts: &RunOptions,
    since: Option<time::Date>,
) -> Result<Watcher, String> {
    match profile.server_type {
        ServerType::Pop3 => {
            let config = pop3_config(profile, password, &opts.extra_ca);
            let w = match since {
                None => Pop3Watcher::open(&config).await,
                Some(_) => Pop3Watcher::open_all(&config).await,
            };
            w.map(Watcher::Pop3).map_err(|e| e.to_string())
        }
        _ => {
            let config = imap_config(profile, password, &opts.extra_ca);
            let w = match since {
                None => ImapWatcher::open(&config).await,
                Some(day) => ImapWatcher::open_since(&config, day).await,
            };
            let mut w = w.map_err(|e| e.to_string())?;
            w.start_idle().await.map_err(|e| e.to_string())?;
            Ok(Watcher::Imap(w))
        }
    }
}

/// Opens every mailbox the job watches, side by side, before anything is sent: mail arriving from then on
/// counts. Groups that cannot be watched end Errored with the reason; returns the mailboxes and the groups that
/// can run, or `None` when none can.
async fn open_mailboxes(
    job: &JobCtx,
    keyring: &Keyring,
    source_password: Result<&crate::secrets::Secret, &JobError>,
    groups: &[GroupCtx],
    since: Option<time::Date>,
) -> Result<Option<(Vec<Mailbox>, Vec<GroupCtx>)>, JobError> {
    for g in groups {
        job.store.set_group_time(&g.group_id, Some(&now_text()), None)?;
    }
    let source_password = match source_password {
        Ok(p) => p,
        Err(e) => {
            for g in groups {
                g.error_all(&format!("Setup: {e}"))?;
            }
            return Ok(None);
        }
    };
    // Each distinct mailbox once: the source's first, then the destinations' in the groups' order.
    let mut profiles: Vec<(Arc<EmailProfile>, Result<crate::secrets::Secret, String>)> =
        vec![(job.source.clone(), Ok(source_password.clone()))];
    for g in groups {
        if !profiles.iter().any(|(p, _)| p.id == g.dest.id) {
            let password = profile_password(&job.store, keyring, &g.dest.id).map_err(|e| e.to_string());
            profiles.push((g.dest.clone(), password));
        }
    }
    let opened = futures::future::join_all(profiles.iter().map(|(profile, password)| async move {
        match password {
            Ok(pw) => open_watcher(profile, pw, &job.opts, since)
                .await
                .map_err(|e| format!("Setup: cannot read {}'s mailbox: {e}", profile.email)),
            Err(e) => Err(format!("Setup: cannot read {}'s password: {e}", profile.email)),
        }
    }))
    .await;
    let mut mailboxes = Vec::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    for ((profile, _), watcher) in profiles.iter().zip(opened) {
        match watcher {
            Ok(watcher) => mailboxes.push(Mailbox {
                profile_id: profile.id.clone(),
                watcher,
                copies: groups.iter().any(|g| g.dest.id == profile.id),
                bounces: profile.id == job.source.id,
            }),
            Err(reason) => {
                failed.insert(profile.id.clone(), reason);
            }
        }
    }
    if let Some(reason) = failed.get(&job.source.id) {
        let reason = format!("{reason} (bounces arrive there)");
        for g in groups {
            g.error_all(&reason)?;
        }
        for m in mailboxes {
            m.watcher.close().await;
        }
        return Ok(None);
    }
    let mut ready = Vec::new();
    for g in groups {
        match failed.get(&g.dest.id) {
            Some(reason) => g.error_all(reason)?,
            None => ready.push(g.clone()),
        }
    }
    Ok(Some((mailboxes, ready)))
}

/// The job's actions in flight, shared by the senders and the watcher.
struct Board {
    /// Sent and accepted, by token.
    pending: HashMap<String, Pending>,
    /// Groups still sending.
    senders: usize,
    /// Tokens of actions not decided yet, with the destination profile their copy arrives in: what the watcher
    /// fetches.
    open: HashMap<String, String>,
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

fn lock(board: &Mutex<Board>) -> std::sync::MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends a group's actions over one SMTP session, one after another, and hands each accepted one to the watcher.
async fn send_all(ctx: &GroupCtx, password: &crate::secrets::Secret, board: &Mutex<Board>) -> Result<(), StoreError> {
    let result = send_each(ctx, password, board).await;
    lock(board).senders -= 1;
    result
}

async fn send_each(ctx: &GroupCtx, password: &crate::secrets::Secret, board: &Mutex<Board>) -> Result<(), StoreError> {
    let job = &ctx.job;
    let config = smtp_config(&job.source, password, &job.opts.extra_ca);
    let timing = &job.spec.timing;
    let actions = ctx.actions.as_slice();
    let mut session: Option<Session> = None;
    for (i, (row_id, def, token)) in actions.iter().enumerate() {
        if job.cancel.is_cancelled() {
            let d = stopped("Cancelled before this action was sent.");
            for (row_id, def, token) in &actions[i..] {
                lock(board).open.remove(token);
                ctx.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
            }
            break;
        }
        let composed = match compose(def, &ctx.build_context(), token) {
            Ok(c) => c,
            Err(e) => {
                let d = setup(format!("Cannot build the message: {e}"));
                lock(board).open.remove(token);
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
        job.store.action_sending(row_id, &composed.message_id, &now_text())?;
        let tracked = job.store.track_message(&NewTracked {
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
                job.store.action_watching(row_id, &now_text(), &evidence)?;
                let qid = accepted.queue_id.as_deref().map(|q| format!(", queue id {q}")).unwrap_or_default();
                job.store.track_event(
                    tracked,
                    now_millis(),
                    "sent",
                    None,
                    &format!("Accepted by {}:{}{qid}", config.host, config.port),
                    None,
                )?;
                let sleep = Duration::from_secs(job.spec.params.extra_sleep_secs.into());
                let now = Instant::now();
                let token = composed.token.clone();
                let mut s = lock(board);
                s.registered += 1;
                s.pending.insert(
                    token.clone(),
                    Pending {
                        group: ctx.clone(),
                        row_id: row_id.clone(),
                        def,
                        evidence,
                        tracked,
                        due: now + sleep,
                        deadline: now + sleep + Duration::from_secs(timing.timeout_secs.into()),
                        early: None,
                    },
                );
                let unclaimed = s.unclaimed.remove(&token).unwrap_or_default();
                drop(s);
                ctx.event(row_id, def, ActionState::Watching, None, None);
                for (a, bounce) in unclaimed {
                    if bounce {
                        on_bounce(job, board, a)?;
                    } else {
                        on_copy(job, board, a)?;
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
                job.store.track_event(tracked, now_millis(), "unsuccessful", Some("unsuccessful"), &d.reason, None)?;
                lock(board).open.remove(token);
                ctx.decide(row_id, def, &d, &mut evidence, None, None)?;
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

async fn watch_all(job: Arc<JobCtx>, board: Arc<Mutex<Board>>, mut mailboxes: Vec<Mailbox>) -> Result<(), StoreError> {
    let result = watch_loop(&job, &board, &mut mailboxes).await;
    for m in mailboxes {
        m.watcher.close().await;
    }
    result
}

async fn watch_loop(job: &JobCtx, board: &Mutex<Board>, mailboxes: &mut [Mailbox]) -> Result<(), StoreError> {
    let poll = Duration::from_millis(job.spec.timing.poll_millis.max(20).into());
    let changes: Vec<_> = mailboxes.iter().filter_map(|m| m.watcher.changes()).collect();
    let mut interval = FAST_LOOK;
    loop {
        {
            let s = lock(board);
            if s.senders == 0 && s.pending.is_empty() {
                return Ok(());
            }
        }
        if job.cancel.is_cancelled() {
            let pending = std::mem::take(&mut lock(board).pending);
            let d = stopped("Cancelled while waiting for this message.");
            for mut p in pending.into_values() {
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
        let looks = mailboxes.iter_mut().filter_map(|m| {
            let copies = m.copies && open.values().any(|dest| *dest == m.profile_id);
            let bounces = m.bounces && !open.is_empty();
            let open = &open;
            let mut wanted = move |header: &[u8]| {
                (copies && tokens_in(&String::from_utf8_lossy(header)).iter().any(|t| open.contains_key(*t)))
                    || (bounces && looks_like_bounce(header))
            };
            (copies || bounces).then_some(async move {
                let found = m.watcher.poll(&mut wanted).await;
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
        let now = Instant::now();
        let (due, expired): (Vec<Pending>, Vec<Pending>) = {
            let mut s = lock(board);
            let ready: Vec<String> =
                s.pending.iter().filter(|(_, p)| p.early.is_some() && p.due <= now).map(|(t, _)| t.clone()).collect();
            let ended: Vec<String> = s
                .pending
                .iter()
                .filter(|(_, p)| !(p.early.is_some() && p.due <= now) && p.deadline <= now)
                .map(|(t, _)| t.clone())
                .collect();
            let mut take = |tokens: Vec<String>| -> Vec<Pending> {
                tokens
                    .into_iter()
                    .filter_map(|t| {
                        s.open.remove(&t);
                        s.pending.remove(&t)
                    })
                    .collect()
            };
            (take(ready), take(ended))
        };
        for mut p in due {
            let a = p.early.take().expect("partitioned on early");
            judge_arrival(job, p, a)?;
        }
        for mut p in expired {
            let d = verdict::not_delivered(job.spec.timing.timeout_secs);
            job.store.track_event(p.tracked, now_millis(), "notReceived", Some("notReceived"), &d.reason, None)?;
            p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)?;
        }
        // Look again soon while mail is flowing or expected (an action accepted moments ago); back off to the
        // configured interval when it is quiet.
        let expecting = {
            let s = lock(board);
            s.registered != registered || s.pending.values().any(|p| p.due <= now && now < p.due + EXPECT_SOON)
        };
        interval = if found_any || expecting { FAST_LOOK } else { (interval * 2).min(poll) };
        wait_for_change(interval.min(poll), &changes).await;
    }
}

/// The shortest pause between looks, right after sending or finding mail.
const FAST_LOOK: Duration = Duration::from_millis(5);

/// For this long after an action was accepted, its mail is expected any moment: looks stay fast.
const EXPECT_SOON: Duration = Duration::from_secs(2);

/// Ends the waits `which` picks as Errored: the mailbox their decision depends on is gone.
fn fail_pending(board: &Mutex<Board>, which: impl Fn(&Pending) -> bool, reason: &str) -> Result<(), StoreError> {
    let pending = {
        let mut s = lock(board);
        let tokens: Vec<String> = s.pending.iter().filter(|(_, p)| which(p)).map(|(t, _)| t.clone()).collect();
        let mut taken = Vec::new();
        for t in tokens {
            s.open.remove(&t);
            taken.extend(s.pending.remove(&t));
        }
        taken
    };
    for mut p in pending {
        p.group.decide(&p.row_id, p.def, &setup(reason.to_owned()), &mut p.evidence, None, None)?;
    }
    Ok(())
}

/// A copy of one of our messages arrived (or a bounce that reached the destination, when sending to oneself).
fn on_copy(job: &JobCtx, board: &Mutex<Board>, a: Arrived) -> Result<(), StoreError> {
    let header_end = a.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(a.raw.len().min(64 * 1024));
    let header = String::from_utf8_lossy(&a.raw[..header_end]).into_owned();
    let ours = header
        .lines()
        .any(|l| l.get(..11).is_some_and(|n| n.eq_ignore_ascii_case("message-id:")) && l.contains("<mp-"));
    if !ours && looks_like_bounce(header.as_bytes()) && mailproof_mail::bounce::parse(&a.raw).is_some() {
        return on_bounce(job, board, a);
    }
    let candidates: Vec<String> = tokens_in(&header).into_iter().map(str::to_owned).collect();
    let taken = {
        let mut s = lock(board);
        let Some(token) = candidates.iter().find(|t| s.open.contains_key(t.as_str())).cloned() else { return Ok(()) };
        match s.pending.get_mut(&token) {
            // Registered but its extra sleep has not passed: judged when it has.
            Some(p) if p.due > Instant::now() => {
                p.early = Some(a.clone());
                None
            }
            Some(_) => {
                s.open.remove(&token);
                s.pending.remove(&token)
            }
            None => {
                s.unclaimed.entry(token).or_default().push((a.clone(), false));
                None
            }
        }
    };
    match taken {
        Some(p) => judge_arrival(job, p, a),
        None => Ok(()),
    }
}

fn judge_arrival(job: &JobCtx, mut p: Pending, a: Arrived) -> Result<(), StoreError> {
    let got = analyse(&a.raw);
    let sent = SentShape {
        subject: &p.evidence.subject,
        parts: &p.evidence.sent_parts,
        body_payload: &p.evidence.body_payload,
    };
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
    job.store.track_event(
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
    p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, delivered_at.as_deref(), Some(raw))
}

fn on_bounce(job: &JobCtx, board: &Mutex<Board>, a: Arrived) -> Result<(), StoreError> {
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
    let Some(token) = candidates.iter().find(|t| s.open.contains_key(**t)).map(|t| t.to_string()) else {
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
    s.open.remove(&token);
    let mut p = s.pending.remove(&token).expect("found above");
    drop(s);
    p.evidence.bounce = Some(b.clone());
    let d = match rule {
        Some(r) => verdict::by_rule(&b, &r),
        None => verdict::bounced(&b),
    };
    job.store.track_event(p.tracked, now_millis(), "unsuccessful", Some("unsuccessful"), &d.reason, None)?;
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
            at_millis: now_millis(),
            job_action_id: Some(&p.row_id),
            verification_of: None,
        },
        &format!("Bounce report delivered to {} of {}, about {}", a.folder, job.source.email, p.evidence.message_id),
        seen.source_ip(),
    )?;
    p.group.decide(&p.row_id, p.def, &d, &mut p.evidence, None, None)
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
