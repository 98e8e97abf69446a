//! `mailproof track query|show|export`: the message tracking log without the app.

use std::path::Path;
use std::process::ExitCode;

use mailproof_core::tracking::{self, TrackQuery, TrackStatus};

use crate::profile::{open_store, CliResult};

/// The filters, as typed on the command line.
#[derive(clap::Args, Debug, Default)]
pub struct Filters {
    /// last-hour, 24h, 7d or 30d.
    #[arg(long)]
    pub period: Option<String>,
    /// Start of a custom period: RFC 3339 with an offset, e.g. 2026-11-24T08:00:00+01:00.
    #[arg(long)]
    pub since: Option<String>,
    /// End of a custom period (exclusive), RFC 3339.
    #[arg(long)]
    pub until: Option<String>,
    /// One envelope recipient (or part of it).
    #[arg(long)]
    pub recipient: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// The envelope sender.
    #[arg(long)]
    pub sender: Option<String>,
    /// The From header.
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    #[arg(long)]
    pub message_id: Option<String>,
    /// An address or its beginning.
    #[arg(long)]
    pub source_ip: Option<String>,
    /// high, medium or low.
    #[arg(long)]
    pub risk: Option<String>,
    /// Latest status; repeat for several: queued, delivered, deliveredToJunk, unsuccessful, notReceived,
    /// modified, deleted.
    #[arg(long)]
    pub status: Vec<String>,
}

fn parse_time(s: &str, what: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| format!("{what} \"{s}\" is not a date and time like 2026-11-24T08:00:00Z or …+01:00"))
}

fn to_query(f: &Filters, page: u32, page_size: u32) -> Result<TrackQuery, String> {
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let hour = 3_600_000;
    let (mut from_ms, mut to_ms) = match f.period.as_deref() {
        None => (None, None),
        Some("last-hour") => (Some(now - hour), None),
        Some("24h") => (Some(now - 24 * hour), None),
        Some("7d") => (Some(now - 7 * 24 * hour), None),
        Some("30d") => (Some(now - 30 * 24 * hour), None),
        Some(other) => {
            return Err(format!("unknown period {other}; use last-hour, 24h, 7d or 30d (or --since/--until)"))
        }
    };
    if let Some(s) = &f.since {
        from_ms = Some(parse_time(s, "--since")?);
    }
    if let Some(s) = &f.until {
        to_ms = Some(parse_time(s, "--until")?);
    }
    let mut statuses = Vec::new();
    for s in &f.status {
        statuses.push(TrackStatus::parse(s).ok_or_else(|| {
            let all: Vec<_> = TrackStatus::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown status {s}; use {}", all.join(", "))
        })?);
    }
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(TrackQuery {
        from_ms,
        to_ms,
        recipient: text(&f.recipient),
        to: text(&f.to),
        sender: text(&f.sender),
        from: text(&f.from),
        subject: text(&f.subject),
        message_id: text(&f.message_id),
        source_ip: text(&f.source_ip),
        risk: text(&f.risk),
        statuses,
        page,
        page_size,
    })
}

fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `mailproof track query [filters] [--page N] [--page-size N] [--json]`.
pub fn query(f: &Filters, page: u32, page_size: u32, json: bool) -> CliResult {
    let store = open_store()?;
    let result = tracking::query(&store, &to_query(f, page, page_size)?).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(n) = &result.notice {
        eprintln!("{n}");
    }
    for r in &result.rows {
        println!(
            "{}  {:<22} {:<6} {}  {} → {}  {}",
            utc(r.received_ms),
            r.status.label(),
            r.risk.as_deref().unwrap_or("-"),
            r.message_id,
            r.envelope_sender,
            r.recipients,
            r.subject
        );
    }
    let first = u64::from(page) * u64::from(page_size.max(1));
    eprintln!(
        "{} matching message(s); showing {}–{} (times UTC). Wildcards are not needed: words match anywhere.",
        result.total,
        if result.rows.is_empty() { first } else { first + 1 },
        first + result.rows.len() as u64
    );
    Ok(ExitCode::SUCCESS)
}

/// `mailproof track show ID [--json]`: one message's processing history.
pub fn show(id: i64, json: bool) -> CliResult {
    let store = open_store()?;
    let (row, events) =
        tracking::history(&store, id).map_err(|e| e.to_string())?.ok_or_else(|| format!("no tracked message {id}"))?;
    if json {
        let v = serde_json::json!({ "message": row, "history": events });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} — {} ({})", row.message_id, row.subject, row.status.label());
    println!("source IP {}", row.source_ip.as_deref().unwrap_or("unknown"));
    for e in &events {
        println!("  {}  {:<12} {}", utc(e.at_ms), e.kind.as_str(), e.detail);
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof track export --csv FILE [filters]`.
pub fn export(f: &Filters, file: &Path) -> CliResult {
    let store = open_store()?;
    let q = to_query(f, 0, tracking::MAX_PAGE)?;
    let outcome = tracking::export_csv_to(&store, &q, file).map_err(|e| e.to_string())?;
    if outcome.capped {
        eprintln!(
            "{} messages matched; the export holds the newest {} (the most one export writes). Narrow the filters for the rest.",
            outcome.total, outcome.written
        );
    }
    println!("Wrote {} message(s) to {}.", outcome.written, file.display());
    Ok(ExitCode::SUCCESS)
}
