//! Who runs a job: its owner, the engine that beats for it, and taking over a job whose engine stopped.
//!
//! The wall clock only picks the candidates (a job whose last beat is old). Whether its engine really stopped is
//! decided by its beat count standing still while the taker watches for longer than a beat takes, on the
//! taker's own monotonic clock: a clock moved by an hour, or a laptop waking from sleep, can make a live job look
//! stale for a moment, but its engine goes on beating and keeps it.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

impl Store {
    /// The engine `owner` is alive and still runs `job_id`; false when another engine has taken the job over (or
    /// it ended), so this one must stop touching it.
    pub fn job_heartbeat(&self, job_id: &str, owner: &str, at_millis: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE jobs SET heartbeat_ms = ?3, beats = beats + 1 WHERE id = ?1 AND owner IS ?2 AND status = 'running'",
            params![job_id, owner, at_millis],
        )?;
        Ok(n == 1)
    }

    /// The oldest running job whose engine last beat before `stale_before_millis`, with its beat count.
    pub fn stale_job(&self, stale_before_millis: i64, skip: &[String]) -> Result<Option<(String, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, beats FROM jobs WHERE status = 'running' AND heartbeat_ms < ?1 ORDER BY created_at")?;
        let mut rows = stmt.query([stale_before_millis])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            if !skip.contains(&id) {
                return Ok(Some((id, r.get(1)?)));
            }
        }
        Ok(None)
    }

    /// Makes `owner` the job's engine if its beat count is still `seen_beats` (its engine stopped); false when it
    /// beat meanwhile (a live engine keeps its job) or someone else took it first.
    pub fn take_over_job(
        &self,
        job_id: &str,
        seen_beats: i64,
        owner: &str,
        at_millis: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE jobs SET owner = ?3, heartbeat_ms = ?4, beats = beats + 1
             WHERE id = ?1 AND status = 'running' AND beats = ?2",
            params![job_id, seen_beats, owner, at_millis],
        )?;
        Ok(n == 1)
    }

    /// The engine that runs `job_id` now, if any.
    pub fn job_owner(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().query_row("SELECT owner FROM jobs WHERE id = ?1", [job_id], |r| r.get(0)).optional()?.flatten())
    }

    /// Jobs still marked running whose engine stopped beating before `stale_before_millis`.
    pub fn count_interrupted_jobs(&self, stale_before_millis: i64) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND heartbeat_ms < ?1",
            [stale_before_millis],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use crate::jobs::{Evidence, Verdict};
    use crate::store::jobs::NewJob;
    use crate::store::Store;

    fn new_job<'a>(id: &'a str, owner: &'a str) -> NewJob<'a> {
        NewJob {
            id,
            name: "lease",
            selection_json: "{}".into(),
            params_json: "{}".into(),
            now: "2026-12-04T12:00:00Z",
            now_millis: 1_000,
            owner,
        }
    }

    fn job(store: &Store, owner: &str) -> String {
        let id = crate::ids::new_id();
        store.create_job(&new_job(&id, owner), &[]).unwrap();
        id
    }

    #[test]
    fn a_job_is_taken_over_only_when_its_engine_stood_still_and_the_loser_is_told() {
        let store = Store::open_in_memory().unwrap();
        let id = job(&store, "engine-a");
        assert!(store.job_heartbeat(&id, "engine-a", 2_000).unwrap());
        let (stale, beats) = store.stale_job(10_000, &[]).unwrap().expect("its last beat is old");
        assert_eq!(stale, id);
        // Engine A beats while B watches: B leaves the job to it.
        assert!(store.job_heartbeat(&id, "engine-a", 3_000).unwrap());
        assert!(!store.take_over_job(&id, beats, "engine-b", 4_000).unwrap());
        assert_eq!(store.job_owner(&id).unwrap().as_deref(), Some("engine-a"));
        // A stops beating: B takes it, and A's next beat says it lost the job.
        let (_, beats) = store.stale_job(10_000, &[]).unwrap().unwrap();
        assert!(store.take_over_job(&id, beats, "engine-b", 5_000).unwrap());
        assert!(!store.take_over_job(&id, beats, "engine-c", 5_000).unwrap(), "taken once");
        assert!(!store.job_heartbeat(&id, "engine-a", 6_000).unwrap());
        assert!(store.job_heartbeat(&id, "engine-b", 6_000).unwrap());
        assert_eq!(store.stale_job(10_000, std::slice::from_ref(&id)).unwrap(), None, "skipped when asked");
    }

    #[test]
    fn only_the_owner_writes_a_verdict_and_only_once() {
        let store = Store::open_in_memory().unwrap();
        // The group's profiles are beside the point here.
        store.conn().pragma_update(None, "foreign_keys", "OFF").unwrap();
        let id = crate::ids::new_id();
        let def = &crate::actions::CATALOGUE[0];
        let group = crate::store::jobs::NewGroup {
            id: crate::ids::new_id(),
            source_profile_id: "p",
            source_email: "a@example.test",
            destination_profile_id: "q",
            destination_email: "b@example.test",
            source_actor: None,
            destination_actor: None,
            actions: vec![("row-1".into(), def, "token".into())],
        };
        store.create_job(&new_job(&id, "engine-a"), &[group]).unwrap();
        let decide = |owner: &str, verdict| {
            store
                .action_decided("row-1", verdict, "clean", "words", &Evidence::default(), None, None, "t", owner)
                .unwrap()
        };
        assert!(!decide("engine-b", Verdict::Missed), "not its job");
        assert!(decide("engine-a", Verdict::Missed));
        assert!(!decide("engine-a", Verdict::Prevented), "decided once");
        let report = store.job_report(&id).unwrap().unwrap();
        assert_eq!(report.actions[0].verdict, Some(Verdict::Missed));
    }
}
