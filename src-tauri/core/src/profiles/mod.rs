//! Email profiles: the mailboxes Mailproof sends test mail from and reads it in.
//!
//! A profile is an address, the account that owns it (password in the OS keyring), an incoming server (IMAP
//! or POP3), an outgoing SMTP server, and the actors that read the mailbox. A Microsoft 365 profile reaches its
//! mailbox through Microsoft Graph instead, with an app registration (tenant, client ID, the client secret in the
//! keyring and its expiry); its servers are then Graph's own endpoint. A Gmail profile reaches its mailbox through
//! the Gmail API with an OAuth client of the user's Google Cloud project (its ID here, its secret in the keyring)
//! and the refresh token the account's consent gave (in the keyring too, see [`authorize`]).

mod authorize;
pub mod clients;
mod connection;
mod discovery;
mod oauth;
mod save;
mod validate;

pub use mailproof_mail::graph::Cloud;
use serde::{Deserialize, Serialize};

use crate::secrets::{Secret, SecretKey};

pub use authorize::{authorize_profile, open_in_browser, Authorization, AuthorizeError, CONSENT_WAIT};
pub use connection::{test_connection, ProfileDiagnosis, Side, StepEvent, STEP_TIMEOUT};
pub use discovery::{discover_settings, discovery_config, DNS_ENV, HTTP_BASE_ENV, ISPDB_ENV};
pub use oauth::{OAuthIssuer, OAuthSettings};
pub use save::{
    credentials_for_test, delete_profile, profile_credentials, profile_password, save_profile, set_alerts_mailbox,
    Credentials, ProfileError,
};
pub use validate::{validate_draft, validate_outgoing, FieldIssue, Findings};

/// How Mailproof reaches the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ServerType {
    Imap,
    Pop3,
    /// Microsoft 365 through the Graph API.
    Graph,
    /// Gmail through the Gmail API.
    Gmail,
}

impl ServerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerType::Imap => "imap",
            ServerType::Pop3 => "pop3",
            ServerType::Graph => "graph",
            ServerType::Gmail => "gmail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "imap" => ServerType::Imap,
            "pop3" => ServerType::Pop3,
            "graph" => ServerType::Graph,
            "gmail" => ServerType::Gmail,
            _ => return None,
        })
    }

    /// Whether the mailbox is reached through a provider's API (Graph, Gmail) rather than IMAP/POP3 and SMTP.
    pub fn is_cloud(self) -> bool {
        matches!(self, ServerType::Graph | ServerType::Gmail)
    }

    /// The name analysts know it by.
    pub fn label(self) -> &'static str {
        match self {
            ServerType::Imap => "IMAP",
            ServerType::Pop3 => "POP3",
            ServerType::Graph => "Microsoft 365 (Graph API)",
            ServerType::Gmail => "Gmail (Gmail API)",
        }
    }
}

/// How a connection to a server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Security {
    /// Clear text throughout ("Off").
    None,
    /// Clear text greeting, then STARTTLS (STLS for POP3).
    StartTls,
    /// TLS from the first byte ("SSL/TLS").
    #[default]
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::StartTls => "startTls",
            Security::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Security::None,
            "startTls" => Security::StartTls,
            "tls" => Security::Tls,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Security::None => "None",
            Security::StartTls => "STARTTLS",
            Security::Tls => "SSL/TLS",
        }
    }
}

impl From<Security> for mailproof_mail::Encryption {
    fn from(s: Security) -> Self {
        match s {
            Security::None => mailproof_mail::Encryption::None,
            Security::StartTls => mailproof_mail::Encryption::StartTls,
            Security::Tls => mailproof_mail::Encryption::Tls,
        }
    }
}

