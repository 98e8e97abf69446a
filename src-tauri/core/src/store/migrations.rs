//! Numbered schema migrations. `PRAGMA user_version` records the last one applied.
//!
//! Add a migration by appending a file `migrations/NNNN_name.sql` and a line below; never edit one that shipped.
//!
//! SQLite cannot change a table's constraints in place (widening a CHECK, say): such a migration builds the new
//! table, copies the rows, drops the old one and renames the new, and is marked `rebuilds`. Foreign keys are off
//! around it — dropping a parent table with them on would cascade-delete its children's rows — and checked before
//! they are turned on again: a rebuild that leaves a dangling reference is refused and rolled back.

use rusqlite::Connection;
use time::OffsetDateTime;

use super::{utc_text, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
    /// The migration rebuilds a table (see above): it runs with foreign keys off.
    pub rebuilds: bool,
}

impl Migration {
    const fn new(version: i64, name: &'static str, sql: &'static str) -> Migration {
        Migration { version, name, sql, rebuilds: false }
    }
}

pub const MIGRATIONS: &[Migration] = &[
    Migration::new(1, "settings, security zones and actors", include_str!("migrations/0001_init.sql")),
    Migration::new(2, "email profiles", include_str!("migrations/0002_email_profiles.sql")),
    Migration::new(3, "manual verification UUID", include_str!("migrations/0003_verification.sql")),
    Migration::new(4, "email action jobs and message tracking", include_str!("migrations/0004_jobs_and_tracking.sql")),
    Migration::new(5, "message tracking: distinct address values", include_str!("migrations/0005_tracking_values.sql")),
    Migration::new(6, "agents of remote actors", include_str!("migrations/0006_actor_agents.sql")),
    Migration::new(7, "Microsoft 365 profiles", include_str!("migrations/0007_graph_profiles.sql")),
    Migration::new(8, "Gmail profiles", include_str!("migrations/0008_gmail_profiles.sql")),
    Migration {
        rebuilds: true,
        ..Migration::new(9, "OAuth 2.0 sign-in", include_str!("migrations/0009_oauth_sign_in.sql"))
    },
    Migration::new(10, "one owner per running job", include_str!("migrations/0010_job_owner.sql")),
    Migration {
        rebuilds: true,
        ..Migration::new(11, "Alerted, and alerts mailboxes", include_str!("migrations/0011_alerted.sql"))
    },
    Migration::new(12, "tracked messages: sent or received", include_str!("migrations/0012_tracked_direction.sql")),
    Migration::new(13, "job groups: the actors they ran between", include_str!("migrations/0013_group_actors.sql")),
];

/// Applies the migrations not applied yet; says whether there were any.
pub(super) fn apply(conn: &mut Connection, now: OffsetDateTime) -> Result<bool, StoreError> {
    apply_list(conn, MIGRATIONS, now)
}

