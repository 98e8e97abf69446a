//! "Test connection": the diagnostics of a profile's incoming and outgoing servers, run side by side, with
//! each step reported as it completes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use mailproof_mail::diagnose::{diagnose, Diagnosis, Protocol, Step, Target};
use mailproof_mail::gmail::{diagnose_gmail, gmail_not_signed_in};
use mailproof_mail::graph::diagnose_graph;
use mailproof_mail::tls::Trust;
use mailproof_mail::SignIn;
use serde::Serialize;

use super::clients::{gmail_api, gmail_config_of, graph_config_of, login, oauth_tokens, tokens_for};
use super::{normalize_fingerprint, Credentials, ProfileDraft, ServerType};

/// How long each network step of a connection test may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Side {
    Incoming,
    Outgoing,
}

/// One step of one side, as it completes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct StepEvent {
    pub side: Side,
    pub step: Step,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProfileDiagnosis {
    pub incoming: Diagnosis,
    pub outgoing: Diagnosis,
    pub ok: bool,
}

/// Tests both servers of `draft` with `credentials`. `extra_ca` is a CA file trusted beyond the public roots.
pub async fn test_connection(
    draft: &ProfileDraft,
    credentials: &Credentials,
    extra_ca: Option<PathBuf>,
    timeout: Duration,
    mut on_step: impl FnMut(StepEvent) + Send,
) -> ProfileDiagnosis {
    if let (ServerType::Graph, Some(g)) = (draft.server_type, &draft.graph) {
        // Reading and sending a Microsoft 365 mailbox both go through Graph: one sign-in, both sides' steps.
        let config = graph_config_of(g, draft.email.trim(), &credentials.password, timeout);
        let mut report = |sending: bool, step: &Step| {
            on_step(StepEvent { side: if sending { Side::Outgoing } else { Side::Incoming }, step: step.clone() })
        };
        let d = diagnose_graph(config, &mut report).await;
        let ok = d.reading.ok && d.sending.ok;
        return ProfileDiagnosis { incoming: d.reading, outgoing: d.sending, ok };
    }
    if let (ServerType::Gmail, Some(g)) = (draft.server_type, &draft.gmail) {
        // So do a Gmail mailbox's, with the account's consent.
        let mut report = |sending: bool, step: &Step| {
            on_step(StepEvent { side: if sending { Side::Outgoing } else { Side::Incoming }, step: step.clone() })
        };
        let d = match &credentials.refresh_token {
            Some(refresh) => {
                let config = gmail_config_of(g, draft.email.trim(), &credentials.password, refresh, timeout);
                diagnose_gmail(config, &mut report).await
            }
            None => {
                let api = gmail_api();
                let why = format!(
                    "{} has not consented yet. Save the profile, then sign it in (Sign in with Google in the profiles table, or `mailproof profile authorize {}`): Google's page opens in your browser.",
                    draft.email.trim(),
                    draft.email.trim()
                );
                gmail_not_signed_in(&api, &why, &mut report)
            }
        };
        let ok = d.reading.ok && d.sending.ok;
        return ProfileDiagnosis { incoming: d.reading, outgoing: d.sending, ok };
    }
    let (incoming, outgoing) = targets(draft, credentials, &extra_ca, timeout);
    let report = Mutex::new(on_step);
    let emit = |side: Side, step: &Step| {
        let mut f = report.lock().unwrap_or_else(|p| p.into_inner());
        f(StepEvent { side, step: step.clone() });
    };
    let mut on_incoming = |s: &Step| emit(Side::Incoming, s);
    let mut on_outgoing = |s: &Step| emit(Side::Outgoing, s);
    // Both sides at once — except two NTLM sign-ins to one host: Dovecot's NTLM through winbind keeps one
    // helper conversation at a time, and two interleaved ones fail each other (measured on the lab).
    let ntlm = |t: &Target| t.login.is_some() && t.sign_in == SignIn::Ntlm;
    let (incoming, outgoing) = if ntlm(&incoming) && ntlm(&outgoing) && incoming.host == outgoing.host {
        let first = diagnose(&incoming, &mut on_incoming).await;
        (first, diagnose(&outgoing, &mut on_outgoing).await)
    } else {
        tokio::join!(diagnose(&incoming, &mut on_incoming), diagnose(&outgoing, &mut on_outgoing))
    };
    let ok = incoming.ok && outgoing.ok;
    ProfileDiagnosis { incoming, outgoing, ok }
}

/// The diagnosis of a classic draft's incoming server alone (the check of a new OAuth 2.0 consent).
pub(super) async fn diagnose_incoming(
    draft: &ProfileDraft,
    credentials: &Credentials,
    extra_ca: Option<PathBuf>,
    timeout: Duration,
) -> Diagnosis {
    diagnose(&targets(draft, credentials, &extra_ca, timeout).0, &mut |_: &Step| {}).await
}

/// A classic (IMAP or POP3 and SMTP) draft's servers as diagnosis targets, signing in as the profile's sessions do.
fn targets(
    draft: &ProfileDraft,
    credentials: &Credentials,
    extra_ca: &Option<PathBuf>,
    timeout: Duration,
) -> (Target, Target) {
    let username = draft.username.trim();
    // Both servers of an OAuth 2.0 draft take their tokens from one source, as a job's sessions do.
    let tokens =
        draft.oauth.as_ref().filter(|_| draft.uses_oauth()).and_then(|o| oauth_tokens(o, credentials, timeout));
    let trust = |pin: &Option<String>| Trust {
        extra_ca: extra_ca.clone(),
        pinned_sha256: pin.as_deref().and_then(normalize_fingerprint),
    };
    let incoming = Target {
        protocol: if draft.server_type == ServerType::Pop3 { Protocol::Pop3 } else { Protocol::Imap },
        host: draft.incoming.host.trim().to_owned(),
        port: u16::try_from(draft.incoming.port).unwrap_or(0),
        encryption: draft.incoming.security.into(),
        trust: trust(&draft.incoming.pinned_sha256),
        login: Some(login(username, credentials, draft.incoming.auth)),
        sign_in: draft.incoming.auth.sign_in(),
        tokens: tokens_for(&tokens, true, draft.incoming.auth),
        timeout,
    };
    let out = &draft.outgoing;
    let outgoing = Target {
        protocol: Protocol::Smtp,
        host: out.host.trim().to_owned(),
        port: u16::try_from(out.port).unwrap_or(0),
        encryption: out.security.into(),
        trust: trust(&out.pinned_sha256),
        login: out.requires_auth.then(|| login(username, credentials, out.auth)),
        sign_in: out.auth.sign_in(),
        tokens: tokens_for(&tokens, out.requires_auth, out.auth),
        timeout,
    };
    (incoming, outgoing)
}
