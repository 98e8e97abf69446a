//! `mailproof lab start|stop|status|run`: the local demo gateway and the demo workspace, to try Mailproof without
//! test mailboxes. Mail stays on this machine.

use std::process::ExitCode;

use mailproof_core::demo::{self, gateway};
use mailproof_core::jobs::RunOptions;
use mailproof_core::paths::Workspace;
use mailproof_core::Cancel;

use crate::profile::{open_store, set_workspace, CliResult};

/// `mailproof lab start`: the gateway, then the demo workspace's profiles on it, verified.
pub fn start() -> CliResult {
    set_workspace(Workspace::Demo);
    let dir = gateway::default_dir();
    let env = gateway::start(&dir).map_err(|e| e.to_string())?;
    let status = gateway::status(&dir);
    println!("The demo gateway is running in {} ({}).", status.folder, status.listeners.join(", "));
    prepare(&open_store()?, &env)?;
    println!("The demo workspace is ready: {} sends, to {}.", demo::address(demo::SOURCE), destinations());
    for (user, what) in demo::DESTINATIONS {
        println!("  the gateway {what} for {}", demo::address(user));
    }
    println!("Run the demo job with `mailproof lab run`; open the app's demo workspace with its \"Try it on the local demo gateway\".");
    Ok(ExitCode::SUCCESS)
}

/// `mailproof lab stop`.
pub fn stop() -> CliResult {
    let dir = gateway::default_dir();
    gateway::stop(&dir).map_err(|e| e.to_string())?;
    println!("The demo gateway is stopped; its mailboxes and logs stay in {}.", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `mailproof lab status [--json]`.
pub fn status(json: bool) -> CliResult {
    let status = gateway::status(&gateway::default_dir());
    if json {
        println!("{}", serde_json::to_string_pretty(&status).map_err(|e| e.to_string())?);
    } else if status.running {
        println!("Running in {}: {}", status.folder, status.listeners.join(", "));
    } else {
        println!("Not running ({}): {}", status.folder, status.detail);
    }
    Ok(if status.running { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `mailproof lab run [--quiet]`: the demo job, starting the gateway and readying the workspace first if needed;
/// every action's verdict printed. It runs in the demo workspace whatever `--demo` says.
pub fn run(quiet: bool) -> CliResult {
    set_workspace(Workspace::Demo);
    let env = gateway::start(&gateway::default_dir()).map_err(|e| e.to_string())?;
    let store = open_store()?;
    let spec = prepare(&store, &env)?;
    let options = RunOptions { extra_ca: Some(env.ca()), ..Default::default() };
    let report = crate::actions::run_spec(&store, &spec, &options, quiet)?;
    for a in &report.actions {
        let verdict = a.verdict.map_or("Undecided", |v| v.label());
        println!("{verdict:<10} {} → {}: {}", a.action_id, a.destination_email, a.reason.as_deref().unwrap_or(""));
    }
    println!(
        "Job {} {}: {} actions — {}",
        report.id,
        report.status,
        report.actions.len(),
        crate::actions::counts(&report)
    );
    Ok(ExitCode::SUCCESS)
}

/// Readies the demo workspace on `env`; returns the demo job.
fn prepare(store: &mailproof_core::Store, env: &demo::GatewayEnv) -> Result<mailproof_core::jobs::JobSpec, String> {
    let keyring = crate::profile::keyring();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime
        .block_on(demo::prepare(store, &keyring, env, &Cancel::default(), &|step| eprintln!("{step}…")))
        .map_err(|e| e.to_string())
}

fn destinations() -> String {
    demo::DESTINATIONS.iter().map(|(u, _)| demo::address(u)).collect::<Vec<_>>().join(", ")
}
