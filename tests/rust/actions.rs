//! The email actions engine on the real lab: one destination per gateway behaviour (clean, SMTP reject, bounce,
//! hold, discard, strip, tag, Junk), setup failures (wrong password, unreachable server), the refusal of
//! unverified destinations, and a job stopped mid-run.

use std::sync::Mutex;
use std::time::Duration;

use mailproof_core::actions::Selection;
use mailproof_core::jobs::{
    interrupted_jobs, resume_interrupted, run_job, JobError, JobSpec, JobStatus, JobTiming, RunOptions, RuntimeParams,
    Verdict,
};
use mailproof_core::profiles::{save_profile, EmailProfile, ServerType};
use mailproof_core::secrets::{Keyring, Secret};
use mailproof_core::verification::{verify_profile, EmailTiming, VerifyRun};
use mailproof_core::{Cancel, Clock, Store, SystemClock};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.actions";

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    keyring: Keyring,
    lab: Lab,
}

impl World {
    fn new(lab: Lab, keyring: Keyring) -> World {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("mailproof.db"), now()).unwrap();
        // The lab gateway lets the verification sender through its per-recipient policy.
        lab.use_as_sender("verifier", &store, &keyring);
        World { _dir: dir, store, keyring, lab }
    }

    /// Saves a profile for `user` and verifies it by mail, as an analyst would.
    async fn verified(&self, user: &str) -> EmailProfile {
        self.verified_via(user, self.lab.port("LAB_IMAPS_PORT")).await
    }

    async fn verified_via(&self, user: &str, imap_port: u16) -> EmailProfile {
        let p = self.unverified(user, imap_port);
        let run = VerifyRun {
            manual: false,
            timing: EmailTiming { wait_secs: 10, poll_millis: 100, delete_found: true },
            extra_ca: Some(self.lab.ca()),
            idle: true,
            clock: Default::default(),
        };
        let done = verify_profile(&self.store, &self.keyring, &p.id, &run, &Cancel::default(), |_| {}).await.unwrap();
        assert!(done.iter().all(|e| e.verified == Some(true)), "{user} verifies: {done:?}");
        p
    }

    fn unverified(&self, user: &str, imap_port: u16) -> EmailProfile {
        save_profile(&self.store, &self.keyring, None, self.lab.profile_draft(user, ServerType::Imap, imap_port), now())
            .unwrap()
    }

    fn spec(&self, source: &EmailProfile, destinations: &[&EmailProfile], ids: &[&str], timeout_secs: u32) -> JobSpec {
        JobSpec {
            name: "lab".into(),
            selection: Selection::Ids { ids: ids.iter().map(|s| s.to_string()).collect() },
            source_profile_id: source.id.clone(),
            destination_profile_ids: destinations.iter().map(|d| d.id.clone()).collect(),
            params: RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 },
            timing: JobTiming { timeout_secs, pause_millis: 0, poll_millis: 100, concurrency: 4 },
            actors: Default::default(),
        }
    }

    /// Runs `spec` to its end (no progress wanted) and reads the job back.
    async fn run(&self, spec: &JobSpec) -> mailproof_core::jobs::JobReport {
        let job =
            run_job(&self.store, &self.keyring, spec, &self.options(), &Cancel::default(), &|_| {}).await.unwrap();
        self.store.job_report(&job).unwrap().unwrap()
    }

    fn options(&self) -> RunOptions {
        RunOptions { extra_ca: Some(self.lab.ca()), ..Default::default() }
    }
}

