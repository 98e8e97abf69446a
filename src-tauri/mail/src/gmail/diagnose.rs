//! The connection test of a Gmail mailbox, step by step like the IMAP diagnostics: the sign-in from the stored
//! consent, the scope it grants, and the mailbox read through the API — for reading (whose mailbox it is, its
//! labels) and for sending (the scope, and the account mail goes out as).

use std::time::Instant;

use super::{Gmail, GmailConfig};
use crate::diagnose::cloud::Recorder;
use crate::diagnose::{millis, Diagnosis, Step, StepKind, StepStatus};
use crate::oauth::GMAIL_SCOPE;

/// Both sides of a Gmail mailbox's test: reading and sending.
pub struct GmailDiagnosis {
    pub reading: Diagnosis,
    pub sending: Diagnosis,
}

/// Runs the test of `config`'s mailbox, reporting each step to `on_step` (true for the sending side).
pub async fn diagnose_gmail(config: GmailConfig, on_step: &mut (dyn FnMut(bool, &Step) + Send)) -> GmailDiagnosis {
    let started = Instant::now();
    let api = config.api.clone();
    let address = config.address.clone();
    let mut r = Recorder::new(on_step);
    let gmail = Gmail::new(config);

    let t = Instant::now();
    let scopes = match &gmail {
        Err(e) => {
            r.fail(false, StepKind::SignIn, "Sign-in", &e.to_string(), t);
            None
        }
        Ok(g) => match g.sign_in().await {
            Ok(scopes) => {
                let detail =
                    format!("Signed in with the consent {address} gave, as the OAuth client {}.", g.config().client.id);
                r.record(false, StepKind::SignIn, "Sign-in", StepStatus::Passed, detail, None, t);
                Some(scopes)
            }
            Err(e) => {
                r.fail(false, StepKind::SignIn, "Sign-in", &e.to_string(), t);
                None
            }
        },
    };
    if scopes.is_none() {
        r.mirror_failed_sign_in();
    }

    if let (Some(scopes), Ok(g)) = (&scopes, &gmail) {
        let t = Instant::now();
        let shown = if scopes.is_empty() { "none".to_owned() } else { scopes.join(", ") };
        let granted = scopes.iter().any(|s| s == GMAIL_SCOPE);
        let missing = format!(
            "The consent does not grant {GMAIL_SCOPE} (it grants: {shown}). Authorize the profile again and leave \"Read, compose, and send emails\" ticked on Google's consent screen."
        );
        if granted {
            let detail = format!("Granted: {shown}.");
            r.record(false, StepKind::Permissions, "Permission to read", StepStatus::Passed, detail, None, t);
        } else {
            r.fail(false, StepKind::Permissions, "Permission to read", &missing, t);
        }
        let t = Instant::now();
        let owner = match g.profile().await {
            Ok(p) if p.email_address.eq_ignore_ascii_case(&address) => {
                let detail =
                    format!("{address}: {} messages; its history stands at {}.", p.messages_total, p.history_id);
                r.record(false, StepKind::Mailbox, "Mailbox", StepStatus::Passed, detail, None, t);
                Ok(())
            }
            Ok(p) => {
                let why = format!(
                    "The consent was given by {}, not by {address}. Authorize the profile again and sign in to Google as {address}.",
                    p.email_address
                );
                r.fail(false, StepKind::Mailbox, "Mailbox", &why, t);
                Err(why)
            }
            Err(e) => {
                r.fail(false, StepKind::Mailbox, "Mailbox", &e.to_string(), t);
                Err(e.to_string())
            }
        };
        if owner.is_ok() {
            let t = Instant::now();
            match g.labels().await {
                Ok(labels) => {
                    let has = |id: &str| labels.iter().any(|l| l.id == id);
                    let users = labels.iter().filter(|l| l.kind == "user").count();
                    if has("INBOX") && has("SPAM") && has("TRASH") {
                        let detail = format!("Inbox, Spam and Trash, and {users} labels of the user's own.");
                        r.record(false, StepKind::Mailbox, "Labels", StepStatus::Passed, detail, None, t);
                    } else {
                        let hint = "Mailproof reads Inbox, Spam and Trash to decide where a test message landed. Check the account in Gmail's settings (Labels).".to_owned();
                        let detail = "The mailbox lacks one of Gmail's system labels INBOX, SPAM, TRASH.".to_owned();
                        r.record(false, StepKind::Mailbox, "Labels", StepStatus::Warning, detail, Some(hint), t);
                    }
                }
                Err(e) => r.fail(false, StepKind::Mailbox, "Labels", &e.to_string(), t),
            }
        }

        // Sending: the same scope covers users.messages.send; mail goes out as the account that consented.
        let t = Instant::now();
        if granted {
            let detail = format!("{GMAIL_SCOPE} covers sending.");
            r.record(true, StepKind::Permissions, "Permission to send", StepStatus::Passed, detail, None, t);
        } else {
            r.fail(true, StepKind::Permissions, "Permission to send", &missing, t);
        }
        let t = Instant::now();
        match owner {
            Ok(()) => {
                let detail = format!("Mail goes out as {address}. The API cannot check a send without sending; verification sends the first real message.");
                r.record(true, StepKind::Mailbox, "Sending account", StepStatus::Passed, detail, None, t);
            }
            Err(why) => r.fail(true, StepKind::Mailbox, "Sending account", &why, t),
        }
    }

    let transcript = gmail.as_ref().map(|g| g.take_transcript()).unwrap_or_default();
    let [reading, sending] = r.finish("Gmail API", &api, "OAuth 2.0 (your consent)", transcript, millis(started));
    GmailDiagnosis { reading, sending }
}

/// The test of a Gmail mailbox whose account has not consented yet: its sign-in step fails on both sides with
/// `why` (what happened, then what to do), and nothing is asked of Google.
pub fn gmail_not_signed_in(api: &str, why: &str, on_step: &mut (dyn FnMut(bool, &Step) + Send)) -> GmailDiagnosis {
    let t = Instant::now();
    let mut r = Recorder::new(on_step);
    r.fail(false, StepKind::SignIn, "Sign-in", why, t);
    r.mirror_failed_sign_in();
    let [reading, sending] = r.finish("Gmail API", api, "OAuth 2.0 (your consent)", Vec::new(), 0);
    GmailDiagnosis { reading, sending }
}
