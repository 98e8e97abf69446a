//! Verifying email profiles by mail: Mailproof's own sender mails a unique code to the profile's address, then
//! each actor looks for it in the mailbox (every IMAP folder, Junk included; POP3 by UIDL + TOP). Manual
//! verification looks for a mail the user sent with the profile's Verification UUID in the subject.
//!
//! This is the engine; the app and `mailproof profile verify` drive it and show its events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailproof_mail::imap::{self, ImapConfig};
use mailproof_mail::pop3::{Pop3, Pop3Config};
use mailproof_mail::smtp::{self, SmtpConfig};
use mailproof_mail::tls::Trust;
use mailproof_mail::watch::{wait_for_change, ImapWatcher};
use mailproof_mail::{Login, Password};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::directory::ActorKind;
use crate::profiles::{
    normalize_fingerprint, profile_password, AuthMethod, EmailProfile, ProfileError, Security, ServerType,
};
use crate::secrets::{Keyring, Secret, SecretKey};
use crate::store::{utc_text, Store, StoreError};

const SENDER_KEY: &str = "email.sender";
const TIMING_KEY: &str = "email.timing";

/// The keyring entry of the sender's password.
pub fn sender_password_key() -> SecretKey {
    SecretKey::new("sender/password")
}

/// The account Mailproof sends verification mail from (Settings → Email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailSender {
    pub host: String,
    pub port: u32,
    pub security: Security,
    pub requires_auth: bool,
    pub auth: AuthMethod,
    pub username: String,
    /// The From address of verification mail.
    pub from_address: String,
    pub pinned_sha256: Option<String>,
}

/// How long to wait for a message and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailTiming {
    /// How long to wait for a message before giving up (default 300 s).
    pub wait_secs: u32,
    /// How often to look (default 1,000 ms). IMAP IDLE is not used yet.
    pub poll_millis: u32,
    /// Delete found verification mails afterwards (default yes).
    pub delete_found: bool,
}

impl Default for EmailTiming {
    fn default() -> Self {
        EmailTiming { wait_secs: 300, poll_millis: 1000, delete_found: true }
    }
}

/// Checks the sender's fields, as the profile wizard checks a profile's outgoing server.
pub fn validate_sender(sender: &EmailSender) -> crate::profiles::Findings {
    crate::profiles::validate_outgoing(
        &sender.host,
        sender.port,
        sender.security,
        sender.requires_auth,
        &sender.username,
        &sender.from_address,
        sender.pinned_sha256.as_deref(),
    )
}

/// The same step-by-step diagnostics as a profile's outgoing server, for the sender.
pub async fn test_sender(
    sender: &EmailSender,
    password: Option<&Secret>,
    extra_ca: Option<std::path::PathBuf>,
    mut on_step: impl FnMut(&mailproof_mail::diagnose::Step) + Send,
) -> mailproof_mail::diagnose::Diagnosis {
    use mailproof_mail::diagnose::{diagnose, Protocol, Target};
    let target = Target {
        protocol: Protocol::Smtp,
        host: sender.host.trim().to_owned(),
        port: u16::try_from(sender.port).unwrap_or(0),
        encryption: sender.security.into(),
        trust: Trust { extra_ca, pinned_sha256: sender.pinned_sha256.as_deref().and_then(normalize_fingerprint) },
        login: match (sender.requires_auth, password) {
            (true, Some(p)) => {
                Some(Login { username: sender.username.trim().to_owned(), password: Password::new(p.expose()) })
            }
            _ => None,
        },
        ntlm: sender.requires_auth && sender.auth == AuthMethod::Ntlm,
        timeout: crate::profiles::STEP_TIMEOUT,
    };
    diagnose(&target, &mut |s| on_step(s)).await
}

pub fn load_sender(store: &Store) -> Result<Option<EmailSender>, StoreError> {
    read(store, SENDER_KEY)
}

pub fn save_sender(store: &Store, sender: &EmailSender, now: OffsetDateTime) -> Result<(), StoreError> {
    write(store, SENDER_KEY, sender, now)
}

