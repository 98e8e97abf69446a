//! The fake Microsoft identity platform and Graph (tests/fakes/microsoft365.py), started for a test on loopback in
//! front of the running lab, and stopped when dropped.

use mailproof_mail::graph::{Cloud, Endpoints, GraphConfig};
use mailproof_mail::Password;

use crate::fake::Fake;

pub const TENANT: &str = "7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42";
pub const CLIENT_ID: &str = "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6";
pub const SECRET: &str = "Xq8~lab.fake-Graph_secret-value-0123456789";

pub struct FakeMicrosoft {
    fake: Fake,
    pub base: String,
}

impl FakeMicrosoft {
    /// Starts the fake for `mailboxes` (lab addresses) with one app (`CLIENT_ID`, `SECRET`, both roles consented).
    pub fn start(mailboxes: &[&str]) -> Option<FakeMicrosoft> {
        let config = serde_json::json!({
            "tenant": TENANT,
            "apps": [{"clientId": CLIENT_ID, "secrets": [{"value": SECRET, "expires": "2099-12-31T00:00:00Z"}],
                      "roles": ["Mail.Send", "Mail.ReadWrite"]}],
            "mailboxes": mailboxes.iter().map(|a| serde_json::json!({"address": a})).collect::<Vec<_>>(),
        });
        let fake = Fake::start("microsoft365.py", &config)?;
        Some(FakeMicrosoft { base: fake.base.clone(), fake })
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints { login: self.base.clone(), graph: self.base.clone() }
    }

    /// A Graph configuration for `mailbox` through the fake.
    pub fn config(&self, mailbox: &str) -> GraphConfig {
        let mut c = GraphConfig::new(TENANT, CLIENT_ID, Password::new(SECRET), mailbox, Cloud::Global);
        c.endpoints = self.endpoints();
        c.timeout = std::time::Duration::from_secs(20);
        c
    }

    /// Changes the fake's state: `{"throttleNext": 5, "retryAfter": 1}`, `{"revokeConsent": CLIENT_ID}`,
    /// `{"expireSecret": CLIENT_ID}`, `{"invalidateTokens": true}`, `{"policyBlocks": address}`.
    pub async fn control(&self, change: serde_json::Value) {
        self.fake.control(change).await
    }

    /// Every request the fake answered (method, path, status), and the most requests in flight per mailbox.
    pub async fn log(&self) -> serde_json::Value {
        self.fake.log().await
    }
}
