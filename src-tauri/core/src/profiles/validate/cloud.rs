//! Validation of the cloud profiles' own fields: a Microsoft 365 profile's app registration and its secret's
//! expiry, a Gmail profile's OAuth client.

use super::{check_domain, Findings};
use crate::profiles::ProfileDraft;

/// A Microsoft 365 profile: the app registration, its secret and the secret's expiry.
pub(super) fn check_graph(draft: &ProfileDraft, editing: bool, today: time::Date, f: &mut Findings) {
    let Some(g) = &draft.graph else {
        f.error(
            "graph",
            "Enter the app registration: the tenant ID, the client ID and the client secret's expiry date.",
        );
        return;
    };
    let tenant = g.tenant_id.trim();
    if tenant.is_empty() {
        f.error(
            "graph.tenantId",
            "Enter the Directory (tenant) ID from the app's Overview page in the Entra admin centre.",
        );
    } else if !is_guid(tenant) && check_domain(tenant).is_err() {
        f.error(
            "graph.tenantId",
            format!("\"{tenant}\" is neither a tenant ID (a GUID such as 7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42) nor a domain of the tenant (such as contoso.onmicrosoft.com)."),
        );
    }
    let client = g.client_id.trim();
    if !is_guid(client) {
        f.error(
            "graph.clientId",
            "Enter the Application (client) ID from the app's Overview page: a GUID such as 5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6.",
        );
    }
    match &draft.password {
        None if !editing => f.error(
            "password",
            "Enter the client secret's Value (Certificates & secrets in the Entra admin centre). It is stored in the OS keyring only.",
        ),
        Some(p) if p.expose().trim().is_empty() => f.error("password", "The client secret is empty. Paste the secret's Value."),
        Some(p) if is_guid(p.expose().trim()) => f.error(
            "password",
            "This looks like the secret's ID (a GUID), not its Value. Paste the Value shown when the secret was created; if it is no longer shown, create a new secret.",
        ),
        _ => {}
    }
    match g.expiry() {
        None => f.error(
            "graph.secretExpires",
            "Enter the day the client secret expires as YYYY-MM-DD (the Expires column under Certificates & secrets).",
        ),
        Some(_) if g.expired(today) => f.error(
            "graph.secretExpires",
            format!("The client secret expired on {}: create a new one under Certificates & secrets and enter it with its expiry date.", g.secret_expires.trim()),
        ),
        Some(_) => {
            if let Some(notice) = g.secret_notice(today) {
                f.warn("graph.secretExpires", notice);
            }
        }
    }
}

/// A GUID as Entra ID writes them: 8-4-4-4-12 hexadecimal digits.
pub(super) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A Gmail profile: the OAuth client (a "Desktop app" client) and its secret.
pub(super) fn check_gmail(draft: &ProfileDraft, editing: bool, f: &mut Findings) {
    let where_ = "APIs & Services → Credentials in the Google Cloud console";
    let client = draft.gmail.as_ref().map(|g| g.client_id.trim()).unwrap_or_default();
    if client.is_empty() {
        f.error(
            "gmail.clientId",
            format!("Enter the Client ID of the project's OAuth client (type Desktop app) from {where_}."),
        );
    } else if !is_google_client_id(client) {
        f.error(
            "gmail.clientId",
            format!("\"{client}\" is not a Google OAuth Client ID: it reads like 1234567890-abc123def456.apps.googleusercontent.com ({where_})."),
        );
    }
    match &draft.password {
        None if !editing => f.error(
            "password",
            format!("Enter the OAuth client's Client secret ({where_}; it starts with GOCSPX-). It is stored in the OS keyring only."),
        ),
        Some(p) if p.expose().trim().is_empty() => {
            f.error("password", "The client secret is empty. Paste the OAuth client's Client secret.")
        }
        Some(p) if is_google_client_id(p.expose().trim()) => f.error(
            "password",
            "This is a Client ID, not the Client secret. Paste the secret shown beside it (it starts with GOCSPX-).",
        ),
        _ => {}
    }
}

