//! The Gmail API client and the OAuth consent against the fake Google in front of the lab: a consent through the
//! loopback (the test plays the browser) gives a sign-in that sends real mail through the lab's gateway and reads
//! it back through the history (Spam included), and a revoked sign-in, a declined consent, an expired history
//! mark and rate limits are each told apart; and the mailbox seam's Gmail mailbox submits, watches (Spam, an
//! expired mark) and searches as the engines use it.

use std::time::Duration;

use mailproof_core::mailbox::{self, Arrived, Mark, Reach, Watch};
use mailproof_mail::gmail::{Gmail, GmailError, Message};
use mailproof_mail::oauth::OAuthError;
use mailproof_mail::smtp::text_message;
use mailproof_tests::google::{FakeGoogle, CLIENT_SECRET};
use mailproof_tests::Lab;

const ACCOUNTS: [&str; 3] = ["alice@example.test", "bob@example.test", "erin@example.test"];

fn mime(from: &str, to: &str, subject: &str) -> (Vec<u8>, String) {
    let id = format!("{}@mailproof.test", uuid::Uuid::new_v4());
    let msg = text_message(from, to, subject, "Sent through the fake Gmail API into the lab.\r\n", &id).unwrap();
    (msg.formatted(), id)
}

async fn signed_in(fake: &FakeGoogle, account: &str) -> (Gmail, String) {
    let tokens = fake.consent(account).await.unwrap_or_else(|e| panic!("{account} consents: {e}"));
    let refresh = tokens.refresh_token().expect("a refresh token").to_owned();
    (Gmail::new(fake.config(account, &refresh)).unwrap(), refresh)
}

