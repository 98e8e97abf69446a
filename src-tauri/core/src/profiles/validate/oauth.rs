//! Validation of an IMAP or POP3 draft that signs in with OAuth 2.0: one consent serves both servers, the issuer's
//! fields, and the OAuth client.

use super::cloud::{is_google_client_id, is_guid};
use super::{check_domain, Findings};
use crate::profiles::{AuthMethod, OAuthIssuer, ProfileDraft, Security};

/// Tenants Microsoft's identity platform takes by name besides tenant IDs and domains.
const MICROSOFT_TENANT_NAMES: [&str; 3] = ["organizations", "common", "consumers"];

/// A draft where a server signs in with OAuth 2.0.
pub(super) fn check_oauth(draft: &ProfileDraft, f: &mut Findings) {
    let (inc, out) = (&draft.incoming, &draft.outgoing);
    let password = |a: AuthMethod| a != AuthMethod::OAuth2;
    // The profile keeps one secret (the OAuth client's) and one consent: both servers sign in the same way.
    if inc.auth == AuthMethod::OAuth2 && out.requires_auth && password(out.auth) {
        f.error(
            "outgoing.auth",
            "The incoming server signs in with OAuth 2.0, so the outgoing one must too (one consent serves both): choose OAuth 2.0, or turn the outgoing server's authentication off if it relays without it.",
        );
    }
    if password(inc.auth) && out.requires_auth && out.auth == AuthMethod::OAuth2 {
        f.error(
            "incoming.auth",
            "The outgoing server signs in with OAuth 2.0, so the incoming one must too (one consent serves both): choose OAuth 2.0 here as well.",
        );
    }
    let Some(o) = &draft.oauth else {
        f.error(
            "oauth",
            "Choose who issues the sign-in (Google, Microsoft 365 or another issuer) and enter the OAuth client's ID.",
        );
        return;
    };
    let client = o.client_id.trim();
    match o.issuer {
        OAuthIssuer::Google if client.is_empty() || !is_google_client_id(client) => f.error(
            "oauth.clientId",
            "Enter the Client ID of an OAuth client of type Desktop app (APIs & Services → Credentials in the Google Cloud console): it reads like 1234567890-abc123def456.apps.googleusercontent.com.",
        ),
        OAuthIssuer::Microsoft if !is_guid(client) => f.error(
            "oauth.clientId",
            "Enter the Application (client) ID from the app registration's Overview in the Entra admin centre: a GUID such as 5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6.",
        ),
        OAuthIssuer::Custom if client.is_empty() => {
            f.error("oauth.clientId", "Enter the client ID the issuer gave this app.")
        }
        _ => {}
    }
    let tenant = o.tenant.trim();
    if o.issuer == OAuthIssuer::Microsoft
        && !tenant.is_empty()
        && !MICROSOFT_TENANT_NAMES.contains(&tenant)
        && !is_guid(tenant)
        && check_domain(tenant).is_err()
    {
        f.error(
            "oauth.tenant",
            format!("\"{tenant}\" is neither a tenant ID (a GUID), a domain of the tenant (such as contoso.onmicrosoft.com) nor \"organizations\" (any work or school account)."),
        );
    }
    if o.issuer == OAuthIssuer::Custom {
        for (field, url, what) in [
            ("oauth.authorizationUrl", &o.authorization_url, "consent page (authorization endpoint)"),
            ("oauth.tokenUrl", &o.token_url, "token endpoint"),
        ] {
            if let Err(why) = check_endpoint(url.trim()) {
                f.error(field, format!("The issuer's {what}: {why}"));
            }
        }
        if o.scopes.trim().is_empty() {
            f.error(
                "oauth.scopes",
                "Enter the scopes the mail servers want, separated by spaces (the issuer's documentation names them).",
            );
        }
    }
    let clear = "An access token must not cross the network in clear text: choose SSL/TLS or STARTTLS for a server that signs in with OAuth 2.0.";
    if inc.auth == AuthMethod::OAuth2 && inc.security == Security::None {
        f.error("incoming.security", clear);
    }
    if out.requires_auth && out.auth == AuthMethod::OAuth2 && out.security == Security::None {
        f.error("outgoing.security", clear);
    }
}

