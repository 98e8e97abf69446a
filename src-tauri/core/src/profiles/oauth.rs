//! OAuth 2.0 sign-in for an IMAP or POP3 profile's servers (SASL XOAUTH2 or OAUTHBEARER, whichever the server
//! announces): which issuer gives the tokens — Google, Microsoft 365, or one the user names — and the OAuth client
//! registered there. The client's secret, when it has one, is the profile's secret in the OS keyring; the refresh
//! token of the account's consent is another keyring entry (see [`super::authorize`]). One consent serves both
//! servers.

use mailproof_mail::graph::Cloud;
use mailproof_mail::oauth::Provider;
use serde::{Deserialize, Serialize};

use super::clients::{google_base, graph_endpoints};

/// Who issues a profile's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum OAuthIssuer {
    /// Google accounts (Gmail, Google Workspace) on imap.gmail.com / smtp.gmail.com.
    Google,
    /// Microsoft 365 work or school accounts on outlook.office365.com / smtp.office365.com.
    Microsoft,
    /// Another issuer: its consent page, token endpoint and scopes as the user enters them.
    Custom,
}

impl OAuthIssuer {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthIssuer::Google => "google",
            OAuthIssuer::Microsoft => "microsoft",
            OAuthIssuer::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "google" => OAuthIssuer::Google,
            "microsoft" => OAuthIssuer::Microsoft,
            "custom" => OAuthIssuer::Custom,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            OAuthIssuer::Google => "Google",
            OAuthIssuer::Microsoft => "Microsoft 365",
            OAuthIssuer::Custom => "the profile's OAuth issuer",
        }
    }
}

/// A profile's OAuth 2.0 sign-in settings. No secret is here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct OAuthSettings {
    pub issuer: OAuthIssuer,
    /// The OAuth client's ID at the issuer.
    pub client_id: String,
    /// Microsoft 365 only: the directory (tenant) ID or one of its domains; `organizations` for any work or
    /// school account. Empty for the others.
    pub tenant: String,
    /// A custom issuer's consent page (HTTPS); empty for Google and Microsoft 365.
    pub authorization_url: String,
    /// A custom issuer's token endpoint (HTTPS); empty for Google and Microsoft 365.
    pub token_url: String,
    /// The scopes to ask for, separated by spaces; empty asks for the preset's (Google's and Microsoft's mail
    /// scopes). A custom issuer needs its own.
    pub scopes: String,
}

/// The tenant a Microsoft 365 profile signs in to when none is entered: any work or school account.
const ANY_WORK_ACCOUNT: &str = "organizations";

impl OAuthSettings {
    /// The issuer's endpoints and the scopes to ask for. Google's and Microsoft's are the real ones unless the
    /// environment overrides them for a local fake ([`super::clients::GOOGLE_OAUTH_ENV`], [`super::clients::GRAPH_LOGIN_ENV`]).
    pub fn provider(&self) -> Provider {
        let mut p = match self.issuer {
            OAuthIssuer::Google => Provider::google_mail(google_base().as_deref()),
            OAuthIssuer::Microsoft => {
                let tenant = Some(self.tenant.trim()).filter(|t| !t.is_empty()).unwrap_or(ANY_WORK_ACCOUNT);
                Provider::microsoft_mail(&graph_endpoints(Cloud::Global).login, tenant)
            }
            OAuthIssuer::Custom => Provider::custom(&self.authorization_url, &self.token_url, Vec::new()),
        };
        let scopes: Vec<String> = self.scopes.split_whitespace().map(str::to_owned).collect();
        if !scopes.is_empty() {
            p.scopes = scopes;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: OAuthIssuer) -> OAuthSettings {
        OAuthSettings {
            issuer,
            client_id: "client".into(),
            tenant: String::new(),
            authorization_url: "https://id.example.test/authorize".into(),
            token_url: "https://id.example.test/token".into(),
            scopes: String::new(),
        }
    }

    #[test]
    fn presets_give_the_real_endpoints_and_mail_scopes() {
        let g = settings(OAuthIssuer::Google).provider();
        assert_eq!(
            (g.token.as_str(), g.scopes[0].as_str()),
            ("https://oauth2.googleapis.com/token", "https://mail.google.com/")
        );
        let mut m = settings(OAuthIssuer::Microsoft);
        let p = m.provider();
        assert_eq!(p.authorization, "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
        assert!(p.scopes.iter().any(|s| s == "https://outlook.office.com/IMAP.AccessAsUser.All"));
        m.tenant = "contoso.onmicrosoft.com".into();
        m.scopes = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access".into();
        let p = m.provider();
        assert!(p.token.contains("/contoso.onmicrosoft.com/"));
        assert_eq!(p.scopes.len(), 2);
        let c = settings(OAuthIssuer::Custom).provider();
        assert_eq!(
            (c.authorization.as_str(), c.name.as_str()),
            ("https://id.example.test/authorize", "id.example.test")
        );
    }
}
