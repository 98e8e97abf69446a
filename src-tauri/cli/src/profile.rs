//! `mailproof profile …`: add, list, test and delete email profiles without the app.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use mailproof_core::profiles::{
    self, EmailProfile, IncomingServer, OutgoingServer, ProfileDraft, ProfileError, ServerType, Side, STEP_TIMEOUT,
};
use mailproof_core::secrets::{Keyring, Secret};
use mailproof_core::{paths, Store};
use mailproof_mail::diagnose::StepStatus;

/// The environment variable `profile add` and `profile test` may read the password from.
pub const PASSWORD_ENV: &str = "MAILPROOF_PASSWORD";

pub type CliResult = Result<ExitCode, String>;

/// The workspace this run works in (`--demo`: the demo workspace), set once at start.
static WORKSPACE: std::sync::OnceLock<paths::Workspace> = std::sync::OnceLock::new();

pub fn set_workspace(workspace: paths::Workspace) {
    let _ = WORKSPACE.set(workspace);
}

pub fn workspace() -> paths::Workspace {
    WORKSPACE.get().copied().unwrap_or_default()
}

/// Files this run's keyring entries under another service name: two agents on one machine, each with an identity
/// of its own (and the tests' agents beside the user's).
pub const KEYRING_SERVICE_ENV: &str = "MAILPROOF_KEYRING_SERVICE";

/// The keyring of this run's workspace (or of `MAILPROOF_KEYRING_SERVICE`).
pub fn keyring() -> Keyring {
    match std::env::var(KEYRING_SERVICE_ENV) {
        Ok(service) if !service.trim().is_empty() => Keyring::with_service(service.trim()),
        _ => Keyring::with_service(workspace().keyring_service()),
    }
}

