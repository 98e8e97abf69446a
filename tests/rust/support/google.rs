//! The fake Google OAuth server and Gmail API (tests/fakes/google.py), started for a test on loopback in front of
//! the running lab, and stopped when dropped; and a test's browser that gives the consent.

use std::time::Duration;

use mailproof_mail::gmail::GmailConfig;
use mailproof_mail::oauth::{Consent, OAuthClient, OAuthError, Provider, Tokens};
use mailproof_mail::Password;

use crate::fake::Fake;

pub const CLIENT_ID: &str = "418276350914-3q7lab0fake9gmail2desktop5client.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "GOCSPX-lab_Fake-Gmail-client-Secret01";

pub struct FakeGoogle {
    fake: Fake,
    pub base: String,
}

impl FakeGoogle {
    /// Starts the fake for `accounts` (lab addresses) with one Desktop-app client, `signed_in` at the browser.
    pub fn start(accounts: &[&str], signed_in: &str) -> Option<FakeGoogle> {
        let config = serde_json::json!({
            "clients": [{"id": CLIENT_ID, "secret": CLIENT_SECRET}],
            "accounts": accounts.iter().map(|a| serde_json::json!({"address": a})).collect::<Vec<_>>(),
            "signedIn": signed_in,
        });
        let fake = Fake::start("google.py", &config)?;
        Some(FakeGoogle { base: fake.base.clone(), fake })
    }

    pub fn provider(&self) -> Provider {
        Provider::google(Some(&self.base))
    }

    pub fn client() -> OAuthClient {
        OAuthClient { id: CLIENT_ID.into(), secret: Password::new(CLIENT_SECRET) }
    }

    /// A Gmail configuration for `address` with `refresh_token`, through the fake.
    pub fn config(&self, address: &str, refresh_token: &str) -> GmailConfig {
        let mut c = GmailConfig::new(address, Self::client(), Password::new(refresh_token));
        c.provider = self.provider();
        c.api = self.base.clone();
        c.timeout = Duration::from_secs(20);
        c
    }

    /// Consents as `account` (signed in to the fake's browser), playing the browser: opens the consent URL and
    /// follows its redirect to the loopback.
    pub async fn consent(&self, account: &str) -> Result<Tokens, OAuthError> {
        self.control(serde_json::json!({ "signedIn": account })).await;
        let consent = Consent::begin(self.provider(), Self::client(), Some(account)).await?;
        let url = consent.url().to_owned();
        let browser = tokio::spawn(play_browser(url));
        let tokens = consent.finish(Duration::from_secs(20), Duration::from_secs(20)).await;
        browser.await.unwrap();
        tokens
    }

    /// Changes the fake's state: `{"signedIn": address}`, `{"refuseConsent": true}`, `{"revoke": address}`,
    /// `{"throttleNext": n}`, `{"expireHistory": true}`, `{"replaceMessageId": address}`.
    pub async fn control(&self, change: serde_json::Value) {
        self.fake.control(change).await
    }

    /// Every request the fake answered, and every token it issued.
    pub async fn log(&self) -> serde_json::Value {
        self.fake.log().await
    }
}

/// What a browser does with a consent URL: asks the provider, and follows its redirect back to the loopback.
pub async fn play_browser(url: String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&url).send().await.unwrap();
    let Some(back) = page.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        panic!("the consent page did not redirect: {}", page.status());
    };
    http.get(back).send().await.unwrap();
}