#[tokio::test]
async fn every_gateway_behaviour_gets_its_verdict_and_evidence() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.behaviours")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    let users = ["bob", "frank", "grace", "heidi", "dan", "ivan", "judy", "erin"];
    let mut dests = Vec::new();
    for u in users {
        dests.push(w.verified(u).await);
    }
    let events = Mutex::new(Vec::new());
    let mut spec = w.spec(&alice, &dests.iter().collect::<Vec<_>>(), &["A100-002"], 4);
    // All eight groups at once. Alice's mailbox, where every group's bounces arrive, is watched once for the whole
    // job: one session per group would pass Dovecot's limit of ten per user and address, as it would a provider's.
    spec.timing.concurrency = 8;
    let job =
        run_job(&w.store, &w.keyring, &spec, &w.options(), &Cancel::default(), &|e| events.lock().unwrap().push(e))
            .await
            .unwrap();
    let report = w.store.job_report(&job).unwrap().unwrap();
    assert_eq!(report.status, JobStatus::Completed);
    assert_eq!(report.timing.as_ref().map(|t| t.timeout_secs), Some(4), "the job's timing is kept with it");
    assert_eq!(report.actions.len(), users.len());
    let by = |user: &str| report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
    let expect = [
        ("bob", Verdict::Missed, "clean", "Arrived intact and unflagged in INBOX"),
        ("frank", Verdict::Prevented, "rejected", "mail for frank is refused"),
        ("grace", Verdict::Prevented, "bounced", "5.7.1"),
        ("heidi", Verdict::Prevented, "notDelivered", "Not delivered within 4 s"),
        ("dan", Verdict::Prevented, "notDelivered", "Not delivered within 4 s"),
        ("ivan", Verdict::Prevented, "modified", "attachment eicar.txt removed"),
        ("judy", Verdict::Detected, "tagged", "[SUSPICIOUS]"),
        ("erin", Verdict::Detected, "junk", "junk folder Junk"),
    ];
    for (user, verdict, cause, words) in expect {
        let a = by(user);
        let reason = a.reason.clone().unwrap_or_default();
        assert_eq!(a.verdict, Some(verdict), "{user}: {reason}");
        assert_eq!(a.cause.as_deref(), Some(cause), "{user}: {reason}");
        assert!(reason.contains(words), "{user}: {reason}");
        let ev = a.evidence.as_ref().unwrap_or_else(|| panic!("{user} has evidence"));
        assert!(ev.message_id.contains(&ev.token), "{user}");
        assert!(
            ev.transcript.iter().any(|l| l.starts_with("C: MAIL FROM:<alice@example.test>")),
            "{user}: {:?}",
            ev.transcript
        );
        assert!(ev.transcript.iter().any(|l| l == "C: AUTH PLAIN <credentials removed>"), "{user}");
        assert!(!ev.transcript.iter().any(|l| l.contains(&w.lab.password("alice"))), "no password in transcripts");
    }
    // Evidence of a delivered copy: the Received chain, the folder, the digests; of a bounce: the DSN.
    let bob = by("bob").evidence.clone().unwrap();
    let got = bob.received.as_ref().unwrap();
    assert_eq!(got.folder, "INBOX");
    assert!(got.hops.len() >= 2, "{:?}", got.hops);
    assert_eq!(got.source_ip.as_deref(), Some("127.0.0.1"));
    assert!(bob.smtp_reply.as_deref().unwrap_or("").starts_with("250"), "{:?}", bob.smtp_reply);
    assert!(bob.queue_id.is_some());
    assert!(w.store.raw_received(&by("bob").row_id).unwrap().is_some_and(|r| !r.is_empty()));
    assert!(by("bob").delivered_at.is_some());
    let grace = by("grace").evidence.clone().unwrap();
    let dsn = grace.bounce.unwrap();
    assert_eq!(dsn.recipients[0].address, "grace@example.test");
    assert_eq!(dsn.original_message_id.as_deref(), Some(grace.message_id.as_str()));
    // The bounce report is logged as a message of its own, tied to grace's action.
    let bounces = mailproof_core::tracking::query(
        &w.store,
        &mailproof_core::tracking::TrackQuery {
            recipient: "alice@".into(),
            subject: "undelivered".into(),
            page_size: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(bounces.total, 1, "{:?}", bounces.rows);
    let row = &bounces.rows[0];
    assert_eq!(row.job_action_id.as_deref(), Some(by("grace").row_id.as_str()));
    // Postfix wrote it itself: a null sender, and no relay it came from.
    assert_eq!((row.envelope_sender.as_str(), row.source_ip.as_deref()), ("<>", None), "{row:?}");
    assert!(row.from_header.contains("MAILER-DAEMON"), "{row:?}");
    let frank = by("frank").evidence.clone().unwrap();
    assert!(
        frank.transcript.iter().any(|l| l.starts_with("S: 554") || l.starts_with("S: 550")),
        "{:?}",
        frank.transcript
    );
    let ivan = by("ivan").evidence.clone().unwrap();
    assert!(ivan.changes.iter().any(|c| c.contains("removed")));
    // Groups run side by side: heidi's and dan's 4-second waits overlap.
    let (heidi, dan) = (by("heidi"), by("dan"));
    let at = |t: &Option<String>| {
        time::OffsetDateTime::parse(t.as_deref().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    let span = |a: &mailproof_core::jobs::ActionResult| (at(&a.sent_at), at(&a.decided_at));
    let ((h0, h1), (d0, d1)) = (span(heidi), span(dan));
    assert!(h0 < d1 && d0 < h1, "heidi {h0}..{h1} and dan {d0}..{d1} overlap");

    // The evidence folder: the results, and per action the evidence, the transcript and any received copy.
    let out = tempfile::tempdir().unwrap();
    let dir = mailproof_core::jobs::export::save_evidence(&w.store, &report, out.path()).unwrap();
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), users.len() + 1, "{csv}");
    let bob_dir =
        std::fs::read_dir(&dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().ends_with("-bob"));
    let bob_dir = bob_dir.expect("a folder for bob's action").path();
    let eml = std::fs::read_to_string(bob_dir.join("received.eml")).unwrap();
    assert!(eml.contains(&bob.message_id), "the copy bob received");
    let transcript = std::fs::read_to_string(bob_dir.join("transcript.txt")).unwrap();
    assert!(
        transcript.contains("C: AUTH PLAIN <credentials removed>") && !transcript.contains(&w.lab.password("alice"))
    );
    assert!(std::fs::read_to_string(bob_dir.join("received-headers.txt")).unwrap().starts_with("Received: "));

    // Progress was reported live: every action went through sending and ended decided.
    let events = events.into_inner().unwrap();
    for a in &report.actions {
        let states: Vec<_> = events.iter().filter(|e| e.row_id == a.row_id).map(|e| e.state).collect();
        assert_eq!(states.first(), Some(&mailproof_core::jobs::ActionState::Sending), "{states:?}");
        assert_eq!(states.last(), Some(&mailproof_core::jobs::ActionState::Decided), "{states:?}");
    }

    // Tracking: the log has each message with its history.
    let history = w.store.tracked_events(&bob.message_id).unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["queued", "sent", "delivered"], "{history:?}");
}

