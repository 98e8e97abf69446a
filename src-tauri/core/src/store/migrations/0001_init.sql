-- Settings: one row per key; the value is JSON so a setting keeps its type.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL
) STRICT;

-- Security zones group actors (the machines that read mailboxes).
CREATE TABLE security_zones (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
    built_in   INTEGER NOT NULL DEFAULT 0 CHECK (built_in IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE actors (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
    kind       TEXT NOT NULL CHECK (kind IN ('workstation', 'remote')),
    zone_id    TEXT NOT NULL REFERENCES security_zones (id) ON DELETE RESTRICT,
    built_in   INTEGER NOT NULL DEFAULT 0 CHECK (built_in IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX actors_zone ON actors (zone_id);

INSERT INTO security_zones (id, name, built_in, created_at) VALUES ('default', 'Default', 1, :now);
INSERT INTO actors (id, name, kind, zone_id, built_in, created_at)
    VALUES ('this-workstation', 'This workstation', 'workstation', 'default', 1, :now);
