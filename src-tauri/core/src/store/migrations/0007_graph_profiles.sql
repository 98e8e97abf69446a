-- Microsoft 365 profiles reach their mailbox through Microsoft Graph with an app registration in Entra ID: the
-- tenant, the app (client) ID, the day its client secret expires (typed from the Entra admin centre) and the
-- Microsoft cloud. The client secret itself is the profile's secret in the OS keyring, never here.
ALTER TABLE email_profiles ADD COLUMN graph_tenant_id TEXT;
ALTER TABLE email_profiles ADD COLUMN graph_client_id TEXT;
ALTER TABLE email_profiles ADD COLUMN graph_secret_expires TEXT;
ALTER TABLE email_profiles ADD COLUMN graph_cloud TEXT CHECK (graph_cloud IN ('global', 'usGovHigh', 'usGovDod', 'china'));
