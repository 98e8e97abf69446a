//! Actors (the machines that read a mailbox) and the security zones that group them.

use serde::Serialize;

/// The machine an actor is. This workstation is built in; remote actors come with the profiles feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    Workstation,
    Remote,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub kind: ActorKind,
    pub zone_id: String,
    pub zone_name: String,
    pub built_in: bool,
    /// Where a remote actor's Mailproof agent listens (host:port), once paired.
    pub agent_address: Option<String>,
    /// The agent's version when it last answered (empty from agents that do not say).
    pub agent_version: Option<String>,
    /// When the agent last answered (UTC, RFC 3339): a pairing, a check, a verification or a job.
    pub agent_seen_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SecurityZone {
    pub id: String,
    pub name: String,
    pub built_in: bool,
    pub actor_count: u32,
}

/// A paired agent, as the workstation knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAddress {
    /// host:port
    pub address: String,
    /// The agent certificate's SHA-256, 64 hex digits.
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn a_new_store_has_this_workstation_in_the_default_zone() {
        let store = Store::open_in_memory().unwrap();
        let actors = store.list_actors().unwrap();
        assert_eq!(actors.len(), 1);
        assert_eq!((actors[0].name.as_str(), actors[0].zone_name.as_str()), ("This workstation", "Default"));
        assert!(actors[0].built_in);
        let zones = store.list_zones().unwrap();
        assert_eq!(zones.len(), 1);
        assert_eq!((zones[0].name.as_str(), zones[0].actor_count), ("Default", 1));
    }
}
