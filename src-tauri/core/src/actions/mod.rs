//! The action library: harmless test threats, each with a stable ID, what it exercises, and how to build it.

mod catalogue;
pub mod compose;
pub mod files;

use serde::{Deserialize, Serialize};

pub use catalogue::CATALOGUE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Category {
    Malware,
    DangerousFile,
    Link,
    Spam,
    Spoofing,
    DataLoss,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Malware,
        Category::DangerousFile,
        Category::Link,
        Category::Spam,
        Category::Spoofing,
        Category::DataLoss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Malware => "malware",
            Category::DangerousFile => "dangerous-file",
            Category::Link => "link",
            Category::Spam => "spam",
            Category::Spoofing => "spoofing",
            Category::DataLoss => "data-loss",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Malware => "Malware test files",
            Category::DangerousFile => "Dangerous file types",
            Category::Link => "Malicious links",
            Category::Spam => "Spam",
            Category::Spoofing => "Spoofing and impersonation",
            Category::DataLoss => "Data loss",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Risk {
    High,
    Medium,
    Low,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::High => "high",
            Risk::Medium => "medium",
            Risk::Low => "low",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Threats arriving from outside.
    Inbound,
    /// Data leaving: the source is inside, the destination outside.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// What a run knows when it builds an action's message.
#[derive(Debug, Clone)]
pub struct BuildContext<'a> {
    /// The source profile's address: the envelope sender and, unless spoofed, the From.
    pub source: &'a str,
    pub destination: &'a str,
    /// The job's "From spoofed address" runtime parameter.
    pub spoofed_from: Option<&'a str>,
}

/// An attachment: name, MIME type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What goes into the From header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromHeader {
    /// The source profile's address.
    Source,
    /// Another address (and display name) in the From header; the envelope stays the source's.
    Header { name: Option<String>, address: String },
    /// The envelope sender (MAIL FROM) and the From header are both the spoofed address.
    Envelope { address: String },
}

/// An action's message before MIME: the body, attachments and sender shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub from: FromHeader,
    pub reply_to: Option<String>,
    /// Text in the body that is the payload (a test string, a link, card numbers): if it does not survive
    /// delivery, the message was modified.
    pub body_payload: Vec<String>,
}

impl Content {
    pub fn text(text: impl Into<String>) -> Content {
        Content {
            text: text.into(),
            html: None,
            attachments: Vec::new(),
            from: FromHeader::Source,
            reply_to: None,
            body_payload: Vec::new(),
        }
    }

    pub fn attach(mut self, filename: &str, content_type: &str, bytes: Vec<u8>) -> Content {
        self.attachments.push(Attachment { filename: filename.into(), content_type: content_type.into(), bytes });
        self
    }

    pub fn payload(mut self, marker: impl Into<String>) -> Content {
        self.body_payload.push(marker.into());
        self
    }
}

/// One test threat.
#[derive(Clone, Copy)]
pub struct ActionDef {
    /// Stable across versions: results and presets refer to it.
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub risk: Risk,
    pub direction: Direction,
    /// What it exercises and what the file or message really contains.
    pub description: &'static str,
    /// Needs the job's "From spoofed address".
    pub needs_spoofed_from: bool,
    pub build: fn(&BuildContext) -> Content,
}

impl std::fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDef").field("id", &self.id).field("name", &self.name).finish()
    }
}

/// An action as listed to users (no builder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ActionInfo {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub category_label: String,
    pub risk: Risk,
    pub direction: Direction,
    pub description: String,
    pub needs_spoofed_from: bool,
}

impl From<&ActionDef> for ActionInfo {
    fn from(a: &ActionDef) -> Self {
        ActionInfo {
            id: a.id.into(),
            name: a.name.into(),
            category: a.category,
            category_label: a.category.label().into(),
            risk: a.risk,
            direction: a.direction,
            description: a.description.into(),
            needs_spoofed_from: a.needs_spoofed_from,
        }
    }
}

pub fn find(id: &str) -> Option<&'static ActionDef> {
    CATALOGUE.iter().find(|a| a.id.eq_ignore_ascii_case(id))
}

/// The whole library as users see it.
pub fn list() -> Vec<ActionInfo> {
    CATALOGUE.iter().map(ActionInfo::from).collect()
}

/// A named selection of actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Selection {
    /// These IDs, in this order; an ID given twice runs twice (load tests).
    Ids {
        ids: Vec<String>,
    },
    AllInbound,
    AllOutbound,
    Category {
        category: Category,
    },
    All,
}

impl Selection {
    /// The actions selected, or the first unknown ID.
    pub fn resolve(&self) -> Result<Vec<&'static ActionDef>, String> {
        Ok(match self {
            Selection::Ids { ids } => {
                let mut out: Vec<&'static ActionDef> = Vec::new();
                for id in ids {
                    let a = find(id)
                        .ok_or_else(|| format!("there is no action {id}; `mailproof actions list` shows them"))?;
                    out.push(a);
                }
                out
            }
            Selection::AllInbound => CATALOGUE.iter().filter(|a| a.direction == Direction::Inbound).collect(),
            Selection::AllOutbound => CATALOGUE.iter().filter(|a| a.direction == Direction::Outbound).collect(),
            Selection::Category { category } => CATALOGUE.iter().filter(|a| a.category == *category).collect(),
            Selection::All => CATALOGUE.iter().collect(),
        })
    }
}
