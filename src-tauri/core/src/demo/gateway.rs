//! The demo gateway: a private Postfix + Dovecot + OpenDKIM mail chain on loopback with the lab's gateway policy,
//! so Mailproof can be tried without test mailboxes. Its scripts and configuration live in `core/gateway/` and are
//! carried inside the binary; the test lab (`tests/lab/start.sh`) runs the very same files. Linux only: it drives
//! the distribution's Postfix and Dovecot, whose master processes start only as root.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Overrides the gateway's folder (tests run several side by side).
pub const DIR_ENV: &str = "MAILPROOF_DEMO_GATEWAY_DIR";

/// The gateway's files, as `core/gateway/` holds them: (path inside the folder, text).
const FILES: &[(&str, &str)] = &[
    ("start.sh", include_str!("../../gateway/start.sh")),
    ("stop.sh", include_str!("../../gateway/stop.sh")),
    ("conf/body_checks", include_str!("../../gateway/conf/body_checks")),
    ("conf/data_access", include_str!("../../gateway/conf/data_access")),
    ("conf/dovecot-ntlm.conf", include_str!("../../gateway/conf/dovecot-ntlm.conf")),
    ("conf/dovecot-oauth2.conf.ext", include_str!("../../gateway/conf/dovecot-oauth2.conf.ext")),
    ("conf/dovecot.conf", include_str!("../../gateway/conf/dovecot.conf")),
    ("conf/gateway.sieve", include_str!("../../gateway/conf/gateway.sieve")),
    ("conf/header_checks", include_str!("../../gateway/conf/header_checks")),
    ("conf/main.cf", include_str!("../../gateway/conf/main.cf")),
    ("conf/master-ntlm.cf", include_str!("../../gateway/conf/master-ntlm.cf")),
    ("conf/master.cf", include_str!("../../gateway/conf/master.cf")),
    ("conf/opendkim.conf", include_str!("../../gateway/conf/opendkim.conf")),
    ("conf/recipient_access", include_str!("../../gateway/conf/recipient_access")),
    ("conf/trusted_senders", include_str!("../../gateway/conf/trusted_senders")),
    ("filters/bounce.sh", include_str!("../../gateway/filters/bounce.sh")),
    ("filters/notify.py", include_str!("../../gateway/filters/notify.py")),
    ("filters/strip-attachments.py", include_str!("../../gateway/filters/strip-attachments.py")),
    ("filters/unknown.sh", include_str!("../../gateway/filters/unknown.sh")),
];