/// How the account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum AuthMethod {
    #[default]
    Plain,
    /// NTLMv2 (never NTLMv1): the connection test, verification and email actions all sign in with it.
    Ntlm,
    /// OAuth 2.0 (SASL OAUTHBEARER or XOAUTH2, whichever the server announces) with the tokens of the profile's
    /// [`OAuthSettings`] and the account's consent.
    #[serde(rename = "oauth2")]
    OAuth2,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Plain => "plain",
            AuthMethod::Ntlm => "ntlm",
            AuthMethod::OAuth2 => "oauth2",
        }
    }

    /// How the mail clients sign in with it.
    pub fn sign_in(self) -> mailproof_mail::SignIn {
        match self {
            AuthMethod::Plain => mailproof_mail::SignIn::Password,
            AuthMethod::Ntlm => mailproof_mail::SignIn::Ntlm,
            AuthMethod::OAuth2 => mailproof_mail::SignIn::OAuth2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "plain" => AuthMethod::Plain,
            "ntlm" => AuthMethod::Ntlm,
            "oauth2" => AuthMethod::OAuth2,
            _ => return None,
        })
    }
}

/// The server Mailproof reads the mailbox from (IMAP or POP3, per the profile's server type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct IncomingServer {
    /// Host name or IP address.
    pub host: String,
    pub port: u32,
    pub security: Security,
    pub auth: AuthMethod,
    /// SHA-256 (64 hex digits) of a certificate the user chose to trust for this server though no trusted CA
    /// signed it. Only that exact certificate is accepted; never "any certificate".
    pub pinned_sha256: Option<String>,
}

/// The SMTP server Mailproof sends the profile's mail through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct OutgoingServer {
    pub host: String,
    pub port: u32,
    pub security: Security,
    pub requires_auth: bool,
    /// Used only when `requires_auth`.
    pub auth: AuthMethod,
    pub pinned_sha256: Option<String>,
}

/// A Microsoft 365 mailbox's app registration in Entra ID. The client secret is the profile's secret in the OS
/// keyring, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct GraphSettings {
    /// The directory (tenant) ID: a GUID, or one of the tenant's verified domains.
    pub tenant_id: String,
    /// The application (client) ID, a GUID.
    pub client_id: String,
    /// The day the client secret expires, `YYYY-MM-DD`, as the Entra admin centre shows it.
    pub secret_expires: String,
    pub cloud: Cloud,
}

/// From this many days before a client secret expires, the profiles table and jobs warn.
pub const SECRET_WARNING_DAYS: i64 = 30;

impl GraphSettings {
    pub fn expiry(&self) -> Option<time::Date> {
        time::Date::parse(self.secret_expires.trim(), &time::macros::format_description!("[year]-[month]-[day]")).ok()
    }

    /// Days left before the secret expires on `today` (0 on its last day; negative once expired).
    pub fn days_left(&self, today: time::Date) -> Option<i64> {
        self.expiry().map(|e| (e - today).whole_days())
    }

    /// What to tell the user about the secret's expiry on `today`, if anything.
    pub fn secret_notice(&self, today: time::Date) -> Option<String> {
        let days = self.days_left(today)?;
        let renew = "Create a new client secret under the app's Certificates & secrets in the Entra admin centre, then edit this profile with it and its expiry date.";
        match days {
            d if d < 0 => Some(format!("The client secret expired on {}. {renew}", self.secret_expires)),
            0 => Some(format!("The client secret expires today ({}). {renew}", self.secret_expires)),
            d if d <= SECRET_WARNING_DAYS => Some(format!(
                "The client secret expires on {} (in {d} day{}). {renew}",
                self.secret_expires,
                if d == 1 { "" } else { "s" }
            )),
            _ => None,
        }
    }

    /// Whether the secret has expired on `today`.
    pub fn expired(&self, today: time::Date) -> bool {
        self.days_left(today).is_some_and(|d| d < 0)
    }

