//! The network an analyst's laptop meets, against the real lab: a fault-injecting proxy between Mailproof and the
//! lab's IMAP server stalls, silences or cuts a destination's mailbox mid-job. Each case asserts what the user
//! sees — the verdicts, the reason in words, how long it took — and that no action is lost or decided twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailproof_core::jobs::{run_job, ActionState, JobEvent, JobReport, JobSpec, RunOptions, Verdict};
use mailproof_core::profiles::{save_profile, ServerType};
use mailproof_core::Cancel;
use mailproof_tests::faults::{matrix, Fault, FaultProxy};
use mailproof_tests::world::{check, now, World};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.faults";

/// A data folder of its own for the case `name`, with the lab and a keyring; `None` (a skip, or a failure under
/// MAILPROOF_REQUIRE_REAL) without them.
fn world(name: &str) -> Option<World> {
    let lab = Lab::running()?;
    Some(World::new(lab, real_keyring(&format!("{SERVICE}.{name}"))?))
}

/// Runs `spec`, calling `fault` once, as the first action is being sent (the job's mailboxes are open by then).
async fn run_with_fault(
    w: &World,
    spec: &JobSpec,
    opts: &RunOptions,
    cancel: &Cancel,
    fault: impl Fn() + Sync,
) -> (JobReport, Duration) {
    run_with_fault_at(w, spec, opts, cancel, 1, fault).await
}

/// Runs `spec`, calling `fault` once, as its `at`-th action is being sent.
async fn run_with_fault_at(
    w: &World,
    spec: &JobSpec,
    opts: &RunOptions,
    cancel: &Cancel,
    at: usize,
    fault: impl Fn() + Sync,
) -> (JobReport, Duration) {
    let sending = AtomicUsize::new(0);
    let decided = Mutex::new(Vec::new());
    let on_event = |e: JobEvent| {
        if e.state == ActionState::Sending && sending.fetch_add(1, Ordering::SeqCst) + 1 == at {
            fault();
        }
        if e.state == ActionState::Decided {
            decided.lock().unwrap().push(e.row_id);
        }
    };
    let started = Instant::now();
    let job = run_job(&w.store, &w.keyring, spec, opts, cancel, &on_event).await.unwrap();
    let took = started.elapsed();
    let report = w.store.job_report(&job).unwrap().unwrap();
    // Every action decided, each once.
    let mut decided = decided.into_inner().unwrap();
    assert_eq!(decided.len(), report.actions.len(), "one decision per action: {decided:?}");
    decided.sort();
    decided.dedup();
    assert_eq!(decided.len(), report.actions.len(), "no action decided twice");
    assert!(report.actions.iter().all(|a| a.verdict.is_some()), "none left undecided");
    (report, took)
}

fn action<'a>(report: &'a JobReport, user: &str) -> &'a mailproof_core::jobs::ActionResult {
    report.actions.iter().find(|a| a.destination_email.starts_with(user)).unwrap()
}

/// An action's verdict and reason, as the matrix shows it.
fn seen(a: &mailproof_core::jobs::ActionResult) -> String {
    format!("{:?}: {}", a.verdict.unwrap(), a.reason.as_deref().unwrap_or(""))
}

fn options(w: &World, network_timeout: Option<Duration>) -> RunOptions {
    RunOptions { network_timeout, ..w.options() }
}

#[tokio::test]
async fn a_mailbox_that_stalls_mid_job_is_opened_again_and_nothing_is_missed() {
    let Some(w) = world("stall") else { return };
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let erin = w.verified_imap("erin").await;
    let spec = w.spec("stall", &alice, &[bob, erin], 20);
    let accepted_at_fault = AtomicUsize::new(0);
    // The watcher's session (and its IDLE) stop answering as the first message leaves; new connections work.
    let (report, took) =
        run_with_fault(&w, &spec, &options(&w, Some(Duration::from_secs(2))), &Cancel::default(), || {
            proxy.freeze_open();
            accepted_at_fault.store(proxy.accepted(), Ordering::SeqCst);
        })
        .await;
    check(&report, &[("bob", Verdict::Missed, "clean"), ("erin", Verdict::Detected, "junk")], "stalled watch");
    let (bob, erin) = (action(&report, "bob"), action(&report, "erin"));
    assert!(proxy.accepted() > accepted_at_fault.load(Ordering::SeqCst), "the stalled session was opened again");
    matrix(
        "IMAP session stalls mid-job (2 s time-out)",
        "reopened; bob Missed, erin Detected",
        &format!("{} / {} in {:.1} s", seen(bob), seen(erin), took.as_secs_f64()),
    );
    assert!(took < Duration::from_secs(15), "decided as soon as the mail was found again: {took:?}");
}