pub fn load_timing(store: &Store) -> Result<EmailTiming, StoreError> {
    Ok(read(store, TIMING_KEY)?.unwrap_or_default())
}

pub fn save_timing(store: &Store, timing: &EmailTiming, now: OffsetDateTime) -> Result<(), StoreError> {
    write(store, TIMING_KEY, timing, now)
}

pub(crate) fn read<T: for<'de> Deserialize<'de>>(store: &Store, key: &str) -> Result<Option<T>, StoreError> {
    store
        .setting_raw(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| StoreError::BadValue { key: key.into(), detail: e.to_string() })
        })
        .transpose()
}

pub(crate) fn write<T: Serialize>(store: &Store, key: &str, value: &T, now: OffsetDateTime) -> Result<(), StoreError> {
    store.set_setting_raw(key, &serde_json::to_string(value).expect("settings serialize"), now)
}

/// A verification code: a v4 UUID's 128 bits in lower-case RFC 4648 base32 without padding — 26 URL-safe
/// characters.
pub fn verification_code(uuid: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let value = uuid.as_u128();
    (0..26i32)
        .map(|i| {
            // 26 groups of 5 bits cover 130 bits; the first group holds the top 3 bits.
            let shift = 125 - 5 * i;
            let group = if shift >= 0 { (value >> shift) & 31 } else { (value << (-shift)) & 31 };
            ALPHABET[group as usize] as char
        })
        .collect()
}

/// The subject of an automatic verification mail.
pub fn automatic_subject(code: &str) -> String {
    format!("Mailproof verification {code}")
}

/// The subject the user sends for manual verification: the UUID in parentheses.
pub fn manual_subject(uuid: &str) -> String {
    format!("({uuid})")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Sending,
    Searching,
    Done,
}

/// What happened for one actor, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct VerifyEvent {
    pub actor_id: String,
    pub actor_name: String,
    pub phase: Phase,
    /// Set when `phase` is `Done`.
    pub verified: Option<bool>,
    /// In words: what is going on, or why the actor is (un)verified.
    pub detail: String,
    /// When verified: how long after the mail was sent (and the search began) it was found.
    pub found_after_millis: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Mailproof's sender is not set up. Set it in Settings → Email (the server, account and From address verification mail is sent from).")]
    NoSender,
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// Asks a running verification to stop; every clone stops the same run.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a run should go.
#[derive(Debug, Clone)]
pub struct VerifyRun {
    /// Look for the user's `(UUID)` mail instead of sending one.
    pub manual: bool,
    pub timing: EmailTiming,
    /// A CA trusted beyond the public roots, e.g. an organisation's (and the lab's in tests).
    pub extra_ca: Option<std::path::PathBuf>,
    /// Watch INBOX with IMAP IDLE where the server offers it (the default); off, only polling looks.
    pub idle: bool,
}

