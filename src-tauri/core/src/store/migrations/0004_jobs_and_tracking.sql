-- Email action jobs: a job runs groups (one per source -> destination pair) of actions. Everything is written as
-- it happens, so a job survives a restart. Profiles may be deleted later: groups keep the addresses they used.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'incomplete', 'errored', 'cancelled')),
    selection   TEXT NOT NULL,            -- JSON: the Selection the job was built from
    params      TEXT NOT NULL,            -- JSON: runtime parameters and timing
    error       TEXT,                     -- why the whole job could not run
    heartbeat_ms INTEGER,                 -- Unix ms; the running engine touches this every few seconds: a running
                                          -- job whose heartbeat stopped was interrupted (app or command exited)
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    ended_at    TEXT
);

CREATE TABLE job_groups (
    id                      TEXT PRIMARY KEY,
    job_id                  TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    position                INTEGER NOT NULL,
    source_profile_id       TEXT REFERENCES email_profiles(id) ON DELETE SET NULL,
    source_email            TEXT NOT NULL,
    destination_profile_id  TEXT REFERENCES email_profiles(id) ON DELETE SET NULL,
    destination_email       TEXT NOT NULL,
    started_at              TEXT,
    ended_at                TEXT
);
CREATE INDEX job_groups_job ON job_groups(job_id, position);

CREATE TABLE job_actions (
    id            TEXT PRIMARY KEY,
    group_id      TEXT NOT NULL REFERENCES job_groups(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    action_id     TEXT NOT NULL,
    action_name   TEXT NOT NULL,
    category      TEXT NOT NULL,
    risk          TEXT NOT NULL CHECK (risk IN ('high', 'medium', 'low')),
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'watching', 'decided')),
    verdict       TEXT CHECK (verdict IN ('prevented', 'detected', 'missed', 'errored', 'incomplete')),
    cause         TEXT,                   -- rejected, bounced, modified, notDelivered, junk, tagged, flagged, clean, setup …
    reason        TEXT,                   -- the verdict in words
    token         TEXT,
    message_id    TEXT,
    sent_at       TEXT,
    accepted_at   TEXT,
    delivered_at  TEXT,
    decided_at    TEXT,
    evidence      TEXT,                   -- JSON: transcript, hops, DSN, digests, changes, flags
    raw_received  BLOB                    -- the received copy, size-capped
);
CREATE INDEX job_actions_group ON job_actions(group_id, position);
CREATE INDEX job_actions_token ON job_actions(token);

-- Message tracking: one row per message Mailproof sent or saw, and its processing history.
CREATE TABLE tracked_messages (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT NOT NULL,
    envelope_sender  TEXT NOT NULL,
    from_header      TEXT NOT NULL,
    recipients       TEXT NOT NULL,       -- envelope recipients, comma-separated
    to_header        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    source_ip        TEXT,
    risk             TEXT CHECK (risk IN ('high', 'medium', 'low')),
    status           TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'deliveredToJunk', 'unsuccessful',
                                                     'notReceived', 'modified', 'deleted')),
    received_at      INTEGER NOT NULL,    -- Unix milliseconds, UTC: when Mailproof queued or first saw it
    job_action_id    TEXT REFERENCES job_actions(id) ON DELETE SET NULL,
    verification_of  TEXT                 -- profile id, for verification mail
);
CREATE INDEX tracked_messages_time ON tracked_messages(received_at);
CREATE INDEX tracked_messages_message_id ON tracked_messages(message_id);

CREATE TABLE message_events (
    id          INTEGER PRIMARY KEY,
    message     INTEGER NOT NULL REFERENCES tracked_messages(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,         -- Unix milliseconds, UTC
    kind        TEXT NOT NULL,            -- queued, sent, unsuccessful, delivered, notReceived, modified, deleted
    detail      TEXT NOT NULL
);
CREATE INDEX message_events_message ON message_events(message, at);

-- Searching the log: a trigram full-text index over the text fields gives case-insensitive substring matches
-- without scanning the table; the B-tree indexes serve the exact filters, each with time for the ordering.
CREATE VIRTUAL TABLE tracked_search USING fts5(
    subject, from_header, to_header, recipients, envelope_sender, message_id,
    content = 'tracked_messages', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER tracked_messages_ai AFTER INSERT ON tracked_messages BEGIN
    INSERT INTO tracked_search (rowid, subject, from_header, to_header, recipients, envelope_sender, message_id)
    VALUES (new.id, new.subject, new.from_header, new.to_header, new.recipients, new.envelope_sender, new.message_id);
END;
CREATE TRIGGER tracked_messages_ad AFTER DELETE ON tracked_messages BEGIN
    INSERT INTO tracked_search (tracked_search, rowid, subject, from_header, to_header, recipients, envelope_sender,
        message_id)
    VALUES ('delete', old.id, old.subject, old.from_header, old.to_header, old.recipients, old.envelope_sender,
        old.message_id);
END;
CREATE TRIGGER tracked_messages_au AFTER UPDATE OF subject, from_header, to_header, recipients, envelope_sender,
    message_id ON tracked_messages BEGIN
    INSERT INTO tracked_search (tracked_search, rowid, subject, from_header, to_header, recipients, envelope_sender,
        message_id)
    VALUES ('delete', old.id, old.subject, old.from_header, old.to_header, old.recipients, old.envelope_sender,
        old.message_id);
    INSERT INTO tracked_search (rowid, subject, from_header, to_header, recipients, envelope_sender, message_id)
    VALUES (new.id, new.subject, new.from_header, new.to_header, new.recipients, new.envelope_sender, new.message_id);
END;
-- Each exact filter with time, so a filter and a period are one index range already in display order.
CREATE INDEX tracked_messages_status_time ON tracked_messages(status, received_at);
CREATE INDEX tracked_messages_risk_time ON tracked_messages(risk, received_at);
CREATE INDEX tracked_messages_source_ip ON tracked_messages(source_ip, received_at);
