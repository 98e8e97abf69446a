//! Trying Mailproof without test mailboxes: the local demo gateway (`gateway`) and the demo workspace — a data
//! folder and keyring service of their own (`paths::Workspace::Demo`) holding demo profiles on that gateway, added
//! and verified here, and the demo job ready to run. Mail never leaves this machine.

pub mod gateway;

use futures::future::join_all;
use time::OffsetDateTime;

pub use gateway::{GatewayEnv, GatewayError, GatewayStatus};

use crate::actions::Selection;
use crate::cancel::Cancel;
use crate::jobs::{JobSpec, JobTiming, RuntimeParams};
use crate::profiles::{
    save_profile, AuthMethod, EmailProfile, IncomingServer, OutgoingServer, ProfileDraft, ProfileError, Security,
    ServerType, VerificationStatus,
};
use crate::secrets::{Keyring, Secret, SecretsError};
use crate::store::{Store, StoreError};
use crate::verification::{
    save_sender, sender_password_key, verify_profile, EmailSender, EmailTiming, VerifyError, VerifyRun,
};

/// The demo gateway's domain.
pub const DOMAIN: &str = "example.test";
/// The demo job's source: sends the test threats and receives the bounces.
pub const SOURCE: &str = "alice";
/// The demo job's destinations and what the demo gateway does to every mail for each (its recipient policy).
pub const DESTINATIONS: &[(&str, &str)] = &[
    ("bob", "delivers it untouched"),
    ("erin", "flags it as spam and files it into Junk"),
    ("frank", "refuses it at RCPT TO"),
];
/// The built-in actor (migration 0001): the demo's mailboxes are read from this machine.
const THIS_WORKSTATION: &str = "this-workstation";
/// The gateway's allow-listed monitoring sender, which verification mail comes from.
const VERIFIER: &str = "verifier";
/// The demo job's actions: a malware test file, a phishing test link, a spam test string.
pub const ACTIONS: &[&str] = &["A100-002", "A300-001", "A400-001"];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("the demo gateway's {0} is missing from its lab.env; stop and start the demo gateway again")]
    Incomplete(&'static str),
    #[error("{email} could not be verified on the demo gateway: {detail}")]
    Unverified { email: String, detail: String },
    #[error("the demo workspace has no profile {0}: open the demo again to add it")]
    NoProfile(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Settings(String),
}

/// A demo mailbox's address.
pub fn address(user: &str) -> String {
    format!("{user}@{DOMAIN}")
}

/// Makes the demo workspace in `store` ready on the running gateway `env`: its CA trusted, its verifier as
/// Mailproof's sender, a profile for the source and each destination (IMAPS and submission with STARTTLS, read by
/// this workstation), each verified. Profiles already right are left as they are; a gateway started again on
/// other ports gets them updated and verified again. `on_step` hears each step in words.
pub async fn prepare(
    store: &Store,
    keyring: &Keyring,
    env: &GatewayEnv,
    cancel: &Cancel,
    on_step: &(dyn Fn(String) + Send + Sync),
) -> Result<JobSpec, DemoError> {
    let now = OffsetDateTime::now_utc();
    let submission = env.port("LAB_SUBMISSION_PORT").ok_or(DemoError::Incomplete("submission port"))?;
    let imaps = env.port("LAB_IMAPS_PORT").ok_or(DemoError::Incomplete("IMAPS port"))?;
    let ca = env.ca();
    crate::settings::set_trusted_ca(store, Some(&ca.display().to_string()), now)
        .map_err(|e| DemoError::Settings(e.to_string()))?;
    save_sender(store, &gateway_sender(env.host(), VERIFIER, submission), now)?;
    keyring.persist(&sender_password_key(), &password(env, VERIFIER)?)?;

    let mut to_verify = Vec::new();
    for user in std::iter::once(SOURCE).chain(DESTINATIONS.iter().map(|(u, _)| *u)) {
        let draft = draft(env, user, imaps, submission)?;
        let existing = store.find_profile_by_email(&draft.email)?;
        match existing {
            Some(p) if up_to_date(&p, &draft) && keyring.retrieve(&p.password_key())?.is_some() => {}
            Some(p) => {
                on_step(format!("Updating {}", p.email));
                to_verify.push(save_profile(store, keyring, Some(&p.id), draft, now)?);
            }
            None => {
                on_step(format!("Adding {}", draft.email));
                to_verify.push(save_profile(store, keyring, None, draft, now)?);
            }
        }
    }
    let run = VerifyRun {
        manual: false,
        timing: EmailTiming { wait_secs: 30, poll_millis: 200, delete_found: true },
        extra_ca: Some(ca),
        idle: true,
        clock: Default::default(),
    };
    if !to_verify.is_empty() {
        let names: Vec<&str> = to_verify.iter().map(|p| p.email.as_str()).collect();
        on_step(format!("Verifying {}", names.join(", ")));
    }
    let outcomes =
        join_all(to_verify.iter().map(|p| verify_profile(store, keyring, &p.id, &run, cancel, |_| {}))).await;
    for (profile, outcome) in to_verify.iter().zip(outcomes) {
        let events = outcome?;
        if let Some(failed) = events.iter().find(|e| e.verified != Some(true)) {
            return Err(DemoError::Unverified { email: profile.email.clone(), detail: failed.detail.clone() });
        }
    }
    demo_job(store, &crate::jobs::defaults::load_timing(store)?)
}

/// The demo job in `store`'s demo profiles: every demo action from the source to each destination, with
/// `timing`'s poll schedule and a 60 s wait (the gateway answers within a second or two).
pub fn demo_job(store: &Store, timing: &JobTiming) -> Result<JobSpec, DemoError> {
    let id_of = |user: &str| -> Result<String, DemoError> {
        let email = address(user);
        Ok(store.find_profile_by_email(&email)?.ok_or(DemoError::NoProfile(email))?.id)
    };
    let destinations: Vec<&str> = DESTINATIONS.iter().map(|(u, _)| *u).collect();
    Ok(JobSpec {
        name: format!("Demo: {SOURCE} → {}", destinations.join(", ")),
        selection: Selection::Ids { ids: ACTIONS.iter().map(|a| (*a).to_owned()).collect() },
        source_profile_id: id_of(SOURCE)?,
        destination_profile_ids: destinations.iter().map(|u| id_of(u)).collect::<Result<_, _>>()?,
        params: RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 },
        timing: JobTiming {
            timeout_secs: 60,
            pause_millis: 0,
            poll_millis: timing.poll_millis,
            concurrency: DESTINATIONS.len() as u32,
        },
        actors: Default::default(),
    })
}

