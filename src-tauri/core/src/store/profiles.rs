//! Queries for the `email_profiles` and `profile_actors` tables.

use rusqlite::{params, OptionalExtension, Row};

use mailproof_mail::graph::Cloud;

use crate::profiles::{
    AuthMethod, EmailProfile, GmailSettings, GraphSettings, IncomingServer, OAuthIssuer, OAuthSettings, OutgoingServer,
    ProfileActor, ProfileDraft, Security, ServerType, VerificationStatus,
};

use super::{Store, StoreError};

const SELECT: &str = "SELECT p.id, p.email, p.server_type, p.manual_verification, p.zone_id, z.name, p.username,
        p.incoming_host, p.incoming_port, p.incoming_security, p.incoming_auth, p.incoming_pinned_sha256,
        p.outgoing_host, p.outgoing_port, p.outgoing_security, p.outgoing_requires_auth, p.outgoing_auth,
        p.outgoing_pinned_sha256, p.created_at, p.updated_at,
        p.graph_tenant_id, p.graph_client_id, p.graph_secret_expires, p.graph_cloud, p.gmail_client_id, p.authorized_at,
        p.oauth_issuer, p.oauth_client_id, p.oauth_tenant, p.oauth_authorization_url, p.oauth_token_url, p.oauth_scopes,
        p.alerts_mailbox
    FROM email_profiles p LEFT JOIN security_zones z ON z.id = p.zone_id";