/// Reads the history from `mark` every 200 ms, for up to 15 s, for the message whose Message-ID is `id`.
async fn arrival(gmail: &Gmail, mark: &str, id: &str) -> Option<Message> {
    for _ in 0..75 {
        for added in gmail.added_since(mark).await.unwrap().ids {
            let m = gmail.metadata(&added).await.unwrap();
            if m.header("Message-ID") == Some(&format!("<{id}>")) {
                return Some(m);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

#[tokio::test]
async fn a_consent_gives_a_sign_in_that_sends_through_the_gateway_and_reads_the_history() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeGoogle::start(&ACCOUNTS, "bob@example.test") else { return };
    let (alice, _) = signed_in(&fake, "alice@example.test").await;
    let (bob, bob_refresh) = signed_in(&fake, "bob@example.test").await;
    let (erin, _) = signed_in(&fake, "erin@example.test").await;
    let profile = bob.profile().await.unwrap();
    assert_eq!(profile.email_address, "bob@example.test", "the consent was bob's");
    let (bob_mark, erin_mark) = (profile.history_id, erin.profile().await.unwrap().history_id);

    let subject = format!("figures via the Gmail API {}", uuid::Uuid::new_v4().simple());
    let (raw, bob_id) = mime("alice@example.test", "bob@example.test", &subject);
    let sent = alice.send_raw(&raw).await.unwrap();
    assert!(!sent.id.is_empty(), "Gmail names the sent message");
    let found = arrival(&bob, &bob_mark, &bob_id).await.expect("the message reached bob through the lab");
    assert_eq!(found.place(&bob.labels().await.unwrap()), "Inbox");
    let (read, body) = bob.raw(&found.id).await.unwrap();
    assert_eq!(read.id, found.id);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Received: ") && text.contains("Sent through the fake Gmail API"), "{text}");

    // The lab's gateway files erin's mail as junk: Gmail's SPAM label.
    let (raw, id) = mime("alice@example.test", "erin@example.test", "figures for erin");
    alice.send_raw(&raw).await.unwrap();
    let spam = arrival(&erin, &erin_mark, &id).await.expect("erin's copy is in the history, Spam included");
    assert!(spam.spam(), "{:?}", spam.label_ids);
    assert_eq!(spam.place(&[]), "Spam");

    // Trashed, it is found again by a search that includes Spam and Trash, and only by such a search.
    bob.trash(&found.id).await.unwrap();
    let q = format!("subject:({subject})");
    let trashed = first_trashed(&bob, &bob.search(&q, true).await.unwrap()).await;
    assert!(trashed.trashed() && trashed.header("Message-ID") == Some(&format!("<{bob_id}>")));
    assert!(bob.search(&q, false).await.unwrap().iter().all(|r| r.id != trashed.id));

    // No token or secret in a transcript.
    let transcript = [alice.take_transcript(), bob.take_transcript(), erin.take_transcript()].concat().join("\n");
    let log = fake.log().await;
    for token in log["issuedTokens"].as_array().unwrap() {
        assert!(!transcript.contains(token.as_str().unwrap()), "a token in the transcript");
    }
    assert!(!transcript.contains(CLIENT_SECRET) && !transcript.contains(&bob_refresh));
}

async fn first_trashed(gmail: &Gmail, refs: &[mailproof_mail::gmail::MessageRef]) -> Message {
    for r in refs {
        let m = gmail.metadata(&r.id).await.unwrap();
        if m.trashed() {
            return m;
        }
    }
    panic!("no trashed copy among {refs:?}");
}

#[tokio::test]
async fn a_revoked_sign_in_a_declined_consent_an_expired_mark_and_rate_limits_are_told_apart() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeGoogle::start(&ACCOUNTS, "bob@example.test") else { return };
    let (bob, refresh) = signed_in(&fake, "bob@example.test").await;
    let mark = bob.profile().await.unwrap().history_id;

    // Rate limited twice: waited out (1 s, then 2 s), nothing lost.
    fake.control(serde_json::json!({ "throttleNext": 2 })).await;
    assert!(bob.added_since(&mark).await.is_ok());
    assert_eq!(bob.throttled_for(), Duration::from_secs(3));
    mailproof_tests::faults::matrix(
        "Gmail rate limit twice (429 rateLimitExceeded)",
        "backed off 1 s then 2 s, the history read",
        &format!("waited {} s; history read", bob.throttled_for().as_secs()),
    );

    // A mark Gmail no longer keeps: a 404 the watcher can tell from a failure.
    fake.control(serde_json::json!({ "expireHistory": true })).await;
    let e = bob.added_since(&mark).await.unwrap_err();
    assert!(e.not_found() && !e.is_setup(), "{e:?}");

    // Revoked: the stored sign-in is refused, in words, with the fix.
    fake.control(serde_json::json!({ "revoke": "bob@example.test" })).await;
    let fresh = Gmail::new(fake.config("bob@example.test", &refresh)).unwrap();
    let e = fresh.profile().await.unwrap_err();
    assert!(matches!(&e, GmailError::OAuth(OAuthError::Revoked { .. })), "{e:?}");
    assert!(e.to_string().contains("Token has been expired or revoked") && e.is_setup(), "{e}");

    // Declined at the consent screen.
    fake.control(serde_json::json!({ "refuseConsent": true })).await;
    let e = fake.consent("bob@example.test").await.unwrap_err();
    assert!(matches!(e, OAuthError::Denied { .. }), "{e:?}");
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Looks every 200 ms, for up to 15 s, for mail whose headers hold `token`.
async fn watched(watch: &mut Box<dyn Watch>, token: &str) -> Vec<Arrived> {
    for _ in 0..75 {
        let got = watch.look(&mut |h: &[u8]| holds(h, token)).await.unwrap();
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn through_the_mailbox_seam_a_gmail_mailbox_submits_is_watched_and_searched() {
    let Some(_lab) = Lab::running() else { return };
    let Some(fake) = FakeGoogle::start(&ACCOUNTS, "alice@example.test") else { return };
    let (_, alice_refresh) = signed_in(&fake, "alice@example.test").await;
    let (_, erin_refresh) = signed_in(&fake, "erin@example.test").await;
    let alice = mailbox::open(Reach::Gmail(fake.config("alice@example.test", &alice_refresh)));
    let erin = mailbox::open(Reach::Gmail(fake.config("erin@example.test", &erin_refresh)));
    let mut watch = erin.watch(Mark::Now, true).await.unwrap();
    assert_eq!(watch.pace(), Duration::from_millis(500), "looks are paced for Gmail's quota");

    let token = format!("MP-{}", uuid::Uuid::new_v4().simple());
    let (raw, id) = mime("alice@example.test", "erin@example.test", &format!("[{token}] through the seam"));
    let mut session = alice.submit().await.unwrap();
    assert!(session.server().starts_with("Gmail API (127.0.0.1:"), "{}", session.server());
    let sent = session.send("alice@example.test", &["erin@example.test".to_owned()], &raw).await;
    let accepted = sent.result.expect("Gmail took the message");
    assert!(accepted.text.starts_with("Accepted by the Gmail API for delivery"), "{}", accepted.text);
    assert_eq!(accepted.message_id.as_deref(), Some(format!("<{id}>").as_str()), "read back from the sent copy");
    assert!(
        sent.transcript.iter().any(|l| l.contains("/messages/send?uploadType=media → 200")),
        "{:?}",
        sent.transcript
    );

    // The gateway files erin's mail as junk: watched from the history, Spam included, once.
    let got = watched(&mut watch, &token).await;
    assert_eq!(got.len(), 1, "one copy");
    assert_eq!((got[0].folder.as_str(), got[0].junk, got[0].removed), ("Spam", true, false));
    assert!(holds(&got[0].raw, "Received: "), "the MIME as delivered");
    assert!(watch.look(&mut |h: &[u8]| holds(h, &token)).await.unwrap().is_empty(), "not given twice");

    // Searched by the subject's code, trashed when asked, and then found in Trash.
    let mut finder = erin.finder().await.unwrap();
    let found = finder.find(&token, true).await.unwrap().expect("found by its code");
    assert_eq!((found.folder.as_str(), found.junk), ("Spam", true));
    let again = finder.find(&token, false).await.unwrap().expect("trashed, not gone");
    assert_eq!(again.folder, "Trash");

    // A mark Gmail no longer keeps: the watch lists by date instead and loses nothing.
    fake.control(serde_json::json!({ "expireHistory": true })).await;
    let later = format!("MP-{}", uuid::Uuid::new_v4().simple());
    let (raw, _) = mime("alice@example.test", "erin@example.test", &format!("[{later}] after the mark expired"));
    assert!(session.send("alice@example.test", &["erin@example.test".to_owned()], &raw).await.result.is_ok());
    assert_eq!(watched(&mut watch, &later).await.len(), 1, "found by the listing by date");

    // A consent given with another account is refused before anything is sent.
    let wrong = mailbox::open(Reach::Gmail(fake.config("bob@example.test", &erin_refresh)));
    let Err((refused, _)) = wrong.submit().await else { panic!("erin's sign-in must not send as bob") };
    assert!(
        refused.text.contains("for erin@example.test, not for this profile's bob@example.test"),
        "{}",
        refused.text
    );
}
