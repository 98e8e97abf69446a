//! Email action jobs: what a job is, how its actions end, and the evidence each keeps. The runner sends and
//! watches; the verdict module decides; the store keeps everything as it happens.

pub mod defaults;
pub mod export;
mod run;
pub mod verdict;

use mailproof_mail::authres::AuthResults;
use mailproof_mail::bounce::Bounce;
use mailproof_mail::message::{Hop, PartDigest};
use serde::{Deserialize, Serialize};

pub use run::{interrupted_jobs, resume_interrupted, run_job, JobError, RunOptions, STALE_AFTER};

use crate::actions::Selection;

/// Where a job is: running, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    Running,
    /// Every action was decided.
    Completed,
    /// Some actions were never decided (the run stopped before their end).
    Incomplete,
    /// Every action errored: the job never met a defence.
    Errored,
    /// Stopped by the user.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Running, JobStatus::Completed, JobStatus::Incomplete, JobStatus::Errored, JobStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Incomplete => "incomplete",
            JobStatus::Errored => "errored",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Rejected, bounced, modified in transit, or never arrived in time.
    Prevented,
    /// Arrived intact but flagged: junk folder, tagged subject, verdict headers.
    Detected,
    /// Arrived intact and unflagged, but a gateway sent a notice about it to an alerts mailbox.
    Alerted,
    /// Arrived intact and unflagged.
    Missed,
    /// Could not run for a setup reason; never counted as blocked.
    Errored,
    /// The run stopped (cancelled, or the app exited) before this action was decided.
    Incomplete,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Prevented => "prevented",
            Verdict::Detected => "detected",
            Verdict::Alerted => "alerted",
            Verdict::Missed => "missed",
            Verdict::Errored => "errored",
            Verdict::Incomplete => "incomplete",
        }
    }
    /// Every verdict, in the order counts are shown.
    pub const ALL: [Verdict; 6] = [
        Verdict::Prevented,
        Verdict::Detected,
        Verdict::Alerted,
        Verdict::Missed,
        Verdict::Errored,
        Verdict::Incomplete,
    ];

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Prevented => "Prevented",
            Verdict::Detected => "Detected",
            Verdict::Alerted => "Alerted",
            Verdict::Missed => "Missed",
            Verdict::Errored => "Errored",
            Verdict::Incomplete => "Incomplete",
        }
    }
}

/// Why, in one word, for filtering and charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Cause {
    Rejected,
    Bounced,
    Modified,
    /// Found where deleted mail goes: taken out of the mailbox after delivery.
    Removed,
    NotDelivered,
    Junk,
    Tagged,
    Flagged,
    /// Arrived untouched, and a gateway's notice about it reached an alerts mailbox.
    Notified,
    Clean,
    Setup,
    Stopped,
}