#[tokio::test]
async fn setup_failures_are_errored_never_prevented() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.setup")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    let bob = w.verified("bob").await;

    // A destination whose IMAP server goes away after it was verified: reached through a relay we then stop.
    let relay = Relay::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let carol = w.verified_via("carol", relay.port).await;
    relay.stop();
    let report = w.run(&w.spec(&alice, &[&carol], &["A100-002"], 4)).await;
    let a = &report.actions[0];
    assert_eq!(a.verdict, Some(Verdict::Errored), "{:?}", a.reason);
    assert!(a.reason.as_deref().unwrap_or("").contains("cannot read carol@example.test's mailbox"), "{:?}", a.reason);

    // Wrong password on the source: its mailbox cannot be read and nothing is sent.
    let key = alice.password_key();
    let real = w.keyring.retrieve(&key).unwrap().expect("saved with the profile");
    w.keyring.persist(&key, &Secret::new("wrong-password")).unwrap();
    let report = w.run(&w.spec(&alice, &[&bob], &["A100-002", "A400-001"], 4)).await;
    w.keyring.persist(&key, &real).unwrap();
    assert_eq!(report.status, JobStatus::Errored);
    for a in &report.actions {
        assert_eq!(a.verdict, Some(Verdict::Errored), "{:?}", a.reason);
        let reason = a.reason.as_deref().unwrap_or("");
        assert!(reason.contains("Setup") && reason.contains("alice@example.test"), "{reason}");
    }
}