/// What the start script runs, and the Debian packages that bring each.
const TOOLS: &[(&str, &str)] = &[
    ("postfix", "postfix"),
    ("dovecot", "dovecot-imapd dovecot-pop3d dovecot-lmtpd"),
    ("sievec", "dovecot-sieve"),
    ("opendkim", "opendkim"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("script", "bsdutils"),
];

/// Where the gateway's programs are looked for beyond `PATH` (a desktop session's `PATH` often lacks sbin).
const SYSTEM_BINS: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// How long the start script may take (it takes about a second; a first start of Postfix up to a few).
const START_DEADLINE: Duration = Duration::from_secs(90);
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The gateway's folder: `$MAILPROOF_DEMO_GATEWAY_DIR`, else `/tmp/mailproof-demo-gateway` — one per machine, as
/// the daemons are, and under `/tmp` because Postfix and Dovecot run as their own users and must reach it.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/tmp/mailproof-demo-gateway"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the demo gateway needs {missing}, which {verb} not installed. On Debian or Ubuntu install {them} with: sudo apt install {packages}")]
    Missing { missing: String, verb: &'static str, them: &'static str, packages: String },
    #[error("the demo gateway runs Postfix, whose master process starts only as root. In a terminal run: sudo mailproof lab {verb} — then try again")]
    NeedsRoot { verb: &'static str },
    #[error("the demo gateway runs on Linux only (it drives the system's Postfix and Dovecot)")]
    Unsupported,
    #[error("cannot use {path} for the demo gateway: {why}")]
    Folder { path: String, why: String },
    #[error("the demo gateway did not start: {detail}. Its logs are in {logs}")]
    Failed { detail: String, logs: String },
}

/// The gateway's addresses and accounts, as its `lab.env` lists them.
#[derive(Debug, Clone)]
pub struct GatewayEnv {
    pub dir: PathBuf,
    vars: BTreeMap<String, String>,
}

impl GatewayEnv {
    /// Reads `DIR/lab.env`; `None` when the gateway was never started there.
    pub fn read(dir: &Path) -> Option<GatewayEnv> {
        let text = std::fs::read_to_string(dir.join("lab.env")).ok()?;
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Some(GatewayEnv { dir: dir.to_owned(), vars })
    }

    pub fn host(&self) -> &str {
        self.vars.get("LAB_HOST").map_or("127.0.0.1", String::as_str)
    }

    pub fn port(&self, key: &str) -> Option<u16> {
        self.vars.get(key)?.parse().ok()
    }

    /// The gateway's own CA, which its certificates are signed with.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.crt")
    }

    /// The demo password of `user` (alice, bob …): lab-only, printed in the README.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.vars.get(&format!("LAB_PASSWORD_{}", user.to_uppercase())).map(String::as_str)
    }

    /// Every listener the demo uses, by name.
    pub fn listeners(&self) -> Vec<(&'static str, u16)> {
        [
            ("SMTP", "LAB_SMTP_PORT"),
            ("Submission", "LAB_SUBMISSION_PORT"),
            ("IMAPS", "LAB_IMAPS_PORT"),
            ("POP3S", "LAB_POP3S_PORT"),
        ]
        .into_iter()
        .filter_map(|(name, key)| Some((name, self.port(key)?)))
        .collect()
    }

    /// Whether every listener answers now.
    fn answers(&self) -> bool {
        let listeners = self.listeners();
        !listeners.is_empty()
            && listeners.iter().all(|(_, port)| {
                let addr = SocketAddr::from(([127, 0, 0, 1], *port));
                TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
            })
    }
}

/// What the app and `mailproof lab status` show.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    pub running: bool,
    pub folder: String,
    /// Each listener, e.g. "Submission 127.0.0.1:40021", while running.
    pub listeners: Vec<String>,
    /// In words: running, stopped, or what stands in the way of starting it and what to do.
    pub detail: String,
}

pub fn status(dir: &Path) -> GatewayStatus {
    let folder = dir.display().to_string();
    let env = GatewayEnv::read(dir);
    if let Some(env) = env.as_ref().filter(|e| e.answers()) {
        let listeners = env.listeners().iter().map(|(n, p)| format!("{n} {}:{p}", env.host())).collect();
        return GatewayStatus { running: true, folder, listeners, detail: "Running on loopback.".into() };
    }
    let detail = match requirements() {
        Err(e) => crate::settings::capitalised(&e.to_string()),
        Ok(()) if env.is_some() => "Stopped.".into(),
        Ok(()) => "Not started yet.".into(),
    };
    GatewayStatus { running: false, folder, listeners: Vec::new(), detail }
}

/// What must be on this machine before the gateway can start: Linux, the programs, root.
pub fn requirements() -> Result<(), GatewayError> {
    if !cfg!(target_os = "linux") {
        return Err(GatewayError::Unsupported);
    }
    let missing: Vec<&(&str, &str)> = TOOLS.iter().filter(|(tool, _)| find_program(tool).is_none()).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|(t, _)| *t).collect();
        let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        let one = missing.len() == 1;
        return Err(GatewayError::Missing {
            missing: names.join(", "),
            verb: if one { "is" } else { "are" },
            them: if one { "it" } else { "them" },
            packages: packages.join(" "),
        });
    }
    Ok(())
}

/// Starts the gateway in `dir` unless it is running already; returns its addresses.
pub fn start(dir: &Path) -> Result<GatewayEnv, GatewayError> {
    if let Some(env) = GatewayEnv::read(dir).filter(GatewayEnv::answers) {
        return Ok(env);
    }
    requirements()?;
    if !crate::paths::is_root() {
        return Err(GatewayError::NeedsRoot { verb: "start" });
    }
    own_folder(dir)?;
    // A gateway stopped by a reboot or a crash may have left a daemon behind: stop what is there first.
    if GatewayEnv::read(dir).is_some() {
        let _ = run_script(dir, "stop.sh", STOP_DEADLINE);
    }
    let logs = dir.join("log").display().to_string();
    let outcome = run_script(dir, "start.sh", START_DEADLINE)
        .map_err(|detail| GatewayError::Failed { detail, logs: logs.clone() })?;
    let env = GatewayEnv::read(dir)
        .filter(GatewayEnv::answers)
        .ok_or_else(|| GatewayError::Failed { detail: format!("its listeners do not answer ({outcome})"), logs })?;
    Ok(env)
}

