//! `mailproof sender …` and `mailproof profile verify|uuid …`: verification without the app.

use std::path::Path;
use std::process::ExitCode;

use mailproof_core::verification::{self, manual_verification, timing_for_run, EmailSender, Phase, VerifyRun};
use mailproof_core::Cancel;

use crate::profile::{open_store, read_password, CliResult};

/// `mailproof sender set --file sender.toml`: the account verification mail is sent from.
pub fn set_sender(file: &Path) -> CliResult {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let sender: EmailSender =
        toml::from_str(&text).map_err(|e| format!("{} is not a valid sender file: {e}", file.display()))?;
    let store = open_store()?;
    let password = if sender.requires_auth { Some(read_password()?) } else { None };
    verification::set_sender(&store, &crate::profile::keyring(), &sender, password, time::OffsetDateTime::now_utc())
        .map_err(|e| e.to_string())?;
    println!("Mailproof sends verification mail from {} through {}:{}.", sender.from_address, sender.host, sender.port);
    Ok(ExitCode::SUCCESS)
}

/// `mailproof profile uuid NAME [--regenerate]`: what to send for manual verification.
pub fn show_uuid(name: &str, regenerate: bool) -> CliResult {
    let store = open_store()?;
    let profile = crate::profile::find(&store, name)?;
    let manual = manual_verification(&store, &profile.id, regenerate).map_err(|e| e.to_string())?;
    println!("Send a mail to {} with the subject {} (parentheses included),", manual.email, manual.subject);
    println!("then run: mailproof profile verify {} --manual-uuid", profile.email);
    Ok(ExitCode::SUCCESS)
}

/// `mailproof profile verify NAME [--manual-uuid] [--json] [--ca PEM] [--wait SECS]`.
pub fn verify(
    name: &str,
    manual: bool,
    json: bool,
    extra_ca: Option<&Path>,
    wait: Option<u32>,
    poll: Option<u32>,
    idle: bool,
) -> CliResult {
    let store = open_store()?;
    // The run's timing is checked first, with the words the app's Settings → Email uses.
    let timing = timing_for_run(&store, wait, poll).map_err(|e| e.to_string())?;
    let profile = crate::profile::find(&store, name)?;
    let extra_ca = crate::actions::trusted_ca(&store, extra_ca.map(Path::to_owned))?;
    let run = VerifyRun { manual, timing, extra_ca, idle, clock: Default::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let outcomes = runtime
        .block_on(verification::verify_profile(
            &store,
            &crate::profile::keyring(),
            &profile.id,
            &run,
            &Cancel::default(),
            |e| {
                if e.phase != Phase::Done {
                    eprintln!("{}: {}", e.actor_name, e.detail);
                }
            },
        ))
        .map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcomes).map_err(|e| e.to_string())?);
    } else {
        for o in &outcomes {
            let mark = if o.verified == Some(true) { "Verified  " } else { "Unverified" };
            println!("{mark} {}: {}", o.actor_name, o.detail);
        }
    }
    let all = outcomes.iter().all(|o| o.verified == Some(true));
    Ok(if all { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
