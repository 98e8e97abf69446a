//! Verifying one actor of a profile: this workstation looks itself (watching from before the mail is sent), a
//! remote actor looks through the agent on its machine. Every mailbox is reached through the mailbox seam.

use std::time::Duration;

use crate::cancel::Cancel;
use crate::mailbox::{self, Mark, Outcome};
use crate::profiles::{Credentials, EmailProfile, ProfileActor};
use crate::secrets::{Keyring, Secret};
use crate::store::jobs::NewTracked;
use crate::store::Store;
use crate::tracking::{EventKind, TrackStatus};

use super::{automatic_subject, manual_subject, EmailSender, Phase, VerifyError, VerifyRun};

/// What every actor of one run shares.
pub(super) struct Profiled<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    pub profile: &'a EmailProfile,
    pub credentials: &'a Credentials,
    pub run: &'a VerifyRun,
    pub cancel: &'a Cancel,
}

/// Mailproof's sender with its password, for an automatic run.
pub(super) struct SenderAccount {
    pub sender: EmailSender,
    pub password: Option<Secret>,
}

fn failed(detail: String) -> Outcome {
    Outcome { verified: false, detail, found_after_millis: None }
}

/// Verifies one actor: sends the verification mail (automatic runs) and looks for it, telling `progress` each
/// phase. Records the message in tracking; the caller stores the outcome.
pub(super) async fn verify_actor(
    ctx: &Profiled<'_>,
    pa: &ProfileActor,
    remote: bool,
    manual_uuid: Option<&str>,
    sender: Option<&SenderAccount>,
    progress: &mut (dyn FnMut(Phase, String) + Send),
) -> Result<Outcome, VerifyError> {
    let (store, profile, run) = (ctx.store, ctx.profile, ctx.run);
    // A remote actor checks through the agent on its machine, once paired.
    let agent = match store.actor_agent(&pa.actor_id)? {
        Some(a) if remote => ctx.keyring.retrieve(&crate::agent::code_key(&pa.actor_id))?.map(|code| (a, code)),
        _ => None,
    };
    if ctx.cancel.is_cancelled() {
        return Ok(failed("Cancelled before this actor was checked.".into()));
    }
    if remote && profile.server_type.is_cloud() {
        return Ok(failed(format!(
            "{} is a remote actor: this version reads {} mailboxes from this workstation only (the agent does not speak their API yet). Verify the profile for This workstation.",
            pa.actor_name,
            profile.server_type.label()
        )));
    }
    if remote && profile.oauth.is_some() {
        return Ok(failed(format!(
            "{} is a remote actor: this version signs in with OAuth 2.0 from this workstation only (the agent takes passwords and NTLM so far). Verify the profile for This workstation.",
            pa.actor_name
        )));
    }
    if remote && agent.is_none() {
        return Ok(failed(format!(
            "{} is a remote actor that is not paired with a Mailproof agent yet: run `mailproof agent serve` on its machine, then pair it (`mailproof actor pair`).",
            pa.actor_name
        )));
    }
    let mailbox = mailbox::of_profile(profile, ctx.credentials, &run.extra_ca);
    let mut tracked = None;
    let (subject, watch) = match (manual_uuid, sender) {
        (Some(uuid), _) => (manual_subject(uuid), None),
        (None, Some(account)) => {
            let subject = automatic_subject(&crate::ids::new_code());
            // This workstation watches before sending (every folder, INBOX by IDLE), so the mail is seen the
            // moment it lands.
            let watch = if remote {
                None
            } else {
                match mailbox.watch(Mark::Now, run.idle).await {
                    Ok(w) => Some(w),
                    Err(why) => return Ok(failed(format!("Cannot read the mailbox: {why}"))),
                }
            };
            progress(Phase::Sending, format!("Sending a verification mail to {}…", profile.email));
            let message_id = format!("{}@mailproof.verification", crate::ids::new_id());
            let id = store.track_message(&NewTracked {
                message_id: &message_id,
                envelope_sender: &account.sender.from_address,
                from_header: &account.sender.from_address,
                recipients: &profile.email,
                to_header: &profile.email,
                subject: &subject,
                risk: None,
                at_millis: run.clock.now_millis(),
                job_action_id: None,
                verification_of: Some(&profile.id),
                actor: None,
            })?;
            tracked = Some(id);
            match send_verification(account, &profile.email, &subject, &message_id, run).await {
                Ok(()) => {
                    let to = format!("Accepted by {}:{}", account.sender.host, account.sender.port);
                    store.track_event(id, run.clock.now_millis(), EventKind::Sent, None, &to, None)?;
                }
                Err(reply) => {
                    store.track_event(
                        id,
                        run.clock.now_millis(),
                        EventKind::Unsuccessful,
                        Some(TrackStatus::Unsuccessful),
                        &reply,
                        None,
                    )?;
                    if let Some(w) = watch {
                        w.close().await;
                    }
                    return Ok(failed(format!("Mailproof's sender could not send the verification mail: {reply}")));
                }
            }
            (subject, watch)
        }
        (None, None) => unreachable!("automatic runs always have a sender"),
    };
    progress(
        Phase::Searching,
        format!("Looking for \"{subject}\" in {} (up to {} s)…", profile.email, run.timing.wait_secs),
    );
    let outcome = match (watch, &agent) {
        (Some(w), _) => mailbox::watch_for(w, &subject, &run.timing, ctx.cancel).await,
        (None, Some((address, code))) => through_agent(ctx, pa, address, code, &subject).await,
        (None, None) => mailbox::look_for(&*mailbox, &subject, &run.timing, ctx.cancel).await,
    };
    if let Some(id) = tracked {
        let now = run.clock.now_millis();
        if outcome.verified {
            let junk = outcome.detail.contains("filed as spam");
            let status = if junk { TrackStatus::DeliveredToJunk } else { TrackStatus::Delivered };
            store.track_event(id, now, EventKind::Delivered, Some(status), &outcome.detail, None)?;
            if run.timing.delete_found {
                let deleted = Some(TrackStatus::Deleted);
                store.track_event(id, now, EventKind::Deleted, deleted, "Deleted once found", None)?;
            }
        } else {
            let missing = Some(TrackStatus::NotReceived);
            store.track_event(id, now, EventKind::NotReceived, missing, &outcome.detail, None)?;
        }
    }
    Ok(outcome)
}

