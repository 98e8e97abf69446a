//! Managing security zones and actors: create and delete, with the rules that keep profiles sound.

use rusqlite::{params, ErrorCode, OptionalExtension};
use time::OffsetDateTime;

use super::{utc_text, Store, StoreError};
use crate::directory::{Actor, ActorKind, SecurityZone};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} no longer exists. Reload the list.")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_name(what: &str, name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DirectoryError::Invalid(format!("Enter a name for the {what}.")));
    }
    if name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(format!(
            "A {what} name has at most 80 characters and no control characters."
        )));
    }
    Ok(name.to_owned())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::ConstraintViolation)) && e.to_string().contains("UNIQUE")
}

impl Store {
    pub fn create_zone(&self, name: &str, now: OffsetDateTime) -> Result<SecurityZone, DirectoryError> {
        let name = check_name("zone", name)?;
        let id = uuid::Uuid::new_v4().to_string();
        match self.conn().execute(
            "INSERT INTO security_zones (id, name, built_in, created_at) VALUES (?1, ?2, 0, ?3)",
            params![id, name, utc_text(now)],
        ) {
            Ok(_) => Ok(SecurityZone { id, name, built_in: false, actor_count: 0 }),
            Err(e) if is_unique_violation(&e) => {
                Err(DirectoryError::Invalid(format!("There is already a zone named {name}.")))
            }
            Err(e) => Err(StoreError::from(e).into()),
        }
    }

    /// Deletes a zone that has no actors. Profiles limited to it fall back to "All zones".
    pub fn delete_zone(&self, id: &str) -> Result<(), DirectoryError> {
        let conn = self.conn();
        let zone: Option<(String, bool)> = conn
            .query_row("SELECT name, built_in FROM security_zones WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(StoreError::from)?;
        let Some((name, built_in)) = zone else { return Err(DirectoryError::NotFound("The zone".into())) };
        if built_in {
            return Err(DirectoryError::Invalid(format!("{name} is built in and cannot be deleted.")));
        }
        let actors: i64 = conn
            .query_row("SELECT count(*) FROM actors WHERE zone_id = ?1", [id], |r| r.get(0))
            .map_err(StoreError::from)?;
        if actors > 0 {
            return Err(DirectoryError::Invalid(format!(
                "{name} still has {actors} actor(s). Delete them or move them to another zone first."
            )));
        }
        conn.execute("DELETE FROM security_zones WHERE id = ?1", [id]).map_err(StoreError::from)?;
        Ok(())
    }

    /// Adds a remote actor (a machine other than this workstation that reads mailboxes) to a zone.
    pub fn create_actor(&self, name: &str, zone_id: &str, now: OffsetDateTime) -> Result<Actor, DirectoryError> {
        let name = check_name("actor", name)?;
        let conn = self.conn();
        let zone_name: Option<String> = conn
            .query_row("SELECT name FROM security_zones WHERE id = ?1", [zone_id], |r| r.get(0))
            .optional()
            .map_err(StoreError::from)?;
        let Some(zone_name) = zone_name else { return Err(DirectoryError::NotFound("The chosen zone".into())) };
        let id = uuid::Uuid::new_v4().to_string();
        match conn.execute(
            "INSERT INTO actors (id, name, kind, zone_id, built_in, created_at) VALUES (?1, ?2, 'remote', ?3, 0, ?4)",
            params![id, name, zone_id, utc_text(now)],
        ) {
            Ok(_) => Ok(Actor {
                id,
                name,
                kind: ActorKind::Remote,
                zone_id: zone_id.to_owned(),
                zone_name,
                built_in: false,
                agent_address: None,
                agent_version: None,
                agent_seen_at: None,
            }),
            Err(e) if is_unique_violation(&e) => {
                Err(DirectoryError::Invalid(format!("There is already an actor named {name}.")))
            }
            Err(e) => Err(StoreError::from(e).into()),
        }
    }

    /// Deletes an actor that no profile uses.
    pub fn delete_actor(&self, id: &str) -> Result<(), DirectoryError> {
        let conn = self.conn();
        let actor: Option<(String, bool)> = conn
            .query_row("SELECT name, built_in FROM actors WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(StoreError::from)?;
        let Some((name, built_in)) = actor else { return Err(DirectoryError::NotFound("The actor".into())) };
        if built_in {
            return Err(DirectoryError::Invalid(format!("{name} is built in and cannot be deleted.")));
        }
        let mut stmt = conn
            .prepare(
                "SELECT p.email FROM profile_actors pa JOIN email_profiles p ON p.id = pa.profile_id
                 WHERE pa.actor_id = ?1 ORDER BY p.email",
            )
            .map_err(StoreError::from)?;
        let used_by: Vec<String> =
            stmt.query_map([id], |r| r.get(0)).and_then(Iterator::collect).map_err(StoreError::from)?;
        drop(stmt);
        if !used_by.is_empty() {
            return Err(DirectoryError::Invalid(format!(
                "{name} reads the mailbox of {}. Remove it from those profiles first.",
                used_by.join(", ")
            )));
        }
        conn.execute("DELETE FROM actors WHERE id = ?1", [id]).map_err(StoreError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-11-24 08:00 UTC)
    }

    #[test]
    fn zones_and_actors_are_created_listed_and_deleted_with_their_rules() {
        let store = Store::open_in_memory().unwrap();
        let dmz = store.create_zone("  DMZ ", t0()).unwrap();
        assert_eq!(dmz.name, "DMZ");
        assert!(
            matches!(store.create_zone("dmz", t0()), Err(DirectoryError::Invalid(m)) if m.contains("already a zone"))
        );
        assert!(matches!(store.create_zone(" ", t0()), Err(DirectoryError::Invalid(_))));

        let reader = store.create_actor("Mail reader 1", &dmz.id, t0()).unwrap();
        assert_eq!((reader.kind, reader.zone_name.as_str()), (ActorKind::Remote, "DMZ"));
        assert!(matches!(store.create_actor("x", "no-such-zone", t0()), Err(DirectoryError::NotFound(_))));
        assert_eq!(store.list_actors().unwrap().len(), 2);

        let err = store.delete_zone(&dmz.id).unwrap_err().to_string();
        assert!(err.contains("still has 1 actor"), "{err}");
        assert!(store.delete_zone("default").unwrap_err().to_string().contains("built in"));
        assert!(store.delete_actor("this-workstation").unwrap_err().to_string().contains("built in"));

        // An actor a profile uses stays until the profile lets go of it.
        let mut draft: crate::profiles::ProfileDraft = serde_json::from_value(serde_json::json!({
            "email": "bob@example.test", "serverType": "imap", "actorIds": [reader.id], "username": "bob@example.test",
            "incoming": { "host": "h.test", "port": 993, "security": "tls", "auth": "plain", "pinnedSha256": null },
            "outgoing": { "host": "h.test", "port": 587, "security": "startTls", "requiresAuth": true, "auth": "plain", "pinnedSha256": null }
        }))
        .unwrap();
        store.write_profile("p1", &draft, "profile/p1/password", "2026-11-24T08:00:00Z", false).unwrap();
        let err = store.delete_actor(&reader.id).unwrap_err().to_string();
        assert!(err.contains("reads the mailbox of bob@example.test"), "{err}");
        draft.actor_ids = vec!["this-workstation".into()];
        store.write_profile("p1", &draft, "profile/p1/password", "2026-11-24T08:00:00Z", false).unwrap();

        store.delete_actor(&reader.id).unwrap();
        store.delete_zone(&dmz.id).unwrap();
        assert_eq!(store.list_zones().unwrap().len(), 1);
    }
}