pub fn open_store() -> Result<Store, String> {
    let dir = workspace().data_dir().ok_or_else(|| {
        format!("cannot find this user's data folder. Set {} to a folder you own.", paths::DATA_DIR_ENV)
    })?;
    let (store, _) =
        Store::open(&paths::database_path(&dir), time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
    Ok(store)
}

pub fn find(store: &Store, name: &str) -> Result<EmailProfile, String> {
    store
        .find_profile_by_email(name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no profile for {name}. `mailproof profile list` shows the profiles."))
}

fn explain(e: ProfileError) -> String {
    match e {
        ProfileError::Invalid(f) => {
            f.errors.iter().map(|i| format!("  {}: {}", i.field, i.message)).collect::<Vec<_>>().join("\n")
        }
        other => other.to_string(),
    }
}

/// The password: from `MAILPROOF_PASSWORD`, or the first line of standard input (never from the command line).
pub fn read_password() -> Result<Secret, String> {
    read_secret("Password")?.ok_or_else(|| format!("no password: pipe it on standard input or set {PASSWORD_ENV}."))
}

/// A secret from MAILPROOF_PASSWORD or one line of standard input; `None` when it is empty.
fn read_secret(what: &str) -> Result<Option<Secret>, String> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(Some(Secret::new(p)).filter(|s| !s.expose().is_empty()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("{what} (input is not hidden; pipe it in or set {PASSWORD_ENV} instead):");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| format!("cannot read the {what} from standard input: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']);
    Ok(Some(Secret::new(line)).filter(|s| !s.expose().is_empty()))
}

pub fn add(file: &Path) -> CliResult {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let invalid = |e: &dyn std::fmt::Display| format!("{} is not a valid profile file: {e}", file.display());
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(&e))?;
    // A Microsoft 365 profile names no servers and no account (they are Graph's, and the mailbox); a file that
    // leaves them out gets empty ones, which validation explains for the profiles that need them.
    for (key, empty) in [
        ("username", toml::Value::String(String::new())),
        ("incoming", toml::Value::try_from(IncomingServer::default()).map_err(|e| invalid(&e))?),
        ("outgoing", toml::Value::try_from(OutgoingServer::default()).map_err(|e| invalid(&e))?),
    ] {
        table.entry(key).or_insert(empty);
    }
    let mut draft: ProfileDraft = table.try_into().map_err(|e| invalid(&e))?;
    if draft.password.is_some() {
        return Err(format!(
            "{} holds a password. Keep passwords out of files: remove it, and pipe it on standard input or set {PASSWORD_ENV}.",
            file.display()
        ));
    }
    // An OAuth 2.0 profile's secret is its client's, which a public client does not have.
    let oauth = draft.uses_oauth();
    draft.password =
        if oauth { read_secret("Client secret (empty for a public client)")? } else { Some(read_password()?) };
    let store = open_store()?;
    let saved =
        profiles::save_profile(&store, &keyring(), None, draft, time::OffsetDateTime::now_utc()).map_err(explain)?;
    if oauth {
        println!(
            "Added {} ({}). Next: `mailproof profile authorize {}` to sign it in at {}.",
            saved.email,
            saved.id,
            saved.email,
            saved.issuer_name()
        );
    } else {
        println!("Added {} ({}). Its password is in the OS keyring.", saved.email, saved.id);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(json: bool) -> CliResult {
    let today = time::OffsetDateTime::now_utc().date();
    let profiles: Vec<_> =
        open_store()?.list_profiles().map_err(|e| e.to_string())?.into_iter().map(|p| p.with_notice(today)).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&profiles).map_err(|e| e.to_string())?);
    } else if profiles.is_empty() {
        println!("No email profiles. Add one with `mailproof profile add --file profile.toml`.");
    } else {
        for p in &profiles {
            let actors = p.actors.iter().map(|a| format!("{}: {:?}", a.actor_name, a.status)).collect::<Vec<_>>();
            println!(
                "{}  {:?}  in {}:{}  out {}:{}  [{}]",
                p.email,
                p.server_type,
                p.incoming.host,
                p.incoming.port,
                p.outgoing.host,
                p.outgoing.port,
                actors.join(", ")
            );
            if let Some(notice) = &p.secret_notice {
                println!("  warning: {notice}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn test(name: &str, json: bool, extra_ca: Option<&Path>) -> CliResult {
    let store = open_store()?;
    let profile = find(&store, name)?;
    let draft = profile.draft();
    let credentials = profiles::credentials_for_test(&store, &keyring(), &draft, Some(&profile.id)).map_err(explain)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let cloud = draft.server_type.is_cloud();
    let (reading, sending) = if cloud { ("reading", "sending") } else { ("incoming", "outgoing") };
    let report = runtime.block_on(profiles::test_connection(
        &draft,
        &credentials,
        extra_ca.map(Path::to_owned),
        STEP_TIMEOUT,
        |event| {
            // Live progress on stderr; the result goes to stdout.
            let side = if event.side == Side::Incoming { reading } else { sending };
            eprintln!("{side}: {} {}", mark(event.step.status), event.step.title);
        },
    ));
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        let titles = if cloud { ["Reading", "Sending"] } else { ["Incoming", "Outgoing"] };
        for (title, d) in titles.into_iter().zip([&report.incoming, &report.outgoing]) {
            println!("{title}: {} {}:{}", d.service, d.host, d.port);
            for s in &d.steps {
                println!("  {} {} ({} ms): {}", mark(s.status), s.title, s.millis, s.detail);
                if let Some(hint) = &s.hint {
                    println!("      what to do: {hint}");
                }
            }
        }
        let passed = match draft.server_type {
            ServerType::Graph => "Reading and sending through Microsoft Graph passed.",
            ServerType::Gmail => "Reading and sending through the Gmail API passed.",
            _ => "Both servers passed.",
        };
        println!("{}", if report.ok { passed } else { "The connection test failed." });
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Passed => "ok  ",
        StepStatus::Warning => "warn",
        StepStatus::Failed => "FAIL",
    }
}

pub fn authorize(name: &str, open: bool, wait_secs: u64, extra_ca: Option<&Path>) -> CliResult {
    let store = open_store()?;
    let profile = find(&store, name)?;
    let keyring = keyring();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let consent =
        runtime.block_on(profiles::authorize_profile(&store, &keyring, &profile.id, extra_ca.map(Path::to_owned)));
    let consent = consent.map_err(|e| e.to_string())?;
    let issuer = profile.issuer_name();
    eprintln!("Open this page in a browser on this machine and sign in to {issuer} as {}:", profile.email);
    println!("{}", consent.url());
    if open {
        if let Err(why) = profiles::open_in_browser(consent.url()) {
            eprintln!("Could not open a browser ({why}); open the page above yourself.");
        }
    }
    eprintln!("Waiting up to {wait_secs} s for {issuer}'s answer…");
    let wait = std::time::Duration::from_secs(wait_secs.clamp(10, 3600));
    let done = runtime
        .block_on(consent.finish(
            &store,
            &keyring,
            wait,
            &mailproof_core::Cancel::default(),
            time::OffsetDateTime::now_utc(),
        ))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "Authorized {}: the sign-in is kept in the OS keyring. Next: `mailproof profile verify {}`.",
        done.email, done.email
    );
    Ok(ExitCode::SUCCESS)
}

pub fn delete(name: &str) -> CliResult {
    let store = open_store()?;
    let profile = find(&store, name)?;
    profiles::delete_profile(&store, &keyring(), &profile.id).map_err(explain)?;
    println!("Deleted {} and its keyring entry.", profile.email);
    Ok(ExitCode::SUCCESS)
}

/// `mailproof profile alerts NAME on|off`: whether jobs watch this profile's mailbox for gateways' notices.
pub fn alerts(name: &str, on: bool) -> CliResult {
    let store = open_store()?;
    let profile = find(&store, name)?;
    let p = profiles::set_alerts_mailbox(&store, &profile.id, on, time::OffsetDateTime::now_utc()).map_err(explain)?;
    if on {
        println!(
            "{} is an alerts mailbox: jobs watch it for gateways' notices about their messages (once it is verified \
             from this workstation), and an action reported there but otherwise missed is Alerted.",
            p.email
        );
    } else {
        println!("{} is no longer an alerts mailbox.", p.email);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn discover(email: &str, json: bool) -> CliResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let found = runtime.block_on(profiles::discover_settings(email));
    if json {
        println!("{}", serde_json::to_string_pretty(&found).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Sources for {} ({} ms):", found.domain, found.millis);
    for s in &found.sources {
        println!("  {:?}: {:?}, {} ({} ms) — {}", s.kind, s.outcome, s.detail, s.millis, s.asked);
    }
    for s in &found.suggestions {
        for h in s.incoming.iter().chain(&s.outgoing) {
            println!("  from {:?}: {:?} {}:{} {:?}", s.source, h.protocol, h.host, h.port, h.security);
        }
    }
    if found.suggestions.is_empty() {
        println!("Nothing found: enter the servers by hand.");
    }
    Ok(if found.suggestions.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
