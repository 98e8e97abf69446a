//! Message tracking: searching the log of every message Mailproof sent or saw, paging it, and exporting it.
//!
//! Text filters match case-insensitively as substrings of each word typed (no wildcards), so they never scan the
//! table: the free-text fields (subject, Message-ID) through a trigram full-text index, the address fields
//! through their distinct values (few: mostly profile addresses), each with an index with time. When nothing
//! matches exactly, the search is repeated allowing one typo per word (two for words of eight letters or more)
//! and says so.

mod export;
mod filter;
mod fuzzy;
pub(crate) mod model;
mod plan;

pub use export::{export_csv, export_csv_to, EXPORT_CAP};
pub use fuzzy::close_substring;
pub use model::*;
pub use plan::{history, query};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::SeedTracked;
    use crate::store::Store;

    const T0: i64 = 1_790_000_000_000; // 2026-09-21, UTC

    fn seed(store: &Store, n: usize) {
        let subjects =
            ["EICAR inside a zip", "GTUBE spam test string", "Payment card numbers", "Mailproof verification"];
        let statuses = [
            TrackStatus::Delivered,
            TrackStatus::DeliveredToJunk,
            TrackStatus::Unsuccessful,
            TrackStatus::NotReceived,
            TrackStatus::Modified,
        ];
        let risks = [Some("high"), Some("medium"), Some("low"), None];
        let mut rows = (0..n).map(|i| SeedTracked {
            message_id: format!("mp-{i:012}.x@example.test"),
            envelope_sender: format!("sender{}@example.test", i % 3),
            from_header: format!("From Person {} <from{}@example.test>", i % 5, i % 5),
            recipients: format!("rcpt{}@example.test", i % 7),
            to_header: format!("to{}@example.test", i % 7),
            subject: format!("[MP-{i:012}] {} ({i})", subjects[i % subjects.len()]),
            source_ip: Some(format!("192.0.2.{}", i % 250)),
            risk: risks[i % risks.len()],
            status: statuses[i % statuses.len()],
            received_ms: T0 + (i as i64) * 60_000,
        });
        store.seed_tracked(&mut rows).unwrap();
    }

    fn q() -> TrackQuery {
        TrackQuery { page_size: 50, ..TrackQuery::default() }
    }

    fn total(store: &Store, q: &TrackQuery) -> u64 {
        query(store, q).unwrap().total
    }

    #[test]
    fn every_filter_narrows_and_they_combine() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 420);
        assert_eq!(total(&store, &q()), 420);
        assert_eq!(total(&store, &TrackQuery { recipient: "RCPT3@example".into(), ..q() }), 60);
        assert_eq!(total(&store, &TrackQuery { to: "to3@".into(), ..q() }), 60);
        assert_eq!(total(&store, &TrackQuery { sender: "sender1".into(), ..q() }), 140);
        assert_eq!(total(&store, &TrackQuery { from: "person 2".into(), ..q() }), 84);
        assert_eq!(total(&store, &TrackQuery { subject: "eicar".into(), ..q() }), 105);
        assert_eq!(total(&store, &TrackQuery { subject: "zip EICAR".into(), ..q() }), 105, "words in any order");
        assert_eq!(total(&store, &TrackQuery { message_id: "mp-000000000007.".into(), ..q() }), 1);
        let whole = TrackQuery { message_id: "<mp-000000000007.x@example.test>".into(), ..q() };
        let page = query(&store, &whole).unwrap();
        assert_eq!((page.total, page.fuzzy), (1, false), "a whole Message-ID, brackets and all");
        let bare = TrackQuery { message_id: "mp-000000000007.x@example.test".into(), ..q() };
        assert!(!query(&store, &bare).unwrap().fuzzy);
        assert_eq!(total(&store, &TrackQuery { source_ip: "192.0.2.17".into(), ..q() }), 12, "17 and 170..179 twice");
        assert_eq!(total(&store, &TrackQuery { source_ip: "192.0.2.170".into(), ..q() }), 1);
        assert_eq!(total(&store, &TrackQuery { risk: "high".into(), ..q() }), 105);
        assert_eq!(
            total(&store, &TrackQuery { statuses: vec![TrackStatus::Delivered, TrackStatus::Modified], ..q() }),
            168
        );
        assert_eq!(total(&store, &TrackQuery { from_ms: Some(T0), to_ms: Some(T0 + 60 * 60_000), ..q() }), 60);
        // Combined: EICAR (i % 4 == 0), high risk (i % 4 == 0), delivered (i % 5 == 0), first 200 minutes.
        let combo = TrackQuery {
            subject: "eicar".into(),
            risk: "high".into(),
            statuses: vec![TrackStatus::Delivered],
            from_ms: Some(T0),
            to_ms: Some(T0 + 200 * 60_000),
            ..q()
        };
        assert_eq!(total(&store, &combo), 10);
        let page = query(&store, &combo).unwrap();
        assert!(page.rows.windows(2).all(|w| w[0].received_ms >= w[1].received_ms), "newest first");
        assert!(!page.fuzzy);
    }

    #[test]
    fn a_typo_finds_close_matches_and_says_so() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 40);
        let page = query(&store, &TrackQuery { subject: "eicra".into(), ..q() }).unwrap();
        assert!(page.fuzzy);
        assert_eq!(page.total, 10);
        assert!(page.rows.iter().all(|r| r.subject.contains("EICAR")));
        assert!(page.notice.unwrap().contains("close matches"));
        let page = query(&store, &TrackQuery { subject: "payment crad".into(), ..q() }).unwrap();
        assert_eq!((page.fuzzy, page.total), (true, 10));
        let none = query(&store, &TrackQuery { subject: "quarantine".into(), ..q() }).unwrap();
        assert_eq!(none.total, 0);
    }

    #[test]
    fn address_filters_read_their_own_index_and_combine_with_words() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 420);
        // rcpt3 is i % 7 == 3; EICAR is i % 4 == 0: i % 28 == 24.
        let both = TrackQuery { recipient: "rcpt3".into(), subject: "eicar zip".into(), ..q() };
        let page = query(&store, &both).unwrap();
        assert_eq!((page.total, page.fuzzy), (15, false));
        assert!(page.rows.iter().all(|r| r.recipients == "rcpt3@example.test" && r.subject.contains("EICAR")));
        assert!(page.rows.windows(2).all(|w| w[0].received_ms >= w[1].received_ms), "newest first");
        let period = TrackQuery { from_ms: Some(T0), to_ms: Some(T0 + 28 * 60_000), ..both.clone() };
        assert_eq!(total(&store, &period), 1);
        // Two address fields and a short word: sender1 is i % 3 == 1, "Person 2" is i % 5 == 2.
        let two = TrackQuery { sender: "sender1@".into(), from: "person 2".into(), ..q() };
        assert_eq!(total(&store, &two), 28);
        // An address with a typo finds its close values.
        let typo = query(&store, &TrackQuery { recipient: "@exmaple.test".into(), ..q() }).unwrap();
        assert_eq!((typo.total, typo.fuzzy), (420, true));
        let none = query(&store, &TrackQuery { recipient: "@elsewhere.test".into(), ..q() }).unwrap();
        assert_eq!((none.total, none.fuzzy), (0, true));
        // A typo in the subject while the address matches exactly.
        let mixed = query(&store, &TrackQuery { recipient: "rcpt3@".into(), subject: "eicra".into(), ..q() }).unwrap();
        assert_eq!((mixed.total, mixed.fuzzy), (15, true));
    }

    #[test]
    fn distinct_values_follow_inserts_updates_and_deletes() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 14);
        let count = |field: &str, value: &str| -> i64 {
            store
                .conn()
                .query_row(
                    "SELECT coalesce(sum(messages), 0) FROM tracked_values WHERE field = ?1 AND value = ?2",
                    [field, value],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(count("recipients", "rcpt0@example.test"), 2);
        store
            .conn()
            .execute(
                "UPDATE tracked_messages SET recipients = 'new@example.test' WHERE message_id LIKE 'mp-000000000000%'",
                [],
            )
            .unwrap();
        assert_eq!((count("recipients", "rcpt0@example.test"), count("recipients", "new@example.test")), (1, 1));
        assert_eq!(total(&store, &TrackQuery { recipient: "new@".into(), ..q() }), 1);
        store.conn().execute("DELETE FROM tracked_messages WHERE recipients = 'new@example.test'", []).unwrap();
        assert_eq!(count("recipients", "new@example.test"), 0);
        assert_eq!(total(&store, &TrackQuery { recipient: "new@".into(), ..q() }), 0);
        assert_eq!(count("envelope_sender", "sender0@example.test"), 4, "one of five left");
    }

    #[test]
    fn words_match_alike_whether_the_index_or_the_rows_drive() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 40);
        let mut rows = (0..2).map(|i| SeedTracked {
            message_id: format!("umlaut-{i}@example.test"),
            envelope_sender: "a@example.test".into(),
            from_header: "a@example.test".into(),
            recipients: "b@example.test".into(),
            to_header: "b@example.test".into(),
            subject: "ÄRGER mit der Zip-Datei".into(),
            source_ip: None,
            risk: Some("high"),
            status: TrackStatus::Delivered,
            received_ms: T0 + 100 * 60_000 + i,
        });
        store.seed_tracked(&mut rows).unwrap();
        let period = (Some(T0 + 99 * 60_000), Some(T0 + 101 * 60_000));
        for (from_ms, to_ms) in [(None, None), period] {
            // A period leaves few rows (words checked on them); without it the index drives.
            let q = |subject: &str| TrackQuery { subject: subject.into(), from_ms, to_ms, ..q() };
            assert_eq!(total(&store, &q("ärger zip-datei")), 2, "{from_ms:?}");
            assert_eq!(total(&store, &q("ZIP-DATEI")), 2, "{from_ms:?}");
        }
    }

    #[test]
    fn pages_cover_the_result_exactly() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 105);
        let page = |n, size| query(&store, &TrackQuery { page: n, page_size: size, ..q() }).unwrap();
        assert_eq!(page(0, 50).rows.len(), 50);
        assert_eq!(page(2, 50).rows.len(), 5);
        assert_eq!(page(3, 50).rows.len(), 0);
        assert_eq!(page(3, 50).total, 105);
        assert_eq!(page(0, 0).rows.len(), 1, "a page holds at least one row");
        assert_eq!(page(0, 100_000).rows.len(), 105, "the page size is capped at MAX_PAGE, above 105");
        let mut ids: Vec<i64> = (0..3).flat_map(|n| page(n, 50).rows.into_iter().map(|r| r.id)).collect();
        ids.dedup();
        assert_eq!(ids.len(), 105, "no row twice, none left out");
    }

    #[test]
    fn periods_across_a_dst_change_are_plain_utc_ranges() {
        // Europe's 2026 spring change: 29 March 01:00 UTC. Local 00:00 → 04:00 (CET → CEST) is 3 h, not 4.
        let store = Store::open_in_memory().unwrap();
        let change = 1_774_746_000_000; // 2026-03-29T01:00:00Z
        let mut rows = (0..8).map(|i| SeedTracked {
            message_id: format!("dst-{i}@example.test"),
            envelope_sender: "a@example.test".into(),
            from_header: "a@example.test".into(),
            recipients: "b@example.test".into(),
            to_header: "b@example.test".into(),
            subject: format!("hour {i}"),
            source_ip: None,
            risk: None,
            status: TrackStatus::Delivered,
            received_ms: change - 4 * 3_600_000 + i * 3_600_000,
        });
        store.seed_tracked(&mut rows).unwrap();
        // Local 2026-03-29 00:00 CET = 03-28T23:00Z; local 04:00 CEST = 03-29T02:00Z.
        let from = change - 2 * 3_600_000;
        let to = change + 3_600_000;
        assert_eq!(total(&store, &TrackQuery { from_ms: Some(from), to_ms: Some(to), ..q() }), 3);
    }

    #[test]
    fn bad_input_is_explained_never_scanned() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, 10);
        let err = |q: TrackQuery| query(&store, &q).unwrap_err().to_string();
        assert!(err(TrackQuery { subject: "x".repeat(10_000), ..q() }).contains("at most 256"));
        assert!(err(TrackQuery { subject: "ab".into(), ..q() }).contains("at least 3"));
        assert!(err(TrackQuery { source_ip: "alice@example.test".into(), ..q() }).contains("not an IP address"));
        assert!(err(TrackQuery { risk: "severe".into(), ..q() }).contains("high, medium or low"));
        assert!(err(TrackQuery { from_ms: Some(10), to_ms: Some(5), ..q() }).contains("start is after the end"));
        // Wildcards and FTS syntax are just text.
        assert_eq!(total(&store, &TrackQuery { subject: "\"eicar* OR NEAR(".into(), ..q() }), 0);
        assert!(query(&store, &TrackQuery { subject: "eicar*".into(), ..q() }).unwrap().total > 0);
        // An address typed into the Subject field just finds nothing.
        assert_eq!(total(&store, &TrackQuery { subject: "rcpt1@example.test".into(), ..q() }), 0);
    }

    #[test]
    fn exports_are_capped_at_fifty_thousand_rows_and_say_so() {
        let store = Store::open_in_memory().unwrap();
        seed(&store, EXPORT_CAP as usize + 7);
        let mut out = Vec::new();
        let outcome = export_csv(&store, &q(), &mut out).unwrap();
        assert_eq!(outcome, ExportOutcome { written: EXPORT_CAP, total: EXPORT_CAP + 7, capped: true });
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count() as u64, EXPORT_CAP + 1);
        assert!(text.starts_with("received_utc,message_id,"));
        let mut small = Vec::new();
        let outcome =
            export_csv(&store, &TrackQuery { message_id: "mp-000000000003.".into(), ..q() }, &mut small).unwrap();
        assert_eq!((outcome.written, outcome.capped), (1, false));
        let line = String::from_utf8(small).unwrap().lines().nth(1).unwrap().to_owned();
        assert!(line.contains("2026-09-21T") && line.contains("mp-000000000003.x@example.test"), "{line}");
    }

    #[test]
    fn a_message_mailproof_sent_is_sent_and_one_it_only_saw_arrive_is_received() {
        let store = Store::open_in_memory().unwrap();
        let m = |id: &'static str, subject: &'static str| crate::store::jobs::NewTracked {
            message_id: id,
            envelope_sender: "alice@example.test",
            from_header: "alice@example.test",
            recipients: "bob@example.test",
            to_header: "bob@example.test",
            subject,
            risk: None,
            at_millis: T0,
            job_action_id: None,
            verification_of: None,
            actor: None,
        };
        store.track_message(&m("<sent@example.test>", "a test message")).unwrap();
        store
            .track_seen(&m("<seen@example.test>", "Undelivered Mail Returned to Sender"), "Bounce report", None)
            .unwrap();
        let page = query(&store, &q()).unwrap();
        let direction = |id: &str| page.rows.iter().find(|r| r.message_id == id).unwrap().direction;
        assert_eq!(direction("<sent@example.test>"), TrackDirection::Sent);
        assert_eq!(direction("<seen@example.test>"), TrackDirection::Received);
        let mut out = Vec::new();
        export_csv(&store, &q(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().next().unwrap().ends_with(",job_id,direction,actor,read_by"), "{text}");
        assert!(
            text.lines().any(|l| l.contains("seen@example.test") && l.ends_with(",Received,This workstation,")),
            "{text}"
        );
    }
}
