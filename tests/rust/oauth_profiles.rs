//! IMAP and POP3 profiles that sign in with OAuth 2.0, end to end against the lab's real servers: saved with the
//! OAuth client's secret in the keyring and no password, signed in through the loopback at the lab's issuer (a
//! custom issuer; the test plays the browser), checked on the profile's own IMAP server, tested, verified, and the
//! source of a job whose verdicts are those of a password profile. Dovecot's oauth2 passdb checks every token at the
//! issuer, so a consent of another account is refused before anything is stored, and a revoked one is explained.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproof_core::jobs::{run_job, ActionState, JobEvent, Verdict};

use mailproof_core::profiles::{
    authorize_profile, credentials_for_test, save_profile, test_connection, AuthMethod, AuthorizeError, EmailProfile,
    OAuthIssuer, OAuthSettings, ProfileDraft, ProfileError, ServerType,
};
use mailproof_core::secrets::Secret;
use mailproof_core::verification::verify_profile;
use mailproof_core::Cancel;
use mailproof_tests::google::play_browser;
use mailproof_tests::world::{check, expected, now, World};
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.oauth-profiles";

/// `user`'s profile of `kind` signing in with OAuth 2.0 on both servers at the lab's issuer.
fn oauth_draft(lab: &Lab, user: &str, kind: ServerType) -> ProfileDraft {
    let port = lab.port(if kind == ServerType::Pop3 { "LAB_POP3S_PORT" } else { "LAB_IMAPS_PORT" });
    let mut d = lab.profile_draft(user, kind, port);
    d.incoming.auth = AuthMethod::OAuth2;
    d.outgoing.auth = AuthMethod::OAuth2;
    d.password = Some(Secret::new(lab.var("LAB_OAUTH_CLIENT_SECRET")));
    let issuer = lab.var("LAB_OAUTH_URL");
    d.oauth = Some(OAuthSettings {
        issuer: OAuthIssuer::Custom,
        client_id: lab.var("LAB_OAUTH_CLIENT_ID").into(),
        tenant: String::new(),
        authorization_url: format!("{issuer}/o/oauth2/v2/auth"),
        token_url: format!("{issuer}/token"),
        scopes: lab.var("LAB_OAUTH_SCOPE").into(),
    });
    d
}

/// Signs `profile` in at the lab's issuer as `account` (the issuer consents as the page's login hint).
async fn sign_in(w: &World, profile: &EmailProfile, account: Option<&str>) -> Result<EmailProfile, AuthorizeError> {
    let consent = authorize_profile(&w.store, &w.keyring, &profile.id, Some(w.lab.ca())).await?;
    let mut url = consent.url().to_owned();
    if let Some(other) = account {
        // The user picks another account on the issuer's page than the one it was opened for.
        url = url.replace(&profile.email.replace('@', "%40"), &other.replace('@', "%40"));
    }
    let browser = tokio::spawn(play_browser(url));
    let done = consent.finish(&w.store, &w.keyring, Duration::from_secs(20), &Cancel::default(), now()).await;
    browser.await.unwrap();
    done
}

async fn revoke(lab: &Lab, account: &str) {
    let control = format!("{}/_fake/control", lab.var("LAB_OAUTH_URL"));
    let body = serde_json::json!({ "revoke": account }).to_string();
    reqwest::Client::new().post(control).body(body).send().await.unwrap().error_for_status().unwrap();
}

#[tokio::test]
async fn an_oauth_imap_profile_signs_in_verifies_and_sends_a_job_with_the_verdicts_of_a_password_profile() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.imap")) else { return };
    let w = World::new(lab, keyring);
    let carol =
        save_profile(&w.store, &w.keyring, None, oauth_draft(&w.lab, "carol", ServerType::Imap), now()).unwrap();
    let oauth = carol.oauth.clone().expect("the OAuth settings are kept");
    assert_eq!((oauth.issuer, carol.incoming.auth), (OAuthIssuer::Custom, AuthMethod::OAuth2));
    let notice = carol.clone().with_notice(now().date()).secret_notice.expect("a notice until the consent");
    assert!(
        notice.starts_with("Not signed in to 127.0.0.1 yet") && notice.contains("profile authorize carol@"),
        "{notice}"
    );

    // Before the consent: nothing can sign in, and every path says what to do.
    let creds = credentials_for_test(&w.store, &w.keyring, &carol.draft(), Some(&carol.id)).unwrap();
    let report = test_connection(&carol.draft(), &creds, Some(w.lab.ca()), Duration::from_secs(10), |_| {}).await;
    let login = report.incoming.steps.iter().find(|s| s.title == "Login").expect("a login step");
    assert!(
        !report.ok && login.detail.contains("has not consented yet") && login.detail.contains("OAUTHBEARER"),
        "{login:#?}"
    );
    let e = verify_profile(&w.store, &w.keyring, &carol.id, &w.verify_run(), &Cancel::default(), |_| {}).await;
    let e = e.unwrap_err().to_string();
    assert!(e.contains("not signed in to 127.0.0.1 yet"), "{e}");

    // A consent given by another account is refused by the profile's own IMAP server; nothing is stored.
    let wrong = sign_in(&w, &carol, Some("bob@example.test")).await.unwrap_err();
    assert!(matches!(wrong, AuthorizeError::ServerRefused { .. }), "{wrong}");
    assert!(wrong.to_string().contains("Nothing was stored"), "{wrong}");
    assert!(w.keyring.retrieve(&carol.refresh_token_key()).unwrap().is_none());

    let carol = sign_in(&w, &carol, None).await.expect("carol's own consent");
    assert!(carol.authorized_at.is_some() && carol.clone().with_notice(now().date()).secret_notice.is_none());
    let creds = credentials_for_test(&w.store, &w.keyring, &carol.draft(), Some(&carol.id)).unwrap();
    let report = test_connection(&carol.draft(), &creds, Some(w.lab.ca()), Duration::from_secs(10), |_| {}).await;
    assert!(report.ok, "{:#?} {:#?}", report.incoming.steps, report.outgoing.steps);
    let shown = format!("{report:?}");
    assert!(!shown.contains(w.lab.var("LAB_OAUTH_CLIENT_SECRET")), "no secret in the diagnosis");
    let carol = w.verify(&carol).await;

    let dests: Vec<EmailProfile> = {
        let mut v = Vec::new();
        for u in ["bob", "frank", "grace", "heidi", "dan", "ivan", "judy", "erin"] {
            v.push(w.verified_imap(u).await);
        }
        v
    };
    let (_, report) = w.run(&w.spec("OAuth 2.0 source", &carol, &dests, 20)).await;
    check(&report, &expected(false), "from an OAuth 2.0 IMAP profile");

    // The issuer revokes the sign-in: verification ends with the issuer's refusal in words.
    revoke(&w.lab, "carol@example.test").await;
    let done = verify_profile(&w.store, &w.keyring, &carol.id, &w.verify_run(), &Cancel::default(), |_| {}).await;
    let text = format!("{done:?}");
    assert!(text.contains("no longer accepts") && text.contains("sign the profile in again"), "{text}");
}

