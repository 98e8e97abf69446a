//! Watching a mailbox for new mail: IMAP keeps one session and asks each folder only for messages above the
//! highest UID it has seen; POP3 compares UIDL lists. Only messages whose headers a caller wants are fetched
//! whole.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::sync::Notify;

use crate::imap::{self, Folder, ImapConfig, ImapError, Session};
use crate::pop3::{still_there, Pop3, Pop3Config, Pop3Error};
use crate::stream::MailStream;

/// A new message a caller asked for.
#[derive(Debug, Clone)]
pub struct Arrived {
    pub folder: String,
    /// The folder is the junk folder.
    pub junk: bool,
    /// The folder is where deleted mail goes (Trash, Deleted Items, Recoverable Items): the copy was removed
    /// after it was delivered.
    pub removed: bool,
    /// IMAP UID, or the POP3 message number at the time it was read.
    pub uid: u32,
    /// POP3 UIDL, for deleting later.
    pub uidl: Option<String>,
    pub raw: Vec<u8>,
}

/// Largest message fetched whole; bigger ones are cut (the evidence says so).
pub const MAX_FETCH: usize = 8 * 1024 * 1024;

/// Folders other than INBOX and Junk are asked on every this many looks.
const OTHER_FOLDERS_EVERY: u32 = 5;

/// The most new messages of one folder a look reads; more wait for the next look.
const LOOK_BATCH: usize = 500;

/// How much of each new message's body comes with its header: most test messages fit, so they take one round trip.
const INLINE: usize = 64 * 1024;

/// Where a watcher starts reading a folder.
#[derive(Clone, Copy)]
enum Start {
    /// At its end: only mail arriving from now on.
    Now,
    /// At the first message received on or after this day.
    Since(time::Date),
    /// At its first message.
    All,
}

struct FolderState {
    folder: Folder,
    next_uid: u32,
    /// The last look left new messages for the next one (more than [`LOOK_BATCH`] had arrived).
    backlog: bool,
}

/// Watches every folder of an IMAP mailbox, INBOX and Junk included. INBOX stays open (read-only): a look is a
/// NOOP, after which the server reports new mail, and a fetch only when it did. Other folders are asked for their
/// next UID (STATUS), and opened only when it moved. Where the server offers IDLE, a second session idles on
/// INBOX and wakes the watcher when mail arrives.
pub struct ImapWatcher {
    config: ImapConfig,
    session: Option<Session>,
    folders: Vec<FolderState>,
    /// The folder the session has selected, if known.
    selected: Option<String>,
    polls: u32,
    idle: Option<(tokio::task::JoinHandle<()>, Arc<Notify>)>,
}

impl ImapWatcher {
    /// Signs in and notes where every folder stands: only mail arriving after this counts.
    pub async fn open(config: &ImapConfig) -> Result<ImapWatcher, ImapError> {
        ImapWatcher::open_from(config, Start::Now).await
    }

    /// Signs in and starts every folder at its first message received on or after `day` (the server's internal
    /// date, which has day precision): a watcher that picks up where an interrupted one left off.
    pub async fn open_since(config: &ImapConfig, day: time::Date) -> Result<ImapWatcher, ImapError> {
        ImapWatcher::open_from(config, Start::Since(day)).await
    }

    async fn open_from(config: &ImapConfig, start: Start) -> Result<ImapWatcher, ImapError> {
        let mut w = ImapWatcher {
            config: config.clone(),
            session: None,
            folders: Vec::new(),
            selected: None,
            polls: 0,
            idle: None,
        };
        w.reconnect().await?;
        imap::within(config, "listing the mailbox's folders", w.refresh_folders(start)).await??;
        Ok(w)
    }

    /// Starts watching INBOX with IDLE, when the server offers it. Returns whether it does.
    pub async fn start_idle(&mut self) -> Result<bool, ImapError> {
        let caps = self
            .session()
            .capabilities()
            .await
            .map_err(|e| ImapError::Command { command: "CAPABILITY", detail: e.to_string() })?;
        if !caps.has_str("IDLE") {
            return Ok(false);
        }
        let notify = Arc::new(Notify::new());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(idle_loop(self.config.clone(), notify.clone(), Some(ready_tx)));
        // Wait until the first IDLE is in place, so mail arriving from now on is announced.
        let _ = tokio::time::timeout(self.config.timeout, ready_rx).await;
        self.idle = Some((task, notify));
        Ok(true)
    }