/// A Google OAuth client ID: `<project number>-<32 letters and digits>.apps.googleusercontent.com`.
pub(super) fn is_google_client_id(s: &str) -> bool {
    let Some(name) = s.strip_suffix(".apps.googleusercontent.com") else { return false };
    let Some((number, rest)) = name.split_once('-') else { return false };
    !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{actors, draft, errors_for, today};
    use super::super::validate_draft;
    use crate::profiles::{Findings, GmailSettings, ProfileDraft, ServerType};
    use crate::secrets::Secret;

    fn graph_draft() -> ProfileDraft {
        ProfileDraft {
            server_type: ServerType::Graph,
            password: Some(Secret::new("Xq8~secret.value")),
            graph: Some(crate::profiles::GraphSettings {
                tenant_id: "7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42".into(),
                client_id: "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6".into(),
                secret_expires: "2027-06-30".into(),
                cloud: crate::profiles::Cloud::Global,
            }),
            ..draft()
        }
    }

    #[test]
    fn a_microsoft_365_draft_checks_its_app_registration_and_the_secrets_expiry() {
        assert_eq!(validate_draft(&graph_draft(), false, &actors(), today()), Findings::default());
        let mut d = graph_draft();
        d.incoming.host = String::new();
        assert!(validate_draft(&d, false, &actors(), today()).is_ok(), "a Graph profile's servers are Graph's");
        let g = |f: &dyn Fn(&mut crate::profiles::GraphSettings)| {
            let mut d = graph_draft();
            f(d.graph.as_mut().unwrap());
            d
        };
        assert!(errors_for(&g(&|g| g.tenant_id = "not a tenant!".into()), "graph.tenantId")[0]
            .contains("neither a tenant ID"));
        assert!(errors_for(&g(&|g| g.tenant_id = "contoso.onmicrosoft.com".into()), "graph.tenantId").is_empty());
        assert!(
            errors_for(&g(&|g| g.client_id = "my-app".into()), "graph.clientId")[0].contains("Application (client) ID")
        );
        assert!(errors_for(&g(&|g| g.secret_expires = "30/06/2027".into()), "graph.secretExpires")[0]
            .contains("YYYY-MM-DD"));
        assert!(errors_for(&g(&|g| g.secret_expires = "2026-12-01".into()), "graph.secretExpires")[0]
            .contains("expired on 2026-12-01"));
        let soon = validate_draft(&g(&|g| g.secret_expires = "2026-12-20".into()), false, &actors(), today());
        assert!(soon.is_ok());
        assert!(soon.warnings[0].message.contains("expires on 2026-12-20 (in 18 days)"), "{:?}", soon.warnings);
        let mut d = graph_draft();
        d.password = Some(Secret::new("0b6f1c1e-aaaa-bbbb-cccc-000000000000"));
        assert!(errors_for(&d, "password")[0].contains("the secret's ID"));
        d.graph = None;
        assert!(errors_for(&d, "graph")[0].contains("tenant ID"));
    }

    fn gmail_draft() -> ProfileDraft {
        ProfileDraft {
            server_type: ServerType::Gmail,
            username: String::new(),
            password: Some(Secret::new("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1")),
            gmail: Some(GmailSettings {
                client_id: "418276350914-3q7k0a9g2d5c1b8e6f4h0j2l4n6p8r0t.apps.googleusercontent.com".into(),
            }),
            ..draft()
        }
    }

    #[test]
    fn a_gmail_draft_checks_its_oauth_client() {
        assert_eq!(validate_draft(&gmail_draft(), false, &actors(), today()), Findings::default());
        let mut d = gmail_draft();
        d.incoming.host = String::new();
        assert!(validate_draft(&d, false, &actors(), today()).is_ok(), "a Gmail profile's servers are the API's");
        let with_client =
            |id: &str| ProfileDraft { gmail: Some(GmailSettings { client_id: id.into() }), ..gmail_draft() };
        assert!(errors_for(&with_client(" "), "gmail.clientId")[0].contains("Desktop app"));
        assert!(errors_for(&with_client("my-project"), "gmail.clientId")[0].contains("apps.googleusercontent.com"));
        assert!(errors_for(&ProfileDraft { gmail: None, ..gmail_draft() }, "gmail.clientId")[0].contains("Client ID"));
        let mut d = gmail_draft();
        d.password = Some(Secret::new(d.gmail.as_ref().unwrap().client_id.clone()));
        assert!(errors_for(&d, "password")[0].contains("not the Client secret"));
        d.password = None;
        assert!(errors_for(&d, "password")[0].contains("GOCSPX-"));
        assert!(validate_draft(&d, true, &actors(), today()).is_ok(), "editing keeps the stored secret");
    }
}
