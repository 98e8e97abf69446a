//! `mailproof agent serve` (on an actor's machine) and `mailproof actor …` (on the workstation): remote actors
//! and the agents they read mail through.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use mailproof_core::agent::{self, AgentIdentity};
use mailproof_core::directory::ActorKind;
use mailproof_core::secrets::Secret;

use crate::profile::{open_store, CliResult};

/// The environment variable `actor pair` may read the agent's pairing code from.
pub const CODE_ENV: &str = "MAILPROOF_AGENT_CODE";

/// Prints a line on stdout; an agent goes on serving when nobody reads its output any more (a closed pipe).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// The same on stderr, where the agent logs what it was asked.
macro_rules! tell {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `mailproof agent serve --listen ADDR [--ca FILE] [--allow-host HOST[:PORT]]…`: answers the workstation it is
/// paired with until stopped.
pub fn serve(listen: &str, ca: Option<PathBuf>, allow_host: &[String]) -> CliResult {
    let allowed = allow_host
        .iter()
        .map(|h| h.parse::<agent::AllowedHost>().map_err(|e| format!("--allow-host: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let identity = identity()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}. Choose another address with --listen."))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        say!("Mailproof agent listening on {bound}");
        say!("fingerprint {}", identity.fingerprint());
        if identity.new {
            // Shown once, when it is made: it is not printed again on later starts.
            say!("pairing code {}", identity.pairing_code());
        } else {
            say!("pairing code shown when it was made; `mailproof agent rotate-code` makes a new one");
        }
        say!(
            "Pair it on the workstation: Settings → Actors, or `mailproof actor pair NAME --address {bound} --fingerprint {}` with the pairing code on standard input.",
            identity.fingerprint()
        );
        if allowed.is_empty() {
            tell!("reaches the mail server of any profile a paired workstation asks about; limit it with --allow-host HOST[:PORT]");
        } else {
            let list = allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            tell!("reaches only these mail servers: {list}");
        }
        agent::serve(listener, identity, crate::profile::keyring(), (ca, allowed), |line| tell!("{line}"))
            .await
            .map_err(|e| e.to_string())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The agent's identity: the service credential systemd decrypted for it (`mailproof agent install`), else the
/// one in this user's keyring (made on the first start).
fn identity() -> Result<AgentIdentity, String> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = std::path::Path::new(&dir).join(crate::service::CREDENTIAL);
        if path.exists() {
            let text = Secret::new(
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            );
            return AgentIdentity::from_credential(text.expose()).map_err(|e| e.to_string());
        }
    }
    AgentIdentity::load_or_create(&crate::profile::keyring()).map_err(|e| e.to_string())
}

/// `mailproof agent rotate-code`: a new pairing code, shown once.
pub fn rotate_code() -> CliResult {
    let code = agent::rotate_code(&crate::profile::keyring()).map_err(|e| e.to_string())?;
    println!("pairing code {}", code.expose());
    eprintln!("The old code no longer works: pair the workstations again with this one (Settings → Actors).");
    Ok(ExitCode::SUCCESS)
}

/// `mailproof actor list [--json]`.
pub fn list(json: bool) -> CliResult {
    let store = open_store()?;
    let actors = store.list_actors().map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&actors).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    for a in actors {
        let how = match (a.kind, &a.agent_address) {
            (ActorKind::Workstation, _) => "this machine".to_owned(),
            (ActorKind::Remote, Some(address)) => format!(
                "agent at {address}  (version {}, last seen {})",
                a.agent_version.as_deref().filter(|v| !v.is_empty()).unwrap_or("not said"),
                a.agent_seen_at.as_deref().unwrap_or("never")
            ),
            (ActorKind::Remote, None) => "remote, not paired with an agent".to_owned(),
        };
        println!("{}  {}  zone {}  {how}", a.id, a.name, a.zone_name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof actor check NAME`: whether the actor's agent answers now, as paired.
pub fn check(name: &str) -> CliResult {
    let store = open_store()?;
    let actors = store.list_actors().map_err(|e| e.to_string())?;
    let actor = actors
        .iter()
        .find(|a| a.id == name || a.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| format!("no actor {name}. `mailproof actor list` shows the actors."))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let version = runtime
        .block_on(agent::check(&store, &crate::profile::keyring(), &actor.id))
        .map_err(|e| format!("{}: no answer as paired: {e}", actor.name))?;
    println!(
        "{}: reachable, answered as paired (version {})",
        actor.name,
        if version.is_empty() { "not said" } else { &version }
    );
    Ok(ExitCode::SUCCESS)
}

/// `mailproof actor add NAME [--zone ZONE]`: a remote actor in a security zone (by name or id; Default if none).
pub fn add(name: &str, zone: Option<&str>) -> CliResult {
    let store = open_store()?;
    let zones = store.list_zones().map_err(|e| e.to_string())?;
    let zone_id = match zone {
        None => "default".to_owned(),
        Some(z) => zones
            .iter()
            .find(|x| x.id == z || x.name.eq_ignore_ascii_case(z))
            .map(|x| x.id.clone())
            .ok_or_else(|| format!("there is no security zone \"{z}\""))?,
    };
    let actor = store.create_actor(name, &zone_id, time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
    println!("{}", actor.id);
    eprintln!("Added {}. Run `mailproof agent serve` on its machine, then `mailproof actor pair`.", actor.name);
    Ok(ExitCode::SUCCESS)
}

/// `mailproof actor pair NAME --address HOST:PORT --fingerprint HEX`: the pairing code comes from
/// `MAILPROOF_AGENT_CODE` or standard input.
pub fn pair(name: &str, address: &str, fingerprint: &str) -> CliResult {
    let code = match std::env::var(CODE_ENV) {
        Ok(c) => Secret::new(c),
        Err(_) => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Pairing code (as `mailproof agent serve` shows it):");
            }
            let mut line = String::new();
            stdin.lock().read_line(&mut line).map_err(|e| format!("cannot read the pairing code: {e}"))?;
            Secret::new(line.trim())
        }
    };
    let store = open_store()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let agent = runtime
        .block_on(agent::pair(&store, &crate::profile::keyring(), name, address, fingerprint, &code))
        .map_err(|e| e.to_string())?;
    println!("Paired {name} with the agent at {}: verification checks from that machine now.", agent.address);
    Ok(ExitCode::SUCCESS)
}
