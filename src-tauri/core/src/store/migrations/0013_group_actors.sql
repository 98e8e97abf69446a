-- The actors a group ran between (jobs between actors): the one that sent from the source and the one that read
-- the destination. NULL is this workstation, as every group before this was. Names are kept as they were then, for
-- Results, should the actor be renamed or deleted since.
ALTER TABLE job_groups ADD COLUMN source_actor_id TEXT;
ALTER TABLE job_groups ADD COLUMN source_actor_name TEXT;
ALTER TABLE job_groups ADD COLUMN destination_actor_id TEXT;
ALTER TABLE job_groups ADD COLUMN destination_actor_name TEXT;
-- What a remote actor's agent said when it last answered: its version, and when (UTC, RFC 3339).
ALTER TABLE actors ADD COLUMN agent_version TEXT;
ALTER TABLE actors ADD COLUMN agent_seen_at TEXT;
-- The actor that sent a tracked message (sent) or saw it arrive (received), by name; NULL: this workstation.
ALTER TABLE tracked_messages ADD COLUMN actor TEXT;
