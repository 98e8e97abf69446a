//! `mailproof agent install|status|rotate-code --service|uninstall`: the agent as a systemd service, its identity
//! an encrypted systemd credential. systemd does not run the test machine, so the files go under a root of their
//! own (MAILPROOF_SERVICE_ROOT), the unit is checked with `systemd-analyze verify`, and the agent is run the way the
//! unit runs it: the credential decrypted into a private folder named by CREDENTIALS_DIRECTORY, with no keyring.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailproof_core::agent::{self, AgentAddress};
use mailproof_core::secrets::Secret;
use mailproof_tests::missing;

fn mailproof(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(args)
        .env("MAILPROOF_SERVICE_ROOT", root)
        .output()
        .expect("the mailproof binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn line_after<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("no {label} in {out}"))
}

/// The agent as systemd starts the unit: the credential decrypted for it alone, no D-Bus session, the unit's
/// arguments. Returns the process, its address and fingerprint.
fn serve_as_the_unit(root: &Path, creds: &Path) -> (std::process::Child, String, String) {
    std::fs::create_dir_all(creds).unwrap();
    let decrypted = Command::new("systemd-creds")
        .args(["decrypt", "--name=mailproof-agent-identity"])
        .arg(root.join("etc/mailproof/agent-identity.cred"))
        .arg(creds.join("mailproof-agent-identity"))
        .output()
        .unwrap();
    assert!(decrypted.status.success(), "{}", text(&decrypted.stderr));
    let env = std::fs::read_to_string(root.join("etc/mailproof/agent.env")).unwrap();
    let args = env.trim().strip_prefix("MAILPROOF_AGENT_ARGS=").unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailproof"))
        .args(["agent", "serve"])
        .args(args.split_whitespace())
        .env("CREDENTIALS_DIRECTORY", creds)
        .env("MAILPROOF_DATA_DIR", root.join("var/lib/mailproof-agent"))
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/no-session-bus")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut shown = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let address = shown.next().unwrap().strip_prefix("Mailproof agent listening on ").unwrap().to_owned();
    let fingerprint = shown.next().unwrap().strip_prefix("fingerprint ").unwrap().to_owned();
    std::thread::spawn(move || shown.for_each(drop));
    (child, address, fingerprint)
}

#[tokio::test]
async fn the_agent_installs_as_a_service_with_its_identity_encrypted_and_serves_from_it() {
    let root_here = text(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0";
    let creds_here = Command::new("systemd-creds").arg("--version").output().is_ok_and(|o| o.status.success());
    if !(root_here && creds_here) {
        missing::<()>("root and systemd-creds (the agent's service)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let ca = dir.path().join("org ca.pem");
    std::fs::write(&ca, "not read at install").unwrap();
    // A space in an argument cannot reach the service: refused in words, nothing written.
    let out = mailproof(&root, &["agent", "install", "--listen", "127.0.0.1:0", "--ca", ca.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("holds a space"), "{}", text(&out.stderr));
    assert!(!root.join("etc/mailproof/agent-identity.cred").exists());

    let out = mailproof(&root, &["agent", "install", "--listen", "127.0.0.1:0", "--allow-host", "127.0.0.1"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    let fingerprint = line_after(&said, "fingerprint ").to_owned();
    let code = line_after(&said, "pairing code ").to_owned();
    assert!(said.contains("systemd does not run this machine"), "{said}");

    // The identity is kept encrypted: neither the code nor the key is in the file.
    let sealed = std::fs::read(root.join("etc/mailproof/agent-identity.cred")).unwrap();
    assert!(!sealed.windows(code.len()).any(|w| w == code.as_bytes()), "the code is not in plaintext");
    assert!(!text(&sealed).contains("certificate"), "the credential's JSON is not in plaintext");
    let unit = root.join("etc/systemd/system/mailproof-agent.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains("LoadCredentialEncrypted=mailproof-agent-identity:/etc/mailproof/agent-identity.cred"));
    assert!(unit_text.contains("DynamicUser=yes") && unit_text.contains("ProtectSystem=strict"), "{unit_text}");
    let verified = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit).output().unwrap();
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    // What the .deb ships is the same unit, running /usr/bin/mailproof.
    let packaged = text(&mailproof(&root, &["agent", "unit"]).stdout);
    assert!(packaged.contains("ExecStart=/usr/bin/mailproof agent serve $MAILPROOF_AGENT_ARGS"), "{packaged}");

    let (mut agent_process, address, served) = serve_as_the_unit(&root, &dir.path().join("creds-1"));
    assert_eq!(served, fingerprint, "the service serves the installed identity");
    let at = AgentAddress { address, fingerprint: fingerprint.clone() };
    assert_eq!(agent::hello(&at, &Secret::new(code.clone())).await.unwrap(), "0.1.0");

    let status = mailproof(&root, &["agent", "status"]);
    let shown = text(&status.stdout);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains("Installed: --listen 127.0.0.1:0 --allow-host 127.0.0.1"), "{shown}");
    assert!(shown.contains(&format!("fingerprint {fingerprint}")), "{shown}");

    // A new code for the service: once it restarts, the old one is refused and the new one taken.
    let out = mailproof(&root, &["agent", "rotate-code", "--service"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let new_code = line_after(&text(&out.stdout), "pairing code ").to_owned();
    assert_ne!(new_code, code);
    agent_process.kill().unwrap();
    let _ = agent_process.wait();
    let (mut agent_process, address, served) = serve_as_the_unit(&root, &dir.path().join("creds-2"));
    assert_eq!(served, fingerprint, "the same certificate: paired workstations need only the new code");
    let at = AgentAddress { address, fingerprint };
    let refused = agent::hello(&at, &Secret::new(code)).await.unwrap_err().to_string();
    assert!(refused.contains("wrong pairing code"), "{refused}");
    agent::hello(&at, &Secret::new(new_code)).await.unwrap();
    agent_process.kill().unwrap();
    let _ = agent_process.wait();

    let out = mailproof(&root, &["agent", "uninstall"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!root.join("etc/mailproof/agent-identity.cred").exists() && !unit.exists());
    let status = mailproof(&root, &["agent", "status"]);
    assert!(!status.status.success());
    assert!(text(&status.stdout).starts_with("Not installed"), "{}", text(&status.stdout));
}
