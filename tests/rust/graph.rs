//! The Microsoft Graph client against the fake identity platform and Graph, which hand mail to the lab's Postfix
//! and read the lab's Dovecot mailboxes: sending through the gateway, finding what arrived (Junk Email included),
//! the readback from Sent Items, deleting, throttling, token renewal, and every sign-in failure explained.

use std::sync::Arc;
use std::time::Duration;

use mailproof_mail::graph::{Graph, GraphError, MessageMeta};
use mailproof_mail::smtp::text_message;
use mailproof_tests::microsoft::{FakeMicrosoft, CLIENT_ID, SECRET};
use mailproof_tests::Lab;
use time::OffsetDateTime;

fn mime(from: &str, to: &str, subject: &str) -> (Vec<u8>, String) {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let msg = text_message(from, to, subject, "Sent through the fake Graph into the lab.\r\n", &id).unwrap();
    (msg.formatted(), id)
}

/// Looks every 200 ms, for up to 15 s, for a message with `message_id` received since `since`.
async fn arrival(graph: &Graph, since: OffsetDateTime, message_id: &str) -> Option<MessageMeta> {
    for _ in 0..75 {
        let found = graph.received_since(since, None, false).await.unwrap();
        if let Some(m) =
            found.into_iter().find(|m| m.internet_message_id.as_deref() == Some(&format!("<{message_id}>")))
        {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

fn since_now() -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::from_secs(2)
}

#[tokio::test]
async fn mail_sent_through_graph_crosses_the_gateway_and_is_found_read_and_deleted() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["bob@example.test", "carol@example.test"]) else { return };
    let bob = Graph::new(fake.config("bob@example.test")).unwrap();
    let carol = Graph::new(fake.config("carol@example.test")).unwrap();
    let roles = bob.sign_in().await.unwrap();
    assert_eq!(roles, ["Mail.Send", "Mail.ReadWrite"]);
    let since = since_now();

    let (raw, id) = mime("bob@example.test", "carol@example.test", "quarterly figures via Graph");
    let sent = bob.send_mime(&raw).await.unwrap();
    assert!(sent.request_id.is_some(), "Graph names the request");
    let found = arrival(&carol, since, &id).await.expect("the message reached carol's Inbox");
    assert_eq!(found.subject.as_deref(), Some("quarterly figures via Graph"));
    let inbox = carol.well_known_folder("inbox").await.unwrap();
    assert_eq!(found.parent_folder_id, inbox.id, "filed in the Inbox");
    let body = carol.mime(&found.id).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Received: "), "the MIME carries the lab's Received trace:\n{text}");
    assert!(text.contains("Sent through the fake Graph"));

    // Exchange keeps a copy in Sent Items; its Message-ID is the one Mailproof reads back.
    let sent_items = bob.well_known_folder("sentitems").await.unwrap();
    let copies = bob.by_message_id(&id, Some(&sent_items.id)).await.unwrap();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].internet_message_id.as_deref(), Some(format!("<{id}>").as_str()));

    // Deleted for good (permanentDelete, offered in the global cloud): not left in Deleted Items, where mail a
    // defence removed after delivery is looked for.
    carol.delete(&found.id).await.unwrap();
    assert!(carol.by_message_id(&id, None).await.unwrap().is_empty(), "gone from every folder");

    let transcript = bob.take_transcript().join("\n");
    assert!(transcript.contains("POST /v1.0/users/bob@example.test/sendMail → 202 (request id "), "{transcript}");
    assert!(!transcript.contains(SECRET) && !transcript.contains("eyJ"), "no secret or token: {transcript}");
}

#[tokio::test]
async fn mail_the_gateway_flags_lands_in_junk_email() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["alice@example.test", "bob@example.test"]) else { return };
    let alice = Graph::new(fake.config("alice@example.test")).unwrap();
    let bob = Graph::new(fake.config("bob@example.test")).unwrap();
    let since = since_now();
    let (raw, id) = mime("alice@example.test", "bob@example.test", "cheap pills [lab:junk]");
    alice.send_mime(&raw).await.unwrap();
    let found = arrival(&bob, since, &id).await.expect("the message arrived");
    assert_eq!(found.parent_folder_id, bob.well_known_folder("junkemail").await.unwrap().id);
}

