//! The network an analyst's laptop meets, against the real lab: a fault-injecting proxy between Mailproof and the
//! lab's IMAP server stalls, silences or cuts a destination's mailbox mid-job. Each case asserts what the user
//! sees — the verdicts, the reason in words, how long it took — and that no action is lost or decided twice.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailproof_core::jobs::{run_job, ActionState, JobEvent, JobReport, JobSpec, RunOptions, Verdict};
use mailproof_core::profiles::{save_profile, EmailProfile, ServerType};
use mailproof_core::Cancel;
use mailproof_tests::faults::{Fault, FaultProxy};
use mailproof_tests::world::{now, World};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.faults";

/// `user`'s IMAP profile reached through `proxy`, verified through it while it relays.
async fn through(w: &World, user: &str, proxy: &FaultProxy) -> EmailProfile {
    let draft = w.lab.profile_draft(user, ServerType::Imap, proxy.port);
    w.verify(&save_profile(&w.store, &w.keyring, None, draft, now()).unwrap()).await
}

/// Runs `spec`, calling `fault` once, at the first action being sent (the job's mailboxes are open by then).
async fn run_with_fault(
    w: &World,
    spec: &JobSpec,
    opts: &RunOptions,
    cancel: &Cancel,
    fault: impl Fn() + Sync,
) -> (JobReport, Duration) {
    let fired = AtomicBool::new(false);
    let decided = Mutex::new(Vec::new());
    let on_event = |e: JobEvent| {
        if e.state == ActionState::Sending && !fired.swap(true, Ordering::SeqCst) {
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

fn options(w: &World, network_timeout: Option<Duration>) -> RunOptions {
    RunOptions { network_timeout, ..w.options() }
}

#[tokio::test]
async fn a_mailbox_that_stalls_mid_job_is_opened_again_and_nothing_is_missed() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.stall")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = through(&w, "bob", &proxy).await;
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
    let bob = action(&report, "bob");
    assert_eq!((bob.verdict, bob.cause.as_deref()), (Some(Verdict::Missed), Some("clean")), "{:?}", bob.reason);
    let erin = action(&report, "erin");
    assert_eq!((erin.verdict, erin.cause.as_deref()), (Some(Verdict::Detected), Some("junk")), "{:?}", erin.reason);
    assert!(proxy.accepted() > accepted_at_fault.load(Ordering::SeqCst), "the stalled session was opened again");
    eprintln!("stalled watch: job decided in {:.1} s (wait 20 s, network time-out 2 s)", took.as_secs_f64());
    assert!(took < Duration::from_secs(15), "decided as soon as the mail was found again: {took:?}");
}

#[tokio::test]
async fn a_server_that_stops_answering_ends_its_actions_errored_in_words_and_spares_the_others() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.silent")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = through(&w, "bob", &proxy).await;
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
    let erin = action(&report, "erin");
    assert_eq!((erin.verdict, erin.cause.as_deref()), (Some(Verdict::Detected), Some("junk")), "{:?}", erin.reason);
    eprintln!("silent server: job ended in {:.1} s (wait 8 s, network time-out 1 s)", took.as_secs_f64());
    assert!(took < Duration::from_secs(8), "ended before the wait ran out, not when the server woke: {took:?}");
}

#[tokio::test]
async fn cancel_ends_a_job_stuck_on_a_silent_server_within_a_second() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.cancel")) else { return };
    let w = World::new(lab, keyring);
    let alice = w.verified_imap("alice").await;
    let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
    let bob = through(&w, "bob", &proxy).await;
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
    eprintln!("cancel with a stalled look in flight: the job ended {} ms after Cancel", after.as_millis());
    assert!(after < Duration::from_secs(1), "ended {after:?} after Cancel");
}