/// Verifies every actor of a profile, one after another, storing each outcome as it is decided.
pub async fn verify_profile(
    store: &Store,
    keyring: &Keyring,
    profile_id: &str,
    run: &VerifyRun,
    cancel: &Cancel,
    mut on_event: impl FnMut(VerifyEvent) + Send,
) -> Result<Vec<VerifyEvent>, VerifyError> {
    let profile = store.get_profile(profile_id)?.ok_or_else(|| ProfileError::NotFound(profile_id.to_owned()))?;
    let password = profile_password(store, keyring, profile_id)?;
    let sender = if run.manual {
        None
    } else {
        let sender = load_sender(store)?.ok_or(VerifyError::NoSender)?;
        let pw = if sender.requires_auth {
            Some(keyring.retrieve(&sender_password_key())?.ok_or(VerifyError::NoSender)?)
        } else {
            None
        };
        Some((sender, pw))
    };
    let manual_uuid =
        if run.manual { Some(store.verification_uuid(profile_id, OffsetDateTime::now_utc())?) } else { None };
    let actors = store.list_actors()?;
    let mut outcomes = Vec::new();
    for pa in &profile.actors {
        let event = |phase, verified, detail: String| VerifyEvent {
            actor_id: pa.actor_id.clone(),
            actor_name: pa.actor_name.clone(),
            phase,
            verified,
            detail,
            found_after_millis: None,
        };
        let remote = actors.iter().any(|a| a.id == pa.actor_id && a.kind == ActorKind::Remote);
        // A remote actor checks through the agent on its machine, once paired.
        let agent = match store.actor_agent(&pa.actor_id)? {
            Some(a) if remote => keyring.retrieve(&crate::agent::code_key(&pa.actor_id))?.map(|code| (a, code)),
            _ => None,
        };
        let mut found_after = None;
        let mut tracked: Option<i64> = None;
        let (verified, detail) = if cancel.is_cancelled() {
            (false, "Cancelled before this actor was checked.".to_owned())
        } else if remote && agent.is_none() {
            (
                false,
                format!(
                    "{} is a remote actor that is not paired with a Mailproof agent yet: run `mailproof agent serve` on its machine, then pair it (`mailproof actor pair`).",
                    pa.actor_name
                ),
            )
        } else {
            let (subject, watcher) = match (&manual_uuid, &sender) {
                (Some(uuid), _) => (manual_subject(uuid), None),
                (None, Some((sender, sender_pw))) => {
                    let code = verification_code(uuid::Uuid::new_v4());
                    let subject = automatic_subject(&code);
                    // IMAP: watch before sending (every folder, INBOX by IDLE), so the mail is seen the moment it
                    // lands. POP3 cannot be watched; it is searched.
                    let mut watcher = None;
                    if profile.server_type != ServerType::Pop3 && !remote {
                        let config = crate::profiles::clients::imap_config(&profile, &password, &run.extra_ca);
                        match open_watcher(&config, run.idle).await {
                            Ok(w) => watcher = Some(w),
                            Err(why) => {
                                let detail = format!("Cannot read the mailbox: {why}");
                                let ev = event(Phase::Done, Some(false), detail.clone());
                                record(store, &profile, &pa.actor_id, false, &detail)?;
                                on_event(ev.clone());
                                outcomes.push(ev);
                                continue;
                            }
                        }
                    }
                    on_event(event(Phase::Sending, None, format!("Sending a verification mail to {}…", profile.email)));
                    let message_id = format!("{}@mailproof.verification", uuid::Uuid::new_v4());
                    let id = store.track_message(&crate::store::jobs::NewTracked {
                        message_id: &message_id,
                        envelope_sender: &sender.from_address,
                        from_header: &sender.from_address,
                        recipients: &profile.email,
                        to_header: &profile.email,
                        subject: &subject,
                        risk: None,
                        at_millis: now_millis(),
                        job_action_id: None,
                        verification_of: Some(&profile.id),
                    })?;
                    tracked = Some(id);
                    match send_verification(sender, sender_pw.as_ref(), &profile.email, &subject, &message_id, run)
                        .await
                    {
                        Ok(()) => {
                            let to = format!("Accepted by {}:{}", sender.host, sender.port);
                            store.track_event(id, now_millis(), "sent", None, &to, None)?;
                        }
                        Err(reply) => {
                            store.track_event(id, now_millis(), "unsuccessful", Some("unsuccessful"), &reply, None)?;
                            let detail = format!("Mailproof's sender could not send the verification mail: {reply}");
                            let ev = event(Phase::Done, Some(false), detail.clone());
                            record(store, &profile, &pa.actor_id, false, &detail)?;
                            on_event(ev.clone());
                            outcomes.push(ev);
                            continue;
                        }
                    }
                    (subject, watcher)
                }
                (None, None) => unreachable!("automatic runs always have a sender"),
            };
            on_event(event(
                Phase::Searching,
                None,
                format!("Looking for \"{subject}\" in {} (up to {} s)…", profile.email, run.timing.wait_secs),
            ));
            let (verified, detail, millis) = match (watcher, &agent) {
                (Some(w), _) => watch_for(w, &subject, run, cancel).await,
                (None, Some((address, code))) => {
                    let find = crate::agent::FindMail {
                        mailbox: crate::agent::MailboxAccess::of(&profile, &password),
                        subject: subject.clone(),
                        timing: run.timing,
                    };
                    let asked = crate::agent::find_mail(address, code, find);
                    tokio::pin!(asked);
                    // The agent looks on its own machine; a cancelled run stops waiting for it.
                    let answer = loop {
                        tokio::select! {
                            answer = &mut asked => break Some(answer),
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                                if cancel.is_cancelled() {
                                    break None;
                                }
                            }
                        }
                    };
                    match answer {
                        Some(Ok(f)) => {
                            (f.verified, format!("{} (checked by its agent)", f.detail), f.found_after_millis)
                        }
                        Some(Err(e)) => (false, format!("Cannot check from {}: {e}", pa.actor_name), None),
                        None => (false, "Cancelled while its agent looked for the verification mail.".into(), None),
                    }
                }
                (None, None) => {
                    let imap = crate::profiles::clients::imap_config(&profile, &password, &run.extra_ca);
                    let pop3 = crate::profiles::clients::pop3_config(&profile, &password, &run.extra_ca);
                    search(profile.server_type, &imap, &pop3, &subject, &run.timing, cancel).await
                }
            };
            if let Some(id) = tracked {
                let now = now_millis();
                if verified {
                    let junk = detail.contains("filed as spam");
                    let status = if junk { "deliveredToJunk" } else { "delivered" };
                    store.track_event(id, now, "delivered", Some(status), &detail, None)?;
                    if run.timing.delete_found {
                        store.track_event(id, now, "deleted", Some("deleted"), "Deleted once found", None)?;
                    }
                } else {
                    store.track_event(id, now, "notReceived", Some("notReceived"), &detail, None)?;
                }
            }
            found_after = millis;
            (verified, detail)
        };
        record(store, &profile, &pa.actor_id, verified, &detail)?;
        let mut ev = event(Phase::Done, Some(verified), detail);
        ev.found_after_millis = found_after;
        on_event(ev.clone());
        outcomes.push(ev);
    }
    Ok(outcomes)
}

fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn record(
    store: &Store,
    profile: &EmailProfile,
    actor_id: &str,
    verified: bool,
    reason: &str,
) -> Result<(), StoreError> {
    store.set_actor_status(&profile.id, actor_id, verified, reason, &utc_text(OffsetDateTime::now_utc()))
}

fn trust(pin: &Option<String>, run: &VerifyRun) -> Trust {
    Trust { extra_ca: run.extra_ca.clone(), pinned_sha256: pin.as_deref().and_then(normalize_fingerprint) }
}

async fn send_verification(
    sender: &EmailSender,
    password: Option<&Secret>,
    to: &str,
    subject: &str,
    message_id: &str,
    run: &VerifyRun,
) -> Result<(), String> {
    let message = smtp::text_message(
        &sender.from_address,
        to,
        subject,
        "Mailproof sent this message to verify that this mailbox receives mail and can be read. \
         It is harmless and will be deleted when found.\r\n",
        message_id,
    )?;
    let config = SmtpConfig {
        host: sender.host.clone(),
        port: u16::try_from(sender.port).unwrap_or(0),
        encryption: sender.security.into(),
        login: match (sender.requires_auth, password) {
            (true, Some(p)) => Some(Login { username: sender.username.clone(), password: Password::new(p.expose()) }),
            _ => None,
        },
        ntlm: sender.requires_auth && sender.auth == AuthMethod::Ntlm,
        trust: trust(&sender.pinned_sha256, run),
        timeout: Duration::from_secs(30),
    };
    smtp::send(&config, message).await.map(drop).map_err(|e| e.to_string())
}

