//! Picking up a job whose engine stopped: rebuilds its pending actions from the store and watches for them again.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use super::board::{Board, Pending, Wait, Waiting};
use super::engine::{heartbeat, open_mailboxes, GroupCtx, JobCtx};
use super::watch::watch_all;
use super::{JobError, RunOptions};
use crate::actions::ActionDef;
use crate::cancel::Cancel;
use crate::jobs::{Cause, JobEvent, Verdict};
use crate::mailbox::Mark;
use crate::profiles::profile_credentials;
use crate::secrets::Keyring;
use crate::store::jobs::WatchedAction;
use crate::store::Store;

/// Rebuilds the interrupted job `job_id` and watches for what it had sent until each action is decided.
pub(super) async fn resume_job(
    store: &Store,
    keyring: &Keyring,
    opts: &RunOptions,
    job_id: &str,
    owner: &str,
    cancel: &Cancel,
    on_event: &(dyn Fn(JobEvent) + Send + Sync),
) -> Result<(), JobError> {
    let Some(job) = store.interrupted_job(
        job_id,
        "Mailproof stopped before this action was sent (the app or command exited while the job ran).",
        "Mailproof stopped while sending this action, so whether the server accepted it is unknown.",
        &opts.clock.now_text(),
    )?
    else {
        return Ok(());
    };
    let started = OffsetDateTime::parse(&job.started_at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| opts.clock.now());
    // An action that cannot be watched for again ends Incomplete, keeping what was sent.
    let give_up = |a: &WatchedAction, reason: &str| {
        let at = opts.clock.now_text();
        store
            .action_decided(
                &a.row_id,
                Verdict::Incomplete,
                Cause::Stopped.as_str(),
                reason,
                &a.evidence,
                None,
                None,
                &at,
                owner,
            )
            .map(drop)
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
    // The actors it ran between reach its mailboxes again; without them it cannot be watched as it was.
    let remotes = match super::actors::reach(store, keyring, &job.spec).await {
        Ok(r) => Arc::new(r),
        Err(e) => {
            let reason =
                format!("Mailproof stopped before this action was decided, and the job cannot be picked up: {e}");
            for a in job.groups.iter().flat_map(|g| &g.watching) {
                give_up(a, &reason)?;
            }
            return Ok(());
        }
    };
    let (events, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(JobCtx {
        store: store.clone(),
        job_id: Arc::from(job_id),
        owner: Arc::from(owner),
        source: Arc::new(source.clone()),
        spec: Arc::new(job.spec.clone()),
        opts: Arc::new(opts.clone()),
        cancel: cancel.clone(),
        events,
        rules: Arc::new(crate::rules::Classifier::load(store)?),
        clock: opts.clock.clone(),
        unwatched_alerts: Default::default(),
        remotes,
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
        let source_credentials =
            profile_credentials(store, keyring, &source).map_err(|e| JobError::Password(e.to_string()));
        // Mail that arrived while no engine ran counts: every mailbox is read from the day before the job started
        // (a server's internal dates may be in another time zone than ours).
        let since = started.date().previous_day().unwrap_or(started.date());
        let _alive = heartbeat(&ctx);
        let ready = open_mailboxes(&ctx, keyring, source_credentials.as_ref(), &groups, Mark::Since(since)).await?;
        let Some((mailboxes, ready)) = ready else { return Ok(()) };
        let now = (ctx.clock.instant(), ctx.clock.now());
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
        let mut board = Board::new(0, Default::default());
        for (group, a, def) in watched {
            if !ready.iter().any(|g| g.group_id == group.group_id) {
                continue;
            }
            let token = a.evidence.token.clone();
            board.open.insert(token.clone(), group.dest.id.clone());
            let pending = Pending {
                group,
                row_id: a.row_id.clone(),
                def,
                evidence: a.evidence.clone(),
                tracked: a.tracked.unwrap_or_default(),
                wait: Wait {
                    due: at(&a.accepted_at, sleep),
                    deadline: at(&a.accepted_at, sleep + timeout),
                    early: None,
                },
            };
            board.sent.insert(token.clone(), pending.sent());
            board.pending.insert(token, pending);
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
