//! Repeated looks for one mail, by a token in its subject: how verification finds its mail on this workstation
//! and how the agent finds it on an actor's machine.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{wait_for_change, Mailbox, Watch, CLOSE_LIMIT};
use crate::cancel::Cancel;

/// How long to wait for a message and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailTiming {
    /// How long to wait for a message before giving up (default 300 s).
    pub wait_secs: u32,
    /// How often to look (default 1,000 ms). Where the server offers IMAP IDLE, INBOX wakes a look sooner.
    pub poll_millis: u32,
    /// Delete found verification mails afterwards (default yes).
    pub delete_found: bool,
}

impl Default for EmailTiming {
    fn default() -> Self {
        EmailTiming { wait_secs: 300, poll_millis: 1000, delete_found: true }
    }
}

impl EmailTiming {
    /// The longest wait: a day.
    pub const MAX_WAIT_SECS: u32 = 86_400;
    /// Looks at most this often.
    pub const MIN_POLL_MILLIS: u32 = 100;

    /// Why this timing cannot be used, in words; `None` when it can. The app and the CLI both ask this.
    pub fn problem(&self) -> Option<&'static str> {
        (self.wait_secs == 0 || self.wait_secs > Self::MAX_WAIT_SECS || self.poll_millis < Self::MIN_POLL_MILLIS)
            .then_some("Wait between 1 s and 24 h, and look no more often than every 100 ms.")
    }

    fn wait(&self) -> Duration {
        Duration::from_secs(self.wait_secs.into())
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_millis.max(Self::MIN_POLL_MILLIS).into())
    }
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verified: bool,
    /// In words, as an actor's status shows it.
    pub detail: String,
    /// When found: how long after the search began.
    pub found_after_millis: Option<u32>,
}

impl Outcome {
    fn failed(detail: String) -> Outcome {
        Outcome { verified: false, detail, found_after_millis: None }
    }

    fn found(started: Instant, junk_folder: Option<&str>) -> Outcome {
        let millis = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
        let secs = millis as f32 / 1000.0;
        let detail = match junk_folder {
            Some(junk) => format!(
                "Verified, but the verification mail was found in {junk} after {secs:.1} s: mail to this address may be filed as spam."
            ),
            None => format!("Verified: the verification mail arrived after {secs:.1} s."),
        };
        Outcome { verified: true, detail, found_after_millis: Some(millis) }
    }

    fn cancelled() -> Outcome {
        Outcome::failed("Cancelled while looking for the verification mail.".into())
    }

    fn not_found(timing: &EmailTiming) -> Outcome {
        Outcome::failed(format!("The verification mail was not found within {} s.", timing.wait_secs))
    }
}

/// Looks for mail whose subject holds `subject` until found, the wait runs out, or the run is cancelled. The
/// search session stays open between looks.
pub async fn look_for(mailbox: &dyn Mailbox, subject: &str, timing: &EmailTiming, cancel: &Cancel) -> Outcome {
    let started = Instant::now();
    let Some(opened) = cancel.unless(mailbox.finder()).await else { return Outcome::cancelled() };
    let mut finder = match opened {
        Ok(f) => f,
        Err(why) => return Outcome::failed(format!("Cannot read the mailbox: {why}")),
    };
    let outcome = loop {
        let Some(found) = cancel.unless(finder.find(subject, timing.delete_found)).await else {
            break Outcome::cancelled();
        };
        match found {
            Err(why) => break Outcome::failed(format!("Cannot read the mailbox: {why}")),
            Ok(Some(found)) => break Outcome::found(started, found.junk.then_some(found.folder.as_str())),
            Ok(None) => {}
        }
        if cancel.is_cancelled() {
            break Outcome::cancelled();
        }
        if started.elapsed() >= timing.wait() {
            break Outcome::not_found(timing);
        }
        // A cancel meanwhile is seen at the top of the next round.
        let next = timing.poll().max(finder.pace()).min(timing.wait().saturating_sub(started.elapsed()));
        cancel.unless(tokio::time::sleep(next)).await;
    };
    // A session that stalls is dropped rather than waited for.
    let _ = tokio::time::timeout(CLOSE_LIMIT, finder.close()).await;
    outcome
}

/// Waits for mail whose subject holds `subject` to arrive on a watch opened before it was sent, waking on the
/// server's pushes and looking at least every `poll_millis`. Deletes it when found, if asked to.
pub async fn watch_for(mut w: Box<dyn Watch>, subject: &str, timing: &EmailTiming, cancel: &Cancel) -> Outcome {
    let started = Instant::now();
    let changes: Vec<_> = w.changes().into_iter().collect();
    // Mail usually lands within milliseconds: look again soon, then back off to the configured interval.
    // A service with a request budget sets the shortest interval.
    let mut interval = Duration::from_millis(20).min(timing.poll()).max(w.pace());
    let outcome = loop {
        let mut wanted = |header: &[u8]| String::from_utf8_lossy(header).contains(subject);
        let Some(found) = cancel.unless(w.look(&mut wanted)).await else { break Outcome::cancelled() };
        match found {
            Err(why) => break Outcome::failed(format!("Cannot read the mailbox: {why}")),
            Ok(found) if !found.is_empty() => {
                let outcome = Outcome::found(started, found.iter().find(|a| a.junk).map(|a| a.folder.as_str()));
                if timing.delete_found {
                    let _ = w.delete(&found).await;
                }
                break outcome;
            }
            Ok(_) => {}
        }
        if cancel.is_cancelled() {
            break Outcome::cancelled();
        }
        if started.elapsed() >= timing.wait() {
            break Outcome::not_found(timing);
        }
        cancel.unless(wait_for_change(interval.min(timing.wait().saturating_sub(started.elapsed())), &changes)).await;
        interval = (interval * 2).min(timing.poll()).max(w.pace());
    };
    let _ = tokio::time::timeout(CLOSE_LIMIT, w.close()).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_bounds_are_checked_in_one_place() {
        assert_eq!(EmailTiming::default().problem(), None);
        let t = |wait_secs, poll_millis| EmailTiming { wait_secs, poll_millis, delete_found: true };
        assert!(t(0, 1000).problem().is_some(), "no wait at all");
        assert!(t(86_401, 1000).problem().is_some(), "over a day");
        assert!(t(30, 99).problem().is_some(), "faster than every 100 ms");
        assert_eq!(t(86_400, 100).problem(), None);
    }
}
