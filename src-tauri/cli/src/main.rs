//! `mailproof`: Mailproof without a window.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mailproof_core::{doctor, paths, secrets};

#[derive(Parser)]
#[command(
    name = "mailproof",
    version,
    about = "Tests whether your email defences stop what they should, with real mail."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that the database opens and migrates and that the OS keyring works.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Doctor { json } => run_doctor(json),
    }
}

fn run_doctor(json: bool) -> ExitCode {
    let now = time::OffsetDateTime::now_utc();
    let database = match paths::data_dir() {
        Some(dir) => doctor::check_database(&paths::database_path(&dir), now),
        None => doctor::Check {
            name: "Database".into(),
            ok: false,
            detail: format!("cannot find this user's data folder. Set {} to a folder you own.", paths::DATA_DIR_ENV),
        },
    };
    let probe = secrets::Secret::new(uuid::Uuid::new_v4().to_string());
    let keyring = doctor::check_keyring(&secrets::Keyring::default(), &probe);
    let report = doctor::DoctorReport { checks: vec![database, keyring] };

    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("the report serializes"));
    } else {
        for check in &report.checks {
            println!("{} {}: {}", if check.ok { "ok  " } else { "FAIL" }, check.name, check.detail);
        }
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
