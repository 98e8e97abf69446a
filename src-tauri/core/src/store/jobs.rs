//! Queries for jobs, their groups and actions, and the message tracking log they feed.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::actions::ActionDef;
use crate::jobs::{
    ActionResult, ActionState, Cause, Evidence, JobActors, JobReport, JobSpec, JobStatus, JobSummary, JobTiming, Rerun,
    RuntimeParams, Verdict,
};
use crate::tracking::model::{EventKind, TrackDirection, TrackEvent, TrackStatus};

/// A job about to start: its groups and actions, ids chosen by the caller.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub selection_json: String,
    pub params_json: String,
    pub now: &'a str,
    pub now_millis: i64,
    /// The engine that runs it.
    pub owner: &'a str,
}

pub struct NewGroup<'a> {
    pub id: String,
    pub source_profile_id: &'a str,
    pub source_email: &'a str,
    pub destination_profile_id: &'a str,
    pub destination_email: &'a str,
    /// The actors (id, name) it runs between; `None`: this workstation.
    pub source_actor: Option<(&'a str, &'a str)>,
    pub destination_actor: Option<(&'a str, &'a str)>,
    pub actions: Vec<(String, &'static ActionDef, String)>,
}

/// A tracked message's first record.
pub struct NewTracked<'a> {
    pub message_id: &'a str,
    pub envelope_sender: &'a str,
    pub from_header: &'a str,
    pub recipients: &'a str,
    pub to_header: &'a str,
    pub subject: &'a str,
    pub risk: Option<&'a str>,
    pub at_millis: i64,
    pub job_action_id: Option<&'a str>,
    /// The profile a verification mail was sent to.
    pub verification_of: Option<&'a str>,
    /// The actor that sent it or saw it arrive, by name; `None`: this workstation.
    pub actor: Option<&'a str>,
}

