//! The Mailproof agent: runs on an actor's machine (`mailproof agent serve`) and reads mailboxes as that machine
//! for the workstation that paired with it, so verification proves each actor can read the mail.
//!
//! The agent makes its own TLS certificate on first start; the workstation pins its SHA-256 fingerprint, so no CA
//! is involved and nobody else can stand in for the agent. Every request carries the pairing code the agent
//! printed. One request, one answer, one JSON line each. The agent keeps its certificate, key and code in its
//! OS keyring; mailbox credentials reach it only inside a request and are never stored.

mod allow;
mod client;
mod identity;
mod pair;
mod remote;
mod serve;
mod session;
mod wire;

use std::time::Duration;

use crate::secrets::SecretsError;

pub use allow::AllowedHost;
pub use client::{code_key, find_mail, hello, AgentAddress};
pub use identity::{rotate_code, AgentIdentity};
pub use pair::{check, pair, PairError};
pub use remote::{remote_mailbox, RemoteActor, SILENCE};
pub use serve::{serve, MAX_CONNECTIONS, SHUT_OUT, WRONG_CODES};
pub use wire::{FindMail, Found, MailboxAccess, OutgoingAccess};

/// The port an agent listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7465;

/// How long connecting and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a caller has, on the agent's side, to finish the TLS handshake and send its request: an
/// unauthenticated connection is never held longer.
pub const PRE_AUTH_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot keep the agent's identity in the keyring: {0}")]
    Keyring(#[from] SecretsError),
    #[error("cannot make the agent's certificate: {0}")]
    Certificate(String),
    #[error("cannot reach the agent at {address}: {detail}. Check that `mailproof agent serve` runs there and that the port is open.")]
    Unreachable { address: String, detail: String },
    #[error("the agent at {address} did not present the certificate paired with (its fingerprint differs): {detail}. If the agent was reinstalled, pair it again.")]
    WrongCertificate { address: String, detail: String },
    #[error("the agent at {address} refused the request: {reason}")]
    Refused { address: String, reason: String },
    #[error("the agent at {address} broke off: {detail}")]
    Broken { address: String, detail: String },
}
