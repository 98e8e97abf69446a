-- A remote actor is reached through the Mailproof agent running on its machine: the agent's address (host:port)
-- and its certificate's SHA-256, which Mailproof pins. The pairing code is kept in the keyring, not here.
ALTER TABLE actors ADD COLUMN agent_address TEXT;
ALTER TABLE actors ADD COLUMN agent_fingerprint TEXT;