/// Addresses of a job's profiles deleted since it ran, source first.
fn deleted_profiles(conn: &rusqlite::Connection, job_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT source_email FROM job_groups WHERE job_id = ?1 AND source_profile_id IS NULL
         UNION SELECT destination_email FROM job_groups WHERE job_id = ?1 AND destination_profile_id IS NULL",
    )?;
    let mut out: Vec<String> = stmt.query_map([job_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    out.dedup();
    Ok(out)
}

/// A job an engine was running when it stopped, as picked up again.
pub struct InterruptedJob {
    /// Its groups' profiles (those not deleted since), parameters and timing.
    pub spec: JobSpec,
    pub started_at: String,
    pub groups: Vec<InterruptedGroup>,
}

pub struct InterruptedGroup {
    pub id: String,
    pub position: u32,
    /// `None` when the profile was deleted since.
    pub destination_profile_id: Option<String>,
    pub destination_email: String,
    /// Its actions sent and accepted, not decided yet.
    pub watching: Vec<WatchedAction>,
}

pub struct WatchedAction {
    pub row_id: String,
    pub action_id: String,
    pub accepted_at: Option<String>,
    /// What was sent: subject, token, Message-ID, parts, transcript.
    pub evidence: Evidence,
    /// Its row in the message tracking log.
    pub tracked: Option<i64>,
}

/// One message for `seed_tracked`.
pub struct SeedTracked {
    pub message_id: String,
    pub envelope_sender: String,
    pub from_header: String,
    pub recipients: String,
    pub to_header: String,
    pub subject: String,
    pub source_ip: Option<String>,
    pub risk: Option<&'static str>,
    pub status: TrackStatus,
    pub received_ms: i64,
}

impl Store {
    /// Writes the job, its groups and its queued actions in one transaction.
    pub fn create_job(&self, job: &NewJob, groups: &[NewGroup]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO jobs (id, name, status, selection, params, created_at, started_at, heartbeat_ms, owner)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?5, ?6, ?7)",
            params![job.id, job.name, job.selection_json, job.params_json, job.now, job.now_millis, job.owner],
        )?;
        for (gi, g) in groups.iter().enumerate() {
            tx.execute(
                "INSERT INTO job_groups (id, job_id, position, source_profile_id, source_email,
                     destination_profile_id, destination_email, source_actor_id, source_actor_name,
                     destination_actor_id, destination_actor_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    g.id,
                    job.id,
                    gi as i64,
                    g.source_profile_id,
                    g.source_email,
                    g.destination_profile_id,
                    g.destination_email,
                    g.source_actor.map(|a| a.0),
                    g.source_actor.map(|a| a.1),
                    g.destination_actor.map(|a| a.0),
                    g.destination_actor.map(|a| a.1)
                ],
            )?;
            for (ai, (row_id, def, token)) in g.actions.iter().enumerate() {
                tx.execute(
                    "INSERT INTO job_actions (id, group_id, position, action_id, action_name, category, risk,
                         direction, state, token)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9)",
                    params![
                        row_id,
                        g.id,
                        ai as i64,
                        def.id,
                        def.name,
                        def.category.as_str(),
                        def.risk.as_str(),
                        def.direction.as_str(),
                        token
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_group_time(&self, group_id: &str, started: Option<&str>, ended: Option<&str>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE job_groups SET started_at = COALESCE(?2, started_at), ended_at = COALESCE(?3, ended_at)
             WHERE id = ?1",
            params![group_id, started, ended],
        )?;
        Ok(())
    }

    /// The action is being sent.
    pub fn action_sending(&self, row_id: &str, message_id: &str, at: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE job_actions SET state = 'sending', message_id = ?2, sent_at = ?3 WHERE id = ?1",
            params![row_id, message_id, at],
        )?;
        Ok(())
    }

    /// The server accepted it; Mailproof is watching for it.
    pub fn action_watching(&self, row_id: &str, at: &str, evidence: &Evidence) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE job_actions SET state = 'watching', accepted_at = ?2, evidence = ?3 WHERE id = ?1",
            params![row_id, at, to_json(evidence)],
        )?;
        Ok(())
    }

    /// The action's verdict, with its evidence and the received copy (already size-capped).
    #[allow(clippy::too_many_arguments)]
    pub fn action_decided(
        &self,
        row_id: &str,
        verdict: Verdict,
        cause: &str,
        reason: &str,
        evidence: &Evidence,
        delivered_at: Option<&str>,
        raw_received: Option<&[u8]>,
        at: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            &format!(
                "UPDATE job_actions SET state = 'decided', verdict = ?2, cause = ?3, reason = ?4, evidence = ?5,
                     delivered_at = ?6, raw_received = ?7, decided_at = ?8
                 WHERE id = ?1 AND state <> 'decided' AND {OWNED_BY} = ?9"
            ),
            params![row_id, verdict.as_str(), cause, reason, to_json(evidence), delivered_at, raw_received, at, owner],
        )?;
        Ok(n == 1)
    }

    /// A decided action's decision and evidence, to revise it when a gateway's notice about it comes later;
    /// `None` when it is not decided (or its stored evidence cannot be read: it is then left as it is).
    pub(crate) fn decided_action(
        &self,
        row_id: &str,
    ) -> Result<Option<(Verdict, Cause, String, Evidence)>, StoreError> {
        type Row = (String, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT verdict, cause, reason, evidence FROM job_actions WHERE id = ?1 AND state = 'decided'",
                [row_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((verdict, cause, reason, evidence)) = row else { return Ok(None) };
        let (Some(verdict), Some(cause)) = (Verdict::parse(&verdict), cause.as_deref().and_then(Cause::parse)) else {
            return Ok(None);
        };
        let Some(evidence) = evidence.and_then(|e| serde_json::from_str::<Evidence>(&e).ok()) else { return Ok(None) };
        Ok(Some((verdict, cause, reason.unwrap_or_default(), evidence)))
    }

    /// Revises a decided action's verdict (a gateway's notice came after it was decided), if `owner` still owns
    /// its job. Returns whether it did.
    pub(crate) fn action_revised(
        &self,
        row_id: &str,
        verdict: Verdict,
        cause: &str,
        reason: &str,
        evidence: &Evidence,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            &format!(
                "UPDATE job_actions SET verdict = ?2, cause = ?3, reason = ?4, evidence = ?5
                 WHERE id = ?1 AND state = 'decided' AND {OWNED_BY} = ?6"
            ),
            params![row_id, verdict.as_str(), cause, reason, to_json(evidence), owner],
        )?;
        Ok(n == 1)
    }

    /// Ends the job, if `owner` still owns it.
    pub fn finish_job(
        &self,
        job_id: &str,
        owner: &str,
        status: JobStatus,
        error: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE jobs SET status = ?2, error = ?3, ended_at = ?4 WHERE id = ?1 AND owner = ?5",
            params![job_id, status.as_str(), error, at, owner],
        )?;
        Ok(())
    }

    /// A claimed interrupted job, to pick up: its actions never sent end Incomplete with `unsent`, those whose
    /// sending was cut off with `cut_off` (whether the server took them is unknown); the ones sent and accepted
    /// come back to be watched for.
    pub fn interrupted_job(
        &self,
        job_id: &str,
        unsent: &str,
        cut_off: &str,
        at: &str,
    ) -> Result<Option<InterruptedJob>, StoreError> {
        let Some(rerun) = self.job_rerun(job_id)? else { return Ok(None) };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (state, reason) in [("queued", unsent), ("sending", cut_off)] {
            tx.execute(
                "UPDATE job_actions SET state = 'decided', verdict = 'incomplete', cause = 'stopped', reason = ?2,
                     decided_at = ?3
                 WHERE state = ?4 AND group_id IN (SELECT id FROM job_groups WHERE job_id = ?1)",
                params![job_id, reason, at, state],
            )?;
        }
        let started_at: String =
            tx.query_row("SELECT COALESCE(started_at, created_at) FROM jobs WHERE id = ?1", [job_id], |r| r.get(0))?;
        let mut groups: Vec<InterruptedGroup> = {
            let mut stmt = tx.prepare(
                "SELECT id, position, destination_profile_id, destination_email FROM job_groups
                 WHERE job_id = ?1 ORDER BY position",
            )?;
            let rows = stmt.query_map([job_id], |r| {
                Ok(InterruptedGroup {
                    id: r.get(0)?,
                    position: r.get(1)?,
                    destination_profile_id: r.get(2)?,
                    destination_email: r.get(3)?,
                    watching: Vec::new(),
                })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        {
            let mut stmt = tx.prepare(
                "SELECT a.id, a.action_id, a.accepted_at, a.evidence,
                        (SELECT min(t.id) FROM tracked_messages t WHERE t.job_action_id = a.id)
                 FROM job_actions a WHERE a.group_id = ?1 AND a.state = 'watching' ORDER BY a.position",
            )?;
            for g in &mut groups {
                let rows = stmt.query_map([&g.id], |r| {
                    let evidence: Option<String> = r.get(3)?;
                    Ok(WatchedAction {
                        row_id: r.get(0)?,
                        action_id: r.get(1)?,
                        accepted_at: r.get(2)?,
                        evidence: evidence.and_then(|e| serde_json::from_str(&e).ok()).unwrap_or_default(),
                        tracked: r.get(4)?,
                    })
                })?;
                g.watching = rows.collect::<Result<_, _>>()?;
            }
        }
        tx.commit()?;
        Ok(Some(InterruptedJob { spec: rerun.spec, started_at, groups }))
    }

    /// Every job, newest first, with its counts per verdict.
    pub fn list_jobs(&self) -> Result<Vec<JobSummary>, StoreError> {
        self.jobs_where("1", &[])
    }

    /// Every run of the same selection of actions as job `job_id` (itself included), oldest first: the trend of
    /// its prevention rate.
    pub fn runs_like(&self, job_id: &str) -> Result<Vec<JobSummary>, StoreError> {
        let mut runs = self.jobs_where("j.selection = (SELECT selection FROM jobs WHERE id = ?1)", &[job_id])?;
        runs.reverse();
        Ok(runs)
    }

    /// Jobs matching `condition` on `j`, newest first, with their counts.
    fn jobs_where(&self, condition: &str, params: &[&str]) -> Result<Vec<JobSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT j.id, j.name, j.status, j.created_at, j.started_at, j.ended_at, count(a.id),
                    sum(a.verdict = 'prevented'), sum(a.verdict = 'detected'), sum(a.verdict = 'missed'),
                    sum(a.verdict = 'errored'), sum(a.verdict = 'incomplete'), sum(a.verdict = 'alerted')
             FROM jobs j LEFT JOIN job_groups g ON g.job_id = j.id LEFT JOIN job_actions a ON a.group_id = g.id
             WHERE {condition} GROUP BY j.id ORDER BY j.rowid DESC"
        ))?;
        let n = |r: &rusqlite::Row, i| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0) as u32);
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok(JobSummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    status: job_status(r, 2)?,
                    created_at: r.get(3)?,
                    started_at: r.get(4)?,
                    ended_at: r.get(5)?,
                    actions: n(r, 6)?,
                    prevented: n(r, 7)?,
                    detected: n(r, 8)?,
                    missed: n(r, 9)?,
                    errored: n(r, 10)?,
                    incomplete: n(r, 11)?,
                    alerted: n(r, 12)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The job as it was built, to run again; `None` when there is no such job.
    pub fn job_rerun(&self, job_id: &str) -> Result<Option<Rerun>, StoreError> {
        let conn = self.conn();
        let job = conn
            .query_row("SELECT name, selection, params FROM jobs WHERE id = ?1", [job_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .optional()?;
        let Some((name, selection, params)) = job else { return Ok(None) };
        let (params, timing) = serde_json::from_str::<(RuntimeParams, JobTiming)>(&params)
            .unwrap_or((RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 }, JobTiming::default()));
        let selection = serde_json::from_str(&selection)
            .map_err(|e| StoreError::BadValue { key: format!("job {job_id} selection"), detail: e.to_string() })?;
        let mut stmt = conn.prepare(
            "SELECT source_profile_id, destination_profile_id, source_actor_id, destination_actor_id FROM job_groups
             WHERE job_id = ?1 ORDER BY position",
        )?;
        type Row = (Option<String>, Option<String>, Option<String>, Option<String>);
        let groups: Vec<Row> = stmt
            .query_map([job_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let source_profile_id = groups.iter().find_map(|g| g.0.clone()).unwrap_or_default();
        let actors = JobActors {
            source: groups.iter().find_map(|g| g.2.clone()),
            destinations: groups.iter().filter_map(|g| Some((g.1.clone()?, g.3.clone()?))).collect(),
        };
        let destination_profile_ids = groups.into_iter().filter_map(|g| g.1).collect();
        Ok(Some(Rerun {
            spec: JobSpec { name, selection, source_profile_id, destination_profile_ids, params, timing, actors },
            deleted_profiles: deleted_profiles(&conn, job_id)?,
        }))
    }

    pub fn job_report(&self, job_id: &str) -> Result<Option<JobReport>, StoreError> {
        let conn = self.conn();
        let job = conn
            .query_row(
                "SELECT id, name, status, error, created_at, started_at, ended_at, params FROM jobs WHERE id = ?1",
                [job_id],
                |r| {
                    let params: String = r.get(7)?;
                    let (params, timing) = serde_json::from_str::<(RuntimeParams, JobTiming)>(&params)
                        .map(|(p, t)| (Some(p), Some(t)))
                        .unwrap_or_default();
                    Ok(JobReport {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        status: job_status(r, 2)?,
                        error: r.get(3)?,
                        created_at: r.get(4)?,
                        started_at: r.get(5)?,
                        ended_at: r.get(6)?,
                        params,
                        timing,
                        deleted_profiles: Vec::new(),
                        actions: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut job) = job else { return Ok(None) };
        job.deleted_profiles = deleted_profiles(&conn, job_id)?;
        let mut stmt = conn.prepare(
            "SELECT a.id, g.position, g.source_email, g.destination_email, a.action_id, a.action_name, a.category,
                    a.risk, a.direction, a.state, a.verdict, a.cause, a.reason, a.message_id, a.sent_at,
                    a.accepted_at, a.delivered_at, a.decided_at, a.evidence, g.source_actor_name,
                    g.destination_actor_name
             FROM job_actions a JOIN job_groups g ON g.id = a.group_id
             WHERE g.job_id = ?1 ORDER BY g.position, a.position",
        )?;
        job.actions = stmt
            .query_map([job_id], |r| {
                let state: String = r.get(9)?;
                let verdict: Option<String> = r.get(10)?;
                let evidence: Option<String> = r.get(18)?;
                Ok(ActionResult {
                    row_id: r.get(0)?,
                    group: r.get::<_, i64>(1)? as u32,
                    source_email: r.get(2)?,
                    destination_email: r.get(3)?,
                    source_actor: r.get(19)?,
                    destination_actor: r.get(20)?,
                    action_id: r.get(4)?,
                    action_name: r.get(5)?,
                    category: r.get(6)?,
                    risk: r.get(7)?,
                    direction: r.get(8)?,
                    state: match state.as_str() {
                        "sending" => ActionState::Sending,
                        "watching" => ActionState::Watching,
                        "decided" => ActionState::Decided,
                        _ => ActionState::Queued,
                    },
                    verdict: verdict.as_deref().and_then(Verdict::parse),
                    cause: r.get(11)?,
                    reason: r.get(12)?,
                    message_id: r.get(13)?,
                    sent_at: r.get(14)?,
                    accepted_at: r.get(15)?,
                    delivered_at: r.get(16)?,
                    decided_at: r.get(17)?,
                    evidence: evidence.and_then(|e| serde_json::from_str(&e).ok()),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(job))
    }

    /// An action's evidence, if it has any yet.
    pub fn action_evidence(&self, row_id: &str) -> Result<Option<Evidence>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row("SELECT evidence FROM job_actions WHERE id = ?1", [row_id], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The received copy kept for an action, if any.
    pub fn raw_received(&self, row_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT raw_received FROM job_actions WHERE id = ?1", [row_id], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Starts tracking a message: its row and a first "queued" event.
    pub fn track_message(&self, m: &NewTracked) -> Result<i64, StoreError> {
        self.track_first(m, TrackStatus::Queued, "Queued for delivery", None)
    }

    /// Tracks a message Mailproof did not send but saw arrive (a bounce report): its row, delivered, with
    /// `detail` as its first event.
    pub fn track_seen(&self, m: &NewTracked, detail: &str, source_ip: Option<&str>) -> Result<i64, StoreError> {
        self.track_first(m, TrackStatus::Delivered, detail, source_ip)
    }

    fn track_first(
        &self,
        m: &NewTracked,
        status: TrackStatus,
        detail: &str,
        source_ip: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO tracked_messages (message_id, envelope_sender, from_header, recipients, to_header, subject,
                 risk, status, received_at, job_action_id, verification_of, source_ip, direction, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?11, ?8, ?9, ?10, ?12, ?13, ?14)",
            params![
                m.message_id,
                m.envelope_sender,
                m.from_header,
                m.recipients,
                m.to_header,
                m.subject,
                m.risk,
                m.at_millis,
                m.job_action_id,
                m.verification_of,
                status.as_str(),
                source_ip,
                // What Mailproof queues it sent; anything else it saw arrive.
                if status == TrackStatus::Queued { TrackDirection::Sent } else { TrackDirection::Received }.as_str(),
                m.actor,
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO message_events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, m.at_millis, EventKind::reaching(status).as_str(), detail],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Adds an event to a tracked message; `status` (when given) becomes its latest status.
    pub fn track_event(
        &self,
        message: i64,
        at_millis: i64,
        kind: EventKind,
        status: Option<TrackStatus>,
        detail: &str,
        source_ip: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO message_events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![message, at_millis, kind.as_str(), detail],
        )?;
        tx.execute(
            "UPDATE tracked_messages SET status = COALESCE(?2, status), source_ip = COALESCE(?3, source_ip)
             WHERE id = ?1",
            params![message, status.map(TrackStatus::as_str), source_ip],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The Message-ID a tracked message travelled with, when its mail service replaced the one Mailproof set
    /// (Exchange may): searches by Message-ID then find what the gateways logged.
    pub fn track_message_id(&self, message: i64, message_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE tracked_messages SET message_id = ?2 WHERE id = ?1", params![message, message_id])?;
        Ok(())
    }

    /// Inserts many tracked messages at once, each with one event of its status, in one transaction: for
    /// benchmarks and tests that need a big log.
    pub fn seed_tracked(&self, rows: &mut dyn Iterator<Item = SeedTracked>) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut n = 0;
        {
            let mut msg = tx.prepare(
                "INSERT INTO tracked_messages (message_id, envelope_sender, from_header, recipients, to_header,
                     subject, source_ip, risk, status, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut ev =
                tx.prepare("INSERT INTO message_events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")?;
            for r in rows {
                msg.execute(params![
                    r.message_id,
                    r.envelope_sender,
                    r.from_header,
                    r.recipients,
                    r.to_header,
                    r.subject,
                    r.source_ip,
                    r.risk,
                    r.status.as_str(),
                    r.received_ms
                ])?;
                let kind = EventKind::reaching(r.status).as_str();
                ev.execute(params![tx.last_insert_rowid(), r.received_ms, kind, "seeded"])?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// A tracked message's events in order.
    pub fn tracked_events(&self, message_id: &str) -> Result<Vec<TrackEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT e.at, e.kind, e.detail FROM message_events e JOIN tracked_messages m ON m.id = e.message
             WHERE m.message_id = ?1 ORDER BY e.at, e.id",
        )?;
        let rows = stmt.query_map([message_id], track_event_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// The engine that owns a job action's job, in an UPDATE of `job_actions`: it writes a verdict only while it is.
const OWNED_BY: &str =
    "(SELECT j.owner FROM jobs j JOIN job_groups g ON g.job_id = j.id WHERE g.id = job_actions.group_id)";

fn to_json(e: &Evidence) -> String {
    serde_json::to_string(e).expect("evidence always serializes")
}

/// An event row (at, kind, detail), refusing a kind no version of Mailproof wrote.
pub fn track_event_row(r: &rusqlite::Row) -> rusqlite::Result<TrackEvent> {
    let kind: String = r.get(1)?;
    let kind = EventKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown event {kind:?}").into(),
        )
    })?;
    Ok(TrackEvent { at_ms: r.get(0)?, kind, detail: r.get(2)? })
}

/// A job's status column, refusing a value no version of Mailproof wrote.
fn job_status(r: &rusqlite::Row, i: usize) -> rusqlite::Result<JobStatus> {
    let s: String = r.get(i)?;
    JobStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown job status {s:?}").into(),
        )
    })
}
