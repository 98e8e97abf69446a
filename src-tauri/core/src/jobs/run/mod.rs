//! Runs a job: per group (source → destination), one submission session sends the actions one after another,
//! while one task watches every mailbox of the job once — the destinations' (every folder) for the copies, the
//! source's for bounces. Every step is written to the store as it happens, so an interrupted job can be picked up
//! again. This file is the orchestration; the rooms beside it do the work:
//! `start` checks a spec, `engine` is the frame both entries share, `board` holds the actions in flight, `send`
//! submits, `watch` looks, `arrival` decides what came back, `resume` rebuilds an interrupted job.

mod actors;
mod arrival;
mod board;
mod engine;
mod resume;
mod send;
mod start;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use super::{JobEvent, JobSpec, JobStatus, Verdict};
use crate::cancel::Cancel;
use crate::clock::SharedClock;
use crate::mailbox::{self, Mark};
use crate::profiles::profile_credentials;
use crate::secrets::Keyring;
use crate::store::jobs::NewJob;
use crate::store::{Store, StoreError};
use board::Board;
use engine::{heartbeat, open_mailboxes, own_cancel, GroupCtx, JobCtx, JobTask};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A CA trusted beyond the public roots (an organisation's; the lab's in tests).
    pub extra_ca: Option<PathBuf>,
    /// Where the engine reads the time (the system clock unless a test fixes it).
    pub clock: SharedClock,
    /// How long a connection may wait on a silent server before it is given up and opened again; `None`: the
    /// profiles' usual 30 s.
    pub network_timeout: Option<std::time::Duration>,
}