#[tokio::test]
async fn every_sign_in_and_access_failure_is_explained_with_its_fix() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["bob@example.test"]) else { return };
    let attempt = |change: &dyn Fn(&mut mailproof_mail::graph::GraphConfig)| {
        let mut c = fake.config("bob@example.test");
        change(&mut c);
        async move { Graph::new(c).unwrap().folders().await.unwrap_err() }
    };
    let e = attempt(&|c| c.tenant = "00000000-0000-0000-0000-000000000000".into()).await;
    assert!(matches!(e, GraphError::UnknownTenant { .. }), "{e:?}");
    assert!(e.to_string().contains("Directory (tenant) ID"), "{e}");
    let e = attempt(&|c| c.client_id = "11111111-1111-1111-1111-111111111111".into()).await;
    assert!(matches!(e, GraphError::UnknownClient { .. }), "{e:?}");
    let e = attempt(&|c| c.secret = mailproof_mail::Password::new("the secret's ID, not its value")).await;
    assert!(matches!(e, GraphError::WrongSecret { .. }), "{e:?}");
    assert!(e.to_string().contains("not its Secret ID"), "{e}");
    let e = attempt(&|c| c.mailbox = "nobody@example.test".into()).await;
    assert!(matches!(e, GraphError::NoMailbox { .. }), "{e:?}");

    fake.control(serde_json::json!({ "policyBlocks": "bob@example.test" })).await;
    let e = attempt(&|_| {}).await;
    assert!(matches!(e, GraphError::Policy { .. }), "{e:?}");
    assert!(e.to_string().contains("application access policy"), "{e}");

    fake.control(serde_json::json!({ "revokeConsent": CLIENT_ID })).await;
    let e = Graph::new(fake.config("bob@example.test")).unwrap().sign_in().await.unwrap_err();
    assert!(matches!(&e, GraphError::NoConsent { missing, .. } if missing == "Mail.Send and Mail.ReadWrite"), "{e:?}");
    assert!(e.to_string().contains("Grant admin consent"), "{e}");

    fake.control(serde_json::json!({ "expireSecret": CLIENT_ID })).await;
    let e = attempt(&|_| {}).await;
    assert!(matches!(e, GraphError::ExpiredSecret { .. }), "{e:?}");
    assert!(e.is_setup());
}

#[tokio::test]
async fn throttling_is_waited_out_as_graph_asks_and_loses_nothing() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["bob@example.test", "carol@example.test"]) else { return };
    let bob = Graph::new(fake.config("bob@example.test")).unwrap();
    let carol = Graph::new(fake.config("carol@example.test")).unwrap();
    bob.sign_in().await.unwrap();
    let since = since_now();
    fake.control(serde_json::json!({ "throttleNext": 3, "retryAfter": 1 })).await;
    let (raw, id) = mime("bob@example.test", "carol@example.test", "sent through a 429 storm");
    bob.send_mime(&raw).await.expect("sent once the throttling ends");
    assert!(bob.throttled_for() >= Duration::from_secs(3), "waited {:?}", bob.throttled_for());
    let transcript = bob.take_transcript().join("\n");
    assert_eq!(transcript.matches("→ 429").count(), 3, "{transcript}");
    assert!(transcript.contains("throttled; waiting 1 s as Graph asks"), "{transcript}");
    assert!(arrival(&carol, since, &id).await.is_some(), "sent exactly once and delivered");
    let copies = bob.by_message_id(&id, Some("sentitems")).await.unwrap();
    assert_eq!(copies.len(), 1, "no second copy from the retries");
    mailproof_tests::faults::matrix(
        "Graph throttles 3 times (429, Retry-After 1 s)",
        "waited as asked, sent once, delivered",
        &format!("waited {:.1} s; {} copy sent; delivered", bob.throttled_for().as_secs_f64(), copies.len()),
    );

    // Twenty lookups at once: never more than four in flight at the mailbox, so none is throttled for concurrency.
    let carol = Arc::new(carol);
    let lookups = (0..20).map(|_| {
        let carol = Arc::clone(&carol);
        tokio::spawn(async move { carol.folders().await.map(|f| f.len()) })
    });
    for l in lookups {
        assert!(l.await.unwrap().unwrap() >= 3);
    }
    let log = fake.log().await;
    assert!(log["maxInFlight"]["carol@example.test"].as_u64().unwrap() <= 4, "{}", log["maxInFlight"]);
    assert_eq!(carol.throttled_for(), Duration::ZERO, "the gate kept carol's requests under the limit");
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_call_goes_through() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["bob@example.test"]) else { return };
    let bob = Graph::new(fake.config("bob@example.test")).unwrap();
    bob.folders().await.unwrap();
    fake.control(serde_json::json!({ "invalidateTokens": true })).await;
    bob.folders().await.expect("renewed and retried");
    let transcript = bob.take_transcript().join("\n");
    assert!(transcript.contains("→ 401"), "{transcript}");
    assert!(transcript.contains("renewed after a 401"), "{transcript}");
    let tokens = fake.log().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(tokens, 2, "one sign-in, one renewal: the token is cached in between");
}

