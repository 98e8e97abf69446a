//! POP3 maildrops (with SMTP for submission): the inbox only, compared by UIDL between looks; each look is one
//! session (POP3 sees new mail only at sign-in), paced so that the account is not signed in to many times a
//! minute.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mailproof_mail::pop3::{still_there, Pop3, Pop3Config};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::watch::{Arrived, Pop3Watcher, POP3_PACE};
use tokio::sync::Notify;

use super::{open_submission, Find, Found, Mailbox, Mark, Submit, SubmitRefusal, Watch};

pub(super) struct Pop3Mailbox {
    incoming: Pop3Config,
    outgoing: Option<SmtpConfig>,
}

impl Pop3Mailbox {
    pub(super) fn new(incoming: Pop3Config, outgoing: Option<SmtpConfig>) -> Self {
        Pop3Mailbox { incoming, outgoing }
    }
}

impl Mailbox for Pop3Mailbox {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        Box::pin(open_submission(self.outgoing.as_ref()))
    }

    /// POP3 cannot be told of changes, so `idle` changes nothing.
    fn watch(&self, mark: Mark, _idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move {
            let w = match mark {
                Mark::Now => Pop3Watcher::open(&self.incoming).await,
                // POP3 has no dates to search by: every message in the maildrop is read again.
                Mark::Since(_) => Pop3Watcher::open_all(&self.incoming).await,
            };
            Ok(Box::new(Pop3Watch(w.map_err(|e| e.to_string())?)) as Box<dyn Watch>)
        })
    }

    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        let find = Pop3Find { config: self.incoming.clone(), checked: HashSet::new() };
        Box::pin(async move { Ok(Box::new(find) as Box<dyn Find>) })
    }
}

struct Pop3Watch(Pop3Watcher);

impl Watch for Pop3Watch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move { self.0.poll(wanted).await.map_err(|e| e.to_string()) })
    }

    /// Done in the next look's session, or at the end of the watch: no sign-in of its own.
    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>> {
        let uidls: Vec<String> = found.iter().filter_map(|a| a.uidl.clone()).collect();
        self.0.delete(&uidls);
        Box::pin(async { Ok(()) })
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }

    fn pace(&self) -> Duration {
        self.0.pace()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.0.finish().await;
        })
    }
}

/// Searches by reading each new message's header (TOP n 0); messages already read and not the one sought are not
/// read again (by UIDL).
struct Pop3Find {
    config: Pop3Config,
    checked: HashSet<String>,
}

impl Find for Pop3Find {
    fn find<'a>(&'a mut self, subject: &'a str, delete: bool) -> BoxFuture<'a, Result<Option<Found>, String>> {
        Box::pin(async move {
            let mut pop = Pop3::connect(&self.config).await.map_err(|e| e.to_string())?;
            let mut found = false;
            for (n, uid) in pop.uidl().await.map_err(|e| e.to_string())? {
                if self.checked.contains(&uid) {
                    continue;
                }
                // Removed by another session since the list: nothing to look at.
                let Some(head) = still_there(pop.top(n, 0).await).map_err(|e| e.to_string())? else { continue };
                let head = String::from_utf8_lossy(&head);
                let subject_line =
                    |l: &str| l.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("subject:")) && l.contains(subject);
                if !head.lines().any(subject_line) {
                    self.checked.insert(uid);
                } else {
                    found = true;
                    if delete {
                        still_there(pop.dele(n).await).map_err(|e| e.to_string())?;
                    }
                }
            }
            pop.quit().await.map_err(|e| e.to_string())?;
            // POP3 sees the inbox only; a mail filed to Junk is not visible to it.
            Ok(found.then(|| Found { folder: "INBOX".into(), junk: false }))
        })
    }

    fn pace(&self) -> Duration {
        POP3_PACE
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
