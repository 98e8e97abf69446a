-- IMAP, POP3 and SMTP servers may sign in with OAuth 2.0 ('oauth2'): the profile then names the issuer (Google,
-- Microsoft 365, or a custom one with its endpoints), its OAuth client's ID, and the scopes to ask for. The client's
-- secret (if any) is the profile's secret in the OS keyring, and the consent's refresh token another keyring entry;
-- authorized_at records when the account consented.
--
-- SQLite cannot widen the auth columns' CHECK in place: the table is rebuilt (foreign keys off around it) with
-- every column it has so far, and the rows copied.
CREATE TABLE email_profiles_new (
    id                      TEXT PRIMARY KEY NOT NULL,
    email                   TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(email)) > 0),
    server_type             TEXT NOT NULL CHECK (server_type IN ('imap', 'pop3', 'graph', 'gmail')),
    manual_verification     INTEGER NOT NULL DEFAULT 0 CHECK (manual_verification IN (0, 1)),
    zone_id                 TEXT REFERENCES security_zones (id) ON DELETE SET NULL,
    username                TEXT NOT NULL,
    password_key            TEXT NOT NULL,
    incoming_host           TEXT NOT NULL,
    incoming_port           INTEGER NOT NULL CHECK (incoming_port BETWEEN 1 AND 65535),
    incoming_security       TEXT NOT NULL CHECK (incoming_security IN ('none', 'startTls', 'tls')),
    incoming_auth           TEXT NOT NULL CHECK (incoming_auth IN ('plain', 'ntlm', 'oauth2')),
    incoming_pinned_sha256  TEXT,
    outgoing_host           TEXT NOT NULL,
    outgoing_port           INTEGER NOT NULL CHECK (outgoing_port BETWEEN 1 AND 65535),
    outgoing_security       TEXT NOT NULL CHECK (outgoing_security IN ('none', 'startTls', 'tls')),
    outgoing_requires_auth  INTEGER NOT NULL CHECK (outgoing_requires_auth IN (0, 1)),
    outgoing_auth           TEXT NOT NULL CHECK (outgoing_auth IN ('plain', 'ntlm', 'oauth2')),
    outgoing_pinned_sha256  TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    verification_uuid       TEXT,
    graph_tenant_id         TEXT,
    graph_client_id         TEXT,
    graph_secret_expires    TEXT,
    graph_cloud             TEXT CHECK (graph_cloud IN ('global', 'usGovHigh', 'usGovDod', 'china')),
    gmail_client_id         TEXT,
    authorized_at           TEXT,
    oauth_issuer            TEXT CHECK (oauth_issuer IN ('google', 'microsoft', 'custom')),
    oauth_client_id         TEXT,
    oauth_tenant            TEXT,
    oauth_authorization_url TEXT,
    oauth_token_url         TEXT,
    oauth_scopes            TEXT
) STRICT;

INSERT INTO email_profiles_new (id, email, server_type, manual_verification, zone_id, username, password_key,
        incoming_host, incoming_port, incoming_security, incoming_auth, incoming_pinned_sha256,
        outgoing_host, outgoing_port, outgoing_security, outgoing_requires_auth, outgoing_auth, outgoing_pinned_sha256,
        created_at, updated_at, verification_uuid, graph_tenant_id, graph_client_id, graph_secret_expires, graph_cloud,
        gmail_client_id, authorized_at)
    SELECT id, email, server_type, manual_verification, zone_id, username, password_key,
        incoming_host, incoming_port, incoming_security, incoming_auth, incoming_pinned_sha256,
        outgoing_host, outgoing_port, outgoing_security, outgoing_requires_auth, outgoing_auth, outgoing_pinned_sha256,
        created_at, updated_at, verification_uuid, graph_tenant_id, graph_client_id, graph_secret_expires, graph_cloud,
        gmail_client_id, authorized_at
    FROM email_profiles;

DROP TABLE email_profiles;
ALTER TABLE email_profiles_new RENAME TO email_profiles;
