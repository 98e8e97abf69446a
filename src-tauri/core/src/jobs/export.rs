//! A job's results for others: JSON (everything, evidence included), CSV (one row per action) and an evidence
//! folder (per action the received copy as .eml, the SMTP transcript and the evidence as JSON).

use std::path::{Path, PathBuf};

use super::{ActionResult, JobReport};
use crate::store::{Store, StoreError};

/// Every action with its verdict, reason and evidence, as the CLI's `--json` writes it.
pub fn to_json(report: &JobReport) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes")
}

const CSV_HEADER: &str = "group,source,destination,action_id,action,category,risk,direction,verdict,cause,reason,\
message_id,sent_utc,accepted_utc,delivered_utc,decided_utc,smtp_reply,queue_id,folder,source_ip,bounce_status,changes,notices,\
sent_by,read_by";

/// One row per action; times are UTC (RFC 3339) as stored; cells a spreadsheet would run are neutralised.
pub fn to_csv(report: &JobReport) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for a in &report.actions {
        let ev = a.evidence.as_ref();
        let got = ev.and_then(|e| e.received.as_ref());
        let bounce = ev.and_then(|e| e.bounce.as_ref()).map(|b| b.summary()).unwrap_or_default();
        let cells = [
            (a.group + 1).to_string(),
            a.source_email.clone(),
            a.destination_email.clone(),
            a.action_id.clone(),
            a.action_name.clone(),
            a.category.clone(),
            a.risk.clone(),
            a.direction.clone(),
            a.verdict.map(|v| v.label().to_owned()).unwrap_or_default(),
            a.cause.clone().unwrap_or_default(),
            a.reason.clone().unwrap_or_default(),
            a.message_id.clone().unwrap_or_default(),
            a.sent_at.clone().unwrap_or_default(),
            a.accepted_at.clone().unwrap_or_default(),
            a.delivered_at.clone().unwrap_or_default(),
            a.decided_at.clone().unwrap_or_default(),
            ev.and_then(|e| e.smtp_reply.clone()).unwrap_or_default(),
            ev.and_then(|e| e.queue_id.clone()).unwrap_or_default(),
            got.map(|g| g.folder.clone()).unwrap_or_default(),
            got.and_then(|g| g.source_ip.clone()).unwrap_or_default(),
            bounce,
            ev.map(|e| e.changes.join("; ")).unwrap_or_default(),
            ev.map(|e| e.notices.iter().map(|n| n.summary()).collect::<Vec<_>>().join("; ")).unwrap_or_default(),
            a.source_actor.clone().unwrap_or_else(|| super::THIS_WORKSTATION.to_owned()),
            a.destination_actor.clone().unwrap_or_else(|| super::THIS_WORKSTATION.to_owned()),
        ];
        out.push_str(&crate::csv::row(&cells));
        out.push_str("\r\n");
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}. Choose a folder you can write to.")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes `text` to `path`, whole or not at all.
pub fn write_file(path: &Path, text: &[u8]) -> Result<(), ExportError> {
    crate::files::write_atomic(path, text).map_err(|source| ExportError::Write { path: path.to_owned(), source })
}

/// Saves a job's evidence into a new folder inside `parent`: `job.json`, `results.csv`, and per action a
/// folder with `evidence.json`, `transcript.txt`, `received-headers.txt` and `received.eml` (the copy as
/// found, size-capped) where there is one, and `notice-N.txt` per gateway notice about it. Returns the folder made.
pub fn save_evidence(store: &Store, report: &JobReport, parent: &Path) -> Result<PathBuf, ExportError> {
    let short = report.id.get(..8).unwrap_or(&report.id);
    let dir = parent.join(format!("mailproof-{}-{short}", file_safe(&report.name)));
    let mkdir = |p: &Path| std::fs::create_dir_all(p).map_err(|source| ExportError::Write { path: p.into(), source });
    mkdir(&dir)?;
    write_file(&dir.join("job.json"), to_json(report).as_bytes())?;
    write_file(&dir.join("results.csv"), to_csv(report).as_bytes())?;
    for (i, a) in report.actions.iter().enumerate() {
        let sub = dir.join(action_folder(i, a));
        mkdir(&sub)?;
        let Some(ev) = &a.evidence else {
            write_file(&sub.join("evidence.json"), b"null\n")?;
            continue;
        };
        let json = serde_json::to_string_pretty(ev).expect("evidence always serializes");
        write_file(&sub.join("evidence.json"), json.as_bytes())?;
        write_file(&sub.join("transcript.txt"), (ev.transcript.join("\n") + "\n").as_bytes())?;
        if let Some(got) = &ev.received {
            let hops: Vec<String> = got.hops.iter().map(|h| format!("Received: {}", h.raw)).collect();
            write_file(&sub.join("received-headers.txt"), (hops.join("\n") + "\n").as_bytes())?;
        }
        for (n, notice) in ev.notices.iter().enumerate() {
            let text = format!(
                "Alerts mailbox: {}\nFound: {}\nFrom: {}\nSubject: {}\nMessage-ID: {}\n\n{}\n",
                notice.mailbox, notice.found_at, notice.from, notice.subject, notice.message_id, notice.excerpt
            );
            write_file(&sub.join(format!("notice-{}.txt", n + 1)), text.as_bytes())?;
        }
        if let Some(raw) = store.raw_received(&a.row_id)? {
            write_file(&sub.join("received.eml"), &raw)?;
        }
    }
    Ok(dir)
}

fn action_folder(i: usize, a: &ActionResult) -> String {
    let who = a.destination_email.split('@').next().unwrap_or("");
    format!("{:03}-{}-{}", i + 1, file_safe(&a.action_id), file_safe(who))
}

/// A name safe in any file system: letters, digits, `-` and `_`, at most 40 characters.
fn file_safe(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).take(40).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "job".into()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_for_any_file_system() {
        assert_eq!(file_safe("EICAR / zip: all?"), "EICAR---zip--all");
        assert_eq!(file_safe("../../etc"), "etc");
        assert_eq!(file_safe("***"), "job");
    }
}
