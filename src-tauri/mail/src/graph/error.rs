//! What can go wrong with a Microsoft 365 mailbox through Graph, each in words with what to do. Read from the
//! identity platform's AADSTS codes and Graph's error codes, the way their own documentation explains them.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("Microsoft does not know the tenant {tenant} in this cloud ({detail}). Copy the Directory (tenant) ID from the app's Overview page in the Entra admin centre, and check the cloud (Global, GCC High, DoD, China).")]
    UnknownTenant { tenant: String, detail: String },
    #[error("the tenant has no application with the client ID {client_id} ({detail}). Copy the Application (client) ID from the app's Overview page in the Entra admin centre; check that the app is registered in this tenant.")]
    UnknownClient { client_id: String, detail: String },
    #[error("the client secret is wrong ({detail}). Paste the secret's Value (shown once, when it was created), not its Secret ID; or create a new secret under Certificates & secrets.")]
    WrongSecret { detail: String },
    #[error("the client secret has expired ({detail}). Create a new secret under the app's Certificates & secrets in the Entra admin centre, then enter it and its expiry date in this profile.")]
    ExpiredSecret { detail: String },
    #[error("the app has no admin consent for {missing}: the token Microsoft issued carries only [{granted}]. In the Entra admin centre, open the app's API permissions, add the Microsoft Graph application permissions Mail.Send and Mail.ReadWrite, and choose \"Grant admin consent\".")]
    NoConsent { missing: String, granted: String },
    #[error("Exchange Online refuses this app access to {mailbox} ({detail}). An application access policy (or RBAC for Applications) limits the app to some mailboxes: add {mailbox} to the group the policy names, or ask your Exchange administrator (Test-ApplicationAccessPolicy shows the result).")]
    Policy { mailbox: String, detail: String },
    #[error("Access denied to {mailbox} ({detail}). Check that the app has the Mail.Send and Mail.ReadWrite application permissions with admin consent.")]
    Denied { mailbox: String, detail: String },
    #[error("Exchange Online has no mailbox {mailbox} ({detail}). Check the address; the user needs an Exchange Online licence and a mailbox in the cloud (not on-premises).")]
    NoMailbox { mailbox: String, detail: String },
    #[error("Microsoft Graph kept throttling the requests ({detail}); waited {waited_secs} s in all. Try again later, or run fewer actions at once.")]
    Throttled { detail: String, waited_secs: u64 },
    #[error("Microsoft Graph refused {what}: HTTP {status}: {detail}{request}")]
    Refused { what: String, status: u16, detail: String, request: String },
    #[error("cannot reach {host}: {detail}. Check this machine's network connection and proxy; Microsoft 365 needs HTTPS to {host}.")]
    Network { host: String, detail: String },
    #[error(
        "{what} did not answer within {secs} s. Try again; if it persists, check this machine's network connection."
    )]
    TimedOut { what: String, secs: u64 },
    #[error("{what} answered something Mailproof cannot read: {detail}")]
    BadAnswer { what: String, detail: String },
    #[error("the sign-in was refused: {detail}")]
    SignIn { detail: String },
}

impl GraphError {
    /// A setup problem (credentials, consent, policy, mailbox): retrying will not help.
    /// The message is no longer where a listing said (moved or deleted since): the next listing shows where it is.
    pub fn item_gone(&self) -> bool {
        matches!(self, GraphError::Refused { status: 404, detail, .. } if detail.starts_with("ErrorItemNotFound"))
    }

    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            GraphError::UnknownTenant { .. }
                | GraphError::UnknownClient { .. }
                | GraphError::WrongSecret { .. }
                | GraphError::ExpiredSecret { .. }
                | GraphError::NoConsent { .. }
                | GraphError::Policy { .. }
                | GraphError::Denied { .. }
                | GraphError::NoMailbox { .. }
                | GraphError::SignIn { .. }
        )
    }
}

/// The identity platform's error body: `{"error": "invalid_client", "error_description": "AADSTS7000215: …",
/// "error_codes": [7000215], …}`.
#[derive(Debug, Deserialize)]
pub(super) struct AadError {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

impl AadError {
    /// The description's first line, without the trace and correlation ids that follow it.
    fn summary(&self) -> String {
        self.error_description.lines().next().unwrap_or(&self.error).trim().to_owned()
    }

