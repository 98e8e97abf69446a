//! Numbered schema migrations. `PRAGMA user_version` records the last one applied.
//!
//! Add a migration by appending a file `migrations/NNNN_name.sql` and a line below; never edit one that shipped.

use rusqlite::Connection;
use time::OffsetDateTime;

use super::{utc_text, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "settings, security zones and actors",
        sql: include_str!("migrations/0001_init.sql"),
    },
    Migration { version: 2, name: "email profiles", sql: include_str!("migrations/0002_email_profiles.sql") },
    Migration { version: 3, name: "manual verification UUID", sql: include_str!("migrations/0003_verification.sql") },
    Migration {
        version: 4,
        name: "email action jobs and message tracking",
        sql: include_str!("migrations/0004_jobs_and_tracking.sql"),
    },
    Migration {
        version: 5,
        name: "message tracking: distinct address values",
        sql: include_str!("migrations/0005_tracking_values.sql"),
    },
    Migration { version: 6, name: "agents of remote actors", sql: include_str!("migrations/0006_actor_agents.sql") },
    Migration { version: 7, name: "Microsoft 365 profiles", sql: include_str!("migrations/0007_graph_profiles.sql") },
    Migration { version: 8, name: "Gmail profiles", sql: include_str!("migrations/0008_gmail_profiles.sql") },
];

pub(super) fn apply(conn: &mut Connection, now: OffsetDateTime) -> Result<(), StoreError> {
    apply_list(conn, MIGRATIONS, now)
}

fn apply_list(conn: &mut Connection, migrations: &[Migration], now: OffsetDateTime) -> Result<(), StoreError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > known {
        return Err(StoreError::TooNew { found: current, known });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        let err = |source| StoreError::Migrate { version: m.version, name: m.name, source };
        let tx = conn.transaction().map_err(err)?;
        // Migrations may refer to :now for the creation time of built-in rows.
        let sql = m.sql.replace(":now", &format!("'{}'", utc_text(now)));
        tx.execute_batch(&sql).map_err(err)?;
        tx.pragma_update(None, "user_version", m.version).map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-11-22 12:00 UTC)
    }

    #[test]
    fn migrations_are_numbered_one_by_one_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {} is out of sequence", m.name);
        }
    }

    #[test]
    fn every_migration_applies_in_order_and_leaves_a_sound_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply(&mut conn, t0()).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let fk_violations: i64 =
            conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
        assert_eq!(fk_violations, 0);
        let mut tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // FTS5 keeps its index in shadow tables named after the virtual table.
        tables.retain(|t| !t.starts_with("sqlite_") && !t.starts_with("tracked_search_"));
        assert_eq!(
            tables,
            [
                "actors",
                "email_profiles",
                "job_actions",
                "job_groups",
                "jobs",
                "message_events",
                "profile_actors",
                "security_zones",
                "settings",
                "tracked_messages",
                "tracked_search",
                "tracked_values"
            ]
        );
    }

    #[test]
    fn a_database_at_each_older_version_upgrades_and_keeps_its_rows() {
        for stop in 1..MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            apply_list(&mut conn, &MIGRATIONS[..stop], t0()).unwrap();
            conn.execute("INSERT INTO settings (key, value, updated_at) VALUES ('probe', '1', 'now')", []).unwrap();
            apply(&mut conn, t0()).unwrap();
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            let kept: i64 =
                conn.query_row("SELECT count(*) FROM settings WHERE key = 'probe'", [], |r| r.get(0)).unwrap();
            assert_eq!((version, kept), (MIGRATIONS.len() as i64, 1), "upgrading from version {stop}");
        }
    }

    #[test]
    fn tracked_messages_logged_before_version_5_are_searchable_after_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply_list(&mut conn, &MIGRATIONS[..4], t0()).unwrap();
        conn.execute(
            "INSERT INTO tracked_messages (message_id, envelope_sender, from_header, recipients, to_header, subject,
                 status, received_at)
             VALUES ('old@example.test', 'a@example.test', 'A <a@example.test>', 'b@example.test', 'b@example.test',
                 'An old EICAR test', 'delivered', 1)",
            [],
        )
        .unwrap();
        apply(&mut conn, t0()).unwrap();
        let values: i64 = conn
            .query_row(
                "SELECT messages FROM tracked_values WHERE field = 'recipients' AND value = 'b@example.test'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM tracked_search WHERE tracked_search MATCH 'subject : \"eicar\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((values, found), (1, 1));
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, t0()).unwrap();
        apply(&mut conn, t0()).unwrap();
        let actors: i64 = conn.query_row("SELECT count(*) FROM actors", [], |r| r.get(0)).unwrap();
        assert_eq!(actors, 1);
    }

    #[test]
    fn a_failing_migration_leaves_no_trace() {
        // A migration that fails half-way must leave neither its tables nor a bumped version behind.
        let mut conn = Connection::open_in_memory().unwrap();
        let list = [
            Migration { version: 1, name: "good", sql: "CREATE TABLE kept (x);" },
            Migration { version: 2, name: "broken", sql: "CREATE TABLE half (x); SELECT * FROM nowhere;" },
        ];
        let err = apply_list(&mut conn, &list, t0()).unwrap_err();
        assert!(matches!(err, StoreError::Migrate { version: 2, .. }), "{err}");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        let half: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'half'", [], |r| r.get(0)).unwrap();
        let kept: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'kept'", [], |r| r.get(0)).unwrap();
        assert_eq!((version, half, kept), (1, 0, 1));
    }
}
