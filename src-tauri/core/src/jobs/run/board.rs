//! The job's actions in flight, shared by the senders and the watcher: what is pending, what is still open, and
//! what arrived before its action was registered. The board only keeps and hands out; deciding happens elsewhere,
//! so it is tested alone.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::engine::GroupCtx;
use crate::actions::ActionDef;
use crate::ids::TOKEN_LEN;
use crate::jobs::{Evidence, Notice};
use crate::mailbox::Arrived;

/// An action sent and accepted, waiting for its fate.
pub(super) struct Pending {
    pub group: GroupCtx,
    pub row_id: String,
    pub def: &'static ActionDef,
    /// What was sent (subject, parts, digests, token) and the evidence gathered so far.
    pub evidence: Evidence,
    pub tracked: i64,
    pub wait: Wait,
}

/// When an action's fate is looked for.
#[derive(Debug, Clone)]
pub(super) struct Wait {
    /// Look no earlier than this (the job's extra sleep).
    pub due: Instant,
    pub deadline: Instant,
    /// Arrived before it was due; judged when due.
    pub early: Option<Arrived>,
}

/// What the board needs of what it keeps.
pub(super) trait Waiting {
    fn wait(&self) -> &Wait;
    fn wait_mut(&mut self) -> &mut Wait;
    /// Which action it is, kept after it is decided: a gateway's notice may come later.
    fn sent(&self) -> Sent;
    /// A gateway's notice about it, kept until it is decided.
    fn add_notice(&mut self, notice: Notice);
}

impl Waiting for Pending {
    fn wait(&self) -> &Wait {
        &self.wait
    }
    fn wait_mut(&mut self) -> &mut Wait {
        &mut self.wait
    }
    fn sent(&self) -> Sent {
        Sent { row_id: self.row_id.clone(), group: self.group.group, id: self.def.id, name: self.def.name }
    }
    fn add_notice(&mut self, notice: Notice) {
        self.evidence.notices.push(notice);
    }
}

/// An action of the job that was sent, decided or not.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub row_id: String,
    pub group: u32,
    pub id: &'static str,
    pub name: &'static str,
}

/// Where a gateway's notice about a token goes.
pub(super) enum Noticed {
    /// Not one of this job's messages.
    Unknown,
    /// Kept with the action, which is still waiting (or not registered yet).
    Kept,
    /// The action was decided already: its decision is to be revised.
    Decided(Sent),
}

/// Where an arrival for a token goes.
pub(super) enum Claim<P> {
    /// Not an open action of this job.
    Unknown,
    /// Registered but not due yet: kept and judged when due.
    Early,
    /// Open but not registered as sent yet: kept until it is.
    Unclaimed,
    /// The action, taken off the board to be decided.
    Taken(P),
}

/// The job's actions in flight (by token).
pub(super) struct Board<P = Pending> {
    /// Sent and accepted.
    pub pending: HashMap<String, P>,
    /// Groups still sending.
    pub senders: usize,
    /// Actions not decided yet, with the destination profile their copy arrives in: what the watcher fetches.
    pub open: HashMap<String, String>,
    /// Copies and bounces that arrived before their action was registered as sent (delivery can beat the
    /// sender's bookkeeping), with whether each is a bounce: claimed when it is.
    pub unclaimed: HashMap<String, Vec<(Arrived, bool)>>,
    /// Actions registered since the watcher last looked: it looks again soon.
    pub registered: u64,
    /// Every action registered as sent, decided or not, by token.
    pub sent: HashMap<String, Sent>,
    /// Notices that named an open action before it was registered: handed to it when it is.
    pub early_notices: HashMap<String, Vec<Notice>>,
}

impl<P: Waiting> Board<P> {
    pub fn new(senders: usize, open: HashMap<String, String>) -> Self {
        Board {
            pending: HashMap::new(),
            senders,
            open,
            unclaimed: HashMap::new(),
            registered: 0,
            sent: HashMap::new(),
            early_notices: HashMap::new(),
        }
    }

    /// Nothing is sending and nothing waits: the watch is over.
    pub fn done(&self) -> bool {
        self.senders == 0 && self.pending.is_empty()
    }

