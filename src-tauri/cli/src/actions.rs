//! `mailproof actions list`, `mailproof run` and `mailproof inspect`: the email actions without the app.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailproof_core::actions::{self, Category, Selection};
use mailproof_core::jobs::{self, JobReport, JobSpec, JobTiming, RunOptions, RuntimeParams, Verdict};
use mailproof_core::{Cancel, Clock, SystemClock};
use mailproof_mail::{bounce, message};

use crate::profile::{open_store, CliResult};
use crate::progress::{Progress, Style};

/// `mailproof actions list [--category C] [--json]`.
pub fn list(category: Option<&str>, json: bool) -> CliResult {
    let category = category.map(parse_category).transpose()?;
    let list: Vec<_> = actions::list().into_iter().filter(|a| category.is_none_or(|c| a.category == c)).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    for a in &list {
        println!("{}  {:<8} {:<6} {:<14} {}", a.id, a.direction.as_str(), a.risk.as_str(), a.category.as_str(), a.name);
    }
    eprintln!("{} actions. `mailproof actions list --json` adds what each one exercises and contains.", list.len());
    Ok(ExitCode::SUCCESS)
}

fn parse_category(s: &str) -> Result<Category, String> {
    Category::parse(s).ok_or_else(|| {
        let names: Vec<_> = Category::ALL.iter().map(|c| c.as_str()).collect();
        format!("unknown category {s}; use one of {}", names.join(", "))
    })
}

/// When `mailproof run` exits non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any action Missed.
    Missed,
    /// Any action not Prevented (Detected, Alerted, Missed, Errored or Incomplete).
    NotPrevented,
    /// Only when the job could not run at all.
    Never,
}

/// `mailproof run`'s options.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The source profile (its address): sends the actions and receives the bounces. It must be verified.
    #[arg(long)]
    pub from: String,
    /// A destination profile (its address); repeat for several. Only verified profiles are accepted.
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The actor that sends from the source (and reads its bounces), by name: a remote actor sends from its own
    /// machine through its agent [default: this workstation].
    #[arg(long)]
    pub from_actor: Option<String>,
    /// The actor that reads the destinations, by name [default: this workstation].
    #[arg(long)]
    pub to_actor: Option<String>,
    /// Comma-separated action IDs, e.g. A100-001,A400-001.
    #[arg(long)]
    pub actions: Option<String>,
    /// Every action in the library.
    #[arg(long)]
    pub all: bool,
    /// Every action in one category (malware, dangerous-file, link, spam, spoofing, data-loss).
    #[arg(long)]
    pub category: Option<String>,
    /// The From address spoofing actions claim.
    #[arg(long)]
    pub spoof: Option<String>,
    /// Seconds to wait for each message or its bounce [default: Settings → Email Actions; 300 until saved there].
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Seconds to wait after sending before looking.
    #[arg(long, default_value_t = 0)]
    pub sleep: u32,
    /// Milliseconds between looks at the mailboxes [default: Settings → Email Actions; 250].
    #[arg(long)]
    pub poll: Option<u32>,
    /// Milliseconds to pause between one action and the next [default: Settings → Email Actions; 0].
    #[arg(long)]
    pub pause: Option<u32>,
    /// How many destinations to test at once, 1-16 [default: Settings → Email Actions; 4].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub concurrency: Option<u32>,
    /// Write every action's verdict, reason and evidence as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// A CA certificate (PEM) to trust beyond the public roots.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// When to exit with 1.
    #[arg(long, value_enum, default_value_t = FailOn::Missed)]
    pub fail_on: FailOn,
    /// Run the selection this many times over (load tests and benchmarks).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// No progress on stderr: only the job's last line (and any warning or error).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `mailproof run --from P --to P …`: runs a job with progress on stderr.