    /// Wakes when IDLE announces a change in INBOX; `None` without IDLE.
    pub fn changes(&self) -> Option<Arc<Notify>> {
        self.idle.as_ref().map(|(_, n)| n.clone())
    }

    async fn reconnect(&mut self) -> Result<(), ImapError> {
        // The old session may be mid-command: it is dropped, not logged out.
        self.session = None;
        self.session = Some(imap::connect(&self.config).await?);
        self.selected = None;
        Ok(())
    }

    /// The open session: every caller opens one first (`open`, `poll` and `delete` reconnect when the last
    /// attempt failed).
    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("opened before use")
    }

    /// Lists folders and adds the ones not seen before, starting where `start` says.
    async fn refresh_folders(&mut self, start: Start) -> Result<(), ImapError> {
        let listed = imap::folders(self.session()).await?;
        for folder in listed {
            if self.folders.iter().any(|f| f.folder.name == folder.name) {
                continue;
            }
            let next_uid = match start {
                Start::Now => self.uid_next(&folder.name).await?,
                Start::Since(day) => self.first_uid_since(&folder.name, day).await?,
                Start::All => 1,
            };
            self.folders.push(FolderState { folder, next_uid, backlog: false });
        }
        Ok(())
    }

    /// The first UID in `name` received on or after `day`, or the folder's next UID when there is none.
    async fn first_uid_since(&mut self, name: &str, day: time::Date) -> Result<u32, ImapError> {
        let next = self.uid_next(name).await?;
        self.session()
            .examine(name)
            .await
            .map_err(|e| ImapError::Command { command: "EXAMINE", detail: e.to_string() })?;
        // Not noted as selected: the first look then opens INBOX afresh and reads it from the start found here.
        self.selected = None;
        let month = &["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            [usize::from(u8::from(day.month())) - 1];
        let uids = self
            .session()
            .uid_search(format!("SINCE {}-{month}-{}", day.day(), day.year()))
            .await
            .map_err(|e| ImapError::Command { command: "UID SEARCH", detail: e.to_string() })?;
        Ok(uids.into_iter().min().unwrap_or(next))
    }

    async fn uid_next(&mut self, name: &str) -> Result<u32, ImapError> {
        let mb = self
            .session()
            .status(name, "(UIDNEXT)")
            .await
            .map_err(|e| ImapError::Command { command: "STATUS", detail: e.to_string() })?;
        Ok(mb.uid_next.unwrap_or(1))
    }

    /// Is there mail in INBOX above `from`? INBOX stays open, so a NOOP makes the server report new
    /// messages (EXISTS); every twentieth look fetches anyway, in case a report went astray.
    async fn inbox_has_new(&mut self, from: u32) -> Result<bool, ImapError> {
        if self.selected.as_deref() != Some("INBOX") {
            let mb = self
                .session()
                .examine("INBOX")
                .await
                .map_err(|e| ImapError::Command { command: "EXAMINE", detail: e.to_string() })?;
            self.selected = Some("INBOX".into());
            self.drain_reports();
            return Ok(mb.uid_next.is_none_or(|next| next > from));
        }
        self.session().noop().await.map_err(|e| ImapError::Command { command: "NOOP", detail: e.to_string() })?;
        Ok(self.drain_reports() || self.polls % 20 == 0)
    }

    /// Empties the session's queue of unsolicited reports; says whether one announced new mail.
    fn drain_reports(&mut self) -> bool {
        let mut new = false;
        while let Ok(r) = self.session().unsolicited_responses.try_recv() {
            new |= matches!(r, async_imap::types::UnsolicitedResponse::Exists(_));
        }
        new
    }

    /// New messages in every folder since the last look. `wanted` sees each new message's header and says
    /// whether to fetch it whole. A broken or stalled session is opened again once, and the look starts over from
    /// where the last complete one ended: nothing is missed, nothing handed back twice.
    pub async fn poll(&mut self, wanted: &mut (dyn FnMut(&[u8]) -> bool + Send)) -> Result<Vec<Arrived>, ImapError> {
        let config = self.config.clone();
        if self.session.is_none() {
            // The last look could not open it again: try once more now.
            self.reconnect().await?;
        }
        match imap::within(&config, "a look at the mailbox", self.poll_once(wanted)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(_)) | Err(_) => {
                self.reconnect().await?;
                imap::within(&config, "a look at the mailbox", self.poll_once(wanted)).await?
            }
        }
    }

    async fn poll_once(&mut self, wanted: &mut (dyn FnMut(&[u8]) -> bool + Send)) -> Result<Vec<Arrived>, ImapError> {
        self.polls += 1;
        if self.polls % 10 == 0 {
            // A folder made while watching (e.g. Junk, created by the first filed message) holds only new mail.
            self.refresh_folders(Start::All).await?;
        }
        let mut found = Vec::new();
        // Where each folder's next look starts, kept only once the whole look succeeded.
        let mut advanced = Vec::new();
        // INBOX last: what arrived while the other folders were asked is in this look too, and the look hands back
        // its news right after reading it.
        let mut order: Vec<usize> = (0..self.folders.len()).collect();
        order.sort_by_key(|&i| self.folders[i].folder.name.eq_ignore_ascii_case("INBOX"));
        for i in order {
            let name = self.folders[i].folder.name.clone();
            let from = self.folders[i].next_uid;
            let inbox = name.eq_ignore_ascii_case("INBOX");
            // Filters deliver to INBOX and Junk: those are asked on every look, other folders on every fifth.
            if !inbox && !self.folders[i].folder.junk && self.polls % OTHER_FOLDERS_EVERY != 0 {
                continue;
            }
            let uid_next = if inbox {
                // Asked even with a backlog: it also opens INBOX when another folder was open.
                let has_new = self.inbox_has_new(from).await?;
                if !has_new && !self.folders[i].backlog {
                    continue;
                }
                from
            } else {
                let next = self.uid_next(&name).await?;
                if next <= from {
                    continue;
                }
                self.session()
                    .examine(&name)
                    .await
                    .map_err(|e| ImapError::Command { command: "EXAMINE", detail: e.to_string() })?;
                self.selected = Some(name.clone());
                next
            };
            // The new messages' UIDs, then at most LOOK_BATCH of them per look: a folder that received thousands
            // at once is read over several looks, each bounded in time.
            let mut uids: Vec<u32> = self
                .session()
                .uid_search(format!("UID {from}:*"))
                .await
                .map_err(|e| ImapError::Command { command: "UID SEARCH", detail: e.to_string() })?
                .into_iter()
                .filter(|uid| *uid >= from)
                .collect();
            uids.sort_unstable();
            let more = uids.len() > LOOK_BATCH;
            uids.truncate(LOOK_BATCH);
            let mut highest = if more { from.saturating_sub(1) } else { from.max(uid_next).saturating_sub(1) };
            let mut wanted_uids = Vec::new();
            let (junk, removed) = (self.folders[i].folder.junk, self.folders[i].folder.removed);
            if let (Some(first), Some(last)) = (uids.first(), uids.last()) {
                if more {
                    highest = highest.max(*last);
                }
                // Each new message's header with the start of its body, in one command: a wanted message that fits
                // is then whole already, and only bigger ones are fetched again. Read as they come: only the
                // wanted ones are kept.
                let mut fetches = self
                    .session()
                    .uid_fetch(
                        format!("{first}:{last}"),
                        format!("(UID RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.{INLINE}>)"),
                    )
                    .await
                    .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?;
                while let Some(f) = fetches
                    .try_next()
                    .await
                    .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?
                {
                    let Some(uid) = f.uid.filter(|uid| *uid >= from && *uid <= *last) else { continue };
                    highest = highest.max(uid);
                    let header = f.header().unwrap_or_default();
                    if !wanted(header) {
                        continue;
                    }
                    let text = f.text().unwrap_or_default();
                    if f.size.is_some_and(|size| (header.len() + text.len()) as u64 >= u64::from(size)) {
                        let raw = [header, text].concat();
                        found.push(Arrived { folder: name.clone(), junk, removed, uid, uidl: None, raw });
                    } else {
                        wanted_uids.push(uid);
                    }
                }
            }
            // The wanted messages too big for the first look, whole, in one command.
            if !wanted_uids.is_empty() {
                let set = wanted_uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                let fetched: Vec<_> = self
                    .session()
                    .uid_fetch(&set, format!("(UID BODY.PEEK[]<0.{MAX_FETCH}>)"))
                    .await
                    .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?
                    .try_collect()
                    .await
                    .map_err(|e| ImapError::Command { command: "UID FETCH", detail: e.to_string() })?;
                for f in &fetched {
                    let (Some(uid), Some(body)) = (f.uid, f.body()) else { continue };
                    // The server sent at most MAX_FETCH bytes (a partial fetch): a huge message is never buffered.
                    let raw = body[..body.len().min(MAX_FETCH)].to_vec();
                    found.push(Arrived { folder: name.clone(), junk, removed, uid, uidl: None, raw });
                }
            }
            advanced.push((i, highest.saturating_add(1), more));
        }
        for (i, next_uid, backlog) in advanced {
            self.folders[i].next_uid = next_uid;
            self.folders[i].backlog = backlog;
        }
        Ok(found)
    }

    /// The last look left new messages in some folder for the next one.
    pub fn backlog(&self) -> bool {
        self.folders.iter().any(|f| f.backlog)
    }

    /// Deletes a message found earlier.
    pub async fn delete(&mut self, folder: &str, uid: u32) -> Result<(), ImapError> {
        self.selected = None;
        if self.session.is_none() {
            self.reconnect().await?;
        }
        let config = self.config.clone();
        imap::within(&config, "deleting a message", imap::delete(self.session(), folder, &[uid])).await?
    }

    pub async fn close(mut self) {
        if let Some((task, _)) = self.idle.take() {
            task.abort();
        }
        if let Some(mut s) = self.session.take() {
            let _ = s.logout().await;
        }
    }
}