/// A TCP relay on loopback to a lab port: a server that can be made to disappear.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(to: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    /// Stops listening; the port is then closed.
    fn stop(self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn unverified_profiles_are_refused_before_anything_is_sent() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.unverified")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    let carol = w.unverified("carol", w.lab.port("LAB_IMAPS_PORT"));
    let err = run_job(
        &w.store,
        &w.keyring,
        &w.spec(&alice, &[&carol], &["A100-001"], 4),
        &w.options(),
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JobError::Unverified { ref email } if email == "carol@example.test"), "{err}");
    assert!(err.to_string().contains("Verify it"), "{err}");
    // Nor from an unverified source: its mailbox, where bounces come back, was never shown readable.
    let err = run_job(
        &w.store,
        &w.keyring,
        &w.spec(&carol, &[&alice], &["A100-001"], 4),
        &w.options(),
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JobError::SourceUnverified { ref email } if email == "carol@example.test"), "{err}");
    assert!(err.to_string().contains("will not send test threats from it"), "{err}");
    assert!(w.store.list_jobs().unwrap().is_empty(), "no job was made");
}

#[tokio::test]
async fn a_job_stopped_mid_run_is_picked_up_and_what_it_sent_is_decided() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.restart")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    let heidi = w.verified("heidi").await;
    let bob = w.verified("bob").await;
    let grace = w.verified("grace").await;
    // Two actions per group, 3 s apart, each looked at 3 s after it was accepted: when the engine goes away as
    // soon as the first of each group is accepted, the second is not sent, bob's copy arrives unseen, and so
    // (most often) does the bounce for grace.
    let mut spec = w.spec(&alice, &[&bob, &heidi, &grace], &["A100-002", "A400-001"], 5);
    spec.params.extra_sleep_secs = 3;
    spec.timing.pause_millis = 3000;
    let (decided, watching) = (Mutex::new(0), Mutex::new(0));
    let (options, cancel) = (w.options(), Cancel::default());
    let count = |e: mailproof_core::jobs::JobEvent| match e.state {
        mailproof_core::jobs::ActionState::Decided => *decided.lock().unwrap() += 1,
        mailproof_core::jobs::ActionState::Watching => *watching.lock().unwrap() += 1,
        _ => {}
    };
    let mut run = Box::pin(run_job(&w.store, &w.keyring, &spec, &options, &cancel, &count));
    while *watching.lock().unwrap() < 3 {
        tokio::select! {
            done = &mut run => panic!("the job ended early: {done:?}"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    // Dropping the future is what a killed process does to the engine: nothing after this point runs.
    drop(run);
    let before = *decided.lock().unwrap();
    assert!(before <= 1, "only grace's bounce can be decided before the stop");
    // A job whose engine beat moments ago is left alone; one whose engine stopped is picked up.
    assert_eq!(interrupted_jobs(&w.store, Duration::from_secs(30), SystemClock.now_millis()).unwrap(), 0);
    let none = resume_interrupted(&w.store, &w.keyring, &options, Duration::from_secs(30), &cancel, &|_| {});
    assert!(none.await.unwrap().is_empty());
    assert_eq!(interrupted_jobs(&w.store, Duration::ZERO, SystemClock.now_millis()).unwrap(), 1);
    let resumed = resume_interrupted(&w.store, &w.keyring, &options, Duration::ZERO, &cancel, &count).await.unwrap();
    assert_eq!(resumed.len(), 1);
    let report = w.store.job_report(&resumed[0]).unwrap().unwrap();
    assert_eq!(report.status, JobStatus::Incomplete, "the actions never sent are Incomplete");
    let by = |user: &str, id: &str| {
        report.actions.iter().find(|a| a.destination_email.starts_with(user) && a.action_id == id).unwrap()
    };
    // bob's copy arrived while no engine ran: found afterwards, and judged.
    let bob_first = by("bob", "A100-002");
    assert_eq!(bob_first.verdict, Some(Verdict::Missed), "{:?}", bob_first.reason);
    assert_eq!(bob_first.evidence.as_ref().unwrap().received.as_ref().unwrap().folder, "INBOX");
    // heidi's is held: watched for again until its time-out.
    let heidi_first = by("heidi", "A100-002");
    assert_eq!(heidi_first.verdict, Some(Verdict::Prevented), "{:?}", heidi_first.reason);
    assert_eq!(heidi_first.cause.as_deref(), Some("notDelivered"));
    let grace_first = by("grace", "A100-002");
    assert_eq!(grace_first.cause.as_deref(), Some("bounced"), "{:?}", grace_first.reason);
    for a in [by("bob", "A400-001"), by("heidi", "A400-001"), by("grace", "A400-001")] {
        assert_eq!(a.verdict, Some(Verdict::Incomplete));
        assert!(a.reason.as_deref().unwrap_or("").contains("before this action was sent"), "{:?}", a.reason);
    }
    assert_eq!(*decided.lock().unwrap(), 3, "progress is reported for what the resumed job decides");
    assert_eq!(interrupted_jobs(&w.store, Duration::ZERO, SystemClock.now_millis()).unwrap(), 0);
    mailproof_tests::faults::matrix(
        "the engine killed mid-job, then a pick-up",
        "what was sent is decided, the unsent Incomplete",
        &format!("{} / {} / {}; the unsent Incomplete", seen_of(bob_first), seen_of(heidi_first), seen_of(grace_first)),
    );
}

fn seen_of(a: &mailproof_core::jobs::ActionResult) -> String {
    format!("{:?} ({})", a.verdict.unwrap(), a.cause.as_deref().unwrap_or(""))
}

#[tokio::test]
async fn an_email_rule_can_call_a_bounce_a_setup_problem() {
    use mailproof_core::rules::{add, EmailRule, RuleOutcome, RuleTarget};
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.rules")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    let grace = w.verified("grace").await;
    let rule = EmailRule {
        name: "Lab refusal is a setup problem".into(),
        pattern: r"refused after\s+acceptance".into(),
        target: RuleTarget::Body,
        outcome: RuleOutcome::Error,
    };
    add(&w.store, rule, now()).unwrap();
    let report = w.run(&w.spec(&alice, &[&grace], &["A400-001"], 10)).await;
    let a = &report.actions[0];
    assert_eq!(a.verdict, Some(Verdict::Errored), "{:?}", a.reason);
    assert!(a.reason.as_deref().unwrap_or("").contains("Lab refusal is a setup problem"), "{:?}", a.reason);
    assert!(a.evidence.as_ref().unwrap().bounce.is_some(), "the bounce is kept as evidence");
}

#[tokio::test]
async fn a_user_unknown_bounce_is_a_setup_problem_and_a_policy_bounce_a_block() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.unknown")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    // The lab's gateway accepts mike's mail, then reports him unknown: Postfix's own DSN, 5.1.1.
    let (mike, grace) = (w.verified("mike").await, w.verified("grace").await);
    let report = w.run(&w.spec(&alice, &[&mike, &grace], &["A100-002"], 20)).await;
    let by = |user: &str| report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap();
    let (m, g) = (by("mike"), by("grace"));
    let reason = m.reason.clone().unwrap_or_default();
    assert_eq!((m.verdict, m.cause.as_deref()), (Some(Verdict::Errored), Some("setup")), "{reason}");
    assert!(reason.starts_with("Bounced for a delivery reason, not by a defence: user unknown"), "{reason}");
    assert!(reason.contains("5.1.1") && reason.contains("To fix:"), "{reason}");
    let dsn = m.evidence.as_ref().unwrap().bounce.clone().expect("the DSN is kept as evidence");
    assert_eq!(dsn.recipients[0].address, "mike@example.test");
    assert_eq!(dsn.recipients[0].reason_class, mailproof_mail::bounce::ReasonClass::Delivery);
    // The same gateway's 5.7.1 refusal after acceptance is a defence at work.
    assert_eq!((g.verdict, g.cause.as_deref()), (Some(Verdict::Prevented), Some("bounced")), "{:?}", g.reason);
}

#[tokio::test]
async fn a_gateway_s_notice_in_the_alerts_mailbox_makes_a_delivered_message_alerted() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.alerted")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified("alice").await;
    // nina's mail is delivered untouched and reported to alerts@ (an incident report); olga's is held in
    // quarantine and reported there too; bob's is delivered and reported nowhere.
    let (nina, olga, bob) = (w.verified("nina").await, w.verified("olga").await, w.verified("bob").await);
    let alerts = w.verified("alerts").await;
    let spec = w.spec(&alice, &[&nina, &olga, &bob], &["A100-002"], 8);

    // Not marked as an alerts mailbox yet: nobody reads the notice, and nina's message counts as missed.
    let report = w.run(&spec).await;
    let by = |r: &mailproof_core::jobs::JobReport, user: &str| {
        r.actions.iter().find(|a| a.destination_email.starts_with(user)).cloned().unwrap()
    };
    assert_eq!(by(&report, "nina").verdict, Some(Verdict::Missed), "{:?}", by(&report, "nina").reason);

    mailproof_core::profiles::set_alerts_mailbox(&w.store, &alerts.id, true, now()).unwrap();
    let report = w.run(&spec).await;
    let (n, o, b) = (by(&report, "nina"), by(&report, "olga"), by(&report, "bob"));
    let reason = n.reason.clone().unwrap_or_default();
    assert_eq!((n.verdict, n.cause.as_deref()), (Some(Verdict::Alerted), Some("notified")), "{reason}");
    assert!(
        reason.starts_with(
            "A gateway reported it: a notice about it reached alerts@example.test from Lab gateway \
             <gateway-alerts@example.test>: \"Incident report: a message to nina@example.test matched a lab gateway rule\"."
        ) && reason.ends_with("Arrived intact and unflagged in INBOX."),
        "{reason}"
    );
    let evidence = n.evidence.clone().unwrap();
    assert_eq!(evidence.notices.len(), 1, "one notice, kept once");
    assert!(evidence.notices[0].excerpt.contains(&n.message_id.clone().unwrap()), "{:?}", evidence.notices[0]);
    // The gateway's verifier (the lab's OpenDKIM) recorded what it found: Mailproof's message is not signed.
    let auth = &evidence.received.as_ref().expect("the delivered copy is kept beside the notice").authentication;
    assert_eq!(auth[0].authserv_id.as_deref(), Some("mx.example.test"), "{auth:?}");
    assert!(auth[0].summary.starts_with("DKIM none"), "{auth:?}");

    // Held and reported: still Prevented, with the notice said and kept.
    let reason = o.reason.clone().unwrap_or_default();
    assert_eq!((o.verdict, o.cause.as_deref()), (Some(Verdict::Prevented), Some("notDelivered")), "{reason}");
    assert!(reason.contains("The gateway also sent a notice about it to alerts@example.test"), "{reason}");
    assert!(o.evidence.as_ref().unwrap().notices[0].subject.starts_with("Quarantine notice"));
    assert_eq!(b.verdict, Some(Verdict::Missed), "no notice for bob's: {:?}", b.reason);

    assert_eq!(report.count(Verdict::Alerted), 1);
    assert!(report.summary().starts_with("1 Prevented · 0 Detected · 1 Alerted · 1 Missed"), "{}", report.summary());
    let jobs = w.store.list_jobs().unwrap();
    assert_eq!((jobs[0].alerted, jobs[0].missed), (1, 1));
    let csv = mailproof_core::jobs::export::to_csv(&report);
    assert!(csv.lines().next().unwrap().ends_with(",changes,notices,sent_by,read_by"));
    assert!(
        csv.contains("Alerted") && csv.contains("alerts@example.test from Lab gateway <gateway-alerts@example.test>"),
        "{csv}"
    );
}