impl Store {
    pub fn list_profiles(&self) -> Result<Vec<EmailProfile>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY p.email"))?;
        let mut profiles = stmt.query_map([], profile_from_row)?.collect::<Result<Result<Vec<_>, _>, _>>()??;
        drop(stmt);
        for p in &mut profiles {
            p.actors = actors_of(&conn, &p.id)?;
        }
        Ok(profiles)
    }

    pub fn get_profile(&self, id: &str) -> Result<Option<EmailProfile>, StoreError> {
        let conn = self.conn();
        let found = conn.query_row(&format!("{SELECT} WHERE p.id = ?1"), [id], profile_from_row).optional()?;
        match found {
            None => Ok(None),
            Some(p) => {
                let mut p = p?;
                p.actors = actors_of(&conn, &p.id)?;
                Ok(Some(p))
            }
        }
    }

    /// The profile with this address (case-insensitive), if any.
    pub fn find_profile_by_email(&self, email: &str) -> Result<Option<EmailProfile>, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row("SELECT id FROM email_profiles WHERE email = ?1", [email.trim()], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => self.get_profile(&id),
            None => Ok(None),
        }
    }

    /// Marks profile `id` as an alerts mailbox (or no longer); `false` when there is no such profile.
    pub fn set_alerts_mailbox(&self, id: &str, on: bool, now: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE email_profiles SET alerts_mailbox = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, on, now],
        )?;
        Ok(n == 1)
    }

    /// Records when the account of profile `id` gave its consent (`None`: it has to give it again).
    pub(crate) fn set_profile_authorized(&self, id: &str, at: Option<&str>) -> Result<(), StoreError> {
        self.conn().execute("UPDATE email_profiles SET authorized_at = ?2 WHERE id = ?1", params![id, at])?;
        Ok(())
    }

    /// Inserts or updates the profile row and its actors in one transaction. Actors kept from before keep
    /// their verification status unless `reset_verification`; new ones start unverified.
    pub(crate) fn write_profile(
        &self,
        id: &str,
        draft: &ProfileDraft,
        password_key: &str,
        now: &str,
        reset_verification: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (inc, out) = (&draft.incoming, &draft.outgoing);
        let (graph, oauth) = (draft.graph.as_ref(), draft.oauth.as_ref());
        tx.execute(
            "INSERT INTO email_profiles (id, email, server_type, manual_verification, zone_id, username, password_key,
                incoming_host, incoming_port, incoming_security, incoming_auth, incoming_pinned_sha256,
                outgoing_host, outgoing_port, outgoing_security, outgoing_requires_auth, outgoing_auth,
                outgoing_pinned_sha256, created_at, updated_at,
                graph_tenant_id, graph_client_id, graph_secret_expires, graph_cloud, gmail_client_id,
                oauth_issuer, oauth_client_id, oauth_tenant, oauth_authorization_url, oauth_token_url, oauth_scopes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19,
                ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
             ON CONFLICT (id) DO UPDATE SET email = excluded.email, server_type = excluded.server_type,
                manual_verification = excluded.manual_verification, zone_id = excluded.zone_id,
                username = excluded.username, incoming_host = excluded.incoming_host,
                incoming_port = excluded.incoming_port, incoming_security = excluded.incoming_security,
                incoming_auth = excluded.incoming_auth, incoming_pinned_sha256 = excluded.incoming_pinned_sha256,
                outgoing_host = excluded.outgoing_host, outgoing_port = excluded.outgoing_port,
                outgoing_security = excluded.outgoing_security, outgoing_requires_auth = excluded.outgoing_requires_auth,
                outgoing_auth = excluded.outgoing_auth, outgoing_pinned_sha256 = excluded.outgoing_pinned_sha256,
                updated_at = excluded.updated_at, graph_tenant_id = excluded.graph_tenant_id,
                graph_client_id = excluded.graph_client_id, graph_secret_expires = excluded.graph_secret_expires,
                graph_cloud = excluded.graph_cloud, gmail_client_id = excluded.gmail_client_id,
                oauth_issuer = excluded.oauth_issuer, oauth_client_id = excluded.oauth_client_id,
                oauth_tenant = excluded.oauth_tenant, oauth_authorization_url = excluded.oauth_authorization_url,
                oauth_token_url = excluded.oauth_token_url, oauth_scopes = excluded.oauth_scopes",
            params![
                id,
                draft.email.trim(),
                draft.server_type.as_str(),
                draft.manual_verification,
                draft.zone_id,
                draft.username.trim(),
                password_key,
                inc.host.trim(),
                inc.port,
                inc.security.as_str(),
                inc.auth.as_str(),
                inc.pinned_sha256,
                out.host.trim(),
                out.port,
                out.security.as_str(),
                out.requires_auth,
                out.auth.as_str(),
                out.pinned_sha256,
                now,
                graph.map(|g| g.tenant_id.trim()),
                graph.map(|g| g.client_id.trim()),
                graph.map(|g| g.secret_expires.trim()),
                graph.map(|g| g.cloud.as_str()),
                draft.gmail.as_ref().map(|g| g.client_id.trim()),
                oauth.map(|o| o.issuer.as_str()),
                oauth.map(|o| o.client_id.trim()),
                oauth.map(|o| o.tenant.trim()),
                oauth.map(|o| o.authorization_url.trim()),
                oauth.map(|o| o.token_url.trim()),
                oauth.map(|o| o.scopes.split_whitespace().collect::<Vec<_>>().join(" ")),
            ],
        )?;
        if reset_verification {
            tx.execute(
                "UPDATE profile_actors SET status = 'unverified', status_reason = 'The profile changed; verify it again.', status_at = ?2
                 WHERE profile_id = ?1",
                params![id, now],
            )?;
        }
        let placeholders = vec!["?"; draft.actor_ids.len()].join(", ");
        let mut keep = vec![id.to_owned()];
        keep.extend(draft.actor_ids.iter().cloned());
        tx.execute(
            &format!("DELETE FROM profile_actors WHERE profile_id = ?1 AND actor_id NOT IN ({placeholders})"),
            rusqlite::params_from_iter(keep.iter()),
        )?;
        for actor in &draft.actor_ids {
            tx.execute(
                "INSERT INTO profile_actors (profile_id, actor_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, actor],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn delete_profile_row(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute("DELETE FROM email_profiles WHERE id = ?1", [id])? > 0)
    }

    /// The keyring key name stored for a profile.
    pub(crate) fn profile_password_key(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT password_key FROM email_profiles WHERE id = ?1", [id], |r| r.get(0))
            .optional()?)
    }
}

impl Store {
    /// Sets one actor's verification status, with the reason in words and the time.
    pub(crate) fn set_actor_status(
        &self,
        profile_id: &str,
        actor_id: &str,
        verified: bool,
        reason: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE profile_actors SET status = ?3, status_reason = ?4, status_at = ?5 WHERE profile_id = ?1 AND actor_id = ?2",
            params![profile_id, actor_id, if verified { "verified" } else { "unverified" }, reason, at],
        )?;
        Ok(())
    }

    /// The profile's manual Verification UUID, made on first use.
    pub fn verification_uuid(&self, profile_id: &str) -> Result<String, StoreError> {
        let conn = self.conn();
        let current: Option<String> = conn
            .query_row("SELECT verification_uuid FROM email_profiles WHERE id = ?1", [profile_id], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(uuid) = current {
            return Ok(uuid);
        }
        let uuid = crate::ids::new_id();
        conn.execute("UPDATE email_profiles SET verification_uuid = ?2 WHERE id = ?1", params![profile_id, uuid])?;
        Ok(uuid)
    }

    /// A new Verification UUID; the old one no longer verifies.
    pub fn regenerate_verification_uuid(&self, profile_id: &str) -> Result<String, StoreError> {
        let uuid = crate::ids::new_id();
        self.conn()
            .execute("UPDATE email_profiles SET verification_uuid = ?2 WHERE id = ?1", params![profile_id, uuid])?;
        Ok(uuid)
    }
}