    /// A Graph profile's servers: Graph's own HTTPS endpoint in the profile's cloud, for every reader that shows
    /// where a profile's mail goes.
    pub fn servers(&self) -> (IncomingServer, OutgoingServer) {
        let base = self.cloud.endpoints().graph;
        let host = base.split("://").nth(1).unwrap_or(&base).trim_end_matches('/').to_owned();
        (
            IncomingServer {
                host: host.clone(),
                port: 443,
                security: Security::Tls,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
            OutgoingServer {
                host,
                port: 443,
                security: Security::Tls,
                requires_auth: true,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
        )
    }
}

/// A Gmail mailbox's OAuth client: a "Desktop app" client of the user's Google Cloud project. Its secret is the
/// profile's secret in the OS keyring, and the refresh token the account's consent gave is another keyring entry;
/// neither is here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct GmailSettings {
    /// The client ID, `<digits>-<letters>.apps.googleusercontent.com`.
    pub client_id: String,
}

/// Where Gmail's API is, for every reader that shows where a profile's mail goes.
pub const GMAIL_HOST: &str = "gmail.googleapis.com";

impl GmailSettings {
    /// A Gmail profile's servers: the Gmail API's HTTPS endpoint, for reading and sending.
    pub fn servers() -> (IncomingServer, OutgoingServer) {
        (
            IncomingServer {
                host: GMAIL_HOST.into(),
                port: 443,
                security: Security::Tls,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
            OutgoingServer {
                host: GMAIL_HOST.into(),
                port: 443,
                security: Security::Tls,
                requires_auth: true,
                auth: AuthMethod::Plain,
                pinned_sha256: None,
            },
        )
    }
}

/// Whether an actor has proven it can read the profile's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum VerificationStatus {
    Unverified,
    Verified,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProfileActor {
    pub actor_id: String,
    pub actor_name: String,
    pub status: VerificationStatus,
    /// Why the actor is (un)verified, in words; `None` when it has never been checked.
    pub reason: Option<String>,
    /// When the status was last set (UTC, RFC 3339).
    pub status_at: Option<String>,
}

/// A saved email profile. Carries the keyring key name of its password, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailProfile {
    pub id: String,
    pub email: String,
    pub server_type: ServerType,
    pub manual_verification: bool,
    /// `None` means "All zones".
    pub zone_id: Option<String>,
    pub zone_name: Option<String>,
    pub username: String,
    pub incoming: IncomingServer,
    pub outgoing: OutgoingServer,
    /// A Microsoft 365 profile's app registration; `None` for the other types.
    pub graph: Option<GraphSettings>,
    /// A Gmail profile's OAuth client; `None` for the other types.
    pub gmail: Option<GmailSettings>,
    /// An IMAP or POP3 profile's OAuth 2.0 sign-in, when a server signs in with it; `None` otherwise.
    pub oauth: Option<OAuthSettings>,
    /// When the account last gave its consent (a Gmail or OAuth 2.0 profile), UTC, RFC 3339; `None` until it has.
    pub authorized_at: Option<String>,
    /// Gateways' notices (quarantine notices, incident reports) arrive here: every job watches it for notices
    /// naming its messages, and an action reported there but otherwise missed is Alerted.
    #[serde(default)]
    pub alerts_mailbox: bool,
    /// Something to tell the user about the profile now (a client secret about to expire, a consent still to
    /// give), in words.
    pub secret_notice: Option<String>,
    pub actors: Vec<ProfileActor>,
    pub created_at: String,
    pub updated_at: String,
}

impl EmailProfile {
    /// The keyring entry holding this profile's account password (a Graph or Gmail profile's client secret).
    pub fn password_key(&self) -> SecretKey {
        password_key(&self.id)
    }

    /// Whether the account signs in with a consent (a Gmail or OAuth 2.0 profile) rather than a password.
    pub fn needs_consent(&self) -> bool {
        self.gmail.is_some() || self.oauth.is_some()
    }

    /// The keyring entry holding the refresh token of the account's consent (a Gmail or OAuth 2.0 profile).
    pub fn refresh_token_key(&self) -> SecretKey {
        refresh_token_key(&self.id)
    }

    /// The profile with its notice for `today` filled in.
    pub fn with_notice(mut self, today: time::Date) -> EmailProfile {
        self.secret_notice = match &self.graph {
            Some(g) => g.secret_notice(today),
            None if self.needs_consent() && self.authorized_at.is_none() => {
                let hint = self.not_signed_in();
                Some(format!("{}{}, then verify the profile.", hint[..1].to_uppercase(), &hint[1..]))
            }
            _ => None,
        };
        self
    }

    /// Who the account signs in at, for messages: "Google", "Microsoft 365", or the custom issuer's host.
    pub fn issuer_name(&self) -> String {
        match &self.oauth {
            Some(o) if o.issuer == OAuthIssuer::Custom => o.provider().name,
            Some(o) => o.issuer.label().to_owned(),
            None => "Google".to_owned(),
        }
    }

