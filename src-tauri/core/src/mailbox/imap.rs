//! IMAP mailboxes (with SMTP for submission): watched with one session per mailbox (IDLE where offered), searched
//! folder by folder.

use std::sync::Arc;

use futures::future::BoxFuture;
use mailproof_mail::imap::{self, Folder, ImapConfig, Session};
use mailproof_mail::smtp::SmtpConfig;
use mailproof_mail::watch::{Arrived, ImapWatcher};
use tokio::sync::Notify;

use super::{open_submission, Find, Found, Mailbox, Mark, Submit, SubmitRefusal, Watch};

pub(super) struct ImapMailbox {
    incoming: ImapConfig,
    outgoing: Option<SmtpConfig>,
}

impl ImapMailbox {
    pub(super) fn new(incoming: ImapConfig, outgoing: Option<SmtpConfig>) -> Self {
        ImapMailbox { incoming, outgoing }
    }
}

impl Mailbox for ImapMailbox {
    fn submit(&self) -> BoxFuture<'_, Result<Box<dyn Submit>, SubmitRefusal>> {
        Box::pin(open_submission(self.outgoing.as_ref()))
    }

    fn watch(&self, mark: Mark, idle: bool) -> BoxFuture<'_, Result<Box<dyn Watch>, String>> {
        Box::pin(async move {
            let w = match mark {
                Mark::Now => ImapWatcher::open(&self.incoming).await,
                Mark::Since(day) => ImapWatcher::open_since(&self.incoming, day).await,
            };
            let mut w = w.map_err(|e| e.to_string())?;
            if idle {
                w.start_idle().await.map_err(|e| e.to_string())?;
            }
            Ok(Box::new(ImapWatch(w)) as Box<dyn Watch>)
        })
    }

    fn finder(&self) -> BoxFuture<'_, Result<Box<dyn Find>, String>> {
        Box::pin(async move {
            let mut session = imap::connect(&self.incoming).await.map_err(|e| e.to_string())?;
            let folders = imap::folders(&mut session).await.map_err(|e| e.to_string())?;
            Ok(Box::new(ImapFind { session, folders }) as Box<dyn Find>)
        })
    }
}

struct ImapWatch(ImapWatcher);

impl Watch for ImapWatch {
    fn look<'a>(
        &'a mut self,
        wanted: &'a mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> BoxFuture<'a, Result<Vec<Arrived>, String>> {
        Box::pin(async move { self.0.poll(wanted).await.map_err(|e| e.to_string()) })
    }

    fn delete<'a>(&'a mut self, found: &'a [Arrived]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for a in found {
                self.0.delete(&a.folder, a.uid).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        self.0.changes()
    }

    fn backlog(&self) -> bool {
        self.0.backlog()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(self.0.close())
    }
}

/// One session kept open between searches, with the mailbox's folders.
struct ImapFind {
    session: Session,
    folders: Vec<Folder>,
}

impl Find for ImapFind {
    fn find<'a>(&'a mut self, subject: &'a str, delete: bool) -> BoxFuture<'a, Result<Option<Found>, String>> {
        Box::pin(async move {
            for folder in &self.folders {
                let uids =
                    imap::find_by_subject(&mut self.session, &folder.name, subject).await.map_err(|e| e.to_string())?;
                if !uids.is_empty() {
                    if delete {
                        imap::delete(&mut self.session, &folder.name, &uids).await.map_err(|e| e.to_string())?;
                    }
                    return Ok(Some(Found { folder: folder.name.clone(), junk: folder.junk }));
                }
            }
            Ok(None)
        })
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.session.logout().await;
        })
    }
}