    /// An action was accepted: it waits from now on. Returns what arrived for it already.
    pub fn register(&mut self, token: String, mut pending: P) -> Vec<(Arrived, bool)> {
        self.registered += 1;
        self.sent.insert(token.clone(), pending.sent());
        for n in self.early_notices.remove(&token).unwrap_or_default() {
            pending.add_notice(n);
        }
        self.pending.insert(token.clone(), pending);
        self.unclaimed.remove(&token).unwrap_or_default()
    }

    /// A gateway's notice named `token`.
    pub fn notice(&mut self, token: &str, notice: &Notice) -> Noticed {
        if let Some(p) = self.pending.get_mut(token) {
            p.add_notice(notice.clone());
            return Noticed::Kept;
        }
        if let Some(sent) = self.sent.get(token) {
            return Noticed::Decided(sent.clone());
        }
        if self.open.contains_key(token) {
            self.early_notices.entry(token.to_owned()).or_default().push(notice.clone());
            return Noticed::Kept;
        }
        Noticed::Unknown
    }

    /// An action ended before it waited (refused, not built, cancelled): nothing is fetched for it any more.
    pub fn close(&mut self, token: &str) {
        self.open.remove(token);
    }

    /// The first of `tokens` that is open.
    pub fn open_token<'t>(&self, tokens: &[&'t str]) -> Option<&'t str> {
        tokens.iter().copied().find(|t| self.open.contains_key(*t))
    }

    /// A copy for `token` arrived at `now`.
    pub fn claim_copy(&mut self, token: &str, arrived: &Arrived, now: Instant) -> Claim<P> {
        if !self.open.contains_key(token) {
            return Claim::Unknown;
        }
        match self.pending.get_mut(token) {
            Some(p) if p.wait().due > now => {
                p.wait_mut().early = Some(arrived.clone());
                Claim::Early
            }
            Some(_) => Claim::Taken(self.take(token).expect("pending above")),
            None => {
                self.unclaimed.entry(token.to_owned()).or_default().push((arrived.clone(), false));
                Claim::Unclaimed
            }
        }
    }

    /// Takes an action off the board.
    pub fn take(&mut self, token: &str) -> Option<P> {
        self.open.remove(token);
        self.pending.remove(token)
    }

    /// Takes every action `which` picks.
    pub fn take_where(&mut self, which: impl Fn(&P) -> bool) -> Vec<P> {
        let tokens: Vec<String> = self.pending.iter().filter(|(_, p)| which(p)).map(|(t, _)| t.clone()).collect();
        tokens.iter().filter_map(|t| self.take(t)).collect()
    }

    /// At `now`: the actions whose early arrival is now due, and the ones whose wait ran out.
    pub fn take_due(&mut self, now: Instant) -> (Vec<P>, Vec<P>) {
        let ready = |p: &P| p.wait().early.is_some() && p.wait().due <= now;
        let due = self.take_where(ready);
        let expired = self.take_where(|p| !ready(p) && p.wait().deadline <= now);
        (due, expired)
    }

    /// An action was registered since `registered`, or one accepted moments ago is due: its mail is expected.
    pub fn expecting(&self, registered: u64, now: Instant, soon: std::time::Duration) -> bool {
        self.registered != registered || self.pending.values().any(|p| p.wait().due <= now && now < p.wait().due + soon)
    }
}

pub(super) fn lock<P>(board: &Mutex<Board<P>>) -> MutexGuard<'_, Board<P>> {
    board.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tokens a text may carry: our Message-ID (`mp-<token>.`), the subject tag (`[MP-<token>]`) and the
