-- Alerted: a gateway's notice about a test message (a quarantine notice, an administrator's incident report) that
-- reached a profile marked as an alerts mailbox. An action whose message arrived untouched and unflagged but was
-- reported ends 'alerted'; a notice about a message a defence stopped or flagged is kept as its evidence.
--
-- SQLite cannot widen the verdict's CHECK in place: job_actions is rebuilt (foreign keys off around it) with
-- every column it has so far, its rows copied and its indexes made again.
CREATE TABLE job_actions_new (
    id            TEXT PRIMARY KEY,
    group_id      TEXT NOT NULL REFERENCES job_groups(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    action_id     TEXT NOT NULL,
    action_name   TEXT NOT NULL,
    category      TEXT NOT NULL,
    risk          TEXT NOT NULL CHECK (risk IN ('high', 'medium', 'low')),
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'watching', 'decided')),
    verdict       TEXT CHECK (verdict IN ('prevented', 'detected', 'alerted', 'missed', 'errored', 'incomplete')),
    cause         TEXT,
    reason        TEXT,
    token         TEXT,
    message_id    TEXT,
    sent_at       TEXT,
    accepted_at   TEXT,
    delivered_at  TEXT,
    decided_at    TEXT,
    evidence      TEXT,
    raw_received  BLOB
);
INSERT INTO job_actions_new
    SELECT id, group_id, position, action_id, action_name, category, risk, direction, state, verdict, cause, reason,
           token, message_id, sent_at, accepted_at, delivered_at, decided_at, evidence, raw_received
    FROM job_actions;
DROP TABLE job_actions;
ALTER TABLE job_actions_new RENAME TO job_actions;
CREATE INDEX job_actions_group ON job_actions(group_id, position);
CREATE INDEX job_actions_token ON job_actions(token);

-- A profile whose mailbox receives the gateway's notices: every job watches it for notices naming its messages.
ALTER TABLE email_profiles ADD COLUMN alerts_mailbox INTEGER NOT NULL DEFAULT 0 CHECK (alerts_mailbox IN (0, 1));
