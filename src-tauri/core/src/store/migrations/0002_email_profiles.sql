-- Email profiles: a mailbox Mailproof sends from and reads. The password is in the OS keyring under
-- password_key; this table never holds it.
CREATE TABLE email_profiles (
    id                     TEXT PRIMARY KEY NOT NULL,
    email                  TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(email)) > 0),
    server_type            TEXT NOT NULL CHECK (server_type IN ('imap', 'pop3', 'graph', 'gmail')),
    manual_verification    INTEGER NOT NULL DEFAULT 0 CHECK (manual_verification IN (0, 1)),
    -- NULL: the profile's actors may come from any zone ("All zones").
    zone_id                TEXT REFERENCES security_zones (id) ON DELETE SET NULL,
    username               TEXT NOT NULL,
    password_key           TEXT NOT NULL,
    incoming_host          TEXT NOT NULL,
    incoming_port          INTEGER NOT NULL CHECK (incoming_port BETWEEN 1 AND 65535),
    incoming_security      TEXT NOT NULL CHECK (incoming_security IN ('none', 'startTls', 'tls')),
    incoming_auth          TEXT NOT NULL CHECK (incoming_auth IN ('plain', 'ntlm')),
    -- SHA-256 of a certificate the user chose to trust for this server (hex), or NULL.
    incoming_pinned_sha256 TEXT,
    outgoing_host          TEXT NOT NULL,
    outgoing_port          INTEGER NOT NULL CHECK (outgoing_port BETWEEN 1 AND 65535),
    outgoing_security      TEXT NOT NULL CHECK (outgoing_security IN ('none', 'startTls', 'tls')),
    outgoing_requires_auth INTEGER NOT NULL CHECK (outgoing_requires_auth IN (0, 1)),
    outgoing_auth          TEXT NOT NULL CHECK (outgoing_auth IN ('plain', 'ntlm')),
    outgoing_pinned_sha256 TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
) STRICT;

-- The actors that read a profile's mailbox, and whether each has proven it can.
CREATE TABLE profile_actors (
    profile_id    TEXT NOT NULL REFERENCES email_profiles (id) ON DELETE CASCADE,
    actor_id      TEXT NOT NULL REFERENCES actors (id) ON DELETE RESTRICT,
    status        TEXT NOT NULL DEFAULT 'unverified' CHECK (status IN ('unverified', 'verified')),
    status_reason TEXT,
    status_at     TEXT,
    PRIMARY KEY (profile_id, actor_id)
) STRICT;

CREATE INDEX profile_actors_actor ON profile_actors (actor_id);
