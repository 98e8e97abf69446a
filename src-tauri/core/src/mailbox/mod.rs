//! The mailbox seam: everything in core that touches a mailbox goes through here.
//!
//! A mailbox plays three roles for the engines: it **submits** messages (acceptance, queue id, transcript), it is
//! **watched** for new mail since a mark (each copy with its folder and a junk flag; bounces arrive the same way),
//! and it is **searched** for one mail by its subject (verification), deleting what was found. [`open`] turns a
//! [`Reach`] into a [`Mailbox`]; it is the only place in core that matches on the server type. IMAP and POP3 (each
//! with SMTP for submission), Microsoft Graph and the Gmail API implement the roles. (Gmail profiles do not reach
//! their mailbox through here yet: the profile type is still to come.)
//!
//! The job engine, verification and the agent reach a mailbox only through these traits. This module imports
//! none of them.

mod gmail;
mod graph;
mod imap;
mod pop3;
pub mod search;
mod smtp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::gmail::GmailConfig;
use mailproof_mail::graph::GraphConfig;
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::MailboxConfig;
use tokio::sync::Notify;

pub use mailproof_mail::submit::{backoff, Accepted, Refusal, Sent};
pub use mailproof_mail::watch::{wait_for_change, Arrived, MAX_FETCH};
pub use search::{look_for, watch_for, EmailTiming, Outcome};
pub use smtp::open_submission;

use crate::profiles::clients::{gmail_config, graph_config, incoming_config, smtp_config, token_source};
use crate::profiles::{Credentials, EmailProfile, ServerType};

/// A message's header block, up to and with the blank line that ends it (its first 64 KiB when there is none):
/// what a look's `wanted` reads, and what the engine reads a copy's fields from.
pub fn header_block(raw: &[u8]) -> &[u8] {
    match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => &raw[..at + 4],
        None => &raw[..raw.len().min(64 * 1024)],
    }
}

/// How long ending a session politely (LOGOUT, QUIT) may take at the end of a run: one that stalls is dropped.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// Where a watch starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Only mail arriving from now on.
    Now,
    /// Mail received on or after this day (picking up an interrupted watch; POP3, which has no dates, reads all).
    Since(time::Date),
}

/// A mailbox watched for new mail, one look at a time.
pub trait Watch: Send {
    /// New mail since the last look whose header `wanted` takes, each with its folder and junk flag.
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>>;
    /// Deletes mail a look found.
    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>>;
    /// Wakes when the server pushes a change (IMAP IDLE); `None` when only looking sees changes.
    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }
    /// The shortest time between the beginnings of two looks: a service that counts requests against a budget
    /// asks for one; servers on a connection of their own do not.
    fn pace(&self) -> Duration {
        Duration::ZERO
    }
    /// The last look left new mail for the next one (a look reads a bounded number of messages): look again soon.
    fn backlog(&self) -> bool {
        false
    }
    /// Ends the watch politely (an API's watch holds no session: nothing to end).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// A mail found by its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub folder: String,
    /// The folder is the junk folder.
    pub junk: bool,
}

