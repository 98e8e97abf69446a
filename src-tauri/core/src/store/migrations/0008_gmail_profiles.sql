-- Gmail profiles reach their mailbox through the Gmail API with an OAuth client of the user's Google Cloud project
-- (its ID here; its secret is the profile's secret in the OS keyring) and the refresh token the account's consent
-- gave (in the keyring too). Only when the consent was given is kept here.
ALTER TABLE email_profiles ADD COLUMN gmail_client_id TEXT;
ALTER TABLE email_profiles ADD COLUMN authorized_at TEXT;