/// Has the actor's agent look on its own machine; a cancelled run stops waiting for it.
async fn through_agent(
    ctx: &Profiled<'_>,
    pa: &ProfileActor,
    address: &crate::agent::AgentAddress,
    code: &Secret,
    subject: &str,
) -> Outcome {
    let find = crate::agent::FindMail {
        mailbox: crate::agent::MailboxAccess::of(ctx.profile, &ctx.credentials.password),
        subject: subject.to_owned(),
        timing: ctx.run.timing,
    };
    let asked = crate::agent::find_mail(address, code, find);
    tokio::pin!(asked);
    let answer = loop {
        tokio::select! {
            answer = &mut asked => break Some(answer),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if ctx.cancel.is_cancelled() {
                    break None;
                }
            }
        }
    };
    if let Some(Ok(_)) = &answer {
        let at = crate::store::utc_text(ctx.run.clock.now());
        if let Err(e) = ctx.store.note_agent_seen(&pa.actor_id, None, &at) {
            eprintln!("mailproof: cannot note that {}'s agent answered: {e}", pa.actor_name);
        }
    }
    match answer {
        Some(Ok(f)) => Outcome {
            verified: f.verified,
            detail: format!("{} (checked by its agent)", f.detail),
            found_after_millis: f.found_after_millis,
        },
        Some(Err(e)) => failed(format!("Cannot check from {}: {e}", pa.actor_name)),
        None => failed("Cancelled while its agent looked for the verification mail.".into()),
    }
}

/// Sends the verification mail through Mailproof's sender, over the same submission session type email actions
/// use. The error is the server's refusal, in words.
async fn send_verification(
    account: &SenderAccount,
    to: &str,
    subject: &str,
    message_id: &str,
    run: &VerifyRun,
) -> Result<(), String> {
    let message = mailproof_mail::smtp::text_message(
        &account.sender.from_address,
        to,
        subject,
        "Mailproof sent this message to verify that this mailbox receives mail and can be read. \
         It is harmless and will be deleted when found.\r\n",
        message_id,
    )?;
    let config = account.sender.smtp_config(account.password.as_ref(), run.extra_ca.clone());
    let mut session = mailbox::open_submission(Some(&config)).await.map_err(|(refusal, _)| refusal.to_string())?;
    let sent = session.send(&account.sender.from_address, &[to.to_owned()], &message.formatted()).await;
    session.quit().await;
    sent.result.map(drop).map_err(|refusal| refusal.to_string())
}