/// action header (`token=<token>`).
pub(super) fn tokens_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for marker in ["mp-", "[MP-", "token="] {
        let mut rest = text;
        while let Some(at) = rest.find(marker) {
            let after = &rest[at + marker.len()..];
            let candidate = after.get(..TOKEN_LEN).unwrap_or("");
            if candidate.len() == TOKEN_LEN
                && candidate.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
            {
                out.push(candidate);
            }
            rest = after;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Item(Wait, Vec<Notice>);

    impl Waiting for Item {
        fn wait(&self) -> &Wait {
            &self.0
        }
        fn wait_mut(&mut self) -> &mut Wait {
            &mut self.0
        }
        fn sent(&self) -> Sent {
            Sent { row_id: "row".into(), group: 0, id: "A", name: "a" }
        }
        fn add_notice(&mut self, notice: Notice) {
            self.1.push(notice);
        }
    }

    fn copy() -> Arrived {
        Arrived {
            folder: "INBOX".into(),
            junk: false,
            removed: false,
            uid: 1,
            uidl: None,
            raw: b"Subject: x\r\n\r\n".to_vec(),
        }
    }

    fn board(tokens: &[&str]) -> Board<Item> {
        Board::new(1, tokens.iter().map(|t| (t.to_string(), "dest".to_string())).collect())
    }

    #[test]
    fn tokens_are_read_from_message_ids_subjects_and_the_action_header() {
        let t = "abcdefgh2345";
        assert_eq!(tokens_in(&format!("Message-ID: <mp-{t}.0f0f@example.test>")), [t]);
        assert_eq!(tokens_in(&format!("Subject: [SUSPICIOUS] [MP-{t}] EICAR")), [t]);
        assert_eq!(tokens_in(&format!("X-Mailproof-Action: A100-001 token={t}")), [t]);
        assert!(tokens_in("mp-short. [MP-UPPERCASE123] token=has0and1and8").is_empty());
    }

    #[test]
    fn a_copy_that_beats_its_registration_is_handed_over_when_it_registers() {
        let now = Instant::now();
        let mut b = board(&["aaaa"]);
        assert!(matches!(b.claim_copy("aaaa", &copy(), now), Claim::Unclaimed));
        assert!(matches!(b.claim_copy("zzzz", &copy(), now), Claim::Unknown), "not this job's");
        let wait = Wait { due: now, deadline: now + Duration::from_secs(5), early: None };
        let early = b.register("aaaa".into(), Item(wait, Vec::new()));
        assert_eq!(early.len(), 1, "the early copy comes back with the registration");
        assert!(matches!(b.claim_copy("aaaa", &copy(), now), Claim::Taken(_)));
        assert!(b.pending.is_empty() && b.open.is_empty());
    }

    #[test]
    fn an_early_copy_is_judged_when_due_and_a_silent_action_when_its_wait_ends() {
        let now = Instant::now();
        let mut b = board(&["early", "quiet", "later"]);
        let wait = |due: u64, deadline: u64| Wait {
            due: now + Duration::from_secs(due),
            deadline: now + Duration::from_secs(deadline),
            early: None,
        };
        b.register("early".into(), Item(wait(2, 10), Vec::new()));
        b.register("quiet".into(), Item(wait(0, 3), Vec::new()));
        b.register("later".into(), Item(wait(0, 60), Vec::new()));
        assert!(matches!(b.claim_copy("early", &copy(), now), Claim::Early), "its extra sleep has not passed");
        let (due, expired) = b.take_due(now + Duration::from_secs(1));
        assert!(due.is_empty() && expired.is_empty());
        let (due, expired) = b.take_due(now + Duration::from_secs(4));
        assert_eq!((due.len(), expired.len()), (1, 1), "the early copy is due, the quiet one ran out");
        assert_eq!(b.pending.keys().collect::<Vec<_>>(), ["later"]);
        b.senders = 0;
        assert!(!b.done());
        b.take_where(|_| true);
        assert!(b.done());
    }

    #[test]
    fn a_notice_is_kept_with_its_action_before_and_while_it_waits_and_revises_it_after() {
        let now = Instant::now();
        let mut b = board(&["aaaa", "bbbb"]);
        let n = Notice { subject: "quarantined".into(), ..Notice::default() };
        assert!(matches!(b.notice("zzzz", &n), Noticed::Unknown), "not this job's");
        assert!(matches!(b.notice("aaaa", &n), Noticed::Kept), "open, not registered yet");
        let wait = Wait { due: now, deadline: now + Duration::from_secs(5), early: None };
        b.register("aaaa".into(), Item(wait.clone(), Vec::new()));
        assert_eq!(b.pending["aaaa"].1.len(), 1, "the early notice came with the registration");
        assert!(matches!(b.notice("aaaa", &n), Noticed::Kept));
        assert_eq!(b.pending["aaaa"].1.len(), 2);
        b.take("aaaa");
        assert!(matches!(b.notice("aaaa", &n), Noticed::Decided(s) if s.row_id == "row"), "decided: revised");
    }
}
