//! What message tracking talks about: a latest status, a search, a tracked message, a page, an event, an
//! export's outcome, and what can go wrong.

use serde::{Deserialize, Serialize};

use crate::store::error::StoreError;

/// The largest page.
pub const MAX_PAGE: u32 = 1_000;
/// Longest text accepted in a filter.
pub const MAX_FILTER_LEN: usize = 256;

/// Whether Mailproof sent a message or saw it arrive without sending it (a bounce report, a gateway's notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum TrackDirection {
    #[default]
    Sent,
    Received,
}

impl TrackDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackDirection::Sent => "sent",
            TrackDirection::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<TrackDirection> {
        [TrackDirection::Sent, TrackDirection::Received].into_iter().find(|d| d.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            TrackDirection::Sent => "Sent",
            TrackDirection::Received => "Received",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum TrackStatus {
    Queued,
    Delivered,
    DeliveredToJunk,
    Unsuccessful,
    NotReceived,
    Modified,
    Deleted,
}

impl TrackStatus {
    pub const ALL: [TrackStatus; 7] = [
        TrackStatus::Queued,
        TrackStatus::Delivered,
        TrackStatus::DeliveredToJunk,
        TrackStatus::Unsuccessful,
        TrackStatus::NotReceived,
        TrackStatus::Modified,
        TrackStatus::Deleted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TrackStatus::Queued => "queued",
            TrackStatus::Delivered => "delivered",
            TrackStatus::DeliveredToJunk => "deliveredToJunk",
            TrackStatus::Unsuccessful => "unsuccessful",
            TrackStatus::NotReceived => "notReceived",
            TrackStatus::Modified => "modified",
            TrackStatus::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<TrackStatus> {
        TrackStatus::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
    pub fn label(self) -> &'static str {
        match self {
            TrackStatus::Queued => "Queued for delivery",
            TrackStatus::Delivered => "Delivered",
            TrackStatus::DeliveredToJunk => "Delivered to Junk",
            TrackStatus::Unsuccessful => "Delivery unsuccessful",
            TrackStatus::NotReceived => "Not received",
            TrackStatus::Modified => "Modified",
            TrackStatus::Deleted => "Deleted",
        }
    }
}

/// A search. Empty strings mean "no filter"; times are Unix milliseconds, UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct TrackQuery {
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub from_ms: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub to_ms: Option<i64>,
    /// One envelope recipient.
    pub recipient: String,
    pub to: String,
    /// The envelope sender.
    pub sender: String,
    /// The From header.
    pub from: String,
    pub subject: String,
    pub message_id: String,
    /// An address or its beginning (e.g. `192.0.2.`).
    pub source_ip: String,
    /// `high`, `medium`, `low`, or empty for all.
    pub risk: String,
    /// Any of these latest statuses; empty for all.
    pub statuses: Vec<TrackStatus>,
    /// From 0.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackedRow {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub id: i64,
    pub message_id: String,
    pub envelope_sender: String,
    pub from_header: String,
    pub recipients: String,
    pub to_header: String,
    pub subject: String,
    pub source_ip: Option<String>,
    pub risk: Option<String>,
    pub status: TrackStatus,
    /// Sent by Mailproof, or received (seen arrive without sending it).
    pub direction: TrackDirection,
    /// The actor that sent it (sent) or saw it arrive (received), by name; `None`: this workstation.
    pub actor: Option<String>,
    /// A job's message: the actor that read its destination; `None`: this workstation (or not a job's).
    pub read_by: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub received_ms: i64,
    pub job_action_id: Option<String>,
    pub job_id: Option<String>,
    pub verification_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackPage {
    /// Every matching message (not only this page's).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub total: u64,
    pub rows: Vec<TrackedRow>,
    /// Nothing matched exactly: these are close matches, one typo allowed per word.
    pub fuzzy: bool,
    /// Something the user should know about the search, in words.
    pub notice: Option<String>,
}

/// What happened to a tracked message at one point of its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    Queued,
    /// Accepted by the sending server.
    Sent,
    Delivered,
    Modified,
    Unsuccessful,
    NotReceived,
    Deleted,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Queued,
        EventKind::Sent,
        EventKind::Delivered,
        EventKind::Modified,
        EventKind::Unsuccessful,
        EventKind::NotReceived,
        EventKind::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Sent => "sent",
            EventKind::Delivered => "delivered",
            EventKind::Modified => "modified",
            EventKind::Unsuccessful => "unsuccessful",
            EventKind::NotReceived => "notReceived",
            EventKind::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The event that leaves a message in `status`.
    pub fn reaching(status: TrackStatus) -> EventKind {
        match status {
            TrackStatus::Queued => EventKind::Queued,
            TrackStatus::Delivered | TrackStatus::DeliveredToJunk => EventKind::Delivered,
            TrackStatus::Unsuccessful => EventKind::Unsuccessful,
            TrackStatus::NotReceived => EventKind::NotReceived,
            TrackStatus::Modified => EventKind::Modified,
            TrackStatus::Deleted => EventKind::Deleted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TrackEvent {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub at_ms: i64,
    pub kind: EventKind,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("{field}: {why}")]
    Filter { field: &'static str, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for TrackError {
    fn from(e: rusqlite::Error) -> Self {
        TrackError::Store(e.into())
    }
}

/// How an export went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ExportOutcome {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub written: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub total: u64,
    /// More matched than the cap: only the first `EXPORT_CAP` (newest) were written.
    pub capped: bool,
}
