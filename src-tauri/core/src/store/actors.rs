//! Queries for the `actors` table.

use rusqlite::OptionalExtension;

use crate::directory::{Actor, ActorKind};

use super::{Store, StoreError};

impl Store {
    pub fn list_actors(&self) -> Result<Vec<Actor>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.name, a.kind, a.zone_id, z.name, a.built_in, a.agent_address, a.agent_version,
                    a.agent_seen_at
             FROM actors a JOIN security_zones z ON z.id = a.zone_id
             ORDER BY a.built_in DESC, a.name",
        )?;
        let actors = stmt
            .query_map([], |r| {
                let kind: String = r.get(2)?;
                Ok(Actor {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: if kind == "workstation" { ActorKind::Workstation } else { ActorKind::Remote },
                    zone_id: r.get(3)?,
                    zone_name: r.get(4)?,
                    built_in: r.get(5)?,
                    agent_address: r.get(6)?,
                    agent_version: r.get(7)?,
                    agent_seen_at: r.get(8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(actors)
    }

    /// The agent a remote actor was paired with.
    pub fn actor_agent(&self, actor_id: &str) -> Result<Option<crate::directory::AgentAddress>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> = self
            .conn()
            .query_row("SELECT agent_address, agent_fingerprint FROM actors WHERE id = ?1", [actor_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((Some(address), Some(fingerprint))) => Some(crate::directory::AgentAddress { address, fingerprint }),
            _ => None,
        })
    }

    /// Notes that a remote actor's agent answered at `at`, saying `version` (when the answer says it).
    pub fn note_agent_seen(&self, actor_id: &str, version: Option<&str>, at: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE actors SET agent_version = COALESCE(?2, agent_version), agent_seen_at = ?3
             WHERE id = ?1 AND kind = 'remote'",
            rusqlite::params![actor_id, version, at],
        )?;
        Ok(())
    }

    /// Records the agent a remote actor reads mail through.
    pub fn set_actor_agent(&self, actor_id: &str, agent: &crate::directory::AgentAddress) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE actors SET agent_address = ?2, agent_fingerprint = ?3 WHERE id = ?1 AND kind = 'remote'",
            rusqlite::params![actor_id, agent.address, agent.fingerprint],
        )?;
        Ok(())
    }
}
