//! Queries for the `actors` table.

use crate::directory::{Actor, ActorKind};

use super::{Store, StoreError};

impl Store {
    pub fn list_actors(&self) -> Result<Vec<Actor>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.name, a.kind, a.zone_id, z.name, a.built_in
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
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(actors)
    }
}