impl Drop for ImapWatcher {
    fn drop(&mut self) {
        if let Some((task, _)) = self.idle.take() {
            task.abort();
        }
    }
}

/// How long one IDLE lasts before it is renewed (RFC 2177: servers may drop it after 30 minutes). A connection
/// that died meanwhile is noticed by TCP keepalive; the watcher's own looks never depended on IDLE.
const IDLE_RENEW: Duration = Duration::from_secs(10 * 60);

/// Keeps a session idling on INBOX and wakes `notify` on every change the server reports. Reconnects after a
/// failure (with a pause) and renews IDLE before servers drop it (RFC 2177: at most 29 minutes).
async fn idle_loop(config: ImapConfig, notify: Arc<Notify>, mut ready: Option<tokio::sync::oneshot::Sender<()>>) {
    loop {
        let session = match imap::connect(&config).await {
            Ok(mut s) => match s.select("INBOX").await {
                Ok(_) => Some(s),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(mut session) = session else {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        // Idling is waiting on purpose: the connection's patience covers one IDLE, and shrinks back for DONE.
        let patience = session.get_ref().patience();
        loop {
            let mut handle = session.idle();
            if handle.init().await.is_err() {
                break;
            }
            patience.set(IDLE_RENEW + config.timeout);
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
            // Anything may have arrived between two IDLEs: look once more.
            notify.notify_one();
            let response = {
                let (wait, _stop) = handle.wait_with_timeout(IDLE_RENEW);
                wait.await
            };
            patience.set(config.timeout);
            match response {
                Ok(async_imap::extensions::idle::IdleResponse::NewData(_)) => notify.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
            match handle.done().await {
                Ok(s) => session = s,
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The shortest time between two POP3 sign-ins of one watch. POP3 sees new mail only in a new session (the
/// maildrop is fixed at sign-in, RFC 1939), so every look is a sign-in; providers lock accounts that sign in many
/// times a minute. A server that announces LOGIN-DELAY gets at least that.
pub const POP3_PACE: Duration = Duration::from_secs(2);

/// Looks in a row the server may put off (maildrop in use, logins too close together) before the watch fails.
const POP3_PUT_OFF_LIMIT: u32 = 3;

/// Watches a POP3 maildrop (the inbox only: POP3 cannot see other folders). One sign-in per look, paced;
/// deletions wait for the next session; after a refused sign-in it never signs in again.
pub struct Pop3Watcher {
    config: Pop3Config,
    seen: HashSet<String>,
    pace: Duration,
    to_delete: Vec<String>,
    refused: Option<(&'static str, String)>,
    put_off: u32,
}

impl Pop3Watcher {
    pub async fn open(config: &Pop3Config) -> Result<Pop3Watcher, Pop3Error> {
        let mut pop = Pop3::connect(config).await?;
        let seen = pop.uidl().await?.into_iter().map(|(_, u)| u).collect();
        Pop3Watcher::with(config, seen, pop).await
    }

    /// A watcher whose first look reads every message in the maildrop (POP3 has no dates to search by): one that
    /// picks up where an interrupted one left off.
    pub async fn open_all(config: &Pop3Config) -> Result<Pop3Watcher, Pop3Error> {
        Pop3Watcher::with(config, HashSet::new(), Pop3::connect(config).await?).await
    }

    /// The watcher, paced by what the opening session's server announced; the session ended.
    async fn with(config: &Pop3Config, seen: HashSet<String>, pop: Pop3<MailStream>) -> Result<Pop3Watcher, Pop3Error> {
        let pace = pop.login_delay.unwrap_or_default().max(POP3_PACE);
        pop.quit().await?;
        Ok(Pop3Watcher { config: config.clone(), seen, pace, to_delete: Vec::new(), refused: None, put_off: 0 })
    }

    /// The shortest time between the beginnings of two looks.
    pub fn pace(&self) -> Duration {
        self.pace
    }

    /// New messages since the last look; `wanted` sees each one's header (TOP n 0). A look the server puts off
    /// (RFC 2449 IN-USE, LOGIN-DELAY, SYS/TEMP) finds nothing, up to a few in a row.
    pub async fn poll(&mut self, wanted: &mut (dyn FnMut(&[u8]) -> bool + Send)) -> Result<Vec<Arrived>, Pop3Error> {
        if let Some((command, reply)) = &self.refused {
            return Err(Pop3Error::Refused {
                command,
                reply: format!(
                    "{reply} (refused earlier in this watch; not tried again, so as not to lock the account)"
                ),
            });
        }
        let mut pop = match Pop3::connect(&self.config).await {
            Ok(pop) => pop,
            Err(e) if e.is_transient() && self.put_off + 1 < POP3_PUT_OFF_LIMIT => {
                self.put_off += 1;
                return Ok(Vec::new());
            }
            Err(e) => {
                if let (true, Pop3Error::Refused { command, reply }) = (e.is_sign_in_refusal(), &e) {
                    self.refused = Some((command, reply.clone()));
                }
                return Err(e);
            }
        };
        self.put_off = 0;
        let mut found = Vec::new();
        for (n, uidl) in pop.uidl().await? {
            if self.to_delete.contains(&uidl) {
                still_there(pop.dele(n).await)?;
                continue;
            }
            if !self.seen.insert(uidl.clone()) {
                continue;
            }
            // A message removed by another session since the list is skipped, not a lost mailbox.
            let Some(head) = still_there(pop.top(n, 0).await)? else { continue };
            if wanted(&head) {
                let Some(raw) = still_there(pop.retr_capped(n, MAX_FETCH).await)? else { continue };
                found.push(Arrived {
                    folder: "INBOX".into(),
                    junk: false,
                    removed: false,
                    uid: n,
                    uidl: Some(uidl),
                    raw,
                });
            }
        }
        pop.quit().await?;
        // Deleted at QUIT (RFC 1939 UPDATE state).
        self.to_delete.clear();
        Ok(found)
    }

    /// Deletes messages by UIDL (numbers change between sessions) in the next look's session, or at the end.
    pub fn delete(&mut self, uidls: &[String]) {
        self.to_delete.extend(uidls.iter().cloned());
    }

    /// Ends the watch: the deletions no look has done yet are done in one last session.
    pub async fn finish(self) -> Result<(), Pop3Error> {
        if self.to_delete.is_empty() || self.refused.is_some() {
            return Ok(());
        }
        let mut pop = Pop3::connect(&self.config).await?;
        for (n, uidl) in pop.uidl().await? {
            if self.to_delete.contains(&uidl) {
                still_there(pop.dele(n).await)?;
            }
        }
        pop.quit().await
    }
}

/// Sleeps `poll`, or less when one of `changes` fires first; says whether one did.
pub async fn wait_for_change(poll: Duration, changes: &[Arc<Notify>]) -> bool {
    if changes.is_empty() {
        tokio::time::sleep(poll).await;
        false
    } else {
        let any = futures::future::select_all(changes.iter().map(|n| Box::pin(n.notified())));
        tokio::select! {
            _ = tokio::time::sleep(poll) => false,
            _ = any => true,
        }
    }
}