impl Cause {
    pub const ALL: [Cause; 12] = [
        Cause::Rejected,
        Cause::Bounced,
        Cause::Modified,
        Cause::Removed,
        Cause::NotDelivered,
        Cause::Junk,
        Cause::Tagged,
        Cause::Flagged,
        Cause::Notified,
        Cause::Clean,
        Cause::Setup,
        Cause::Stopped,
    ];

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Rejected => "rejected",
            Cause::Bounced => "bounced",
            Cause::Modified => "modified",
            Cause::Removed => "removed",
            Cause::NotDelivered => "notDelivered",
            Cause::Junk => "junk",
            Cause::Tagged => "tagged",
            Cause::Flagged => "flagged",
            Cause::Notified => "notified",
            Cause::Clean => "clean",
            Cause::Setup => "setup",
            Cause::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ActionState {
    Queued,
    Sending,
    Watching,
    Decided,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Queued => "queued",
            ActionState::Sending => "sending",
            ActionState::Watching => "watching",
            ActionState::Decided => "decided",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RuntimeParams {
    /// The "From spoofed address" for spoofing actions; any address, shown with a warning.
    pub spoofed_from: Option<String>,
    /// Wait this long after sending before looking for the message.
    pub extra_sleep_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobTiming {
    /// How long to wait for each message (or its bounce) after it was accepted.
    pub timeout_secs: u32,
    /// Pause between sending one action and the next.
    pub pause_millis: u32,
    /// How often to look at the mailboxes.
    pub poll_millis: u32,
    /// How many groups (source → destination pairs) run at once; jobs stored before this existed ran one.
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn one() -> u32 {
    1
}

/// The most groups a job runs at once: each holds an SMTP session and four IMAP sessions.
pub const MAX_CONCURRENCY: u32 = 16;

impl Default for JobTiming {
    fn default() -> Self {
        JobTiming { timeout_secs: 300, pause_millis: 0, poll_millis: 250, concurrency: 4 }
    }
}

impl JobTiming {
    /// Why this timing (with the spec's extra sleep) cannot run, in the words the app's form uses; `None` when it
    /// can. The app and `mailproof run` both ask this before a job starts.
    pub fn problem(&self, params: &RuntimeParams) -> Option<&'static str> {
        if !(3..=86_400).contains(&self.timeout_secs) {
            Some("Wait for each message: a whole number of seconds from 3 to 86,400.")
        } else if params.extra_sleep_secs > 3_600 {
            Some("Extra sleep: a whole number of seconds from 0 to 3,600.")
        } else if self.pause_millis > 600_000 {
            Some("Pause between actions: a whole number of milliseconds from 0 to 600,000.")
        } else if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            Some("Destinations tested at once: a whole number from 1 to 16.")
        } else if !(20..=60_000).contains(&self.poll_millis) {
            Some("Look at the mailboxes every 20 to 60,000 milliseconds.")
        } else {
            None
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub name: String,
    pub selection: Selection,
    pub source_profile_id: String,
    pub destination_profile_ids: Vec<String>,
    pub params: RuntimeParams,
    pub timing: JobTiming,
    /// Which actors send and read, where not this workstation.
    #[serde(default)]
    pub actors: JobActors,
}

/// How results name the built-in actor.
pub const THIS_WORKSTATION: &str = "This workstation";

/// The actors a job runs between: the source's (it sends and reads the bounces) and each destination's (it reads
/// the copies). A profile not named here is this workstation's. Each must have verified its profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobActors {
    /// The actor that sends from the source profile; `None`: this workstation.
    pub source: Option<String>,
    /// The actor that reads each destination profile, by profile id.
    #[serde(default)]
    pub destinations: std::collections::BTreeMap<String, String>,
}

/// The copy of the message that arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReceivedCopy {
    pub folder: String,
    pub junk: bool,
    pub headers: Vec<(String, String)>,
    pub hops: Vec<Hop>,
    pub parts: Vec<PartDigest>,
    pub links: Vec<String>,
    pub authentication_results: Vec<String>,
    /// The same fields read (and ARC's), newest first.
    #[serde(default)]
    pub authentication: Vec<AuthResults>,
    pub source_ip: Option<String>,
    pub size: u32,
    /// The copy was larger than Mailproof keeps; `raw_received` holds its beginning.
    pub truncated: bool,
}

/// Everything an analyst needs to see why an action ended as it did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub envelope_from: String,
    pub from_header: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    /// The Message-ID the message left with when its service replaced ours (Exchange's Sent Items copy says).
    #[serde(default)]
    pub sent_message_id: Option<String>,
    pub token: String,
    /// The SMTP conversation, `C:`/`S:` lines, credentials removed.
    pub transcript: Vec<String>,
    /// The server's reply to the end of DATA.
    pub smtp_reply: Option<String>,
    pub queue_id: Option<String>,
    /// How many times sending was tried (4xx replies are retried).
    pub attempts: u32,
    pub sent_parts: Vec<PartDigest>,
    pub body_payload: Vec<String>,
    pub received: Option<ReceivedCopy>,
    pub bounce: Option<Bounce>,
    /// Delay warnings (temporary DSNs) seen while waiting.
    pub delay_notices: Vec<String>,
    pub changes: Vec<String>,
    pub flags: Vec<String>,
    /// Gateways' notices about this message found in alerts mailboxes (quarantine notices, incident reports).
    #[serde(default)]
    pub notices: Vec<Notice>,
}

/// A gateway's notice that names one of the job's messages, found in an alerts mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The alerts mailbox it reached.
    pub mailbox: String,
    pub from: String,
    pub subject: String,
    pub message_id: String,
    /// When Mailproof found it, UTC, RFC 3339.
    pub found_at: String,
    /// Its text, from the beginning, at most a few kilobytes.
    pub excerpt: String,
}

impl Notice {
    /// "alerts@example.test from gateway@example.test: \"Incident report …\"" — for a verdict's reason.
    pub fn summary(&self) -> String {
        let from = if self.from.is_empty() { String::new() } else { format!(" from {}", self.from) };
        format!("{}{from}: \"{}\"", self.mailbox, self.subject)
    }
}

/// Something changed in a running job: for live progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    pub job_id: String,
    pub group: u32,
    /// The job action's row id.
    pub row_id: String,
    pub action_id: String,
    pub action_name: String,
    pub state: ActionState,
    pub verdict: Option<Verdict>,
    pub reason: Option<String>,
}

