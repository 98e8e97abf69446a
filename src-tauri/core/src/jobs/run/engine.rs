//! The frame every running job shares, started or resumed: its context, its groups, its heartbeat, the mailboxes
//! it watches (opened through the mailbox seam), and how an action is decided and reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::actors::Remotes;
use super::{JobError, RunOptions, HEARTBEAT};
use crate::actions::{ActionDef, BuildContext};
use crate::cancel::Cancel;
use crate::clock::SharedClock;
use crate::jobs::verdict::{self, Decision};
use crate::jobs::{ActionState, Cause, Evidence, JobEvent, JobSpec, Verdict};
use crate::mailbox::{Mailbox, Mark, Watch};
use crate::profiles::{profile_credentials, Credentials, EmailProfile};
use crate::secrets::Keyring;
use crate::store::{Store, StoreError};

/// A task of the job's (its watcher, its heartbeat), stopped when the job is dropped (its caller went away)
/// rather than left running.
pub(super) struct JobTask<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for JobTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Says the job's engine is alive every few seconds for as long as the job runs, whatever it waits on (a server
/// slow to answer a login, a long send), so no other engine takes it for interrupted. When another engine has
/// taken the job over after all (this one was frozen longer than a take-over waits: a suspended laptop), this
/// one stops: it cancels its own run, and the store no longer takes its verdicts.
pub(super) fn heartbeat(job: &JobCtx) -> JobTask<()> {
    let (store, job_id, owner, clock) = (job.store.clone(), job.job_id.clone(), job.owner.clone(), job.clock.clone());
    let cancel = job.cancel.clone();
    JobTask(tokio::spawn(async move {
        loop {
            match store.job_heartbeat(&job_id, &owner, clock.now_millis()) {
                Ok(true) => {}
                Ok(false) => {
                    eprintln!("mailproof: another engine has taken job {job_id} over; this one stops");
                    cancel.cancel();
                    return;
                }
                Err(e) => eprintln!("mailproof: cannot note that job {job_id} is running: {e}"),
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    }))
}

/// The job's own cancel: it follows `caller`'s, and the engine can also cancel it alone (when it lost the job to
/// another engine) without cancelling whatever else the caller runs.
pub(super) fn own_cancel(caller: &Cancel) -> (Cancel, JobTask<()>) {
    let own = Cancel::default();
    let (caller, follows) = (caller.clone(), own.clone());
    let task = JobTask(tokio::spawn(async move {
        caller.cancelled().await;
        follows.cancel();
    }));
    (own, task)
}

/// What every part of a running job shares.
pub(super) struct JobCtx {
    pub store: Store,
    pub job_id: Arc<str>,
    /// This engine, as the job's owner: the store takes its verdicts only while it owns the job.
    pub owner: Arc<str>,
    pub source: Arc<EmailProfile>,
    pub spec: Arc<JobSpec>,
    pub opts: Arc<RunOptions>,
    pub cancel: Cancel,
    /// Progress goes back to the task that runs the job, which hands it to the caller.
    pub events: tokio::sync::mpsc::UnboundedSender<JobEvent>,
    pub rules: Arc<crate::rules::Classifier>,
    pub clock: SharedClock,
    /// Alerts mailboxes that could not be opened or read (address, why): a Missed verdict says a notice there
    /// would have gone unseen.
    pub unwatched_alerts: std::sync::Mutex<Vec<(String, String)>>,
    /// The remote actors that send from the source or read destinations; the rest is this workstation's.
    pub remotes: Arc<Remotes>,
}

impl JobCtx {
    /// `profile`'s mailbox, reached by the actor the job chose for it: through its agent, or from here.
    pub(super) fn mailbox(&self, profile: &EmailProfile, credentials: &Credentials) -> Box<dyn Mailbox> {
        match self.remotes.of(&profile.id, &self.source.id) {
            Some(actor) => crate::agent::remote_mailbox(actor, profile, &credentials.password),
            None => self.opts.mailbox(profile, credentials),
        }
    }

    /// Alerts mailbox `email` cannot be watched, for `why`: said once, however often it fails.
    pub(super) fn alerts_unwatched(&self, email: &str, why: &str) {
        let mut list = self.unwatched_alerts.lock().unwrap_or_else(|p| p.into_inner());
        if !list.iter().any(|(e, _)| e == email) {
            list.push((email.to_owned(), why.to_owned()));
        }
    }
}

/// One group (source → destination): its actions (row id, action, token) and how many are still undecided.
#[derive(Clone)]
pub(super) struct GroupCtx {
    pub job: Arc<JobCtx>,
    pub group: u32,
    pub group_id: Arc<str>,
    pub dest: Arc<EmailProfile>,
    pub actions: Arc<Vec<(String, &'static ActionDef, String)>>,
    /// The group ends when its last action is decided.
    pub undecided: Arc<AtomicUsize>,
}

impl GroupCtx {
    pub(super) fn event(
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

    pub(super) fn decide(
        &self,
        row_id: &str,
        def: &ActionDef,
        d: &Decision,
        evidence: &mut Evidence,
        delivered_at: Option<&str>,
        raw: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        // Notices that came while it waited, each said once.
        let mut d = evidence.notices.iter().fold(d.clone(), verdict::with_notice);
        if d.verdict == Verdict::Missed {
            for (email, why) in self.job.unwatched_alerts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                d.reason.push_str(&format!(
                    " The alerts mailbox {email} could not be watched ({why}): a gateway's notice about it there \
                     would not have been seen."
                ));
            }
        }
        let d = &d;
        evidence.changes = d.changes.clone();
        evidence.flags = d.flags.clone();
        let store = &self.job.store;
        let written = store.action_decided(
            row_id,
            d.verdict,
            d.cause.as_str(),
            &d.reason,
            evidence,
            delivered_at,
            raw,
            &self.job.clock.now_text(),
            &self.job.owner,
        )?;
        if !written {
            // Decided already, or the job is another engine's now: nothing of this engine's changes it.
            return Ok(());
        }
        self.event(row_id, def, ActionState::Decided, Some(d.verdict), Some(d.reason.clone()));
        if self.undecided.fetch_sub(1, Ordering::SeqCst) == 1 {
            store.set_group_time(&self.group_id, None, Some(&self.job.clock.now_text()))?;
        }
        Ok(())
    }

    pub(super) fn error_all(&self, reason: &str) -> Result<(), StoreError> {
        let d = setup(reason.to_owned());
        for (row_id, def, _) in self.actions.iter() {
            self.decide(row_id, def, &d, &mut Evidence::default(), None, None)?;
        }
        Ok(())
    }

    pub(super) fn build_context(&self) -> BuildContext<'_> {
        BuildContext {
            source: &self.job.source.email,
            destination: &self.dest.email,
            spoofed_from: self.job.spec.params.spoofed_from.as_deref(),
        }
    }
}

/// A mailbox the job watches: a destination's, where copies arrive, the source's, where bounces do, and every
/// alerts mailbox, where gateways' notices do (one mailbox may be several, when a profile sends to itself). Each
/// is watched once, however many groups use it.
pub(super) struct Watched {
    pub profile_id: String,
    pub email: String,
    pub watch: Box<dyn Watch>,
    pub copies: bool,
    pub bounces: bool,
    pub notices: bool,
}

/// Opens every mailbox the job watches, side by side, before anything is sent: mail arriving from then on
/// counts. Groups that cannot be watched end Errored with the reason; returns the mailboxes and the groups that
/// can run, or `None` when none can.
pub(super) async fn open_mailboxes(
    job: &JobCtx,
    keyring: &Keyring,
    source_credentials: Result<&Credentials, &JobError>,
    groups: &[GroupCtx],
    mark: Mark,
) -> Result<Option<(Vec<Watched>, Vec<GroupCtx>)>, JobError> {
    for g in groups {
        job.store.set_group_time(&g.group_id, Some(&job.clock.now_text()), None)?;
    }
    let source_credentials = match source_credentials {
        Ok(p) => p,
        Err(e) => {
            for g in groups {
                g.error_all(&format!("Setup: {e}"))?;
            }
            return Ok(None);
        }
    };
    // Each distinct mailbox once: the source's first, then the destinations' in the groups' order.
    let mut profiles: Vec<(Arc<EmailProfile>, Result<Credentials, String>)> =
        vec![(job.source.clone(), Ok(source_credentials.clone()))];
    for g in groups {
        if !profiles.iter().any(|(p, _)| p.id == g.dest.id) {
            let credentials = profile_credentials(&job.store, keyring, &g.dest).map_err(|e| e.to_string());
            profiles.push((g.dest.clone(), credentials));
        }
    }
    // Then the alerts mailboxes this workstation verified.
    let mut alerts = Vec::new();
    let actors = job.store.list_actors()?;
    for p in job.store.list_profiles()? {
        if p.alerts_mailbox && super::start::verified_here(&actors, &p) {
            alerts.push(p.id.clone());
            if !profiles.iter().any(|(q, _)| q.id == p.id) {
                let credentials = profile_credentials(&job.store, keyring, &p).map_err(|e| e.to_string());
                profiles.push((Arc::new(p), credentials));
            }
        }
    }
    let opened = futures::future::join_all(profiles.iter().map(|(profile, credentials)| async move {
        match credentials {
            Ok(c) => job
                .mailbox(profile, c)
                .watch(mark, true)
                .await
                .map_err(|e| format!("Setup: cannot read {}'s mailbox: {e}", profile.email)),
            Err(e) => Err(format!("Setup: cannot sign in to {}'s mailbox: {e}", profile.email)),
        }
    }))
    .await;
    let mut mailboxes = Vec::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    for ((profile, _), watcher) in profiles.iter().zip(opened) {
        match watcher {
            Ok(watch) => mailboxes.push(Watched {
                profile_id: profile.id.clone(),
                email: profile.email.clone(),
                watch,
                copies: groups.iter().any(|g| g.dest.id == profile.id),
                bounces: profile.id == job.source.id,
                notices: alerts.contains(&profile.id),
            }),
            Err(reason) => {
                if alerts.contains(&profile.id) {
                    job.alerts_unwatched(&profile.email, reason.trim_start_matches("Setup: "));
                }
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
            m.watch.close().await;
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

pub(super) fn setup(reason: String) -> Decision {
    Decision { verdict: Verdict::Errored, cause: Cause::Setup, reason, changes: Vec::new(), flags: Vec::new() }
}

pub(super) fn stopped(reason: &str) -> Decision {
    Decision {
        verdict: Verdict::Incomplete,
        cause: Cause::Stopped,
        reason: reason.to_owned(),
        changes: Vec::new(),
        flags: Vec::new(),
    }
}