fn apply_list(conn: &mut Connection, migrations: &[Migration], now: OffsetDateTime) -> Result<bool, StoreError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > known {
        return Err(StoreError::TooNew { found: current, known });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        let err = |source| StoreError::Migrate { version: m.version, name: m.name, source };
        let keys_on: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).map_err(err)?;
        if m.rebuilds {
            // Outside the transaction: SQLite ignores this pragma inside one.
            conn.pragma_update(None, "foreign_keys", "OFF").map_err(err)?;
        }
        let applied = (|| {
            let tx = conn.transaction()?;
            // Migrations may refer to :now for the creation time of built-in rows.
            let sql = m.sql.replace(":now", &format!("'{}'", utc_text(now)));
            tx.execute_batch(&sql)?;
            if m.rebuilds {
                let dangling: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
                if dangling > 0 {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                        Some(format!("the rebuild leaves {dangling} dangling references")),
                    ));
                }
            }
            tx.pragma_update(None, "user_version", m.version)?;
            tx.commit()
        })();
        if m.rebuilds && keys_on {
            conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        }
        applied.map_err(err)?;
    }
    Ok(current < known)
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
    fn job_actions_rebuilt_for_alerted_keep_their_rows_and_the_messages_tracked_for_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_list(&mut conn, &MIGRATIONS[..10], t0()).unwrap();
        conn.execute_batch(
            "INSERT INTO jobs (id, name, status, selection, params, created_at) VALUES ('j', 'n', 'completed', '{}', '{}', 'now');
             INSERT INTO job_groups (id, job_id, position, source_email, destination_email) VALUES ('g', 'j', 0, 'a@x', 'b@x');
             INSERT INTO job_actions (id, group_id, position, action_id, action_name, category, risk, direction, state, verdict)
                 VALUES ('a', 'g', 0, 'A100-001', 'EICAR', 'Malware', 'high', 'inbound', 'decided', 'missed');
             INSERT INTO tracked_messages (message_id, envelope_sender, from_header, recipients, to_header, subject, status,
                 received_at, job_action_id) VALUES ('<m>', 'a@x', 'a@x', 'b@x', 'b@x', 's', 'delivered', 1, 'a');",
        )
        .unwrap();
        assert!(conn.execute("UPDATE job_actions SET verdict = 'alerted'", []).is_err(), "not allowed before");
        apply(&mut conn, t0()).unwrap();
        let kept: (String, Option<String>) = conn
            .query_row("SELECT a.verdict, t.job_action_id FROM job_actions a, tracked_messages t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kept, ("missed".to_owned(), Some("a".to_owned())), "the action and its tracked message's link");
        conn.execute("UPDATE job_actions SET verdict = 'alerted'", []).unwrap();
        assert!(conn.execute("UPDATE job_actions SET verdict = 'shrugged'", []).is_err());
        conn.execute("DELETE FROM jobs", []).unwrap();
        let left: i64 = conn.query_row("SELECT count(*) FROM job_actions", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0, "deleting a job still deletes its actions");
        let alerts: bool = conn
            .query_row(
                "SELECT count(*) = 0 FROM pragma_table_info('email_profiles') WHERE name = 'alerts_mailbox'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!alerts, "profiles have the alerts_mailbox column");
    }

    /// A parent table rebuilt to widen its CHECK, as a later migration of `email_profiles` will be.
    const REBUILD: &str =
        "CREATE TABLE parents_new (id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('a', 'b', 'c')));
        INSERT INTO parents_new SELECT id, kind FROM parents;
        DROP TABLE parents;
        ALTER TABLE parents_new RENAME TO parents;";

    fn parents_and_children() -> Vec<Migration> {
        vec![
            Migration::new(
                1,
                "parents and children",
                "CREATE TABLE parents (id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('a', 'b')));
                 CREATE TABLE children (id TEXT PRIMARY KEY,
                     parent_id TEXT NOT NULL REFERENCES parents (id) ON DELETE CASCADE);
                 INSERT INTO parents VALUES ('p1', 'a'); INSERT INTO children VALUES ('c1', 'p1');",
            ),
            Migration { rebuilds: true, ..Migration::new(2, "kind c", REBUILD) },
        ]
    }

    #[test]
    fn a_rebuilt_parent_table_keeps_its_children_and_foreign_keys_stay_on() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_list(&mut conn, &parents_and_children(), t0()).unwrap();
        let children: i64 = conn.query_row("SELECT count(*) FROM children", [], |r| r.get(0)).unwrap();
        assert_eq!(children, 1, "the cascade did not run");
        conn.execute("INSERT INTO parents VALUES ('p2', 'c')", []).unwrap();
        let on: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert!(on);
        assert!(conn.execute("INSERT INTO children VALUES ('c2', 'nobody')", []).is_err(), "references are enforced");

        // Without the flag the same rebuild loses the children: the reason the flag exists.
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        let mut unflagged = parents_and_children();
        unflagged[1].rebuilds = false;
        apply_list(&mut conn, &unflagged, t0()).unwrap();
        let children: i64 = conn.query_row("SELECT count(*) FROM children", [], |r| r.get(0)).unwrap();
        assert_eq!(children, 0);
    }

    #[test]
    fn a_rebuild_that_leaves_a_dangling_reference_is_rolled_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        let mut list = parents_and_children();
        list[1].sql = "CREATE TABLE parents_new (id TEXT PRIMARY KEY, kind TEXT NOT NULL);
            DROP TABLE parents;
            ALTER TABLE parents_new RENAME TO parents;";
        let e = apply_list(&mut conn, &list, t0()).unwrap_err();
        assert!(e.to_string().contains("dangling"), "{e}");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        let parents: i64 = conn.query_row("SELECT count(*) FROM parents", [], |r| r.get(0)).unwrap();
        assert_eq!((version, parents), (1, 1), "nothing of the failed rebuild stays");
    }

    #[test]
    fn profiles_rebuilt_for_oauth_keep_their_actors_verification_and_jobs() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_list(&mut conn, &MIGRATIONS[..8], t0()).unwrap();
        conn.execute_batch(
            "INSERT INTO email_profiles (id, email, server_type, username, password_key, incoming_host, incoming_port,
                 incoming_security, incoming_auth, outgoing_host, outgoing_port, outgoing_security,
                 outgoing_requires_auth, outgoing_auth, created_at, updated_at, verification_uuid, gmail_client_id)
             VALUES ('p1', 'bob@example.test', 'imap', 'bob', 'profile/p1/password', '127.0.0.1', 993, 'tls', 'ntlm',
                 '127.0.0.1', 587, 'startTls', 1, 'plain', 'then', 'then', 'uuid-1', NULL);
             INSERT INTO profile_actors (profile_id, actor_id, status) VALUES ('p1', 'this-workstation', 'verified');",
        )
        .unwrap();
        apply(&mut conn, t0()).unwrap();
        let row: (String, String, String) = conn
            .query_row(
                "SELECT p.incoming_auth, p.verification_uuid, a.status FROM email_profiles p
                 JOIN profile_actors a ON a.profile_id = p.id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("ntlm".into(), "uuid-1".into(), "verified".into()));
        conn.execute("UPDATE email_profiles SET incoming_auth = 'oauth2', oauth_issuer = 'google'", []).unwrap();
        assert!(conn.execute("UPDATE email_profiles SET oauth_issuer = 'yahoo'", []).is_err());
        conn.execute("DELETE FROM email_profiles", []).unwrap();
        let actors: i64 = conn.query_row("SELECT count(*) FROM profile_actors", [], |r| r.get(0)).unwrap();
        assert_eq!(actors, 0, "the cascade from profiles to their actors still holds");
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
            Migration::new(1, "good", "CREATE TABLE kept (x);"),
            Migration::new(2, "broken", "CREATE TABLE half (x); SELECT * FROM nowhere;"),
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
