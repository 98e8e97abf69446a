//! `mailproof agent install|uninstall|status|unit`: the agent as a systemd service that starts with the machine.
//!
//! Where its secrets live: a service on a headless machine has no user session, so no Secret Service keyring. Its
//! identity (certificate, key, pairing code) is kept instead as an encrypted systemd credential
//! (`systemd-creds encrypt`: AES-256-GCM under the machine's credential key, and the TPM2 where the machine has
//! one), which systemd decrypts at start for this service alone (`LoadCredentialEncrypted=`, a private, unswappable
//! directory only the service can read). Nothing is written in plaintext, and the secret reaches `systemd-creds` on
//! standard input, never in its arguments. The service runs as a dynamic user with the file system read-only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use mailproof_core::agent::AgentIdentity;
use mailproof_core::secrets::Secret;

use crate::profile::CliResult;

/// The unit's name.
pub const UNIT: &str = "mailproof-agent.service";
/// The credential's name, as the service sees it in `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL: &str = "mailproof-agent-identity";
/// Puts the files under another root (tests); systemd is then not asked to do anything.
pub const ROOT_ENV: &str = "MAILPROOF_SERVICE_ROOT";

/// Where the service's files go.
struct Layout {
    root: PathBuf,
    /// Set when [`ROOT_ENV`] moved the files: systemctl is not called.
    moved: bool,
}

impl Layout {
    fn here() -> Layout {
        match std::env::var_os(ROOT_ENV) {
            Some(r) if !r.is_empty() => Layout { root: PathBuf::from(r), moved: true },
            _ => Layout { root: PathBuf::from("/"), moved: false },
        }
    }
    fn config_dir(&self) -> PathBuf {
        self.root.join("etc/mailproof")
    }
    fn credential(&self) -> PathBuf {
        self.config_dir().join("agent-identity.cred")
    }
    fn env_file(&self) -> PathBuf {
        self.config_dir().join("agent.env")
    }
    /// The unit the .deb ships, or the one `install` writes where there is none.
    fn packaged_unit(&self) -> PathBuf {
        self.root.join("usr/lib/systemd/system").join(UNIT)
    }
    fn local_unit(&self) -> PathBuf {
        self.root.join("etc/systemd/system").join(UNIT)
    }
    /// Whether systemd runs this machine (not a container without it), and may be asked.
    fn systemd(&self) -> bool {
        !self.moved && Path::new("/run/systemd/system").is_dir()
    }
}

/// The unit, running `exe`, with its configuration in `/etc/mailproof`.
pub fn unit_text(exe: &Path) -> String {
    format!(
        "# The Mailproof agent: reads and sends test mail on this machine for the workstation paired with it.\n\
         # Set up with `mailproof agent install --listen ADDRESS:7465`, which writes /etc/mailproof/agent.env and\n\
         # the encrypted identity /etc/mailproof/agent-identity.cred (a systemd credential).\n\
         [Unit]\n\
         Description=Mailproof agent\n\
         Documentation=man:mailproof-agent(1)\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         ConditionPathExists=/etc/mailproof/agent-identity.cred\n\
         \n\
         [Service]\n\
         Type=simple\n\
         EnvironmentFile=/etc/mailproof/agent.env\n\
         LoadCredentialEncrypted={CREDENTIAL}:/etc/mailproof/agent-identity.cred\n\
         ExecStart={} agent serve $MAILPROOF_AGENT_ARGS\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         DynamicUser=yes\n\
         StateDirectory=mailproof-agent\n\
         Environment=MAILPROOF_DATA_DIR=/var/lib/mailproof-agent\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectControlGroups=yes\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
         RestrictNamespaces=yes\n\
         LockPersonality=yes\n\
         MemoryDenyWriteExecute=yes\n\
         SystemCallArchitectures=native\n\
         CapabilityBoundingSet=\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        exe.display()
    )
}

/// `mailproof agent unit`: the unit file, for packaging (the .deb ships it as /usr/lib/systemd/system/…).
pub fn print_unit(exe: Option<&Path>) -> CliResult {
    let exe = exe.map(Path::to_owned).unwrap_or_else(|| PathBuf::from("/usr/bin/mailproof"));
    print!("{}", unit_text(&exe));
    Ok(ExitCode::SUCCESS)
}

fn as_root() -> Result<(), String> {
    if mailproof_core::paths::is_root() {
        Ok(())
    } else {
        Err("setting up a service needs root: run it with sudo".into())
    }
}

/// Runs `systemd-creds` with `input` on standard input; its standard output.
fn creds(args: &[&str], input: Option<&Secret>) -> Result<Vec<u8>, String> {
    let mut child = Command::new("systemd-creds")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run systemd-creds ({e}): the service keeps its identity as a systemd credential, which needs systemd 250 or newer"))?;
    let mut stdin = child.stdin.take().expect("piped");
    if let Some(secret) = input {
        stdin.write_all(secret.expose().as_bytes()).map_err(|e| e.to_string())?;
    }
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!("systemd-creds {} failed: {}", args[0], said.trim()));
    }
    Ok(out.stdout)
}

fn write_identity(layout: &Layout, identity: &AgentIdentity) -> Result<(), String> {
    let path = layout.credential();
    let path_text = path.display().to_string();
    creds(&["encrypt", &format!("--name={CREDENTIAL}"), "-", &path_text], Some(&identity.to_credential()))?;
    Ok(())
}

