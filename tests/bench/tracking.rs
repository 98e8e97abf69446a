//! Message tracking at a million rows: seeds 1,000,000 tracked messages into a real SQLite file and prints query
//! latency (p50/p95) for single filters, a combination and a fuzzy subject, the count, a 50,000-row CSV export,
//! the database size and the seeding rate. Run: `bash tests/bench/tracking.sh [ROWS]`.

use std::time::{Duration, Instant};

use mailproof_core::actions::CATALOGUE;
use mailproof_core::store::jobs::SeedTracked;
use mailproof_core::tracking::{export_csv, query, TrackQuery, TrackStatus};
use mailproof_core::Store;

const DAY: i64 = 86_400_000;

fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // MAILPROOF_BENCH_DB keeps the seeded database at that path and reuses it on the next run (same ROWS).
    let kept = std::env::var_os("MAILPROOF_BENCH_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("mailproof.db"));
    let reuse = kept.is_some() && path.exists();
    let (store, _) = Store::open(&path, time::OffsetDateTime::now_utc()).expect("store");
    // A reused database keeps its own "now": the newest row's time.
    let now = if reuse {
        mailproof_core::tracking::query(&store, &TrackQuery { page_size: 1, ..TrackQuery::default() })
            .expect("newest")
            .rows
            .first()
            .map_or(0, |r| r.received_ms)
            + 60_000
    } else {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    };
    let span = 60 * DAY;
    use TrackStatus::{Delivered, DeliveredToJunk, Modified, NotReceived, Unsuccessful};
    let statuses = [Delivered, Delivered, Delivered, DeliveredToJunk, Unsuccessful, NotReceived, Modified];
    let risks = [Some("high"), Some("medium"), Some("low"), None];
    // A small pseudo-random generator: the same data every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };

    let started = Instant::now();
    let batch = 100_000;
    let mut seeded = 0;
    if reuse {
        seeded = rows;
    }
    while seeded < rows {
        let n = batch.min(rows - seeded);
        let mut it = (0..n).map(|i| {
            let k = seeded + i;
            let r = next();
            let action = &CATALOGUE[(r % CATALOGUE.len() as u64) as usize];
            let token: String = (0..12).map(|j| (b'a' + ((r >> (j * 5)) % 26) as u8) as char).collect();
            SeedTracked {
                message_id: format!("mp-{token}.{k:08x}@corp{}.example", r % 7),
                envelope_sender: format!("sender{}@corp{}.example", r % 100, r % 7),
                from_header: format!("Sender {} <sender{}@corp{}.example>", r % 100, r % 100, r % 7),
                recipients: format!("user{}@dest{}.example", (r >> 8) % 1000, (r >> 20) % 5),
                to_header: format!("user{}@dest{}.example", (r >> 8) % 1000, (r >> 20) % 5),
                subject: format!("[MP-{token}] {} ({})", action.name, action.id),
                source_ip: Some(format!("10.{}.{}.{}", (r >> 24) % 256, (r >> 32) % 256, (r >> 40) % 256)),
                risk: risks[((r >> 44) % 4) as usize],
                status: statuses[((r >> 48) % statuses.len() as u64) as usize],
                received_ms: now - span + (k as i64) * (span / rows as i64),
            }
        });
        store.seed_tracked(&mut it).expect("seed");
        seeded += n;
    }
    let seed_secs = started.elapsed().as_secs_f64();
    if reuse {
        println!("reused the database at {}", path.display());
    } else {
        println!("seeded {rows} tracked messages in {seed_secs:.1} s: {:.0} rows/s", rows as f64 / seed_secs);
    }

    let base = TrackQuery { page_size: 50, ..TrackQuery::default() };
    let cases: Vec<(&str, TrackQuery)> = vec![
        ("no filter (newest page + count)", base.clone()),
        ("period: last 24 h", TrackQuery { from_ms: Some(now - DAY), ..base.clone() }),
        ("recipient", TrackQuery { recipient: "user417@dest3.example".into(), ..base.clone() }),
        ("to", TrackQuery { to: "user42@".into(), ..base.clone() }),
        ("sender", TrackQuery { sender: "sender17@corp2".into(), ..base.clone() }),
        ("from", TrackQuery { from: "Sender 5 ".into(), ..base.clone() }),
        ("subject (a rare action)", TrackQuery { subject: "iso disc image".into(), ..base.clone() }),
        ("subject (a common word)", TrackQuery { subject: "eicar".into(), ..base.clone() }),
        ("message id", TrackQuery { message_id: "0007a120@".into(), ..base.clone() }),
        ("source ip prefix", TrackQuery { source_ip: "10.20.30.".into(), ..base.clone() }),
        ("risk", TrackQuery { risk: "high".into(), ..base.clone() }),
        ("latest status", TrackQuery { statuses: vec![TrackStatus::NotReceived], ..base.clone() }),
        (
            "combination: 7 d + subject + risk + status",
            TrackQuery {
                from_ms: Some(now - 7 * DAY),
                subject: "zip".into(),
                risk: "high".into(),
                statuses: vec![TrackStatus::Delivered, TrackStatus::DeliveredToJunk],
                ..base.clone()
            },
        ),
        ("page 100 of a subject search", TrackQuery { subject: "eicar".into(), page: 100, ..base.clone() }),
    ];
    let fuzzy: Vec<(&str, TrackQuery)> = vec![
        ("fuzzy subject: \"paymnet\" (a typo)", TrackQuery { subject: "paymnet".into(), ..base.clone() }),
        ("fuzzy subject: \"shotcut\" (a typo)", TrackQuery { subject: "shotcut".into(), ..base.clone() }),
        (
            "fuzzy subject + 7 d: \"screen savr\"",
            TrackQuery { subject: "screen savr".into(), from_ms: Some(now - 7 * DAY), ..base.clone() },
        ),
    ];
    let runs = 20;
    let measure = |q: &TrackQuery| -> (Duration, Duration, u64, bool) {
        let mut times = Vec::new();
        let mut total = 0;
        let mut was_fuzzy = false;
        for _ in 0..runs {
            let t = Instant::now();
            let page = query(&store, q).expect("query");
            times.push(t.elapsed());
            total = page.total;
            was_fuzzy = page.fuzzy;
        }
        times.sort();
        (times[runs / 2], times[runs * 95 / 100], total, was_fuzzy)
    };
    println!("\nquery latency over {runs} runs (page of 50 + total count), target p95 <= 50 ms filtered:");
    for (label, q) in &cases {
        let (p50, p95, total, _) = measure(q);
        println!("  {label:<44} p50 {:>7.1} ms  p95 {:>7.1} ms  ({total} matches)", ms(p50), ms(p95));
    }
    println!("fuzzy (no exact match, a typo allowed), target p95 <= 150 ms:");
    for (label, q) in &fuzzy {
        let (p50, p95, total, was) = measure(q);
        println!(
            "  {label:<44} p50 {:>7.1} ms  p95 {:>7.1} ms  ({total} matches{})",
            ms(p50),
            ms(p95),
            if was { ", fuzzy" } else { "" }
        );
    }
    let t = Instant::now();
    let mut count_times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let _ = query(&store, &TrackQuery { page_size: 1, statuses: vec![TrackStatus::Delivered], ..base.clone() });
        count_times.push(t.elapsed());
    }
    let _ = t;
    count_times.sort();
    println!("count of one status over all rows: p50 {:.1} ms", ms(count_times[runs / 2]));

    let csv = dir.path().join("export.csv");
    let t = Instant::now();
    let mut file = std::fs::File::create(&csv).expect("csv");
    let outcome =
        export_csv(&store, &TrackQuery { page_size: 1000, ..TrackQuery::default() }, &mut file).expect("export");
    let export_secs = t.elapsed().as_secs_f64();
    println!(
        "\nCSV export of {} rows (capped: {}): {:.2} s, {:.1} MB (target <= 1 s)",
        outcome.written,
        outcome.capped,
        export_secs,
        std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    // What the run leaves on disk beside the database while it is still open: the write-ahead log is bounded
    // (emptied by the writer once it passes 32 MiB), not grown to gigabytes by constant writes.
    let len = |suffix: &str| {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    };
    println!("on disk while open: database {:.0} MB, write-ahead log {:.1} MB", len(""), len("-wal"));
    drop(store);
    let size: u64 = std::fs::read_dir(path.parent().expect("a folder"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&*path.file_name().expect("a file").to_string_lossy()))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "database size: {:.0} MB for {rows} messages ({:.0} bytes each)",
        size as f64 / 1e6,
        size as f64 / rows as f64
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
