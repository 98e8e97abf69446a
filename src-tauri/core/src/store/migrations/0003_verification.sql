-- Manual verification: the UUID the user puts in the subject of a mail they send to the profile's address.
-- NULL until first shown; regenerating replaces it, so an old UUID no longer verifies.
ALTER TABLE email_profiles ADD COLUMN verification_uuid TEXT;