fn actors_of(conn: &rusqlite::Connection, profile_id: &str) -> Result<Vec<ProfileActor>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT pa.actor_id, a.name, pa.status, pa.status_reason, pa.status_at
         FROM profile_actors pa JOIN actors a ON a.id = pa.actor_id
         WHERE pa.profile_id = ?1 ORDER BY a.built_in DESC, a.name",
    )?;
    let actors = stmt
        .query_map([profile_id], |r| {
            let status: String = r.get(2)?;
            Ok(ProfileActor {
                actor_id: r.get(0)?,
                actor_name: r.get(1)?,
                status: if status == "verified" {
                    VerificationStatus::Verified
                } else {
                    VerificationStatus::Unverified
                },
                reason: r.get(3)?,
                status_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(actors)
}

fn bad(column: &str, value: &str) -> StoreError {
    StoreError::BadValue { key: format!("email_profiles.{column}"), detail: format!("unknown value {value:?}") }
}

/// A row, or a `BadValue` error when an enum column holds something this version does not know.
fn profile_from_row(r: &Row<'_>) -> rusqlite::Result<Result<EmailProfile, StoreError>> {
    let text = |i: usize| r.get::<_, String>(i);
    let (server_type, in_sec, in_auth, out_sec, out_auth) = (text(2)?, text(9)?, text(10)?, text(14)?, text(16)?);
    let parsed = (|| {
        Ok::<_, StoreError>((
            ServerType::parse(&server_type).ok_or_else(|| bad("server_type", &server_type))?,
            Security::parse(&in_sec).ok_or_else(|| bad("incoming_security", &in_sec))?,
            AuthMethod::parse(&in_auth).ok_or_else(|| bad("incoming_auth", &in_auth))?,
            Security::parse(&out_sec).ok_or_else(|| bad("outgoing_security", &out_sec))?,
            AuthMethod::parse(&out_auth).ok_or_else(|| bad("outgoing_auth", &out_auth))?,
        ))
    })();
    let (server_type, in_sec, in_auth, out_sec, out_auth) = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let graph = match r.get::<_, Option<String>>(20)? {
        None => None,
        Some(tenant_id) => {
            let cloud: Option<String> = r.get(23)?;
            let Some(cloud) = cloud.as_deref().map(|c| Cloud::parse(c).ok_or_else(|| bad("graph_cloud", c))) else {
                return Ok(Err(bad("graph_cloud", "")));
            };
            let cloud = match cloud {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            Some(GraphSettings {
                tenant_id,
                client_id: r.get::<_, Option<String>>(21)?.unwrap_or_default(),
                secret_expires: r.get::<_, Option<String>>(22)?.unwrap_or_default(),
                cloud,
            })
        }
    };
    let oauth = match r.get::<_, Option<String>>(26)? {
        None => None,
        Some(issuer) => {
            let Some(issuer) = OAuthIssuer::parse(&issuer) else { return Ok(Err(bad("oauth_issuer", &issuer))) };
            let text = |i: usize| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
            Some(OAuthSettings {
                issuer,
                client_id: text(27)?,
                tenant: text(28)?,
                authorization_url: text(29)?,
                token_url: text(30)?,
                scopes: text(31)?,
            })
        }
    };
    Ok(Ok(EmailProfile {
        id: r.get(0)?,
        email: r.get(1)?,
        server_type,
        manual_verification: r.get(3)?,
        zone_id: r.get(4)?,
        zone_name: r.get(5)?,
        username: r.get(6)?,
        incoming: IncomingServer {
            host: r.get(7)?,
            port: r.get(8)?,
            security: in_sec,
            auth: in_auth,
            pinned_sha256: r.get(11)?,
        },
        outgoing: OutgoingServer {
            host: r.get(12)?,
            port: r.get(13)?,
            security: out_sec,
            requires_auth: r.get(15)?,
            auth: out_auth,
            pinned_sha256: r.get(17)?,
        },
        graph,
        gmail: r.get::<_, Option<String>>(24)?.map(|client_id| GmailSettings { client_id }),
        oauth,
        authorized_at: r.get(25)?,
        alerts_mailbox: r.get(32)?,
        secret_notice: None,
        actors: Vec::new(),
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
    }))
}