#[tokio::test]
async fn a_server_that_stops_answering_ends_its_actions_errored_in_words_and_spares_the_others() {
    let Some(w) = world("silent") else { return };
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let erin = w.verified_imap("erin").await;
    let spec = w.spec("silent", &alice, &[bob, erin], 8);
    // The server goes silent mid-job: open sessions stall, new ones are accepted and never greeted.
    let (report, took) =
        run_with_fault(&w, &spec, &options(&w, Some(Duration::from_secs(1))), &Cancel::default(), || {
            proxy.set(Fault::Silent);
            proxy.freeze_open();
        })
        .await;
    let bob = action(&report, "bob");
    let reason = bob.reason.clone().unwrap_or_default();
    assert_eq!(bob.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("Lost the destination mailbox while watching"), "{reason}");
    assert!(reason.contains("sent nothing for 1 s"), "says what happened: {reason}");
    check(&report, &[("erin", Verdict::Detected, "junk")], "silent server");
    let erin = action(&report, "erin");
    matrix(
        "IMAP server stops answering mid-job (1 s time-out, 8 s wait)",
        "bob Errored in words before the wait ends; erin Detected",
        &format!("{} / {} in {:.1} s", seen(bob), seen(erin), took.as_secs_f64()),
    );
    assert!(took < Duration::from_secs(8), "ended before the wait ran out, not when the server woke: {took:?}");
}

#[tokio::test]
async fn cancel_ends_a_job_stuck_on_a_silent_server_within_a_second() {
    let Some(w) = world("cancel") else { return };
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let spec = w.spec("cancel", &alice, &[bob], 60);
    let cancel = Cancel::default();
    let cancelled_at = Arc::new(Mutex::new(None));
    // With the usual 30 s network time-out, the look at bob's stalled mailbox would wait long; the analyst
    // cancels two seconds in.
    let (report, _) = run_with_fault(&w, &spec, &options(&w, None), &cancel, || {
        proxy.set(Fault::Silent);
        proxy.freeze_open();
        let (cancel, at) = (cancel.clone(), cancelled_at.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            *at.lock().unwrap() = Some(Instant::now());
            cancel.cancel();
        });
    })
    .await;
    let after = cancelled_at.lock().unwrap().expect("cancelled").elapsed();
    let bob = action(&report, "bob");
    assert!(bob.reason.as_deref().unwrap_or("").contains("Cancelled"), "{:?}", bob.reason);
    matrix(
        "Cancel with a look stuck on a silent server",
        "ended within 1 s, Cancelled",
        &format!("{} ms after Cancel; {}", after.as_millis(), seen(bob)),
    );
    assert!(after < Duration::from_secs(1), "ended {after:?} after Cancel");
}

#[tokio::test]
async fn the_imap_connection_cut_while_watching_is_opened_again() {
    let Some(w) = world("cut") else { return };
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let judy = w.verified_through("judy", proxy.port).await;
    let spec = w.spec("cut", &alice, &[bob, judy], 20);
    // As when Dovecot restarts or a link flaps: every open session is closed under the watcher.
    let accepted_at_fault = AtomicUsize::new(0);
    let (report, took) =
        run_with_fault(&w, &spec, &options(&w, Some(Duration::from_secs(2))), &Cancel::default(), || {
            proxy.cut_open();
            accepted_at_fault.store(proxy.accepted(), Ordering::SeqCst);
        })
        .await;
    assert!(proxy.accepted() > accepted_at_fault.load(Ordering::SeqCst), "the cut sessions were opened again");
    check(&report, &[("bob", Verdict::Missed, "clean"), ("judy", Verdict::Detected, "tagged")], "cut sessions");
    let (bob, judy) = (action(&report, "bob"), action(&report, "judy"));
    matrix(
        "IMAP connections cut while watching",
        "reopened; bob Missed, judy Detected",
        &format!("{} / {} in {:.1} s", seen(bob), seen(judy), took.as_secs_f64()),
    );
}