/// Looks for `subject` until found, the wait runs out, or the run is cancelled. Returns (verified, reason, how
/// long after the search began the mail was found). An IMAP session stays open between looks. The agent runs
/// this for the workstation, as its own machine.
pub(crate) async fn search(
    server_type: ServerType,
    imap_config: &ImapConfig,
    pop3_config: &Pop3Config,
    subject: &str,
    timing: &EmailTiming,
    cancel: &Cancel,
) -> (bool, String, Option<u32>) {
    let started = Instant::now();
    let wait = Duration::from_secs(timing.wait_secs.into());
    let poll = Duration::from_millis(timing.poll_millis.max(50).into());
    let mut imap_session: Option<(imap::Session, Vec<imap::Folder>)> = None;
    // POP3: messages already read (by UIDL) and not the one sought are not read again on the next look.
    let mut checked = std::collections::HashSet::new();
    loop {
        let found = match server_type {
            ServerType::Pop3 => search_pop3(pop3_config, subject, timing.delete_found, &mut checked).await,
            _ => {
                if imap_session.is_none() {
                    match open_imap(imap_config).await {
                        Ok(s) => imap_session = Some(s),
                        Err(why) => return (false, format!("Cannot read the mailbox: {why}"), None),
                    }
                }
                let (session, folders) = imap_session.as_mut().expect("opened above");
                search_imap(session, folders, subject, timing.delete_found).await
            }
        };
        match found {
            Err(why) => return (false, format!("Cannot read the mailbox: {why}"), None),
            Ok(Some(folder)) => {
                if let Some((mut session, _)) = imap_session.take() {
                    let _ = session.logout().await;
                }
                let millis = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
                let secs = millis as f32 / 1000.0;
                return match folder {
                    Some(junk) => (
                        true,
                        format!("Verified, but the verification mail was found in {junk} after {secs:.1} s: mail to this address may be filed as spam."),
                        Some(millis),
                    ),
                    None => (true, format!("Verified: the verification mail arrived after {secs:.1} s."), Some(millis)),
                };
            }
            Ok(None) => {}
        }
        if cancel.is_cancelled() {
            return (false, "Cancelled while looking for the verification mail.".into(), None);
        }
        if started.elapsed() >= wait {
            return (false, format!("The verification mail was not found within {} s.", timing.wait_secs), None);
        }
        tokio::time::sleep(poll.min(wait.saturating_sub(started.elapsed()))).await;
    }
}

async fn open_watcher(config: &ImapConfig, idle: bool) -> Result<ImapWatcher, String> {
    let mut w = ImapWatcher::open(config).await.map_err(|e| e.to_string())?;
    if idle {
        w.start_idle().await.map_err(|e| e.to_string())?;
    }
    Ok(w)
}

/// Waits for mail whose subject holds `subject` to arrive in any folder, waking on IDLE and polling every
/// `poll_millis`. Same outcome shape as `search`.
async fn watch_for(mut w: ImapWatcher, subject: &str, run: &VerifyRun, cancel: &Cancel) -> (bool, String, Option<u32>) {
    let started = Instant::now();
    let wait = Duration::from_secs(run.timing.wait_secs.into());
    let poll = Duration::from_millis(run.timing.poll_millis.max(50).into());
    let changes: Vec<_> = w.changes().into_iter().collect();
    // Mail usually lands within milliseconds: look again soon, then back off to the configured interval.
    let mut interval = Duration::from_millis(20).min(poll);
    let outcome = loop {
        let mut wanted = |header: &[u8]| String::from_utf8_lossy(header).contains(subject);
        match w.poll(&mut wanted).await {
            Err(why) => break (false, format!("Cannot read the mailbox: {why}"), None),
            Ok(found) if !found.is_empty() => {
                let millis = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
                if run.timing.delete_found {
                    for a in &found {
                        let _ = w.delete(&a.folder, a.uid).await;
                    }
                }
                let secs = millis as f32 / 1000.0;
                break match found.iter().find(|a| a.junk) {
                    Some(junk) => (
                        true,
                        format!("Verified, but the verification mail was found in {} after {secs:.1} s: mail to this address may be filed as spam.", junk.folder),
                        Some(millis),
                    ),
                    None => (true, format!("Verified: the verification mail arrived after {secs:.1} s."), Some(millis)),
                };
            }
            Ok(_) => {}
        }
        if cancel.is_cancelled() {
            break (false, "Cancelled while looking for the verification mail.".into(), None);
        }
        if started.elapsed() >= wait {
            break (false, format!("The verification mail was not found within {} s.", run.timing.wait_secs), None);
        }
        wait_for_change(interval.min(wait.saturating_sub(started.elapsed())), &changes).await;
        interval = (interval * 2).min(poll);
    };
    w.close().await;
    outcome
}

