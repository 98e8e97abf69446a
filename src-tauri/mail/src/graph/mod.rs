//! Microsoft 365 mailboxes through Microsoft Graph: an app's sign-in with the OAuth 2.0 client-credentials grant,
//! and the mail calls Mailproof needs — send MIME through Exchange Online's transport (sendMail), list what arrived
//! in every folder since a time, find by Message-ID, read a message's MIME, delete.
//!
//! Every request has a deadline; access tokens live in memory only and are renewed before they expire and once on
//! a 401; 429 and 503 answers are waited out as their Retry-After says (within a limit); at most four requests
//! run at once per mailbox, Exchange Online's own limit. Each call's exchange — request line, status, request id,
//! waits, never a token — is kept for the transcript. Failures are explained in words with what to do.

mod client;
mod diagnose;
mod error;
mod mail;
mod token;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Password;

pub use client::Graph;
pub use diagnose::{diagnose_graph, GraphDiagnosis};
pub use error::GraphError;
pub use mail::{Folder, Header, MessageMeta, SentMail, MAX_FOLDERS, MAX_MIME};
pub use token::{roles_of, REQUIRED_ROLES};

/// Which Microsoft cloud the tenant lives in: it decides where to sign in and where Graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Cloud {
    #[default]
    Global,
    /// US Government GCC High.
    UsGovHigh,
    /// US Government DoD.
    UsGovDod,
    /// Microsoft 365 operated by 21Vianet (China).
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGovHigh, Cloud::UsGovDod, Cloud::China];

    /// The real sign-in and Graph base URLs of this cloud.
    pub fn endpoints(self) -> Endpoints {
        let (login, graph) = match self {
            Cloud::Global => ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
            Cloud::UsGovHigh => ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
            Cloud::UsGovDod => ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
            Cloud::China => ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
        };
        Endpoints { login: login.to_owned(), graph: graph.to_owned() }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGovHigh => "usGovHigh",
            Cloud::UsGovDod => "usGovDod",
            Cloud::China => "china",
        }
    }

    pub fn parse(s: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The scope a client-credentials token for this cloud's Graph asks for: the resource's `.default`, named by
    /// the cloud's real Graph URL whatever base URL a test points at.
    fn scope(self) -> String {
        format!("{}/.default", self.endpoints().graph)
    }

    /// Graph's `permanentDelete` is offered here (the global service only, as of 2026).
    pub fn permanent_delete(self) -> bool {
        self == Cloud::Global
    }

    pub fn label(self) -> &'static str {
        match self {
            Cloud::Global => "Global",
            Cloud::UsGovHigh => "US Government GCC High",
            Cloud::UsGovDod => "US Government DoD",
            Cloud::China => "China (21Vianet)",
        }
    }
}

/// Where to sign in and where Graph is: a cloud's real URLs, or a local fake's in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The identity platform, e.g. `https://login.microsoftonline.com`; the tenant's token endpoint is under it.
    pub login: String,
    /// Graph, e.g. `https://graph.microsoft.com`; the API version is added.
    pub graph: String,
}

/// One mailbox reached through one app registration.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// The directory (tenant) ID, a GUID, or a verified domain of the tenant.
    pub tenant: String,
    /// The application (client) ID.
    pub client_id: String,
    pub secret: Password,
    /// The mailbox's address (its user principal name or primary SMTP address).
    pub mailbox: String,
    pub cloud: Cloud,
    pub endpoints: Endpoints,
    /// Limit for each request.
    pub timeout: Duration,
    /// The longest a run waits out throttling (429, 503) in all before it gives up.
    pub max_throttle_wait: Duration,
}

impl GraphConfig {
    pub fn new(tenant: &str, client_id: &str, secret: Password, mailbox: &str, cloud: Cloud) -> GraphConfig {
        GraphConfig {
            tenant: tenant.trim().to_owned(),
            client_id: client_id.trim().to_owned(),
            secret,
            mailbox: mailbox.trim().to_owned(),
            cloud,
            endpoints: cloud.endpoints(),
            timeout: Duration::from_secs(30),
            max_throttle_wait: Duration::from_secs(120),
        }
    }
}
