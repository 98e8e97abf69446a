//! The fake Microsoft identity platform and Graph (tests/fakes/microsoft365.py), started for a test on loopback in
//! front of the running lab, and stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mailproof_mail::graph::{Cloud, Endpoints, GraphConfig};
use mailproof_mail::Password;

use crate::{missing, LAB_ENV};

pub const TENANT: &str = "7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42";
pub const CLIENT_ID: &str = "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6";
pub const SECRET: &str = "Xq8~lab.fake-Graph_secret-value-0123456789";

pub struct FakeMicrosoft {
    child: Child,
    pub base: String,
    _config: tempfile::TempDir,
}

impl FakeMicrosoft {
    /// Starts the fake for `mailboxes` (lab addresses) with one app (`CLIENT_ID`, `SECRET`, both roles consented).
    pub fn start(mailboxes: &[&str]) -> Option<FakeMicrosoft> {
        let Some(lab_env) = std::env::var_os(LAB_ENV) else { return missing("the mail lab (MAILPROOF_LAB_ENV)") };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fakes/microsoft365.py");
        let dir = tempfile::tempdir().unwrap();
        let config = serde_json::json!({
            "tenant": TENANT,
            "apps": [{"clientId": CLIENT_ID, "secrets": [{"value": SECRET, "expires": "2099-12-31T00:00:00Z"}],
                      "roles": ["Mail.Send", "Mail.ReadWrite"]}],
            "mailboxes": mailboxes.iter().map(|a| serde_json::json!({"address": a})).collect::<Vec<_>>(),
        });
        let path = dir.path().join("fake.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--lab-env")
            .arg(&lab_env)
            .arg("--config")
            .arg(&path)
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fake");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("the fake said {line:?}")).to_owned();
        Some(FakeMicrosoft { child, base, _config: dir })
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
        let answer = reqwest::Client::new()
            .post(format!("{}/_fake/control", self.base))
            .body(change.to_string())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    /// Every request the fake answered (method, path, status), and the most requests in flight per mailbox.
    pub async fn log(&self) -> serde_json::Value {
        let text = reqwest::get(format!("{}/_fake/log", self.base)).await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for FakeMicrosoft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
