//! `mailproof`: Mailproof without a window.

mod actions;
mod agent;
mod lab;
mod profile;
mod progress;
mod rules;
mod service;
mod track;
mod verify;

use std::path::PathBuf;
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
    /// Work in the demo workspace: the local demo gateway's profiles and jobs (`mailproof lab start` sets it up).
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the shell completion script for SHELL (e.g. `mailproof completions bash > /etc/bash_completion.d/mailproof`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --dir write one page per command there (mailproof.1, mailproof-run.1, …).
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check that the database opens and migrates and that the OS keyring works.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add, list, test, verify and delete email profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// The library of test threats.
    Actions {
        #[command(subcommand)]
        command: ActionsCommand,
    },
    /// Send test threats from one profile to others and decide each: Prevented, Detected, Alerted, Missed or Errored.
    /// Progress goes to stderr; the exit code is 1 when an action was Missed (see --fail-on).
    Run(actions::RunArgs),
    /// Email rules: regular expressions on bounces that classify them as Blocked or Error.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The actors that read profiles' mailboxes: this workstation, and remote ones through an agent.
    Actor {
        #[command(subcommand)]
        command: ActorCommand,
    },
    /// Run on a remote actor's machine: the agent that reads mailboxes there for the paired workstation.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// The jobs run so far.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Search the message tracking log, show a message's history, export to CSV.
    Track {
        #[command(subcommand)]
        command: TrackCommand,
    },
    /// Analyse a message file: Received hops, authentication results, parts, and what a bounce says.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The local demo gateway: a private Postfix + Dovecot on loopback with a gateway policy, and a demo workspace
    /// of its own with profiles on it, verified, to try Mailproof without test mailboxes. Starting it needs root.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// The account Mailproof sends verification mail from.
    Sender {
        #[command(subcommand)]
        command: SenderCommand,
    },
}