/// One action of a stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub row_id: String,
    pub group: u32,
    pub source_email: String,
    pub destination_email: String,
    /// The actor that sent it, by name; `None`: this workstation.
    #[serde(default)]
    pub source_actor: Option<String>,
    /// The actor that read the destination, by name; `None`: this workstation.
    #[serde(default)]
    pub destination_actor: Option<String>,
    pub action_id: String,
    pub action_name: String,
    pub category: String,
    pub risk: String,
    pub direction: String,
    pub state: ActionState,
    pub verdict: Option<Verdict>,
    pub cause: Option<String>,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    pub sent_at: Option<String>,
    pub accepted_at: Option<String>,
    pub delivered_at: Option<String>,
    pub decided_at: Option<String>,
    pub evidence: Option<Evidence>,
}

/// A job as the jobs list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    pub id: String,
    pub name: String,
    pub status: JobStatus,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub actions: u32,
    pub prevented: u32,
    pub detected: u32,
    pub alerted: u32,
    pub missed: u32,
    pub errored: u32,
    pub incomplete: u32,
}

/// A stored job with every action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    pub id: String,
    pub name: String,
    pub status: JobStatus,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// The runtime parameters and timing the job ran with (`None` if they cannot be read back).
    pub params: Option<RuntimeParams>,
    pub timing: Option<JobTiming>,
    /// Addresses of the job's source and destinations whose profiles were deleted since it ran (their results
    /// stay; a re-run leaves them out).
    pub deleted_profiles: Vec<String>,
    pub actions: Vec<ActionResult>,
}

impl JobReport {
    pub fn count(&self, v: Verdict) -> usize {
        self.actions.iter().filter(|a| a.verdict == Some(v)).count()
    }

    /// Prevented among the actions that ran (Errored and Incomplete count neither way); `None` when none ran.
    pub fn prevention_rate(&self) -> Option<f64> {
        let ran = [Verdict::Prevented, Verdict::Detected, Verdict::Alerted, Verdict::Missed]
            .into_iter()
            .map(|v| self.count(v))
            .sum::<usize>();
        (ran > 0).then(|| self.count(Verdict::Prevented) as f64 / ran as f64)
    }

    /// One line for a notification or a log: the counts and the prevention rate.
    pub fn summary(&self) -> String {
        // Incomplete only where a run stopped.
        let mut parts: Vec<String> = Verdict::ALL
            .into_iter()
            .filter(|v| *v != Verdict::Incomplete || self.count(*v) > 0)
            .map(|v| format!("{} {}", self.count(v), v.label()))
            .collect();
        if let Some(rate) = self.prevention_rate() {
            parts.push(format!("prevention rate {:.0}%", rate * 100.0));
        }
        parts.join(" · ")
    }
}

/// What it takes to run a stored job again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Rerun {
    /// The job as it was built; destinations whose profile is gone are left out, and the source is empty when its
    /// profile is gone.
    pub spec: JobSpec,
    /// Addresses whose profiles were deleted since.
    pub deleted_profiles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(verdict: Option<Verdict>) -> ActionResult {
        ActionResult {
            row_id: String::new(),
            group: 0,
            source_email: String::new(),
            destination_email: String::new(),
            source_actor: None,
            destination_actor: None,
            action_id: String::new(),
            action_name: String::new(),
            category: String::new(),
            risk: String::new(),
            direction: String::new(),
            state: ActionState::Decided,
            verdict,
            cause: None,
            reason: None,
            message_id: None,
            sent_at: None,
            accepted_at: None,
            delivered_at: None,
            decided_at: None,
            evidence: None,
        }
    }

    #[test]
    fn a_summary_counts_verdicts_and_leaves_errors_out_of_the_rate() {
        let mut report = JobReport {
            id: "j".into(),
            name: "n".into(),
            status: JobStatus::Completed,
            error: None,
            created_at: String::new(),
            started_at: None,
            ended_at: None,
            params: None,
            timing: None,
            deleted_profiles: Vec::new(),
            actions: [Verdict::Prevented, Verdict::Prevented, Verdict::Prevented, Verdict::Missed, Verdict::Errored]
                .into_iter()
                .map(|v| action(Some(v)))
                .collect(),
        };
        assert_eq!(
            report.summary(),
            "3 Prevented · 0 Detected · 0 Alerted · 1 Missed · 1 Errored · prevention rate 75%"
        );
        report.actions[3] = action(Some(Verdict::Alerted));
        assert_eq!(
            report.summary(),
            "3 Prevented · 0 Detected · 1 Alerted · 0 Missed · 1 Errored · prevention rate 75%",
            "an alerted action ran and was not prevented"
        );
        report.actions = vec![action(Some(Verdict::Errored)), action(Some(Verdict::Incomplete))];
        assert_eq!(report.summary(), "0 Prevented · 0 Detected · 0 Alerted · 0 Missed · 1 Errored · 1 Incomplete");
    }
}