#[tokio::test]
async fn a_destination_server_that_goes_down_mid_job_is_errored_in_words() {
    let Some(w) = world("down") else { return };
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let erin = w.verified_imap("erin").await;
    let spec = w.spec("down", &alice, &[bob, erin], 8);
    let (report, took) =
        run_with_fault(&w, &spec, &options(&w, Some(Duration::from_secs(2))), &Cancel::default(), || proxy.go_down())
            .await;
    let (bob, erin) = (action(&report, "bob"), action(&report, "erin"));
    let reason = bob.reason.clone().unwrap_or_default();
    assert_eq!(bob.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("Lost the destination mailbox while watching") && reason.contains("refused"), "{reason}");
    check(&report, &[("erin", Verdict::Detected, "junk")], "server down");
    matrix(
        "IMAP server down mid-job",
        "bob Errored (connection refused); erin Detected",
        &format!("{} / {} in {:.1} s", seen(bob), seen(erin), took.as_secs_f64()),
    );
}

#[tokio::test]
async fn deferrals_after_data_are_retried_with_back_off_then_errored_never_prevented() {
    let Some(w) = world("defer") else { return };
    let alice = w.verified_imap("alice").await;
    let (kate, leo, bob) = (w.verified_imap("kate").await, w.verified_imap("leo").await, w.verified_imap("bob").await);
    let spec = w.spec("defer", &alice, &[kate, leo, bob], 8);
    let (report, took) = run_with_fault(&w, &spec, &w.options(), &Cancel::default(), || {}).await;
    for (user, code) in [("kate", "451 4.7.1"), ("leo", "452 4.2.2")] {
        let a = action(&report, user);
        let reason = a.reason.clone().unwrap_or_default();
        assert_eq!(a.verdict, Some(Verdict::Errored), "{user}: {reason}");
        assert!(reason.contains("deferred the message 3 times") && reason.contains(code), "{user}: {reason}");
        let ev = a.evidence.as_ref().unwrap();
        assert_eq!(ev.attempts, 3, "{user}");
        let deferred = ev.transcript.iter().filter(|l| l.starts_with(&format!("S: {code}"))).count();
        assert_eq!(deferred, 3, "{user}: each try sent whole and deferred: {:?}", ev.transcript);
        matrix(&format!("{code} after DATA"), "3 tries with back-off, then Errored", &seen(a));
    }
    let bob = action(&report, "bob");
    assert_eq!(bob.verdict, Some(Verdict::Missed), "the other destination is untouched: {:?}", bob.reason);
    // Back-off: 1 s, then 2 s, between the three tries.
    assert!(took >= Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_421_greeting_is_retried_then_errored_in_words() {
    let Some(w) = world("421") else { return };
    let proxy = FaultProxy::start(w.lab.port("LAB_SUBMISSION_PORT")).await;
    let alice = w.sending_through(proxy.port).await;
    let bob = w.verified_imap("bob").await;
    proxy.set(Fault::Greet("421 4.3.2 mx.example.test Service not available, closing transmission channel"));
    let spec = w.spec("421", &alice, &[bob], 8);
    let (report, _) = run_with_fault(&w, &spec, &w.options(), &Cancel::default(), || {}).await;
    let a = &report.actions[0];
    let reason = a.reason.clone().unwrap_or_default();
    assert_eq!(a.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("3 times") && reason.contains("Service not available"), "{reason}");
    matrix("421 at the SMTP greeting", "3 tries, then Errored with the server's words", &seen(a));
}

#[tokio::test]
async fn an_smtp_session_cut_between_messages_is_opened_again() {
    let Some(w) = world("421mid") else { return };
    let proxy = FaultProxy::start(w.lab.port("LAB_SUBMISSION_PORT")).await;
    let alice = w.sending_through(proxy.port).await;
    let bob = w.verified_imap("bob").await;
    // The session is cut under the sender between its two messages (a server restarting, a link flapping); the
    // next connection works.
    let mut spec = w.spec("421mid", &alice, &[bob], 10);
    spec.selection = mailproof_core::actions::Selection::Ids { ids: vec!["A100-002".into(), "A400-001".into()] };
    spec.timing.concurrency = 1;
    let (report, _) = run_with_fault_at(&w, &spec, &w.options(), &Cancel::default(), 2, || proxy.cut_open()).await;
    for a in &report.actions {
        assert_eq!(a.verdict, Some(Verdict::Missed), "{}: {:?}", a.action_id, a.reason);
    }
    let retried = report.actions.iter().map(|a| a.evidence.as_ref().unwrap().attempts).max().unwrap();
    assert!(retried >= 2, "the broken session's message was sent again on a new one");
    matrix(
        "SMTP session cut between two messages",
        "sent again on a new session; both Missed",
        &report.actions.iter().map(seen).collect::<Vec<_>>().join(" / "),
    );
}

#[tokio::test]
async fn an_smtp_server_that_answers_a_byte_at_a_time_is_given_up_in_words() {
    let Some(w) = world("drip") else { return };
    let proxy = FaultProxy::start(w.lab.port("LAB_SUBMISSION_PORT")).await;
    let alice = w.sending_through(proxy.port).await;
    let bob = w.verified_imap("bob").await;
    proxy.set(Fault::Drip(Duration::from_millis(250)));
    let spec = w.spec("drip", &alice, &[bob], 8);
    let (report, took) =
        run_with_fault(&w, &spec, &options(&w, Some(Duration::from_secs(2))), &Cancel::default(), || {}).await;
    let a = &report.actions[0];
    let reason = a.reason.clone().unwrap_or_default();
    assert_eq!(a.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("within 2 s"), "{reason}");
    matrix(
        "SMTP server answers 4 bytes a second",
        "given up per exchange (2 s), Errored",
        &format!("{} in {:.1} s", seen(a), took.as_secs_f64()),
    );
}

/// The wall clock moved forward by `by` once `after` has passed (an NTP step, a user fixing the time zone, a
/// laptop waking); the monotonic clock is untouched, as the system's is.
#[derive(Debug)]
struct Moved {
    from: Instant,
    after: Duration,
    by: time::Duration,
}

impl mailproof_core::Clock for Moved {
    fn now(&self) -> time::OffsetDateTime {
        let moved = if self.from.elapsed() >= self.after { self.by } else { time::Duration::ZERO };
        time::OffsetDateTime::now_utc() + moved
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

#[tokio::test]
async fn a_clock_moved_by_an_hour_mid_job_neither_hands_the_job_to_a_second_engine_nor_ends_waits_early() {
    let Some(w) = world("clock") else { return };
    let alice = w.verified_imap("alice").await;
    let (bob, heidi) = (w.verified_imap("bob").await, w.verified_imap("heidi").await);
    let spec = w.spec("clock", &alice, &[bob, heidi], 8);
    let clock = mailproof_core::SharedClock::new(Moved {
        from: Instant::now(),
        after: Duration::from_secs(1),
        by: time::Duration::hours(1),
    });
    let opts = RunOptions { clock, ..w.options() };
    let cancel = Cancel::default();
    let started = Instant::now();
    // A second engine (the app starting while the command runs a job, say) looks for interrupted jobs right
    // after the jump: by the wall clock the job's engine has been silent for an hour.
    let second = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let looks_stale = mailproof_core::jobs::interrupted_jobs(
            &w.store,
            mailproof_core::jobs::STALE_AFTER,
            opts.clock.now_millis(),
        )
        .unwrap();
        assert_eq!(looks_stale, 1, "by the moved wall clock the running job looks interrupted");
        mailproof_core::jobs::resume_interrupted(
            &w.store,
            &w.keyring,
            &opts,
            mailproof_core::jobs::STALE_AFTER,
            &cancel,
            &|_| {},
        )
        .await
        .unwrap()
    };
    let (job, taken) = tokio::join!(run_job(&w.store, &w.keyring, &spec, &opts, &cancel, &|_| {}), second);
    let report = w.store.job_report(&job.unwrap()).unwrap().unwrap();
    assert!(taken.is_empty(), "the live engine kept its job: {taken:?}");
    assert_eq!(report.status, mailproof_core::jobs::JobStatus::Completed);
    check(&report, &[("bob", Verdict::Missed, "clean"), ("heidi", Verdict::Prevented, "notDelivered")], "clock");
    let (bob, heidi) = (action(&report, "bob"), action(&report, "heidi"));
    // heidi's 8 s wait ran on the monotonic clock: not cut short by the hour the wall clock jumped.
    assert!(started.elapsed() >= Duration::from_secs(8), "{:?}", started.elapsed());
    matrix(
        "wall clock moved +1 h mid-job, a second engine looking",
        "the job kept by its engine; waits unchanged",
        &format!("taken over: {}; {} / {}", taken.len(), seen(bob), seen(heidi)),
    );
}

#[tokio::test]
async fn an_engine_that_lost_its_job_to_another_stops_touching_it() {
    let Some(w) = world("lease") else { return };
    let alice = w.verified_imap("alice").await;
    let heidi = w.verified_imap("heidi").await;
    let spec = w.spec("lease", &alice, &[heidi], 20);
    let taken = AtomicUsize::new(0);
    // As the message is watched for, another engine takes the job over (this one was frozen — a suspended
    // laptop — for longer than a take-over waits).
    let on_event = |e: JobEvent| {
        if e.state == ActionState::Watching && taken.fetch_add(1, Ordering::SeqCst) == 0 {
            let (id, beats) = w.store.stale_job(i64::MAX, &[]).unwrap().expect("the running job");
            assert!(w.store.take_over_job(&id, beats, "another-engine", now().unix_timestamp() * 1000).unwrap());
        }
    };
    let started = Instant::now();
    let job = run_job(&w.store, &w.keyring, &spec, &w.options(), &Cancel::default(), &on_event).await.unwrap();
    let took = started.elapsed();
    let report = w.store.job_report(&job).unwrap().unwrap();
    assert_eq!(w.store.job_owner(&job).unwrap().as_deref(), Some("another-engine"));
    assert_eq!(report.status, mailproof_core::jobs::JobStatus::Running, "left for its new engine to end");
    assert_eq!(report.actions[0].verdict, None, "this engine wrote no verdict after losing the job");
    assert!(took < Duration::from_secs(10), "it stopped at its next beat, not at the 20 s wait: {took:?}");
    matrix(
        "the job taken over by another engine mid-run",
        "the first engine stops at its next beat and writes nothing more",
        &format!(
            "stopped after {:.1} s; verdict {:?}; owner another-engine",
            took.as_secs_f64(),
            report.actions[0].verdict
        ),
    );
}

/// One action from alice to bob, sent straight to the lab's MX in clear text through a proxy that does `fault`
/// once to the first session: it must be sent again on a new session and arrive once, Missed. Its evidence, and
/// the matrix line.
async fn sent_again_after(w: &World, fault: Fault, name: &str) -> mailproof_core::jobs::Evidence {
    let proxy = FaultProxy::start(w.lab.port("LAB_SMTP_PORT")).await;
    let alice = sending_in_clear_through(w, proxy.port).await;
    let bob = w.verified_imap("bob").await;
    proxy.set(fault);
    let spec = w.spec(name, &alice, &[bob], 10);
    let (report, _) = run_with_fault(w, &spec, &w.options(), &Cancel::default(), || {}).await;
    let a = &report.actions[0];
    assert_eq!(a.verdict, Some(Verdict::Missed), "{:?}", a.reason);
    let ev = a.evidence.clone().unwrap();
    assert_eq!(ev.attempts, 2, "sent again once: {:?}", ev.transcript);
    assert!(proxy.accepted() >= 2, "on a new session");
    assert_eq!(stored(w, &ev.message_id), 1, "one copy arrived: the server kept nothing of the broken session");
    matrix(name, "sent again on a new session; Missed", &format!("{} ({} tries)", seen(a), ev.attempts));
    ev
}

/// How many times Dovecot stored the message `message_id`, by its log.
fn stored(w: &World, message_id: &str) -> usize {
    let log = w.lab.ca().parent().unwrap().parent().unwrap().join("log/dovecot.log");
    let id = message_id.trim_matches(['<', '>']);
    std::fs::read_to_string(log).unwrap().lines().filter(|l| l.contains(id) && l.contains("stored mail")).count()
}

/// alice's profile, verified, sending straight to the lab's MX in clear text (no sign-in) through a proxy on
/// `port`, so that the proxy sees the SMTP commands.
async fn sending_in_clear_through(w: &World, port: u16) -> mailproof_core::profiles::EmailProfile {
    let mut draft = w.lab.profile_draft("alice", ServerType::Imap, w.lab.port("LAB_IMAPS_PORT"));
    (draft.outgoing.port, draft.outgoing.security) = (port.into(), mailproof_core::profiles::Security::None);
    draft.outgoing.requires_auth = false;
    w.verify(&save_profile(&w.store, &w.keyring, None, draft, now()).unwrap()).await
}

#[tokio::test]
async fn a_connection_reset_mid_data_is_sent_again_on_a_new_session_and_arrives_once() {
    let Some(w) = world("middata") else { return };
    // The link is torn down 200 bytes into the message: the server never saw its end, so it kept nothing.
    sent_again_after(&w, Fault::CutAfter("DATA\r\n", 200), "connection reset mid-DATA").await;
}

#[tokio::test]
async fn a_421_mid_session_is_retried_on_a_new_session_and_arrives_once() {
    let Some(w) = world("421session") else { return };
    // The server shuts down as the message's envelope begins: MAIL FROM is answered 421 and the session closed.
    let line = "421 4.3.2 mx.example.test Service shutting down, closing transmission channel";
    let ev = sent_again_after(&w, Fault::SayAfter("MAIL FROM:", line), "421 mid-session (at MAIL FROM)").await;
    assert!(
        ev.transcript.iter().any(|l| l.starts_with("S: 421 4.3.2")),
        "the 421 is in the evidence: {:?}",
        ev.transcript
    );
}

#[tokio::test]
async fn a_server_whose_certificate_expired_is_refused_in_words_with_the_date() {
    let Some(w) = world("expired") else { return };
    let expired_host = w.lab.var("LAB_EXPIRED_HOST").to_owned();
    // Verification straight against it: refused, saying why.
    let mut draft = w.lab.profile_draft("carol", ServerType::Imap, w.lab.port("LAB_IMAPS_PORT"));
    draft.incoming.host = expired_host;
    let carol = save_profile(&w.store, &w.keyring, None, draft, now()).unwrap();
    let done = mailproof_core::verification::verify_profile(
        &w.store,
        &w.keyring,
        &carol.id,
        &w.verify_run(),
        &Cancel::default(),
        |_| {},
    )
    .await
    .unwrap();
    let detail = &done[0].detail;
    assert_eq!(done[0].verified, Some(false), "{detail}");
    assert!(detail.contains("certificate expired on 2025-02-01") && detail.contains("renew"), "{detail}");
    // A verified mailbox whose server's certificate has since run out: its action is Errored in words, the
    // other destination's is decided as usual.
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = w.verified_through("bob", proxy.port).await;
    let erin = w.verified_imap("erin").await;
    proxy.relay_to("127.0.0.2");
    let spec = w.spec("expired", &alice, &[bob, erin], 8);
    let (report, _) = run_with_fault(&w, &spec, &w.options(), &Cancel::default(), || {}).await;
    let bob = action(&report, "bob");
    let reason = bob.reason.clone().unwrap_or_default();
    assert_eq!(bob.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("certificate expired on 2025-02-01"), "{reason}");
    check(&report, &[("erin", Verdict::Detected, "junk")], "expired certificate");
    matrix(
        "the destination server's certificate expired",
        "verification refused and the action Errored, both with the date; erin Detected",
        &format!("{detail} / {}", seen(bob)),
    );
}

/// A small file system of its own (tmpfs) mounted on a fresh folder, unmounted when dropped; `None` where this
/// user may not mount (a skip, or a failure under MAILPROOF_REQUIRE_REAL).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return mailproof_tests::missing("a small file system for the disk-full case (mount needs root)");
        }
        Some(SmallDisk(dir))
    }

    /// Writes until the file system is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_disk_that_fills_mid_job_stops_it_in_words_loses_nothing_and_the_job_resumes() {
    let Some(lab) = mailproof_tests::Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.full")) else { return };
    let Some(disk) = SmallDisk::mount("16m") else { return };
    let data = tempfile::Builder::new().tempdir_in(disk.0.path()).unwrap();
    let w = World::in_folder(lab, keyring, data);
    let alice = w.verified_imap("alice").await;
    let (bob, erin) = (w.verified_imap("bob").await, w.verified_imap("erin").await);
    let mut spec = w.spec("full", &alice, &[bob, erin], 10);
    spec.selection = mailproof_core::actions::Selection::Ids { ids: vec!["A100-002".into(), "A400-001".into()] };
    spec.timing.concurrency = 1;
    let filler = Mutex::new(None);
    let on_event = |e: JobEvent| {
        if e.state == ActionState::Sending && filler.lock().unwrap().is_none() {
            // With the journal emptied first, as the store does past its limit, the next write needs room the
            // disk no longer has (a journal that still had room from earlier writes would take a few more first).
            w.store.empty_journal().unwrap();
            *filler.lock().unwrap() = Some(disk.fill());
        }
    };
    let started = Instant::now();
    let outcome = run_job(&w.store, &w.keyring, &spec, &w.options(), &Cancel::default(), &on_event).await;
    let took = started.elapsed();
    let said = match &outcome {
        Ok(job) => panic!("the job {job} ran on a full disk as if nothing happened"),
        Err(e) => e.to_string(),
    };
    assert!(said.contains("disk") && said.contains("full") && said.contains("resume"), "{said}");
    assert!(took < Duration::from_secs(15), "stopped at once: {took:?}");
    // Space again: the database is whole and the job is picked up and ends with every action decided, once.
    std::fs::remove_file(filler.into_inner().unwrap().unwrap()).unwrap();
    let (again, outcome) = mailproof_core::Store::open(&w.dir.path().join("mailproof.db"), now()).unwrap();
    assert!(matches!(outcome, mailproof_core::store::OpenOutcome::Opened), "not moved aside as damaged");
    let decided = Mutex::new(Vec::new());
    let count = |e: JobEvent| {
        if e.state == ActionState::Decided {
            decided.lock().unwrap().push(e.row_id);
        }
    };
    let resumed = mailproof_core::jobs::resume_interrupted(
        &again,
        &w.keyring,
        &w.options(),
        Duration::ZERO,
        &Cancel::default(),
        &count,
    )
    .await
    .unwrap();
    assert_eq!(resumed.len(), 1, "the stopped job is picked up");
    let report = again.job_report(&resumed[0]).unwrap().unwrap();
    assert!(report.actions.iter().all(|a| a.verdict.is_some()), "every action decided: {:?}", report.actions);
    let mut ids = decided.into_inner().unwrap();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "none decided twice");
    matrix(
        "the disk under the database fills mid-job",
        "stopped in words, database whole, job resumed and decided",
        &format!("{said} / after resume: {}", report.actions.iter().map(seen).collect::<Vec<_>>().join(", ")),
    );
}