fn password(env: &GatewayEnv, user: &str) -> Result<Secret, DemoError> {
    env.password(user).map(Secret::new).ok_or(DemoError::Incomplete("demo password"))
}

fn draft(env: &GatewayEnv, user: &str, imaps: u16, submission: u16) -> Result<ProfileDraft, DemoError> {
    Ok(gateway_draft(env.host(), user, password(env, user)?, ServerType::Imap, imaps, submission))
}

/// Mailproof's sender as `user`@example.test on a gateway of this kind: submission with STARTTLS on
/// `submission`, Plain sign-in (its password goes to the keyring beside it).
pub fn gateway_sender(host: &str, user: &str, submission: u16) -> EmailSender {
    EmailSender {
        host: host.to_owned(),
        port: submission.into(),
        security: Security::StartTls,
        requires_auth: true,
        auth: AuthMethod::Plain,
        username: address(user),
        from_address: address(user),
        pinned_sha256: None,
    }
}

/// The profile of `user`@example.test on a gateway of this kind (the demo's, the tests' lab): incoming over
/// implicit TLS on `incoming_port` (IMAPS or POP3S), submission with STARTTLS on `submission`, Plain sign-in with
/// `password`, read by this workstation.
pub fn gateway_draft(
    host: &str,
    user: &str,
    password: Secret,
    server_type: ServerType,
    incoming_port: u16,
    submission: u16,
) -> ProfileDraft {
    ProfileDraft {
        email: address(user),
        server_type,
        manual_verification: false,
        zone_id: None,
        actor_ids: vec![THIS_WORKSTATION.into()],
        username: address(user),
        password: Some(password),
        incoming: IncomingServer {
            host: host.to_owned(),
            port: incoming_port.into(),
            security: Security::Tls,
            auth: AuthMethod::Plain,
            pinned_sha256: None,
        },
        outgoing: OutgoingServer {
            host: host.to_owned(),
            port: submission.into(),
            security: Security::StartTls,
            requires_auth: true,
            auth: AuthMethod::Plain,
            pinned_sha256: None,
        },
        graph: None,
        gmail: None,
        oauth: None,
    }
}

/// Whether `profile` already reaches the gateway as `draft` says and is verified for every actor.
fn up_to_date(profile: &EmailProfile, draft: &ProfileDraft) -> bool {
    profile.incoming == draft.incoming
        && profile.outgoing == draft.outgoing
        && !profile.actors.is_empty()
        && profile.actors.iter().all(|a| a.status == VerificationStatus::Verified)
}