/// A mailbox searched for one mail at a time; the session may stay open between searches.
pub trait Find: Send {
    /// Looks once, in every folder the protocol can see, for mail whose subject holds `subject`; deletes what it
    /// found when `delete`.
    fn find<'a>(&'a mut self, subject: &'a str, delete: bool) -> BoxFuture<'a, Result<Option<Found>, String>>;
    /// The shortest time between two looks (a protocol that signs in for each look asks for one).
    fn pace(&self) -> Duration {
        Duration::ZERO
    }
    /// Ends the search politely.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// An open submission session, signed in, ready for messages.
pub trait Submit: Send {
    /// Submits one message; a refusal of one recipient or of the message leaves the session usable.
    fn send<'a>(&'a mut self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent>;
    /// False once the connection broke: open a new session then.
    fn usable(&self) -> bool;
    /// The server it submits to, as `host:port`, for tracking and transcripts.
    fn server(&self) -> String;
    /// Ends the session politely.
    fn quit(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A failure to open a submission session: the refusal and the conversation so far.
pub type SubmitRefusal = (Refusal, Vec<String>);

/// A mailbox, as the engines reach it.
pub trait Mailbox: Send + Sync {
    /// Opens a submission session through the mailbox's outgoing server.
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>>;
    /// Starts watching from `mark`; `idle` lets the server push changes where it can.
    fn watch(&self, mark: Mark, idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>>;
    /// Opens a search session.
    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>>;
}

/// How to reach a mailbox.
#[derive(Debug, Clone)]
pub enum Reach {
    /// Its kind, its incoming server (IMAP or POP3), and its outgoing SMTP server when it sends.
    Servers { server_type: ServerType, incoming: MailboxConfig, outgoing: Option<SmtpConfig> },
    /// Microsoft 365 through Microsoft Graph: the app's sign-in and the mailbox.
    Graph(GraphConfig),
    /// A Gmail mailbox through the Gmail API: the user's stored sign-in and the mailbox.
    Gmail(GmailConfig),
}

impl Reach {
    /// The same mailbox, each network exchange limited to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Reach {
        match &mut self {
            Reach::Servers { incoming, outgoing, .. } => {
                incoming.timeout = timeout;
                if let Some(o) = outgoing {
                    o.timeout = timeout;
                }
            }
            Reach::Graph(c) => c.timeout = timeout,
            Reach::Gmail(c) => c.timeout = timeout,
        }
        self
    }
}

/// The mailbox `reach` describes. The one place in core that matches on the server type.
pub fn open(reach: Reach) -> Box<dyn Mailbox> {
    match reach {
        Reach::Servers { server_type: ServerType::Imap, incoming, outgoing } => {
            Box::new(imap::ImapMailbox::new(incoming, outgoing))
        }
        Reach::Servers { server_type: ServerType::Pop3, incoming, outgoing } => {
            Box::new(pop3::Pop3Mailbox::new(incoming, outgoing))
        }
        Reach::Graph(config) => Box::new(graph::GraphMailbox::new(config)),
        Reach::Gmail(config) => Box::new(gmail::GmailMailbox::new(config)),
        Reach::Servers { server_type: kind @ (ServerType::Graph | ServerType::Gmail), .. } => {
            Box::new(Unreachable(kind))
        }
    }
}

/// How to reach a saved profile's mailbox, with what it signs in with and the CA trusted beyond the public roots.
pub fn reach_of(profile: &EmailProfile, credentials: &Credentials, extra_ca: &Option<PathBuf>) -> Reach {
    let password = &credentials.password;
    if let Some(config) = graph_config(profile, password) {
        return Reach::Graph(config);
    }
    if let Some(config) = gmail_config(profile, credentials) {
        return Reach::Gmail(config);
    }
    // One token source for both servers of an OAuth 2.0 profile: one refresh serves the watcher and the sender.
    let tokens = token_source(profile, credentials);
    Reach::Servers {
        server_type: profile.server_type,
        incoming: incoming_config(profile, credentials, &tokens, extra_ca),
        outgoing: Some(smtp_config(profile, credentials, &tokens, extra_ca)),
    }
}

/// A saved profile's mailbox.
pub fn of_profile(profile: &EmailProfile, credentials: &Credentials, extra_ca: &Option<PathBuf>) -> Box<dyn Mailbox> {
    open(reach_of(profile, credentials, extra_ca))
}

/// A cloud mailbox without what it signs in with (an app registration, an account's consent): every role says
/// what is missing.
struct Unreachable(ServerType);

impl Unreachable {
    fn why(&self) -> String {
        match self.0 {
            ServerType::Gmail => "the Gmail profile is not signed in to Google: sign it in (Sign in with Google in the profiles table, or `mailproof profile authorize`), then verify it".into(),
            kind => format!("the {} profile lacks its app registration: edit the profile and enter it", kind.label()),
        }
    }
}

impl Mailbox for Unreachable {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        let refusal = Refusal { stage: mailproof_mail::submit::Stage::Connect, code: None, text: self.why() };
        Box::pin(async move { Err((refusal, Vec::new())) })
    }
    fn watch(&self, _: Mark, _: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move { Err(self.why()) })
    }
    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        Box::pin(async move { Err(self.why()) })
    }
}
