//! The agent as a machine on a shared network meets it: idle and flooding connections, guessed pairing codes,
//! out-of-bounds requests, a workstation that goes away mid-search, a rotated code. Each asserts what the other
//! side sees and what the agent's log says.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailproof_core::agent::{self, AgentAddress, AgentError, AgentIdentity, FindMail, MailboxAccess};
use mailproof_core::profiles::{save_profile, ServerType};
use mailproof_core::secrets::{Keyring, Secret};
use mailproof_core::verification::EmailTiming;
use mailproof_tests::world::{now, World};
use mailproof_tests::{real_keyring, Lab};
use tokio::io::AsyncReadExt;

const SERVICE: &str = "dev.mailproof.desktop.tests.agent";

/// An agent on loopback with a fresh identity in its own keyring service; its log lines, and how to reach it.
struct Running {
    at: AgentAddress,
    code: Secret,
    keyring: Keyring,
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(keyring: Keyring, ca: Option<std::path::PathBuf>) -> Running {
    start_allowing(keyring, ca, Vec::new()).await
}

/// The same, reaching only the `allowed` mail servers.
async fn start_allowing(keyring: Keyring, ca: Option<std::path::PathBuf>, allowed: Vec<agent::AllowedHost>) -> Running {
    let code = agent::rotate_code(&keyring).unwrap();
    let identity = AgentIdentity::load_or_create(&keyring).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = AgentAddress { address: listener.local_addr().unwrap().to_string(), fingerprint: identity.fingerprint() };
    let log = Arc::new(Mutex::new(Vec::new()));
    let heard = log.clone();
    let task = tokio::spawn(agent::serve(listener, identity, keyring.clone(), (ca, allowed), move |line| {
        heard.lock().unwrap().push(line)
    }));
    Running { at, code, keyring, log, task }
}

impl Running {
    fn heard(&self, words: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(words))
    }
}