impl RunOptions {
    /// The mailbox of `profile`, reached the way these options say.
    pub(crate) fn mailbox(
        &self,
        profile: &crate::profiles::EmailProfile,
        credentials: &crate::profiles::Credentials,
    ) -> Box<dyn mailbox::Mailbox> {
        let reach = mailbox::reach_of(profile, credentials, &self.extra_ca);
        mailbox::open(match self.network_timeout {
            Some(t) => reach.with_timeout(t),
            None => reach,
        })
    }
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
    #[error("{email} is not verified, so Mailproof will not send test threats from it: bounces come back to its mailbox, which must be shown readable first. Verify it in Email Profiles (or `mailproof profile verify`).")]
    SourceUnverified { email: String },
    #[error("the client secret of {email} expired on {on}: create a new one under the app's Certificates & secrets in the Entra admin centre, then edit the profile with it and its expiry date.")]
    SecretExpired { email: String, on: String },
    #[error("there is no actor {0}")]
    UnknownActor(String),
    #[error("{email} is not verified for actor {actor}, so that actor may not send or read its test mail. Verify it for {actor} in Email Profiles (or `mailproof profile verify`), or pick an actor that has.")]
    ActorUnverified { email: String, actor: String },
    #[error("{email} signs in with OAuth 2.0 or is a Microsoft 365 or Gmail profile: reading it through a remote actor's agent is not built yet (agents sign in with passwords). Run its part of the job from this workstation.")]
    RemoteUnsupported { email: String, actor: String },
    #[error("actor {actor} has no paired agent: pair it in Settings → Actors (or `mailproof actor pair`)")]
    NotPaired { actor: String },
    #[error("actor {actor}'s agent cannot take the job, so nothing was sent: {detail}")]
    Agent { actor: String, detail: String },
    #[error("{0} is chosen twice with different actors: a mailbox is read by one actor per job")]
    TwoActors(String),
    #[error("the spoofed From address \"{0}\" is not a valid email address")]
    BadSpoofedFrom(String),
    #[error("{0}")]
    Timing(&'static str),
    #[error("cannot sign in to the source profile's mailbox: {0}")]
    Password(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let checked = start::check(store, spec, opts.clock.now().date())?;
    // Every remote actor's agent answers, as paired, before anything is stored or sent.
    let remotes = Arc::new(actors::reach(store, keyring, spec).await?);
    let (job_id, groups) = start::rows(&checked);
    let (source, destinations) = (&checked.source, &checked.destinations);
    let now = opts.clock.now();
    let owner = crate::ids::new_id();
    store.create_job(
        &NewJob {
            id: &job_id,
            name: &spec.name,
            selection_json: serde_json::to_string(&spec.selection).expect("serializes"),
            params_json: serde_json::to_string(&(&spec.params, &spec.timing)).expect("serializes"),
            now: &crate::store::utc_text(now),
            now_millis: (now.unix_timestamp_nanos() / 1_000_000) as i64,
            owner: &owner,
        },
        &groups,
    )?;

    let rules = Arc::new(crate::rules::Classifier::load(store)?);
    let source_credentials = profile_credentials(store, keyring, source).map_err(|e| JobError::Password(e.to_string()));
    let (events, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let (job_cancel, _follows) = own_cancel(cancel);
    let job = Arc::new(JobCtx {
        store: store.clone(),
        job_id: Arc::from(job_id.as_str()),
        owner: Arc::from(owner.as_str()),
        source: Arc::new(source.clone()),
        spec: Arc::new(spec.clone()),
        opts: Arc::new(opts.clone()),
        cancel: job_cancel.clone(),
        events,
        rules,
        clock: opts.clock.clone(),
        unwatched_alerts: Default::default(),
        remotes,
    });
    let work = async {
        // The block owns the job's context: progress ends when it is done.
        let job = job;
        let groups: Vec<GroupCtx> = groups
            .iter()
            .zip(destinations)
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
        let ready = open_mailboxes(&job, keyring, source_credentials.as_ref(), &groups, Mark::Now).await?;
        let Some((mailboxes, ready)) = ready else { return Ok(()) };
        let open = ready
            .iter()
            .flat_map(|g| g.actions.iter().map(|(_, _, token)| (token.clone(), g.dest.id.clone())))
            .collect();
        let board = Arc::new(Mutex::new(Board::new(ready.len(), open)));
        // One task watches every mailbox of the job, so looking never waits behind sending (and runs on another
        // core when the runtime has one). Groups send side by side, at most `concurrency` at once.
        let mut watcher = JobTask(tokio::spawn(watch::watch_all(job.clone(), board.clone(), mailboxes)));
        let source_credentials =
            source_credentials.as_ref().expect("groups are ready only with the source's credentials");
        let outbox = job.mailbox(source, source_credentials);
        let outbox = &*outbox;
        let concurrency = spec.timing.concurrency.clamp(1, super::MAX_CONCURRENCY) as usize;
        let mut sending = futures::stream::iter(ready.into_iter().map(|g| {
            let board = board.clone();
            async move { send::send_all(&g, outbox, &board).await }
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
    finish(store, &job_id, &owner, &job_cancel, &opts.clock)?;
    Ok(job_id)
}

/// Ends a job with the status its verdicts give it (if this engine, `owner`, still runs it).
fn finish(store: &Store, job_id: &str, owner: &str, cancel: &Cancel, clock: &SharedClock) -> Result<(), StoreError> {
    let report = store.job_report(job_id)?.expect("just written");
    let status = if cancel.is_cancelled() {
        JobStatus::Cancelled
    } else if report.count(Verdict::Incomplete) > 0 {
        JobStatus::Incomplete
    } else if report.count(Verdict::Errored) == report.actions.len() {
        JobStatus::Errored
    } else {
        JobStatus::Completed
    };
    store.finish_job(job_id, owner, status, None, &clock.now_text())
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
    // Jobs found alive after all (their engine beat while we watched), not asked about again in this call.
    let mut alive = Vec::new();
    // One at a time: a job waiting its turn keeps a stale heartbeat, so another engine may take it meanwhile.
    loop {
        let now = opts.clock.now_millis();
        let Some((job_id, beats)) = store.stale_job(now - stale_after.as_millis() as i64, &alive)? else { break };
        // Its engine stopped only if it does not beat while we watch, on this engine's own monotonic clock.
        if cancel.unless(tokio::time::sleep(TAKE_OVER_AFTER)).await.is_none() {
            break;
        }
        let owner = crate::ids::new_id();
        if !store.take_over_job(&job_id, beats, &owner, opts.clock.now_millis())? {
            alive.push(job_id);
            continue;
        }
        let (job_cancel, _follows) = own_cancel(cancel);
        resume::resume_job(store, keyring, opts, &job_id, &owner, &job_cancel, on_event).await?;
        finish(store, &job_id, &owner, &job_cancel, &opts.clock)?;
        claimed.push(job_id);
    }
    Ok(claimed)
}

/// How often a running engine says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long an engine watches a stale-looking job's beat count before taking it over: more than two beats.
const TAKE_OVER_AFTER: Duration = Duration::from_secs(5);

/// A running job whose engine has not beaten for this long was interrupted.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// How many jobs stopped mid-run (the app or command exited) at least `stale_after` ago and wait to be picked up
/// by `resume_interrupted`.
pub fn interrupted_jobs(store: &Store, stale_after: Duration, now_millis: i64) -> Result<usize, StoreError> {
    store.count_interrupted_jobs(now_millis - stale_after.as_millis() as i64)
}