/// How many times `user` has signed in over POP3 at the lab so far, by Dovecot's log.
fn pop3_sign_ins(w: &World, user: &str) -> usize {
    let log = w.lab.ca().parent().unwrap().parent().unwrap().join("log/dovecot.log");
    let needle = format!("pop3-login: Info: Login: user=<{user}@example.test>");
    std::fs::read_to_string(log).unwrap().lines().filter(|l| l.contains(&needle)).count()
}

#[tokio::test]
async fn a_pop3_destination_is_signed_in_to_at_most_once_every_two_seconds() {
    let Some(w) = world("pop3pace") else { return };
    let alice = w.verified_imap("alice").await;
    let draft = w.lab.profile_draft("heidi", ServerType::Pop3, w.lab.port("LAB_POP3S_PORT"));
    let heidi = w.verify(&save_profile(&w.store, &w.keyring, None, draft, now()).unwrap()).await;
    // heidi's copy is held by the gateway: the job looks for it, every 200 ms as asked, for all of its 8 s.
    let spec = w.spec("pop3pace", &alice, &[heidi], 8);
    let before = pop3_sign_ins(&w, "heidi");
    let (report, took) = run_with_fault(&w, &spec, &w.options(), &Cancel::default(), || {}).await;
    let sign_ins = pop3_sign_ins(&w, "heidi") - before;
    let a = &report.actions[0];
    assert_eq!(a.verdict, Some(Verdict::Prevented), "{:?}", a.reason);
    // The opening session, a look every 2 s at most, and none of its own to delete anything.
    let most = 1 + (took.as_secs_f64() / mailproof_mail::watch::POP3_PACE.as_secs_f64()).ceil() as usize + 1;
    matrix(
        "POP3 destination watched for 8 s, asked to look every 200 ms",
        &format!("at most {most} sign-ins (140 when unpaced): no lock-out"),
        &format!("{sign_ins} sign-ins in {:.1} s; {}", took.as_secs_f64(), seen(a)),
    );
    assert!(sign_ins <= most, "{sign_ins} sign-ins in {took:?}");
}
