//! Submission over SMTP: the one session type every send in core goes through (email actions and Mailproof's
//! own verification sender alike).

use futures::future::BoxFuture;
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::submit::{Sent, Session, Stage};

use super::{Refusal, Submit, SubmitRefusal};

struct SmtpSubmit {
    session: Session,
    server: String,
}

impl Submit for SmtpSubmit {
    fn send<'a>(&'a mut self, from: &'a str, to: &'a [String], raw: &'a [u8]) -> BoxFuture<'a, Sent> {
        Box::pin(self.session.send(from, to, raw))
    }
    fn usable(&self) -> bool {
        self.session.usable()
    }
    fn server(&self) -> String {
        self.server.clone()
    }
    fn quit(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(self.session.quit())
    }
}

/// Connects, greets, secures and signs in to `config`'s server; `None` when the mailbox has no outgoing server.
pub async fn open_submission(config: Option<&SmtpConfig>) -> Result<Box<dyn Submit>, SubmitRefusal> {
    let Some(config) = config else {
        let text = "this mailbox has no outgoing server to send through".to_owned();
        return Err((Refusal { stage: Stage::Connect, code: None, text }, Vec::new()));
    };
    let session = Session::open(config).await?;
    Ok(Box::new(SmtpSubmit { session, server: format!("{}:{}", config.host, config.port) }))
}
