//! A data folder of its own for a test that runs jobs against the lab: a store, a keyring, the lab's verifier as
//! Mailproof's sender; and what such jobs share — verification, a spec, options, the verdicts the lab's gateway
//! policy gives each destination, and their check.

use mailproof_core::actions::Selection;
use mailproof_core::jobs::{run_job, JobReport, JobSpec, JobTiming, RunOptions, RuntimeParams, Verdict};
use mailproof_core::profiles::{save_profile, EmailProfile, ServerType};
use mailproof_core::secrets::Keyring;
use mailproof_core::verification::{verify_profile, EmailTiming, VerifyRun};
use mailproof_core::{Cancel, Store};

use crate::Lab;

pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub keyring: Keyring,
    pub lab: Lab,
}

impl World {
    pub fn new(lab: Lab, keyring: Keyring) -> World {
        World::in_folder(lab, keyring, tempfile::tempdir().unwrap())
    }

    /// The same, with the database in `dir` (e.g. a small file system of its own).
    pub fn in_folder(lab: Lab, keyring: Keyring, dir: tempfile::TempDir) -> World {
        let (store, _) = Store::open(&dir.path().join("mailproof.db"), now()).unwrap();
        lab.use_as_sender("verifier", &store, &keyring);
        World { dir, store, keyring, lab }
    }

    /// An automatic verification that waits up to 15 s and cleans up what it found.
    pub fn verify_run(&self) -> VerifyRun {
        VerifyRun {
            manual: false,
            timing: EmailTiming { wait_secs: 15, poll_millis: 200, delete_found: true },
            extra_ca: Some(self.lab.ca()),
            idle: true,
            clock: Default::default(),
        }
    }

    /// Verifies every actor of `profile` (asserting they all pass) and returns the profile as stored now.
    pub async fn verify(&self, profile: &EmailProfile) -> EmailProfile {
        let done =
            verify_profile(&self.store, &self.keyring, &profile.id, &self.verify_run(), &Cancel::default(), |_| {})
                .await
                .unwrap();
        assert!(done.iter().all(|e| e.verified == Some(true)), "{} verifies: {done:?}", profile.email);
        self.store.get_profile(&profile.id).unwrap().unwrap()
    }

    /// `user`'s IMAP profile (IMAPS, submission), verified.
    pub async fn verified_imap(&self, user: &str) -> EmailProfile {
        let draft = self.lab.profile_draft(user, ServerType::Imap, self.lab.port("LAB_IMAPS_PORT"));
        self.verify(&save_profile(&self.store, &self.keyring, None, draft, now()).unwrap()).await
    }

    /// `user`'s IMAP profile reached through a proxy on `port` (in front of the lab's IMAPS port), verified
    /// through it.
    pub async fn verified_through(&self, user: &str, port: u16) -> EmailProfile {
        let draft = self.lab.profile_draft(user, ServerType::Imap, port);
        self.verify(&save_profile(&self.store, &self.keyring, None, draft, now()).unwrap()).await
    }

    /// alice's profile, verified, submitting through a proxy on `port` (in front of the lab's submission port).
    pub async fn sending_through(&self, port: u16) -> EmailProfile {
        let mut draft = self.lab.profile_draft("alice", ServerType::Imap, self.lab.port("LAB_IMAPS_PORT"));
        draft.outgoing.port = port.into();
        self.verify(&save_profile(&self.store, &self.keyring, None, draft, now()).unwrap()).await
    }

    /// A job of action A100-002 from `source` to `destinations`, eight groups at once.
    pub fn spec(&self, name: &str, source: &EmailProfile, destinations: &[EmailProfile], timeout_secs: u32) -> JobSpec {
        JobSpec {
            name: name.into(),
            selection: Selection::Ids { ids: vec!["A100-002".into()] },
            source_profile_id: source.id.clone(),
            destination_profile_ids: destinations.iter().map(|d| d.id.clone()).collect(),
            params: RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 },
            timing: JobTiming { timeout_secs, pause_millis: 0, poll_millis: 200, concurrency: 8 },
            actors: Default::default(),
        }
    }

    pub fn options(&self) -> RunOptions {
        RunOptions { extra_ca: Some(self.lab.ca()), ..Default::default() }
    }

    /// Runs `spec` to its end with the default options and returns the job's id and report.
    pub async fn run(&self, spec: &JobSpec) -> (String, JobReport) {
        let job =
            run_job(&self.store, &self.keyring, spec, &self.options(), &Cancel::default(), &|_| {}).await.unwrap();
        let report = self.store.job_report(&job).unwrap().unwrap();
        (job, report)
    }
}

/// What the lab's gateway does to each destination, and the verdict and cause it gets. A cloud source (Exchange
/// Online, Gmail) takes the message first and reports the next hop's refusal of frank in a bounce.
pub fn expected(cloud_source: bool) -> Vec<(&'static str, Verdict, &'static str)> {
    vec![
        ("bob", Verdict::Missed, "clean"),
        ("frank", Verdict::Prevented, if cloud_source { "bounced" } else { "rejected" }),
        ("grace", Verdict::Prevented, "bounced"),
        ("heidi", Verdict::Prevented, "notDelivered"),
        ("dan", Verdict::Prevented, "notDelivered"),
        ("ivan", Verdict::Prevented, "modified"),
        ("judy", Verdict::Detected, "tagged"),
        ("erin", Verdict::Detected, "junk"),
    ]
}

/// Asserts each destination's verdict and cause in `report`.
pub fn check(report: &JobReport, expect: &[(&str, Verdict, &str)], what: &str) {
    for (user, verdict, cause) in expect {
        let a = report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
        let reason = a.reason.clone().unwrap_or_default();
        assert_eq!(a.verdict, Some(*verdict), "{what}, {user}: {reason}");
        assert_eq!(a.cause.as_deref(), Some(*cause), "{what}, {user}: {reason}");
    }
}