/// An endpoint must be HTTPS, or plain HTTP on this machine (a local issuer): tokens never cross a network in clear.
fn check_endpoint(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("enter its URL.".into());
    }
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
    let Some(rest) = url.strip_prefix("https://").or(local.then_some("local")) else {
        return Err(format!("\"{url}\" must start with https:// (plain HTTP only to this machine)."));
    };
    if rest.is_empty() || rest.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(format!("\"{url}\" is not a URL."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{actors, draft, errors_for, today};
    use super::super::validate_draft;
    use crate::profiles::{AuthMethod, OAuthIssuer, OAuthSettings, ProfileDraft};

    fn oauth_draft(issuer: OAuthIssuer, client_id: &str) -> ProfileDraft {
        let mut d = draft();
        d.password = None;
        d.incoming.auth = AuthMethod::OAuth2;
        d.outgoing.auth = AuthMethod::OAuth2;
        d.oauth = Some(OAuthSettings {
            issuer,
            client_id: client_id.into(),
            tenant: String::new(),
            authorization_url: String::new(),
            token_url: String::new(),
            scopes: String::new(),
        });
        d
    }

    #[test]
    fn an_oauth_draft_needs_no_password_but_its_issuers_fields() {
        let google = oauth_draft(
            OAuthIssuer::Google,
            "418276350914-3q7k0a9g2d5c1b8e6f4h0j2l4n6p8r0t.apps.googleusercontent.com",
        );
        assert!(
            validate_draft(&google, false, &actors(), today()).is_ok(),
            "{:?}",
            validate_draft(&google, false, &actors(), today())
        );
        let ms = oauth_draft(OAuthIssuer::Microsoft, "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6");
        assert!(validate_draft(&ms, false, &actors(), today()).is_ok());
        assert!(errors_for(&oauth_draft(OAuthIssuer::Microsoft, "my-app"), "oauth.clientId")[0].contains("Entra"));
        assert!(errors_for(&oauth_draft(OAuthIssuer::Google, "my-app"), "oauth.clientId")[0].contains("Desktop app"));
        let mut bad_tenant = ms.clone();
        bad_tenant.oauth.as_mut().unwrap().tenant = "not a tenant".into();
        assert!(errors_for(&bad_tenant, "oauth.tenant")[0].contains("organizations"));

        let mut custom = oauth_draft(OAuthIssuer::Custom, "mailproof");
        assert!(errors_for(&custom, "oauth.tokenUrl")[0].contains("enter its URL"));
        assert!(errors_for(&custom, "oauth.scopes")[0].contains("scopes"));
        let o = custom.oauth.as_mut().unwrap();
        o.authorization_url = "http://id.example.test/authorize".into();
        o.token_url = "http://127.0.0.1:8080/token".into();
        o.scopes = "mail".into();
        assert!(errors_for(&custom, "oauth.authorizationUrl")[0].contains("https://"));
        assert!(errors_for(&custom, "oauth.tokenUrl").is_empty(), "a local issuer may be plain HTTP");
        assert!(errors_for(&ProfileDraft { oauth: None, ..ms }, "oauth")[0].contains("Google, Microsoft 365"));
    }

    #[test]
    fn both_servers_sign_in_the_same_way_and_never_in_clear() {
        let mut d = oauth_draft(OAuthIssuer::Microsoft, "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6");
        d.outgoing.auth = AuthMethod::Plain;
        assert!(errors_for(&d, "outgoing.auth")[0].contains("one consent serves both"));
        d.outgoing.requires_auth = false;
        assert!(errors_for(&d, "outgoing.auth").is_empty(), "a relay without authentication is fine");
        let mut d = oauth_draft(OAuthIssuer::Microsoft, "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6");
        d.incoming.auth = AuthMethod::Plain;
        assert!(errors_for(&d, "incoming.auth")[0].contains("one consent serves both"));
        let mut d = oauth_draft(OAuthIssuer::Microsoft, "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6");
        d.incoming.security = crate::profiles::Security::None;
        d.incoming.port = 143;
        assert!(errors_for(&d, "incoming.security")[0].contains("clear text"));
    }
}
