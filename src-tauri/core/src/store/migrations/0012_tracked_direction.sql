-- Whether Mailproof sent a tracked message (a test message, a verification mail) or saw it arrive without sending
-- it (a bounce report, a gateway's notice). Rows written before this: those whose history starts with "queued"
-- were sent, the others received.
ALTER TABLE tracked_messages ADD COLUMN direction TEXT NOT NULL DEFAULT 'sent' CHECK (direction IN ('sent', 'received'));
UPDATE tracked_messages SET direction = 'received'
    WHERE NOT EXISTS (SELECT 1 FROM message_events e WHERE e.message = tracked_messages.id AND e.kind = 'queued');