/// Stops the gateway in `dir`; its folder, mailboxes and logs stay.
pub fn stop(dir: &Path) -> Result<(), GatewayError> {
    if GatewayEnv::read(dir).is_none() {
        return Ok(());
    }
    if !crate::paths::is_root() {
        return Err(GatewayError::NeedsRoot { verb: "stop" });
    }
    run_script(dir, "stop.sh", STOP_DEADLINE)
        .map_err(|detail| GatewayError::Failed { detail, logs: dir.join("log").display().to_string() })?;
    Ok(())
}

/// Makes `dir` (or finds it) as a real folder of this user's, not a link: the start script runs as root there.
fn own_folder(dir: &Path) -> Result<(), GatewayError> {
    let folder = |why: String| GatewayError::Folder { path: dir.display().to_string(), why };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| folder(e.to_string()))?;
        }
        Err(e) => return Err(folder(e.to_string())),
        Ok(meta) if !meta.is_dir() => return Err(folder("it is not a folder (or it is a link)".into())),
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                if meta.uid() != crate::paths::effective_uid() {
                    return Err(folder(format!(
                        "it belongs to another user (uid {}). Remove it, or set {DIR_ENV} to another folder",
                        meta.uid()
                    )));
                }
            }
            let _ = meta;
        }
    }
    Ok(())
}

/// Writes the gateway's files into `dir/gateway/` and runs `script` there with `dir`, within `deadline`. Its
/// output goes to a file, not a pipe: the daemons it starts keep what they inherit open.
fn run_script(dir: &Path, script: &str, deadline: Duration) -> Result<String, String> {
    let files = dir.join("gateway");
    for (name, text) in FILES {
        let path = files.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot write {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(dir.join("log")).map_err(|e| e.to_string())?;
    let out_path = dir.join("log").join(format!("{}.out", script.trim_end_matches(".sh")));
    let out = std::fs::File::create(&out_path).map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let path = match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{p}:{}", SYSTEM_BINS.join(":")),
        _ => SYSTEM_BINS.join(":"),
    };
    let mut child = std::process::Command::new("bash")
        .arg(files.join(script))
        .arg(dir)
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let until = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{script} took longer than {} s and was stopped", deadline.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let said = std::fs::read_to_string(&out_path).unwrap_or_default();
    let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    if status.success() {
        Ok(last)
    } else {
        Err(if last.is_empty() {
            format!("{script} ended with {status}")
        } else {
            last.trim_start_matches("lab: ").to_owned()
        })
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    from_path.into_iter().chain(SYSTEM_BINS.iter().map(PathBuf::from)).map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `core/gateway/` is carried in the binary, so the demo runs what the lab tests.
    #[test]
    fn the_binary_carries_every_gateway_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    on_disk.push(e.path().strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut carried: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        carried.sort();
        assert_eq!(carried, on_disk);
    }

    #[test]
    fn a_folder_never_started_is_not_running_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = status(dir.path());
        assert!(!s.running);
        assert!(s.listeners.is_empty());
        match requirements() {
            Ok(()) => assert_eq!(s.detail, "Not started yet."),
            Err(_) => assert!(s.detail.contains("sudo apt install"), "{}", s.detail),
        }
    }

    #[test]
    fn missing_programs_are_named_with_their_packages() {
        let e = GatewayError::Missing {
            missing: "postfix, opendkim".into(),
            verb: "are",
            them: "them",
            packages: "postfix opendkim".into(),
        };
        assert_eq!(
            e.to_string(),
            "the demo gateway needs postfix, opendkim, which are not installed. On Debian or Ubuntu install them with: sudo apt install postfix opendkim"
        );
    }
}
