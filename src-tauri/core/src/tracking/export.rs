//! Exporting a search as CSV, newest first, with its cap.

use std::io::Write;

use super::model::{ExportOutcome, TrackError, TrackQuery, MAX_PAGE};
use super::plan::query;
use crate::store::Store;

/// The most rows an export writes.
pub const EXPORT_CAP: u64 = 50_000;

/// Writes the query's matches (newest first, at most `EXPORT_CAP`) as CSV with a header row. Times are UTC
/// (RFC 3339). Cells that a spreadsheet would run as formulas are prefixed with `'`.
pub fn export_csv(store: &Store, q: &TrackQuery, out: &mut dyn Write) -> Result<ExportOutcome, TrackError> {
    let io = |e: std::io::Error| TrackError::Filter { field: "Export", why: format!("cannot write: {e}") };
    let mut all = q.clone();
    all.page = 0;
    all.page_size = MAX_PAGE;
    let first = query(store, &all)?;
    let total = first.total;
    let mut w = std::io::BufWriter::new(out);
    writeln!(
        w,
        "received_utc,message_id,envelope_sender,from,recipients,to,subject,source_ip,risk,latest_status,job_id,direction,\
         actor,read_by"
    )
    .map_err(io)?;
    let mut written = 0u64;
    let mut page = first;
    loop {
        for r in &page.rows {
            if written >= EXPORT_CAP {
                break;
            }
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.received_ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default();
            let cells = [
                at.as_str(),
                &r.message_id,
                &r.envelope_sender,
                &r.from_header,
                &r.recipients,
                &r.to_header,
                &r.subject,
                r.source_ip.as_deref().unwrap_or(""),
                r.risk.as_deref().unwrap_or(""),
                r.status.label(),
                r.job_id.as_deref().unwrap_or(""),
                r.direction.label(),
                r.actor.as_deref().unwrap_or(crate::jobs::THIS_WORKSTATION),
                match (&r.job_id, r.direction) {
                    (Some(_), crate::tracking::TrackDirection::Sent) => {
                        r.read_by.as_deref().unwrap_or(crate::jobs::THIS_WORKSTATION)
                    }
                    _ => "",
                },
            ];
            writeln!(w, "{}", crate::csv::row(&cells)).map_err(io)?;
            written += 1;
        }
        if written >= EXPORT_CAP || written >= total || page.rows.is_empty() {
            break;
        }
        all.page += 1;
        page = query(store, &all)?;
    }
    w.flush().map_err(io)?;
    Ok(ExportOutcome { written, total, capped: total > EXPORT_CAP })
}

/// Writes the export to a file at `path`, whole or not at all: on failure no partial file is left behind and a
/// file already there is kept.
pub fn export_csv_to(store: &Store, q: &TrackQuery, path: &std::path::Path) -> Result<ExportOutcome, TrackError> {
    crate::files::write_atomic_with(path, |w| export_csv(store, q, w)).map_err(|e| match e {
        crate::files::Failed::Writer(e) => e,
        crate::files::Failed::Io(e) => TrackError::Filter {
            field: "Export",
            why: format!("cannot write {}: {e}. Choose a folder you can write to.", path.display()),
        },
    })
}