fn read_identity(layout: &Layout) -> Result<AgentIdentity, String> {
    let path = layout.credential().display().to_string();
    let text = creds(&["decrypt", &format!("--name={CREDENTIAL}"), &path, "-"], None)?;
    let text = Secret::new(String::from_utf8(text).map_err(|_| "the credential is not text".to_owned())?);
    AgentIdentity::from_credential(text.expose()).map_err(|e| e.to_string())
}

fn systemctl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("systemctl").args(args).output().map_err(|e| format!("cannot run systemctl: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(said)
    } else {
        Err(format!("systemctl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// `mailproof agent install --listen ADDR [--ca FILE] [--allow-host H]…`.
pub fn install(listen: &str, ca: Option<&Path>, allow_host: &[String]) -> CliResult {
    as_root()?;
    let layout = Layout::here();
    let mut args = vec!["--listen".to_owned(), listen.trim().to_owned()];
    if let Some(ca) = ca {
        let ca = std::fs::canonicalize(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
        args.extend(["--ca".to_owned(), ca.display().to_string()]);
    }
    for h in allow_host {
        h.parse::<mailproof_core::agent::AllowedHost>().map_err(|e| format!("--allow-host: {e}"))?;
        args.extend(["--allow-host".to_owned(), h.trim().to_owned()]);
    }
    if let Some(bad) = args.iter().find(|a| a.is_empty() || a.contains(char::is_whitespace)) {
        return Err(format!(
            "\"{bad}\" holds a space: the service's arguments cannot (move the file, or drop the space)"
        ));
    }
    std::fs::create_dir_all(layout.config_dir()).map_err(|e| e.to_string())?;
    // An identity installed before is kept (paired workstations go on trusting it); one that cannot be read is
    // not replaced behind the user's back.
    let identity = if layout.credential().exists() {
        read_identity(&layout).map_err(|e| {
            format!("{e}. The installed identity cannot be read; `mailproof agent uninstall` removes it (workstations must then pair again)")
        })?
    } else {
        let made = AgentIdentity::generate().map_err(|e| e.to_string())?;
        write_identity(&layout, &made)?;
        made
    };
    std::fs::write(layout.env_file(), format!("MAILPROOF_AGENT_ARGS={}\n", args.join(" ")))
        .map_err(|e| e.to_string())?;
    let unit = if layout.packaged_unit().exists() {
        layout.packaged_unit()
    } else {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(layout.local_unit().parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(layout.local_unit(), unit_text(&exe)).map_err(|e| e.to_string())?;
        layout.local_unit()
    };
    println!("Installed {} ({}), listening on {listen}.", UNIT, unit.display());
    println!("fingerprint {}", identity.fingerprint());
    if identity.new {
        println!("pairing code {}", identity.pairing_code());
    } else {
        println!("pairing code as before (`mailproof agent rotate-code --service` makes a new one)");
    }
    if layout.systemd() {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", UNIT])?;
        systemctl(&["restart", UNIT])?;
        println!("Enabled and started: it starts with the machine. `mailproof agent status` shows it.");
    } else {
        println!("systemd does not run this machine (a container?): the service starts where systemd does; until then run `mailproof agent serve` by hand.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof agent rotate-code --service`: a new pairing code for the installed service, which restarts.
pub fn rotate_service_code() -> CliResult {
    as_root()?;
    let layout = Layout::here();
    let identity = read_identity(&layout)?.with_new_code();
    write_identity(&layout, &identity)?;
    println!("pairing code {}", identity.pairing_code());
    eprintln!("The old code no longer works: pair the workstations again with this one (Settings → Actors).");
    if layout.systemd() {
        systemctl(&["try-restart", UNIT])?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof agent uninstall`: stops and disables the service and removes its files, identity included.
pub fn uninstall() -> CliResult {
    as_root()?;
    let layout = Layout::here();
    if layout.systemd() {
        let _ = systemctl(&["disable", "--now", UNIT]);
    }
    for file in [layout.credential(), layout.env_file(), layout.local_unit()] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot remove {}: {e}", file.display()))
            }
            _ => {}
        }
    }
    if layout.systemd() {
        let _ = systemctl(&["daemon-reload"]);
    }
    println!("Removed {UNIT} and its identity: workstations paired with this agent must pair again once it is back.");
    Ok(ExitCode::SUCCESS)
}

/// `mailproof agent status`: installed or not, how it listens, its fingerprint, and what systemd says of it.
pub fn status() -> CliResult {
    let layout = Layout::here();
    if !layout.credential().exists() {
        println!("Not installed: `sudo mailproof agent install --listen ADDRESS:7465` sets the agent up as a service.");
        return Ok(ExitCode::FAILURE);
    }
    let args = std::fs::read_to_string(layout.env_file()).unwrap_or_default();
    println!("Installed: {}", args.trim().trim_start_matches("MAILPROOF_AGENT_ARGS="));
    match read_identity(&layout) {
        Ok(identity) => println!("fingerprint {}", identity.fingerprint()),
        Err(e) => println!("fingerprint unknown: {e} (root reads it)"),
    }
    if layout.systemd() {
        let enabled = systemctl(&["is-enabled", UNIT]).unwrap_or_else(|e| e);
        let active = systemctl(&["is-active", UNIT]).unwrap_or_else(|e| e);
        println!("systemd: {enabled}, {active}");
    } else {
        println!("systemd does not run this machine: the service is not running");
    }
    Ok(ExitCode::SUCCESS)
}