    /// The profile's own settings as a draft without its password (the stored one is kept), for a test.
    pub fn draft(&self) -> ProfileDraft {
        ProfileDraft {
            email: self.email.clone(),
            server_type: self.server_type,
            manual_verification: self.manual_verification,
            zone_id: self.zone_id.clone(),
            actor_ids: self.actors.iter().map(|a| a.actor_id.clone()).collect(),
            username: self.username.clone(),
            password: None,
            incoming: self.incoming.clone(),
            outgoing: self.outgoing.clone(),
            graph: self.graph.clone(),
            gmail: self.gmail.clone(),
            oauth: self.oauth.clone(),
        }
    }

    /// That the account has not consented yet and how it does, in words: the app's button and the command.
    pub fn not_signed_in(&self) -> String {
        let issuer = self.issuer_name();
        format!(
            "not signed in to {issuer} yet: sign it in (Sign in with {issuer} in the profiles table, or `mailproof profile authorize {}`)",
            self.email
        )
    }
}

pub(crate) fn refresh_token_key(profile_id: &str) -> SecretKey {
    SecretKey::new(format!("profile/{profile_id}/refresh-token"))
}

pub(crate) fn password_key(profile_id: &str) -> SecretKey {
    SecretKey::new(format!("profile/{profile_id}/password"))
}

/// What the wizard, the edit form or `mailproof profile add` hands in. Nothing is stored until it validates.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProfileDraft {
    pub email: String,
    pub server_type: ServerType,
    #[serde(default)]
    pub manual_verification: bool,
    #[serde(default)]
    pub zone_id: Option<String>,
    pub actor_ids: Vec<String>,
    /// Not needed for a Graph or Gmail profile (its account is the mailbox).
    pub username: String,
    /// Required for a new profile. When editing, `None` keeps the stored password. A Graph or Gmail profile's
    /// client secret.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Ignored for a Graph or Gmail profile: its servers are the API's endpoint.
    pub incoming: IncomingServer,
    pub outgoing: OutgoingServer,
    /// Required for a Graph profile.
    #[serde(default)]
    pub graph: Option<GraphSettings>,
    /// Required for a Gmail profile.
    #[serde(default)]
    pub gmail: Option<GmailSettings>,
    /// Required when a server of an IMAP or POP3 profile signs in with OAuth 2.0.
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
}

impl ProfileDraft {
    /// Whether a server of this IMAP or POP3 draft signs in with OAuth 2.0.
    pub fn uses_oauth(&self) -> bool {
        !self.server_type.is_cloud()
            && (self.incoming.auth == AuthMethod::OAuth2
                || (self.outgoing.requires_auth && self.outgoing.auth == AuthMethod::OAuth2))
    }
}

/// Normalises a certificate fingerprint as users paste it (`AB:CD:…`, spaces, upper case) to 64 lower-case hex
/// digits, or `None` if it is not a SHA-256 fingerprint.
pub fn normalize_fingerprint(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect::<String>().to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised_from_the_forms_people_paste() {
        let colon = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_fingerprint(&colon), Some("ab".repeat(32)));
        assert_eq!(normalize_fingerprint(&"0f".repeat(32)), Some("0f".repeat(32)));
        assert_eq!(normalize_fingerprint("abcd"), None);
        assert_eq!(normalize_fingerprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn a_draft_reads_from_json_with_its_password_but_a_profile_never_writes_one() {
        let draft: ProfileDraft = serde_json::from_value(serde_json::json!({
            "email": "bob@example.test", "serverType": "imap", "actorIds": ["this-workstation"],
            "username": "bob@example.test", "password": "bob-lab-password",
            "incoming": { "host": "127.0.0.1", "port": 993, "security": "tls", "auth": "plain", "pinnedSha256": null },
            "outgoing": { "host": "127.0.0.1", "port": 587, "security": "startTls", "requiresAuth": true, "auth": "plain", "pinnedSha256": null }
        }))
        .unwrap();
        assert_eq!(draft.password.as_ref().map(|p| p.expose()), Some("bob-lab-password"));
        assert!(!format!("{draft:?}").contains("bob-lab-password"));
    }
}