pub fn run(args: RunArgs) -> CliResult {
    let selection = match (&args.actions, args.all, &args.category) {
        (Some(ids), false, None) => Selection::Ids { ids: ids.split(',').map(|s| s.trim().to_owned()).collect() },
        (None, true, None) => Selection::All,
        (None, false, Some(c)) => Selection::Category { category: parse_category(c)? },
        (None, false, None) => Selection::AllInbound,
        _ => return Err("choose one of --actions, --all and --category".into()),
    };
    let selection = if args.repeat > 1 {
        let once: Vec<String> = selection.resolve()?.iter().map(|a| a.id.to_owned()).collect();
        Selection::Ids { ids: (0..args.repeat).flat_map(|_| once.iter().cloned()).collect() }
    } else {
        selection
    };
    let store = open_store()?;
    hint_interrupted(&store)?;
    let source = crate::profile::find(&store, &args.from)?;
    let mut destinations = Vec::new();
    for to in &args.to {
        destinations.push(crate::profile::find(&store, to)?.id);
    }
    let actor_id = |name: &Option<String>| -> Result<Option<String>, String> {
        let Some(name) = name else { return Ok(None) };
        let actors = store.list_actors().map_err(|e| e.to_string())?;
        actors
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) || a.id == *name)
            .map(|a| Some(a.id.clone()))
            .ok_or_else(|| format!("no actor {name}. `mailproof actor list` shows the actors."))
    };
    let reader = actor_id(&args.to_actor)?;
    let actors = jobs::JobActors {
        source: actor_id(&args.from_actor)?,
        destinations: reader.map(|r| destinations.iter().map(|d| (d.clone(), r.clone())).collect()).unwrap_or_default(),
    };
    if let Some(spoof) = &args.spoof {
        eprintln!("Warning: spoofing actions will claim to come from {spoof}.");
    }
    // What the options leave out comes from Settings → Email Actions, as in the app's job builder.
    let stored = jobs::defaults::load_timing(&store).map_err(|e| e.to_string())?;
    let spec = JobSpec {
        name: format!("{} → {}", source.email, args.to.join(", ")),
        selection,
        source_profile_id: source.id.clone(),
        destination_profile_ids: destinations,
        params: RuntimeParams { spoofed_from: args.spoof.clone(), extra_sleep_secs: args.sleep },
        timing: JobTiming {
            timeout_secs: args.timeout.unwrap_or(stored.timeout_secs),
            pause_millis: args.pause.unwrap_or(stored.pause_millis),
            poll_millis: args.poll.unwrap_or(stored.poll_millis),
            concurrency: args.concurrency.unwrap_or(stored.concurrency),
        },
        actors,
    };
    let options = RunOptions { extra_ca: trusted_ca(&store, args.ca.clone())?, ..Default::default() };
    let report = run_spec(&store, &spec, &options, args.quiet)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        mailproof_core::files::write_atomic(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        mailproof_core::files::write_atomic(path, junit(&report).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("Job {} {}: {} actions — {}", report.id, report.status, report.actions.len(), counts(&report));
    let fail = match args.fail_on {
        FailOn::Missed => report.count(Verdict::Missed) > 0,
        FailOn::NotPrevented => report.count(Verdict::Prevented) < report.actions.len(),
        FailOn::Never => false,
    };
    Ok(if fail { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Runs `spec` with progress on stderr (unless `quiet`) and returns its report.
pub fn run_spec(
    store: &mailproof_core::Store,
    spec: &JobSpec,
    options: &RunOptions,
    quiet: bool,
) -> Result<JobReport, String> {
    let total = spec.selection.resolve().map(|a| a.len() * spec.destination_profile_ids.len()).ok();
    let job_id = run_engine(Style::detect(quiet), total, |cancel, on_event| async move {
        jobs::run_job(store, &crate::profile::keyring(), spec, options, &cancel, &*on_event).await
    })?;
    store.job_report(&job_id).map_err(|e| e.to_string())?.ok_or_else(|| "the job vanished".to_owned())
}

/// The CA to trust beyond the public roots: the one given, else the one Settings hold (the app's "trusted CA").
pub fn trusted_ca(store: &mailproof_core::Store, given: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    match given {
        Some(ca) => Ok(Some(ca)),
        None => Ok(mailproof_core::settings::load(store).map_err(|e| e.to_string())?.trusted_ca_file.map(Into::into)),
    }
}

/// How long a job's engine must have been silent before the job counts as interrupted.
/// `MAILPROOF_JOB_STALE_SECS` shortens it (tests).
fn stale_after() -> std::time::Duration {
    std::env::var("MAILPROOF_JOB_STALE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(jobs::STALE_AFTER)
}

/// Says when an earlier run left jobs unfinished, and how to finish them.
fn hint_interrupted(store: &mailproof_core::Store) -> Result<(), String> {
    let n = jobs::interrupted_jobs(store, stale_after(), SystemClock.now_millis()).map_err(|e| e.to_string())?;
    if n > 0 {
        eprintln!(
            "{n} job(s) stopped before they ended (the app or command exited): `mailproof jobs resume` watches for \
             what they sent and decides it."
        );
    }
    Ok(())
}

/// `mailproof jobs resume [--ca FILE]`: picks up the jobs whose engine stopped mid-job and runs them to their end,
/// with progress on stderr.
pub fn jobs_resume(ca: Option<PathBuf>, quiet: bool) -> CliResult {
    let store = open_store()?;
    let options = RunOptions { extra_ca: trusted_ca(&store, ca)?, ..Default::default() };
    let store_ref = &store;
    let ids = run_engine(Style::detect(quiet), None, |cancel, on_event| async move {
        jobs::resume_interrupted(store_ref, &crate::profile::keyring(), &options, stale_after(), &cancel, &*on_event)
            .await
    })?;
    if ids.is_empty() {
        eprintln!("No job is waiting to be picked up.");
    }
    for id in ids {
        let report = store.job_report(&id).map_err(|e| e.to_string())?.ok_or("the job vanished")?;
        println!("Job {} {}: {}", report.id, report.status, counts(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a running job's events go: its progress, shown as `Style` says.
type OnEvent = std::sync::Arc<dyn Fn(jobs::JobEvent) + Send + Sync>;

/// Runs `work` on a runtime of two workers (sending and watching side by side), its progress shown in `style`
/// (`total` actions, when known) and taken off the screen at the end. Ctrl-C cancels it: what is not decided by
/// then ends Incomplete.
fn run_engine<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    style: Style,
    total: Option<usize>,
    work: impl FnOnce(Cancel, OnEvent) -> F,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let shown = std::sync::Arc::new(Progress::new(style, total));
    let on_event: OnEvent = {
        let shown = shown.clone();
        std::sync::Arc::new(move |e| lock(&shown).event(e))
    };
    let cancel = Cancel::default();
    let done = runtime.block_on(async {
        let stop = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Stopping: actions not yet decided end as Incomplete.");
                stop.cancel();
            }
        });
        work(cancel, on_event).await
    });
    lock(&shown).finish();
    done.map_err(|e| e.to_string())
}

/// A job's verdicts counted, in words.
pub fn counts(report: &jobs::JobReport) -> String {
    Verdict::ALL.iter().map(|v| format!("{} {}", report.count(*v), v.label())).collect::<Vec<_>>().join(", ")
}

fn lock(p: &std::sync::Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `mailproof jobs list [--json]`: every job with its counts, newest first.
pub fn jobs_list(json: bool) -> CliResult {
    let store = open_store()?;
    hint_interrupted(&store)?;
    let list = store.list_jobs().map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    for j in &list {
        println!(
            "{}  {:<10} {}  {} actions: {} prevented, {} detected, {} alerted, {} missed, {} errored, {} incomplete  {}",
            j.id,
            j.status,
            j.created_at,
            j.actions,
            j.prevented,
            j.detected,
            j.alerted,
            j.missed,
            j.errored,
            j.incomplete,
            j.name
        );
    }
    if list.is_empty() {
        eprintln!("No jobs yet: `mailproof run` starts one.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof jobs show ID [--json]`: a job's actions with verdicts and reasons (JSON adds the evidence).
pub fn jobs_show(id: &str, json: bool) -> CliResult {
    let store = open_store()?;
    hint_interrupted(&store)?;
    let report = store.job_report(id).map_err(|e| e.to_string())?.ok_or_else(|| format!("there is no job {id}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {} ({})", report.id, report.name, report.status);
    for a in &report.actions {
        let verdict = a.verdict.map(Verdict::label).unwrap_or("Running");
        println!(
            "  {} → {}  {:<10} {} {}",
            a.action_id,
            a.destination_email,
            verdict,
            a.action_name,
            a.reason.as_deref().map(|r| format!("— {r}")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// JUnit XML: one test case per action; Missed is a failure, Errored an error, Incomplete skipped; Prevented,
/// Detected and Alerted pass (a defence acted), their reason in the output.
fn junit(report: &JobReport) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
        esc(&report.name),
        report.actions.len(),
        report.count(Verdict::Missed),
        report.count(Verdict::Errored),
        report.count(Verdict::Incomplete)
    ));
    for a in &report.actions {
        let reason = esc(a.reason.as_deref().unwrap_or(""));
        out.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{} {} → {}\">",
            esc(&a.category),
            a.action_id,
            esc(&a.action_name),
            esc(&a.destination_email)
        ));
        match a.verdict {
            Some(Verdict::Missed) => out.push_str(&format!("<failure message=\"Missed\">{reason}</failure>")),
            Some(Verdict::Errored) => out.push_str(&format!("<error message=\"Errored\">{reason}</error>")),
            Some(Verdict::Incomplete) | None => out.push_str(&format!("<skipped message=\"{reason}\"/>")),
            Some(v) => out.push_str(&format!("<system-out>{}: {reason}</system-out>", v.label())),
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

/// `mailproof inspect FILE.eml [--json]`: the Received hops, authentication results and, for a bounce, what
/// failed.
pub fn inspect(file: &Path, json: bool) -> CliResult {
    let raw = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let analysis = message::analyse(&raw);
    let bounce = bounce::parse(&raw);
    if json {
        let value = serde_json::json!({ "message": analysis, "bounce": bounce });
        println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let show = |label: &str, v: Option<&str>| println!("{label:<12} {}", v.unwrap_or("—"));
    show("Message-ID", analysis.message_id.as_deref());
    show("From", analysis.from.as_deref());
    show("To", Some(&analysis.to.join(", ")).filter(|s| !s.is_empty()).map(String::as_str));
    show("Subject", analysis.subject.as_deref());
    show("Source IP", analysis.source_ip());
    println!("\nReceived hops, origin first:");
    if analysis.hops.is_empty() {
        println!("  none");
    }
    for (i, h) in analysis.hops.iter().enumerate() {
        let at =
            h.at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| "time unknown".into());
        let delay = match h.delay_secs {
            Some(d) if d < 0 => format!(" ({d} s: the two hosts' clocks disagree)"),
            Some(d) => format!(" (+{d} s)"),
            None => String::new(),
        };
        let from = match (&h.from, &h.pickup) {
            (Some(from), _) => from.clone(),
            (None, Some(pickup)) => format!("picked up locally ({pickup})"),
            (None, None) => "?".into(),
        };
        println!(
            "  {}. {from}{} → {} with {}{}, {at}{delay}",
            i + 1,
            h.from_ip
                .as_deref()
                .filter(|ip| h.from.as_deref() != Some(*ip))
                .map(|ip| format!(" [{ip}]"))
                .unwrap_or_default(),
            h.by.as_deref().unwrap_or("?"),
            h.with.as_deref().unwrap_or("?"),
            h.tls.as_deref().map(|t| format!(" [{t}]")).unwrap_or_default(),
        );
    }
    if !analysis.authentication.is_empty() {
        println!("\nAuthentication results, newest first:");
        for a in &analysis.authentication {
            let by = a.authserv_id.as_deref().unwrap_or("(no authserv-id)");
            let hop = a.hop.map(|h| format!(", hop {}", h + 1)).unwrap_or_default();
            let arc = a.arc_instance.map(|i| format!("ARC i={i} ")).unwrap_or_default();
            println!("  {arc}{by}{hop}: {}", a.summary);
        }
    }
    println!("\nParts:");
    for p in &analysis.parts {
        println!(
            "  {} {} {} bytes sha256 {}",
            p.filename.as_deref().unwrap_or("(body)"),
            p.content_type,
            p.size,
            p.sha256
        );
    }
    match &bounce {
        None => println!("\nNot a bounce."),
        Some(b) => {
            println!(
                "\nBounce ({}): {}",
                b.format,
                if b.permanent { "permanent failure" } else { "temporary (delayed)" }
            );
            show("Reporter", b.reporting_mta.as_deref());
            show("Original", b.original_message_id.as_deref());
            for r in &b.recipients {
                println!(
                    "  {} {} {}",
                    r.address,
                    r.status.as_deref().unwrap_or("(no status)"),
                    r.diagnostic.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