async fn open_imap(config: &ImapConfig) -> Result<(imap::Session, Vec<imap::Folder>), String> {
    let mut session = imap::connect(config).await.map_err(|e| e.to_string())?;
    let folders = imap::folders(&mut session).await.map_err(|e| e.to_string())?;
    Ok((session, folders))
}

/// `Ok(Some(None))`: found in a normal folder; `Ok(Some(Some(name)))`: found in the junk folder `name`.
async fn search_imap(
    session: &mut imap::Session,
    folders: &[imap::Folder],
    subject: &str,
    delete: bool,
) -> Result<Option<Option<String>>, String> {
    for folder in folders {
        let uids = imap::find_by_subject(session, &folder.name, subject).await.map_err(|e| e.to_string())?;
        if !uids.is_empty() {
            if delete {
                imap::delete(session, &folder.name, &uids).await.map_err(|e| e.to_string())?;
            }
            return Ok(Some(folder.junk.then(|| folder.name.clone())));
        }
    }
    Ok(None)
}

async fn search_pop3(
    config: &Pop3Config,
    subject: &str,
    delete: bool,
    checked: &mut std::collections::HashSet<String>,
) -> Result<Option<Option<String>>, String> {
    let mut pop = Pop3::connect(config).await.map_err(|e| e.to_string())?;
    let mut found = false;
    for (n, uid) in pop.uidl().await.map_err(|e| e.to_string())? {
        if checked.contains(&uid) {
            continue;
        }
        let head = pop.top(n, 0).await.map_err(|e| e.to_string())?;
        let head = String::from_utf8_lossy(&head);
        let subject_line =
            |l: &str| l.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("subject:")) && l.contains(subject);
        if !head.lines().any(subject_line) {
            checked.insert(uid);
        } else {
            found = true;
            if delete {
                pop.dele(n).await.map_err(|e| e.to_string())?;
            }
        }
    }
    pop.quit().await.map_err(|e| e.to_string())?;
    // POP3 sees the inbox only; a mail filed to Junk is not visible to it.
    Ok(found.then_some(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_26_url_safe_characters_from_the_whole_uuid() {
        let a = verification_code(uuid::Uuid::from_u128(0));
        assert_eq!(a, "a".repeat(26));
        let b = verification_code(uuid::Uuid::from_u128(u128::MAX));
        assert_eq!(b.len(), 26);
        assert!(b.starts_with('h') && b[1..].chars().all(|c| c == '7'), "{b}");
        let c = verification_code(uuid::Uuid::new_v4());
        assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ('2'..='7').contains(&ch)));
        assert_ne!(c, verification_code(uuid::Uuid::new_v4()));
    }

    #[test]
    fn subjects() {
        assert_eq!(manual_subject("1234"), "(1234)");
        assert!(automatic_subject("abc").ends_with("abc"));
    }

    #[test]
    fn timing_defaults_and_sender_round_trip() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(load_timing(&store).unwrap(), EmailTiming::default());
        assert_eq!(load_sender(&store).unwrap(), None);
        let sender = EmailSender {
            host: "smtp.example.test".into(),
            port: 587,
            security: Security::StartTls,
            requires_auth: true,
            auth: AuthMethod::Plain,
            username: "alice@example.test".into(),
            from_address: "alice@example.test".into(),
            pinned_sha256: None,
        };
        save_sender(&store, &sender, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(load_sender(&store).unwrap(), Some(sender));
    }
}
