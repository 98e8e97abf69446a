//! The connection test of a Microsoft 365 mailbox, step by step like the IMAP diagnostics: the app's sign-in,
//! the permissions its token carries, and the mailbox read through Graph — for reading (its folders) and for
//! sending (Mail.Send, and the mailbox reachable under the tenant's access policy).

use std::time::Instant;

use super::token::REQUIRED_ROLES;
use super::{Graph, GraphConfig, GraphError};
use crate::diagnose::cloud::Recorder;
use crate::diagnose::{millis, Diagnosis, Step, StepKind, StepStatus};

/// Both sides of a Graph mailbox's test: reading and sending.
pub struct GraphDiagnosis {
    pub reading: Diagnosis,
    pub sending: Diagnosis,
}

/// Runs the test of `config`'s mailbox, reporting each step to `on_step` (true for the sending side).
pub async fn diagnose_graph(config: GraphConfig, on_step: &mut (dyn FnMut(bool, &Step) + Send)) -> GraphDiagnosis {
    let started = Instant::now();
    let base = config.endpoints.graph.clone();
    let mailbox = config.mailbox.clone();
    let mut r = Recorder::new(on_step);
    let graph = Graph::new(config);

    let t = Instant::now();
    let roles: Option<Vec<String>> = match &graph {
        Err(e) => {
            r.fail(false, StepKind::SignIn, "Sign-in", &e.to_string(), t);
            None
        }
        Ok(g) => {
            let signed_in = match g.sign_in().await {
                Ok(roles) => Ok(roles),
                // Signed in, but without every permission: the permission steps say which.
                Err(GraphError::NoConsent { granted, .. }) => {
                    Ok(granted.split(", ").filter(|x| !x.is_empty()).map(str::to_owned).collect())
                }
                Err(e) => Err(e),
            };
            match signed_in {
                Ok(roles) => {
                    let c = g.config();
                    let detail = format!(
                        "Signed in to tenant {} as the app {} ({} cloud).",
                        c.tenant,
                        c.client_id,
                        c.cloud.label()
                    );
                    r.record(false, StepKind::SignIn, "Sign-in", StepStatus::Passed, detail, None, t);
                    Some(roles)
                }
                Err(e) => {
                    r.fail(false, StepKind::SignIn, "Sign-in", &e.to_string(), t);
                    None
                }
            }
        }
    };

    if roles.is_none() {
        r.mirror_failed_sign_in();
    }

    if let (Some(roles), Ok(g)) = (&roles, &graph) {
        let granted = |role: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(role));
        let shown = if roles.is_empty() { "none".to_owned() } else { roles.join(", ") };
        let consent = |role: &str| {
            format!(
                "The token carries no {role} role (it carries: {shown}). In the Entra admin centre, open the app's API permissions, add the Microsoft Graph application permission {role}, and choose \"Grant admin consent\"."
            )
        };

        // Reading: Mail.ReadWrite, then the folders.
        let t = Instant::now();
        if granted(REQUIRED_ROLES[1]) {
            let detail = format!("Granted with admin consent: {shown}.");
            r.record(false, StepKind::Permissions, "Permissions", StepStatus::Passed, detail, None, t);
            let t = Instant::now();
            match g.folders().await {
                Ok(folders) => {
                    let list: Vec<String> =
                        folders.iter().map(|f| format!("{} ({})", f.display_name, f.total_item_count)).collect();
                    let detail = format!("{mailbox}: {}.", list.join(", "));
                    r.record(false, StepKind::Mailbox, "Mailbox folders", StepStatus::Passed, detail, None, t);
                }
                Err(e) => r.fail(false, StepKind::Mailbox, "Mailbox folders", &e.to_string(), t),
            }
        } else {
            r.fail(false, StepKind::Permissions, "Permissions", &consent(REQUIRED_ROLES[1]), t);
        }

        // Sending: Mail.Send, then the mailbox reachable for the app under the tenant's access policy.
        let t = Instant::now();
        if granted(REQUIRED_ROLES[0]) {
            let detail = "Mail.Send is granted with admin consent.".to_owned();
            r.record(true, StepKind::Permissions, "Permission to send", StepStatus::Passed, detail, None, t);
            let t = Instant::now();
            match g.well_known_folder("sentitems").await {
                Ok(_) => {
                    let detail = format!("The app may act for {mailbox}: its Sent Items are readable. Graph cannot check a send without sending; verification sends the first real message.");
                    r.record(true, StepKind::Mailbox, "Mailbox access", StepStatus::Passed, detail, None, t);
                }
                Err(e) => r.fail(true, StepKind::Mailbox, "Mailbox access", &e.to_string(), t),
            }
        } else {
            r.fail(true, StepKind::Permissions, "Permission to send", &consent(REQUIRED_ROLES[0]), t);
        }
    }

    let transcript = graph.as_ref().map(|g| g.take_transcript()).unwrap_or_default();
    let [reading, sending] =
        r.finish("Microsoft Graph", &base, "OAuth 2.0 client credentials", transcript, millis(started));
    GraphDiagnosis { reading, sending }
}
