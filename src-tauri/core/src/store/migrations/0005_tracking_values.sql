-- Address fields repeat: a handful of profile addresses carry most messages. Their trigrams made the full-text
-- index large and an address search slow (every common trigram, such as those of the domain, had to be read).
-- Instead each distinct value of an address field is kept once with the number of messages that carry it; a
-- search matches the distinct values, then reads only their messages through an index with time.

CREATE TABLE tracked_values (
    field     TEXT NOT NULL CHECK (field IN ('recipients', 'to_header', 'envelope_sender', 'from_header')),
    value     TEXT NOT NULL,
    messages  INTEGER NOT NULL,
    PRIMARY KEY (field, value)
) WITHOUT ROWID;

INSERT INTO tracked_values SELECT 'recipients', recipients, count(*) FROM tracked_messages GROUP BY recipients;
INSERT INTO tracked_values SELECT 'to_header', to_header, count(*) FROM tracked_messages GROUP BY to_header;
INSERT INTO tracked_values SELECT 'envelope_sender', envelope_sender, count(*) FROM tracked_messages
    GROUP BY envelope_sender;
INSERT INTO tracked_values SELECT 'from_header', from_header, count(*) FROM tracked_messages GROUP BY from_header;

CREATE INDEX tracked_messages_recipients ON tracked_messages(recipients, received_at);
CREATE INDEX tracked_messages_to ON tracked_messages(to_header, received_at);
CREATE INDEX tracked_messages_sender ON tracked_messages(envelope_sender, received_at);
CREATE INDEX tracked_messages_from ON tracked_messages(from_header, received_at);

-- The full-text index keeps the free-text fields only.
DROP TRIGGER tracked_messages_ai;
DROP TRIGGER tracked_messages_ad;
DROP TRIGGER tracked_messages_au;
DROP TABLE tracked_search;
CREATE VIRTUAL TABLE tracked_search USING fts5(
    subject, message_id, content = 'tracked_messages', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO tracked_search (tracked_search) VALUES ('rebuild');

CREATE TRIGGER tracked_messages_ai AFTER INSERT ON tracked_messages BEGIN
    INSERT INTO tracked_search (rowid, subject, message_id) VALUES (new.id, new.subject, new.message_id);
    INSERT INTO tracked_values VALUES ('recipients', new.recipients, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('to_header', new.to_header, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('envelope_sender', new.envelope_sender, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('from_header', new.from_header, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
END;

CREATE TRIGGER tracked_messages_ad AFTER DELETE ON tracked_messages BEGIN
    INSERT INTO tracked_search (tracked_search, rowid, subject, message_id)
        VALUES ('delete', old.id, old.subject, old.message_id);
    UPDATE tracked_values SET messages = messages - 1
        WHERE (field = 'recipients' AND value = old.recipients) OR (field = 'to_header' AND value = old.to_header)
           OR (field = 'envelope_sender' AND value = old.envelope_sender)
           OR (field = 'from_header' AND value = old.from_header);
    DELETE FROM tracked_values WHERE messages <= 0 AND ((field = 'recipients' AND value = old.recipients)
        OR (field = 'to_header' AND value = old.to_header)
        OR (field = 'envelope_sender' AND value = old.envelope_sender)
        OR (field = 'from_header' AND value = old.from_header));
END;

CREATE TRIGGER tracked_messages_au_text AFTER UPDATE OF subject, message_id ON tracked_messages BEGIN
    INSERT INTO tracked_search (tracked_search, rowid, subject, message_id)
        VALUES ('delete', old.id, old.subject, old.message_id);
    INSERT INTO tracked_search (rowid, subject, message_id) VALUES (new.id, new.subject, new.message_id);
END;

CREATE TRIGGER tracked_messages_au_values AFTER UPDATE OF recipients, to_header, envelope_sender, from_header
    ON tracked_messages BEGIN
    UPDATE tracked_values SET messages = messages - 1
        WHERE (field = 'recipients' AND value = old.recipients) OR (field = 'to_header' AND value = old.to_header)
           OR (field = 'envelope_sender' AND value = old.envelope_sender)
           OR (field = 'from_header' AND value = old.from_header);
    DELETE FROM tracked_values WHERE messages <= 0;
    INSERT INTO tracked_values VALUES ('recipients', new.recipients, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('to_header', new.to_header, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('envelope_sender', new.envelope_sender, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
    INSERT INTO tracked_values VALUES ('from_header', new.from_header, 1)
        ON CONFLICT DO UPDATE SET messages = messages + 1;
END;