    pub fn explain(self, tenant: &str, client_id: &str) -> GraphError {
        let detail = self.summary();
        match self.error_codes.first().copied() {
            Some(90002) | Some(900023) | Some(90013) => GraphError::UnknownTenant { tenant: tenant.to_owned(), detail },
            Some(700016) => GraphError::UnknownClient { client_id: client_id.to_owned(), detail },
            Some(7000215) | Some(50012) => GraphError::WrongSecret { detail },
            Some(7000222) => GraphError::ExpiredSecret { detail },
            Some(65001) => {
                GraphError::NoConsent { missing: "Mail.Send and Mail.ReadWrite".into(), granted: String::new() }
            }
            _ => GraphError::SignIn { detail: format!("{}: {detail}", self.error) },
        }
    }
}

/// Graph's error body: `{"error": {"code": "ErrorAccessDenied", "message": "…", "innerError": {…}}}`.
#[derive(Debug, Deserialize)]
pub(super) struct GraphErrorBody {
    pub error: GraphErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// A Graph refusal in words: `what` was being done, with the status, Graph's code and message, and the request id
/// Microsoft support asks for.
pub(super) fn explain_refusal(
    mailbox: &str,
    what: &str,
    status: u16,
    body: &[u8],
    request_id: Option<&str>,
) -> GraphError {
    let (code, message) = match serde_json::from_slice::<GraphErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (String::new(), String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned()),
    };
    let detail = if code.is_empty() { message.clone() } else { format!("{code}: {message}") };
    let lower = message.to_ascii_lowercase();
    match (status, code.as_str()) {
        (403, _) if lower.contains("odata is disabled") || lower.contains("accesspolicy") || lower.contains("raop") => {
            GraphError::Policy { mailbox: mailbox.to_owned(), detail }
        }
        (403, _) => GraphError::Denied { mailbox: mailbox.to_owned(), detail },
        (404, "ErrorInvalidUser" | "MailboxNotEnabledForRESTAPI" | "ResourceNotFound" | "Request_ResourceNotFound") => {
            GraphError::NoMailbox { mailbox: mailbox.to_owned(), detail }
        }
        _ => GraphError::Refused {
            what: what.to_owned(),
            status,
            detail,
            request: request_id.map(|r| format!(" (request id {r})")).unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_refusals_are_read_from_their_aadsts_codes() {
        // Bodies as the identity platform sends them (shapes from public reports of these errors).
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app 'x' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.\r\nTrace ID: 8c95acf1\r\nCorrelation ID: d65574ea\r\nTimestamp: 2023-01-09 14:06:14Z","error_codes":[7000222],"timestamp":"2023-01-09 14:06:14Z"}"#;
        let e = serde_json::from_str::<AadError>(body).unwrap().explain("t", "c");
        assert!(matches!(&e, GraphError::ExpiredSecret { detail } if !detail.contains("Trace ID")), "{e:?}");
        assert!(e.to_string().contains("Create a new secret"));
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
        assert!(matches!(
            serde_json::from_str::<AadError>(body).unwrap().explain("t", "c"),
            GraphError::WrongSecret { .. }
        ));
        let body = r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found.","error_codes":[90002]}"#;
        assert!(matches!(
            serde_json::from_str::<AadError>(body).unwrap().explain("x", "c"),
            GraphError::UnknownTenant { .. }
        ));
        let body = r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'c' was not found in the directory 'x'.","error_codes":[700016]}"#;
        let e = serde_json::from_str::<AadError>(body).unwrap().explain("x", "c");
        assert!(e.to_string().contains("no application with the client ID c"), "{e}");
    }

    #[test]
    fn graph_refusals_name_the_policy_the_mailbox_or_the_request() {
        let policy = br#"{"error":{"code":"ErrorAccessDenied","message":"Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."}}"#;
        assert!(matches!(explain_refusal("bob@x", "sendMail", 403, policy, None), GraphError::Policy { .. }));
        let denied =
            br#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}"#;
        assert!(matches!(explain_refusal("bob@x", "sendMail", 403, denied, None), GraphError::Denied { .. }));
        let user = br#"{"error":{"code":"ErrorInvalidUser","message":"The requested user 'bob@x' is invalid."}}"#;
        assert!(matches!(explain_refusal("bob@x", "reading folders", 404, user, None), GraphError::NoMailbox { .. }));
        let other = explain_refusal("bob@x", "sendMail", 400, b"<html>bad gateway</html>", Some("r-1"));
        assert_eq!(
            other.to_string(),
            "Microsoft Graph refused sendMail: HTTP 400: <html>bad gateway</html> (request id r-1)"
        );
    }
}