/// How long until the agent closes a connection that says nothing.
async fn closed_after(address: &str) -> Duration {
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf)).await.expect("closed by the agent");
    started.elapsed()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_five_seconds_and_a_flood_is_turned_away() {
    let Some(keyring) = real_keyring(&format!("{SERVICE}.idle")) else { return };
    let agent = start(keyring, None).await;
    // The cap's worth of idle connections, held open ...
    let mut idle = Vec::new();
    for _ in 0..agent::MAX_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(&agent.at.address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... and one more is closed at once, and said so in the log.
    assert!(closed_after(&agent.at.address).await < Duration::from_secs(1), "turned away at once");
    assert!(agent.heard("connections open"), "{:?}", agent.log.lock().unwrap());
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A connection that never sends its request is closed at the pre-authentication limit.
    let took = closed_after(&agent.at.address).await;
    assert!(took >= Duration::from_millis(4_800) && took < Duration::from_secs(7), "closed after {took:?}");
    assert!(agent.heard("no request within 5 s"), "{:?}", agent.log.lock().unwrap());
    // The agent still answers.
    agent::hello(&agent.at, &agent.code).await.unwrap();
}

#[tokio::test]
async fn guessed_pairing_codes_shut_the_address_out_and_a_rotated_code_takes_over() {
    let Some(keyring) = real_keyring(&format!("{SERVICE}.codes")) else { return };
    let agent = start(keyring, None).await;
    agent::hello(&agent.at, &agent.code).await.unwrap();
    // A rotated code replaces the old one under the running agent, without a restart.
    let new = agent::rotate_code(&agent.keyring).unwrap();
    let old = agent::hello(&agent.at, &agent.code).await.unwrap_err();
    assert!(old.to_string().contains("wrong pairing code"), "{old}");
    agent::hello(&agent.at, &new).await.unwrap();
    // Guessing: after five wrong codes in all, this address is turned away, even with the right one.
    for _ in 0..agent::WRONG_CODES - 1 {
        let e = agent::hello(&agent.at, &Secret::new("guess")).await.unwrap_err();
        assert!(e.to_string().contains("wrong pairing code"), "{e}");
    }
    let e = agent::hello(&agent.at, &new).await.unwrap_err();
    assert!(matches!(e, AgentError::Unreachable { .. } | AgentError::Broken { .. }), "{e}");
    assert!(agent.heard("too many wrong pairing codes"), "{:?}", agent.log.lock().unwrap());
}

#[tokio::test]
async fn a_search_stops_when_the_workstation_goes_away_and_its_timing_is_bounded() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.search")) else { return };
    let w = World::new(lab, keyring.clone());
    let bob = save_profile(
        &w.store,
        &w.keyring,
        None,
        w.lab.profile_draft("bob", ServerType::Imap, w.lab.port("LAB_IMAPS_PORT")),
        now(),
    )
    .unwrap();
    let agent = start(keyring, Some(w.lab.ca())).await;
    let access = MailboxAccess::of(&bob, &Secret::new(w.lab.password("bob")));
    let find = |wait_secs| FindMail {
        mailbox: access.clone(),
        subject: format!("never sent {}", uuid::Uuid::new_v4()),
        timing: EmailTiming { wait_secs, poll_millis: 200, delete_found: false },
    };
    let e = agent::find_mail(&agent.at, &agent.code, find(0)).await.unwrap_err();
    assert!(e.to_string().contains("timing is out of bounds"), "{e}");
    // The workstation gives up after a second of a minute-long search: the agent stops looking within a second.
    let asked = tokio::time::timeout(Duration::from_secs(1), agent::find_mail(&agent.at, &agent.code, find(60)));
    assert!(asked.await.is_err(), "still searching when the workstation went away");
    let gave_up = Instant::now();
    while !agent.heard("the workstation went away") {
        assert!(gave_up.elapsed() < Duration::from_secs(3), "{:?}", agent.log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(agent.heard("Cancelled while looking"), "the search itself ended: {:?}", agent.log.lock().unwrap());
}

#[tokio::test]
async fn an_agent_told_which_servers_it_may_reach_refuses_any_other_before_connecting() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.allow")) else { return };
    let w = World::new(lab, keyring.clone());
    let draft = w.lab.profile_draft("bob", ServerType::Imap, w.lab.port("LAB_IMAPS_PORT"));
    let bob = save_profile(&w.store, &w.keyring, None, draft, now()).unwrap();
    let imaps = w.lab.port("LAB_IMAPS_PORT");
    // The operator allows the lab's IMAPS port only: the same host's POP3S port is another server.
    let allowed = vec![format!("{}:{imaps}", w.lab.host()).parse().unwrap()];
    let agent = start_allowing(keyring, Some(w.lab.ca()), allowed).await;
    let find = |access: MailboxAccess| FindMail {
        mailbox: access,
        subject: format!("never sent {}", uuid::Uuid::new_v4()),
        timing: EmailTiming { wait_secs: 1, poll_millis: 200, delete_found: false },
    };
    let mut other = MailboxAccess::of(&bob, &Secret::new(w.lab.password("bob")));
    other.port = w.lab.port("LAB_POP3S_PORT");
    let refused = agent::find_mail(&agent.at, &agent.code, find(other)).await.unwrap_err().to_string();
    assert!(refused.contains("may reach only") && refused.contains(&format!(":{imaps}")), "{refused}");
    assert!(agent.heard("not an allowed host"), "{:?}", agent.log.lock().unwrap());
    assert!(!agent.heard("looking for"), "no search was started");
    // The allowed server is searched as usual (nothing sent, so nothing found, in words).
    let access = MailboxAccess::of(&bob, &Secret::new(w.lab.password("bob")));
    let found = agent::find_mail(&agent.at, &agent.code, find(access)).await.unwrap();
    assert!(!found.verified && found.detail.contains("not"), "{found:?}");
    assert!(agent.heard("looking for"), "{:?}", agent.log.lock().unwrap());
}

/// The mailbox seam through an agent, as a job uses it: a message submitted from the actor's machine, with the
/// transcript naming the actor, and found by a watch there; looked at again, nothing is passed on twice.
#[tokio::test]
async fn a_remote_actor_submits_and_watches_through_its_agent() {
    use mailproof_core::mailbox::Mark;
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.sessions")) else { return };
    let w = World::new(lab, keyring.clone());
    let imaps = w.lab.port("LAB_IMAPS_PORT");
    let alice = save_profile(&w.store, &w.keyring, None, w.lab.profile_draft("alice", ServerType::Imap, imaps), now());
    let bob = save_profile(&w.store, &w.keyring, None, w.lab.profile_draft("bob", ServerType::Imap, imaps), now());
    let (alice, bob) = (alice.unwrap(), bob.unwrap());
    let agent = start(keyring, Some(w.lab.ca())).await;
    let actor = agent::RemoteActor { name: "Branch PC".into(), agent: agent.at.clone(), code: agent.code.clone() };

    let bob_box = agent::remote_mailbox(&actor, &bob, &Secret::new(w.lab.password("bob")));
    let mut watch = bob_box.watch(Mark::Now, true).await.unwrap();
    let alice_box = agent::remote_mailbox(&actor, &alice, &Secret::new(w.lab.password("alice")));
    let mut submit = alice_box.submit().await.unwrap_or_else(|(r, t)| panic!("{r:?} {t:?}"));
    let token = uuid::Uuid::new_v4().to_string();
    let raw = format!(
        "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: through the agent {token}\r\n\
         Message-ID: <{token}@mailproof.test>\r\n\r\nHello from the branch office.\r\n"
    );
    let sent = submit.send("alice@example.test", &["bob@example.test".to_owned()], raw.as_bytes()).await;
    let accepted = sent.result.unwrap_or_else(|r| panic!("{r:?} {:?}", sent.transcript));
    assert_eq!(accepted.code, 250);
    assert!(sent.transcript[0].contains("through actor Branch PC (agent at 127.0.0.1:"), "{:?}", sent.transcript);
    assert!(sent.transcript.iter().any(|l| l.starts_with("S: 250")), "{:?}", sent.transcript);
    assert!(submit.usable());
    assert!(agent.heard("submitted a message for bob@example.test"), "{:?}", agent.log.lock().unwrap());

    let mut ours = |header: &[u8]| String::from_utf8_lossy(header).contains(&token);
    let started = Instant::now();
    let found = loop {
        let found = watch.look(&mut ours).await.unwrap();
        if !found.is_empty() {
            break found;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the copy did not arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].folder, "INBOX");
    assert!(String::from_utf8_lossy(&found[0].raw).contains("Hello from the branch office."));
    assert!(watch.look(&mut ours).await.unwrap().is_empty(), "nothing new, nothing twice");
    watch.delete(&found).await.unwrap();
    assert!(agent.heard("watching bob@example.test"), "{:?}", agent.log.lock().unwrap());
    submit.quit().await;
    watch.close().await;
}
