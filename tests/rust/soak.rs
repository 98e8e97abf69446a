//! The soak: one long job from alice to ten destinations of the real lab, every connection behind a
//! fault-injecting proxy, while random faults cut and stall them. Every action must end decided — as the
//! gateway's policy says, or Errored/Incomplete with its reason — none lost, none decided twice, and the
//! engine's memory must stay flat. 200 actions in the normal suite; tests/bench/faults.sh runs 10,000
//! (MAILPROOF_SOAK_ACTIONS).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mailproof_core::actions::Selection;
use mailproof_core::jobs::{run_job, ActionState, JobEvent, RunOptions, Verdict};
use mailproof_core::Cancel;
use mailproof_tests::faults::{matrix, FaultProxy};
use mailproof_tests::world::World;
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.soak";

/// Each destination and the verdict the lab's gateway policy gives it (carol and verifier have none).
const DESTINATIONS: [(&str, Verdict); 10] = [
    ("bob", Verdict::Missed),
    ("carol", Verdict::Missed),
    ("dan", Verdict::Prevented),
    ("erin", Verdict::Detected),
    ("frank", Verdict::Prevented),
    ("grace", Verdict::Prevented),
    ("heidi", Verdict::Prevented),
    ("ivan", Verdict::Prevented),
    ("judy", Verdict::Detected),
    ("verifier", Verdict::Missed),
];

fn actions() -> usize {
    std::env::var("MAILPROOF_SOAK_ACTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

/// A small deterministic generator (xorshift64), so that a soak that failed can be run again as it was.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kib.and_then(|k| k.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_under_random_faults_decides_every_action_once_and_its_memory_stays_flat() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(SERVICE) else { return };
    let w = World::new(lab, keyring);
    let submission = FaultProxy::start(w.lab.port("LAB_SUBMISSION_PORT")).await;
    let alice = w.sending_through(submission.port).await;
    let (mut proxies, mut destinations) = (Vec::new(), Vec::new());
    for (user, _) in DESTINATIONS {
        let proxy = FaultProxy::start(w.lab.port("LAB_IMAPS_PORT")).await;
        destinations.push(w.verified_through(user, proxy.port).await);
        proxies.push(proxy);
    }
    let per_destination = actions().div_ceil(DESTINATIONS.len());
    let total = per_destination * DESTINATIONS.len();
    let mut spec = w.spec("soak", &alice, &destinations, 20);
    spec.selection = Selection::Ids { ids: vec!["A100-002".into(); per_destination] };
    let opts = RunOptions { network_timeout: Some(Duration::from_secs(2)), ..w.options() };

    let decided = Mutex::new(Vec::new());
    let rss = Mutex::new(Vec::new());
    let seed = 0x5eed_0000_0000_0001 ^ total as u64;
    let cancel = Cancel::default();
    let started = Instant::now();
    let (job, injected) = {
        let on_event = |e: JobEvent| {
            if e.state == ActionState::Decided {
                let mut d = decided.lock().unwrap();
                d.push(e.row_id);
                if d.len() % (total / 10).max(1) == 0 {
                    rss.lock().unwrap().push((d.len(), rss_mib()));
                }
            }
        };
        let mut dice = Dice(seed);
        let mut injected = BTreeMap::<&str, usize>::new();
        let run = run_job(&w.store, &w.keyring, &spec, &opts, &cancel, &on_event);
        tokio::pin!(run);
        // A fault every second and a half: a destination's sessions cut (a restart, a flapping link) or stalled (a
        // dropped NAT entry), or the submission session cut under the sender.
        let job = loop {
            tokio::select! {
                job = &mut run => break job.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(1500)) => {
                    let kind = match dice.below(3) {
                        0 => { proxies[dice.below(proxies.len())].cut_open(); "IMAP sessions cut" }
                        1 => { proxies[dice.below(proxies.len())].freeze_open(); "IMAP sessions stalled" }
                        _ => { submission.cut_open(); "submission session cut" }
                    };
                    *injected.entry(kind).or_default() += 1;
                }
            }
        };
        (job, injected)
    };
    let took = started.elapsed();
    let report = w.store.job_report(&job).unwrap().unwrap();

    assert_eq!(report.actions.len(), total, "every action of the job is in its report");
    let mut ids = decided.into_inner().unwrap();
    assert_eq!(ids.len(), total, "one decision per action");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "none decided twice");
    let mut by_verdict = BTreeMap::<String, usize>::new();
    let mut as_policy = 0;
    let mut other = Vec::new();
    for a in &report.actions {
        let verdict = a.verdict.expect("every action decided");
        *by_verdict.entry(format!("{verdict:?}")).or_default() += 1;
        let user = a.destination_email.split('@').next().unwrap();
        let policy = DESTINATIONS.iter().find(|(u, _)| *u == user).unwrap().1;
        if verdict == policy {
            as_policy += 1;
        } else {
            let reason = a.reason.clone().unwrap_or_default();
            assert!(
                matches!(verdict, Verdict::Errored | Verdict::Incomplete) && !reason.is_empty(),
                "{user}: {verdict:?} where the policy says {policy:?}: {reason}"
            );
            other.push(format!("{user} {verdict:?}: {reason}"));
        }
    }
    let rss = rss.into_inner().unwrap();
    let faults: usize = injected.values().sum();
    let shown = |v: &[(usize, f64)]| v.iter().map(|(n, m)| format!("{n}: {m:.0}")).collect::<Vec<_>>().join(", ");
    matrix(
        &format!("soak: {total} actions to 10 destinations, {faults} random faults ({injected:?}), seed {seed:#x}"),
        "every action decided once, as the policy says or Errored/Incomplete in words; memory flat",
        &format!(
            "{by_verdict:?}; {as_policy} as the policy says; in {:.0} s; RSS MiB after decided {}",
            took.as_secs_f64(),
            shown(&rss)
        ),
    );
    for line in other.iter().take(5) {
        eprintln!("  not as the policy says: {line}");
    }
    // Memory: what the engine holds per action is small and let go once decided. Flat from a fifth of the way
    // on (the first part includes the run's start-up and the allocator's first growth).
    if total >= 2000 {
        let from = rss.iter().find(|(n, _)| *n >= total / 5).map(|(_, m)| *m).unwrap();
        let last = rss.last().unwrap().1;
        assert!(last - from < 64.0, "RSS grew from {from:.0} to {last:.0} MiB: {}", shown(&rss));
    }
}