#[tokio::test]
async fn an_oauth_pop3_profile_verifies_and_changing_its_issuer_forgets_the_consent() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.pop3")) else { return };
    let w = World::new(lab, keyring);
    let draft = oauth_draft(&w.lab, "erin", ServerType::Pop3);
    let erin = save_profile(&w.store, &w.keyring, None, draft.clone(), now()).unwrap();
    let erin = w.verify(&sign_in(&w, &erin, None).await.expect("erin's consent")).await;
    assert!(w.keyring.retrieve(&erin.refresh_token_key()).unwrap().is_some());

    // Another scope is another consent: the stored one is forgotten, and the profile says so.
    let mut changed = draft;
    changed.password = None;
    changed.oauth.as_mut().unwrap().scopes = "https://mail.google.com/ openid".into();
    let erin = save_profile(&w.store, &w.keyring, Some(&erin.id), changed, now()).unwrap();
    assert!(erin.authorized_at.is_none());
    assert!(w.keyring.retrieve(&erin.refresh_token_key()).unwrap().is_none());
    let e = mailproof_core::profiles::profile_credentials(&w.store, &w.keyring, &erin).unwrap_err();
    assert!(matches!(e, ProfileError::NotAuthorized { .. }), "{e}");
}

#[tokio::test]
async fn a_consent_revoked_while_a_job_waits_ends_that_mailboxs_actions_errored_and_no_others() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(&format!("{SERVICE}.revoked")) else { return };
    let w = World::new(lab, keyring);
    let source = w.verified_imap("alice").await;
    // POP3 signs in for every look, so the issuer's refusal reaches the watch at its next look. Heidi's mail is
    // held by the gateway, so her mailbox is still watched when her consent goes; judy's arrives tagged.
    let mut dests = Vec::new();
    for user in ["judy", "heidi"] {
        let p = save_profile(&w.store, &w.keyring, None, oauth_draft(&w.lab, user, ServerType::Pop3), now()).unwrap();
        dests.push(w.verify(&sign_in(&w, &p, None).await.expect("the user's own consent")).await);
    }
    let revoked = Arc::new(Mutex::new(false));
    let on_event = {
        let (revoked, control) = (revoked.clone(), format!("{}/_fake/control", w.lab.var("LAB_OAUTH_URL")));
        move |e: JobEvent| {
            let mut done = revoked.lock().unwrap();
            if e.state == ActionState::Watching && !*done {
                *done = true;
                let request = reqwest::Client::new().post(control.clone()).body(r#"{"revoke": "heidi@example.test"}"#);
                tokio::spawn(async move { request.send().await.unwrap().error_for_status().unwrap() });
            }
        }
    };
    let spec = w.spec("OAuth 2.0 destinations", &source, &dests, 15);
    let job = run_job(&w.store, &w.keyring, &spec, &w.options(), &Cancel::default(), &on_event).await.unwrap();
    assert!(*revoked.lock().unwrap());
    let report = w.store.job_report(&job).unwrap().unwrap();
    check(&report, &[("judy", Verdict::Detected, "tagged")], "unharmed");
    let heidi = report.actions.iter().find(|a| a.destination_email.starts_with("heidi")).unwrap();
    let reason = heidi.reason.clone().unwrap_or_default();
    assert_eq!(heidi.verdict, Some(Verdict::Errored), "{reason}");
    assert!(reason.contains("no longer accepts") && reason.contains("sign the profile in again"), "{reason}");
}
