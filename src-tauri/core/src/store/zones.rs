//! Queries for the `security_zones` table.

use crate::directory::SecurityZone;

use super::{Store, StoreError};

impl Store {
    pub fn list_zones(&self) -> Result<Vec<SecurityZone>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT z.id, z.name, z.built_in, (SELECT count(*) FROM actors a WHERE a.zone_id = z.id)
             FROM security_zones z ORDER BY z.built_in DESC, z.name",
        )?;
        let zones = stmt
            .query_map([], |r| {
                Ok(SecurityZone { id: r.get(0)?, name: r.get(1)?, built_in: r.get(2)?, actor_count: r.get(3)? })
            })?
            .collect::<Result<_, _>>()?;
        Ok(zones)
    }
}