#[derive(Subcommand)]
enum LabCommand {
    /// Start the demo gateway (if it is not running) and ready the demo workspace: profiles added and verified.
    Start,
    /// Stop the demo gateway; its mailboxes and logs stay.
    Stop,
    /// Whether the demo gateway runs, and on which ports; exit code 1 when it does not.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run the demo job (starting the gateway and readying the workspace first if needed) and print each verdict.
    Run {
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum ActionsCommand {
    /// List the actions: ID, direction, risk, category and name.
    List {
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TrackCommand {
    /// Matching messages, newest first; words match anywhere in a field, case-insensitively, no wildcards.
    Query {
        #[command(flatten)]
        filters: track::Filters,
        #[arg(long, default_value_t = 0)]
        page: u32,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        #[arg(long)]
        json: bool,
    },
    /// One message's processing history.
    Show {
        /// The tracked message's number (`track query --json` gives it as id).
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Write the matching messages (at most 50,000, newest first) to a CSV file.
    Export {
        #[arg(long)]
        csv: PathBuf,
        #[command(flatten)]
        filters: track::Filters,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// The rules, in the order they are tried.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a rule after the others. The pattern is a case-insensitive regular expression.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        pattern: String,
        /// Where to look: subject, body or either.
        #[arg(long, default_value = "either")]
        on: String,
        /// What a match means: blocked (Prevented) or error (Errored).
        #[arg(long)]
        outcome: String,
    },
    /// Delete the rule with this name.
    Delete { name: String },
}

#[derive(Subcommand)]
enum ActorCommand {
    /// The actors, their zones and how each reads mail.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a remote actor (a machine that reads mailboxes through its agent).
    Add {
        name: String,
        /// Its security zone, by name or id (default: Default).
        #[arg(long)]
        zone: Option<String>,
    },
    /// Pair a remote actor with the agent on its machine. The pairing code comes from standard input or
    /// MAILPROOF_AGENT_CODE.
    Pair {
        name: String,
        /// Where the agent listens, host:port (the port defaults to 7465).
        #[arg(long)]
        address: String,
        /// The agent's certificate fingerprint, as `mailproof agent serve` shows it.
        #[arg(long)]
        fingerprint: String,
    },
    /// Ask a paired actor's agent whether it answers now, as paired (its version); exit code 1 when it does not.
    Check { name: String },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Listen for the paired workstation's requests (prints the fingerprint and pairing code to pair with).
    Serve(ServeArgs),
    /// Make a new pairing code and show it (once). The old code stops working at once, also for a running
    /// agent: pair the workstations again with the new one.
    RotateCode {
        /// The installed service's code (it restarts with the new one).
        #[arg(long)]
        service: bool,
    },
    /// Set the agent up as a systemd service that starts with the machine (needs root): its identity is kept as
    /// an encrypted systemd credential, decrypted for the service alone. Prints the fingerprint and, when made, the
    /// pairing code.
    Install(ServeArgs),
    /// Stop and remove the service and its identity (needs root).
    Uninstall,
    /// Whether the service is installed and running, how it listens and its fingerprint; exit code 1 when not.
    Status,
    /// Print the systemd unit (the .deb ships it).
    Unit {
        /// The mailproof binary the unit runs [default: /usr/bin/mailproof].
        #[arg(long)]
        exe: Option<PathBuf>,
    },
}

/// How the agent listens and what it may reach: for `agent serve`, and for the service `agent install` sets up.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on: the address of the interface the workstation reaches this machine by
    /// (e.g. 192.0.2.10:7465; 7465 is the usual port). Required: the agent never listens on every interface
    /// unless told to (0.0.0.0:7465).
    #[arg(long)]
    listen: String,
    /// A CA certificate (PEM) to trust beyond the public roots, for the mail servers.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// A mail server the agent may reach for the workstation, as HOST or HOST:PORT; repeat for each. Requests
    /// for any other are refused. Without it, the agent reaches the server of any profile it is asked about.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Every job with its counts per verdict, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One job's actions with verdicts and reasons; --json adds the evidence.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Pick up the jobs that stopped mid-run (the app or command exited): what they sent is watched for again —
    /// including mail that arrived or bounced meanwhile — and decided; actions never sent end Incomplete.
    Resume {
        /// A CA certificate (PEM) to trust beyond the public roots.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// No progress on stderr: only each job's last line.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum SenderCommand {
    /// Set the sender from a TOML file (host, port, security, requiresAuth, auth, username, fromAddress); the
    /// password comes from standard input or MAILPROOF_PASSWORD.
    Set {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Add a profile from a TOML file (keys as in the app's profile draft, e.g. `email`, `serverType`,
    /// `[incoming] host port security auth`). The password comes from standard input or MAILPROOF_PASSWORD,
    /// never from the command line or the file.
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    /// Look up the servers for an address (autoconfig, ISPDB, SRV, MX, common names) and say where each came from.
    Discover {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// List the profiles with their actors' verification status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Test a profile's incoming and outgoing servers step by step (progress on stderr).
    Test {
        /// The profile's email address.
        name: String,
        #[arg(long)]
        json: bool,
        /// A CA certificate (PEM) to trust beyond the public roots, e.g. your organisation's.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Sign a Gmail or OAuth 2.0 profile in at its issuer (Google, Microsoft 365, another): prints the consent
    /// page's URL (stdout) to open in a browser on this machine, and waits on a loopback port for the answer. The
    /// refresh token goes to the OS keyring.
    Authorize {
        /// The profile's email address.
        name: String,
        /// Also open the page in the system browser.
        #[arg(long)]
        open: bool,
        /// Seconds to wait for the consent (default 300).
        #[arg(long, default_value_t = 300)]
        wait: u64,
        /// A CA certificate (PEM) to trust beyond the public roots, for the sign-in that checks the consent.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Verify a profile by mail for each of its actors (progress on stderr).
    Verify {
        /// The profile's email address.
        name: String,
        /// Look for the mail you sent with the profile's Verification UUID instead of sending one.
        #[arg(long)]
        manual_uuid: bool,
        #[arg(long)]
        json: bool,
        /// A CA certificate (PEM) to trust beyond the public roots.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Seconds to wait for the mail (default: the Email timing setting, 300 s).
        #[arg(long)]
        wait: Option<u32>,
        /// Milliseconds between looks (default: the Email timing setting, 1,000 ms).
        #[arg(long)]
        poll: Option<u32>,
        /// Only poll; do not watch INBOX with IMAP IDLE (for comparing the two).
        #[arg(long)]
        no_idle: bool,
    },
    /// Show the Verification UUID to send for manual verification, or make a new one.
    Uuid {
        name: String,
        #[arg(long)]
        regenerate: bool,
    },
    /// Delete a profile and its password in the OS keyring.
    Delete {
        /// The profile's email address.
        name: String,
    },
    /// Mark a profile as an alerts mailbox, where a gateway's notices arrive (quarantine notices, incident
    /// reports): every job watches it, and an action reported there but otherwise missed is Alerted.
    Alerts {
        /// The profile's email address.
        name: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.demo {
        profile::set_workspace(paths::Workspace::Demo);
    }
    let result = match cli.command {
        Command::Doctor { json } => return run_doctor(json),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(dir.as_deref()),
        Command::Profile { command } => match command {
            ProfileCommand::Add { file } => profile::add(&file),
            ProfileCommand::List { json } => profile::list(json),
            ProfileCommand::Discover { email, json } => profile::discover(&email, json),
            ProfileCommand::Test { name, json, ca } => profile::test(&name, json, ca.as_deref()),
            ProfileCommand::Delete { name } => profile::delete(&name),
            ProfileCommand::Alerts { name, state } => profile::alerts(&name, state == "on"),
            ProfileCommand::Authorize { name, open, wait, ca } => profile::authorize(&name, open, wait, ca.as_deref()),
            ProfileCommand::Verify { name, manual_uuid, json, ca, wait, poll, no_idle } => {
                verify::verify(&name, manual_uuid, json, ca.as_deref(), wait, poll, !no_idle)
            }
            ProfileCommand::Uuid { name, regenerate } => verify::show_uuid(&name, regenerate),
        },
        Command::Sender { command: SenderCommand::Set { file } } => verify::set_sender(&file),
        Command::Lab { command } => match command {
            LabCommand::Start => lab::start(),
            LabCommand::Stop => lab::stop(),
            LabCommand::Status { json } => lab::status(json),
            LabCommand::Run { quiet } => lab::run(quiet),
        },
        Command::Actions { command: ActionsCommand::List { category, json } } => {
            actions::list(category.as_deref(), json)
        }
        Command::Run(args) => actions::run(args),
        Command::Rules { command: RulesCommand::List { json } } => rules::list(json),
        Command::Rules { command: RulesCommand::Add { name, pattern, on, outcome } } => {
            rules::add(&name, &pattern, &on, &outcome)
        }
        Command::Rules { command: RulesCommand::Delete { name } } => rules::delete(&name),
        Command::Inspect { file, json } => actions::inspect(&file, json),
        Command::Track { command: TrackCommand::Query { filters, page, page_size, json } } => {
            track::query(&filters, page, page_size, json)
        }
        Command::Track { command: TrackCommand::Show { id, json } } => track::show(id, json),
        Command::Track { command: TrackCommand::Export { csv, filters } } => track::export(&filters, &csv),
        Command::Actor { command: ActorCommand::List { json } } => agent::list(json),
        Command::Actor { command: ActorCommand::Check { name } } => agent::check(&name),
        Command::Actor { command: ActorCommand::Add { name, zone } } => agent::add(&name, zone.as_deref()),
        Command::Actor { command: ActorCommand::Pair { name, address, fingerprint } } => {
            agent::pair(&name, &address, &fingerprint)
        }
        Command::Agent { command: AgentCommand::Serve(a) } => agent::serve(&a.listen, a.ca, &a.allow_host),
        Command::Agent { command: AgentCommand::RotateCode { service: false } } => agent::rotate_code(),
        Command::Agent { command: AgentCommand::RotateCode { service: true } } => service::rotate_service_code(),
        Command::Agent { command: AgentCommand::Install(a) } => {
            service::install(&a.listen, a.ca.as_deref(), &a.allow_host)
        }
        Command::Agent { command: AgentCommand::Uninstall } => service::uninstall(),
        Command::Agent { command: AgentCommand::Status } => service::status(),
        Command::Agent { command: AgentCommand::Unit { exe } } => service::print_unit(exe.as_deref()),
        Command::Jobs { command: JobsCommand::List { json } } => actions::jobs_list(json),
        Command::Jobs { command: JobsCommand::Show { id, json } } => actions::jobs_show(&id, json),
        Command::Jobs { command: JobsCommand::Resume { ca, quiet } } => actions::jobs_resume(ca, quiet),
    };
    result.unwrap_or_else(|message| {
        eprintln!("mailproof: {message}");
        ExitCode::FAILURE
    })
}

fn run_doctor(json: bool) -> ExitCode {
    let now = time::OffsetDateTime::now_utc();
    let database = match profile::workspace().data_dir() {
        Some(dir) => doctor::check_database(&paths::database_path(&dir), now),
        None => doctor::Check {
            name: "Database".into(),
            ok: false,
            detail: format!("cannot find this user's data folder. Set {} to a folder you own.", paths::DATA_DIR_ENV),
        },
    };
    let probe = secrets::Secret::new(uuid::Uuid::new_v4().to_string());
    let keyring = doctor::check_keyring(&profile::keyring(), &probe);
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

/// `mailproof completions SHELL`: built in memory (the generator panics on a write error) and then written, so a
/// closed pipe (`| head`) ends the command quietly.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode, String> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "mailproof", &mut script);
    print_all(&script)
}

/// Writes `bytes` to stdout; a reader that went away is not an error.
fn print_all(bytes: &[u8]) -> Result<ExitCode, String> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `mailproof man [--dir DIR]`: the man pages, from the same definitions as `--help`.
fn man(dir: Option<&std::path::Path>) -> Result<ExitCode, String> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| format!("cannot write the man pages to {}: {e}", dir.display()))?;
            println!("Man pages written to {}.", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| e.to_string())?;
            return print_all(&page);
        }
    }
    Ok(ExitCode::SUCCESS)
}