/// Through the mailbox seam, as the engines reach a Microsoft 365 mailbox: a submission session sends, a watch
/// from "now" sees only what came after it (with its folder and junk flag), and a search finds by subject and
/// deletes.
#[tokio::test]
async fn the_mailbox_seam_submits_watches_and_finds_through_graph() {
    use mailproof_core::mailbox::{open, Mark, Reach};
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["alice@example.test", "bob@example.test"]) else { return };
    let alice = open(Reach::Graph(fake.config("alice@example.test")));
    let bob = open(Reach::Graph(fake.config("bob@example.test")));

    let (before, _) = mime("alice@example.test", "bob@example.test", "[MP-seam-old] before the watch");
    let mut session = alice.submit().await.map_err(|(r, _)| r).unwrap();
    assert!(session.send("alice@example.test", &["bob@example.test".into()], &before).await.result.is_ok());
    let mut finder = bob.finder().await.unwrap();
    for _ in 0..50 {
        if finder.find("[MP-seam-old]", false).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut watch = bob.watch(Mark::Now, true).await.unwrap();
    assert!(watch.changes().is_none(), "Graph is polled");
    let (clean, _) = mime("alice@example.test", "bob@example.test", "[MP-seam-new] a clean one");
    let (junk, _) = mime("alice@example.test", "bob@example.test", "[MP-seam-new] pills [lab:junk]");
    for raw in [&clean, &junk] {
        let sent = session.send("alice@example.test", &["bob@example.test".into()], raw).await;
        let accepted = sent.result.unwrap();
        assert_eq!(accepted.code, 202);
        assert!(accepted.queue_id.is_some(), "the request id stands for the queue id");
        assert!(sent.transcript.iter().any(|l| l.contains("/sendMail → 202")), "{:?}", sent.transcript);
    }
    session.quit().await;
    let mut arrived = Vec::new();
    for _ in 0..75 {
        let mut wanted = |header: &[u8]| String::from_utf8_lossy(header).contains("[MP-seam-");
        arrived.extend(watch.look(&mut wanted).await.unwrap());
        if arrived.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut seen: Vec<(bool, String)> = arrived
        .iter()
        .map(|a| {
            (
                a.junk,
                String::from_utf8_lossy(&a.raw).lines().find(|l| l.starts_with("Subject:")).unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (false, "Subject: [MP-seam-new] a clean one".to_owned()),
            (true, "Subject: [MP-seam-new] pills [lab:junk]".to_owned())
        ],
        "only what came after the watch began, each once, the junk one flagged"
    );
    assert_eq!(arrived.iter().find(|a| a.junk).unwrap().folder, "Junk Email");
    let mut again = |_: &[u8]| true;
    assert!(watch.look(&mut again).await.unwrap().is_empty(), "nothing is seen twice");
    watch.delete(&arrived).await.unwrap();
    watch.close().await;

    let found = finder.find("[MP-seam-old]", true).await.unwrap().expect("found by subject");
    assert_eq!((found.folder.as_str(), found.junk), ("Inbox", false));
    finder.close().await;
}

#[tokio::test]
async fn the_connection_test_signs_in_reads_the_folders_and_checks_the_right_to_send() {
    use mailproof_mail::diagnose::StepStatus;
    use mailproof_mail::graph::diagnose_graph;
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeMicrosoft::start(&["bob@example.test"]) else { return };
    let mut seen = Vec::new();
    let d =
        diagnose_graph(fake.config("bob@example.test"), &mut |sending, s| seen.push((sending, s.title.clone()))).await;
    assert!(d.reading.ok && d.sending.ok, "{:#?}", d.reading.steps);
    let titles: Vec<&str> = d.reading.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["Sign-in", "Permissions", "Mailbox folders"]);
    assert!(d.reading.steps[2].detail.contains("Junk Email"), "{}", d.reading.steps[2].detail);
    assert_eq!(seen.len(), 5, "every step reported as it completed: {seen:?}");
    assert!(!d.reading.transcript.join("\n").contains(SECRET));

    // Consent revoked: signed in, and the permission steps say exactly what to grant.
    fake.control(serde_json::json!({ "revokeConsent": CLIENT_ID })).await;
    let d = diagnose_graph(fake.config("bob@example.test"), &mut |_, _| {}).await;
    assert!(!d.reading.ok && !d.sending.ok);
    assert_eq!(d.reading.steps[0].status, StepStatus::Passed);
    let send = d.sending.steps.iter().find(|s| s.status == StepStatus::Failed).unwrap();
    assert!(send.detail.contains("no Mail.Send role"), "{send:?}");
    assert!(send.hint.as_deref().unwrap().contains("Grant admin consent"), "{send:?}");

    // A wrong secret fails the sign-in on both sides, with the fix.
    let mut config = fake.config("bob@example.test");
    config.secret = mailproof_mail::Password::new("wrong");
    let d = diagnose_graph(config, &mut |_, _| {}).await;
    assert_eq!(d.sending.steps.len(), 1);
    let step = &d.sending.steps[0];
    assert!(step.detail.starts_with("the client secret is wrong (AADSTS7000215: "), "{step:?}");
    assert!(step.hint.as_deref().unwrap().starts_with("Paste the secret's Value"), "{step:?}");
}
