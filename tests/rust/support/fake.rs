//! A fake cloud service (a script under tests/fakes/) started on loopback in front of the running lab, with its
//! config in a file of its own, and stopped when dropped or when the test process ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{missing, LAB_ENV};

pub struct Fake {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _config: tempfile::TempDir,
}

impl Fake {
    /// Runs `tests/fakes/{script}` with `config`; `None` (or a failure, in CI) when the lab is not running.
    pub fn start(script: &str, config: &serde_json::Value) -> Option<Fake> {
        let Some(lab_env) = std::env::var_os(LAB_ENV) else { return missing("the mail lab (MAILPROOF_LAB_ENV)") };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fakes").join(script);
        let dir = tempfile::tempdir().unwrap();
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
        Some(Fake { child, base, _config: dir })
    }

    /// Changes the fake's state through its control endpoint.
    pub async fn control(&self, change: serde_json::Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/_fake/control", self.base))
            .body(change.to_string())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    /// What the fake's log endpoint lists: every request it answered, and what else it keeps for the tests.
    pub async fn log(&self) -> serde_json::Value {
        let text = reqwest::get(format!("{}/_fake/log", self.base)).await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
