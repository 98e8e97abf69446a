//! One cancel token for everything that runs for a while: jobs, verification, the agent's looks, the CLI's Ctrl-C.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Asks a running job, verification or look to stop; every clone stops the same run.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Wakes whoever waits in [`Cancel::cancelled`].
    woken: Notify,
}

impl Cancel {
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.woken.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Ends as soon as the run is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let woken = self.0.woken.notified();
            tokio::pin!(woken);
            // Registered before the flag is read: a cancel in between still wakes it.
            woken.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }

    /// `work`'s result, or `None` when the run is cancelled first: so a cancel never waits for a server.
    pub async fn unless<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.cancelled() => None,
            done = work => Some(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_ends_the_wait_at_once_and_the_work_it_raced() {
        let cancel = Cancel::default();
        let (c, started) = (cancel.clone(), std::time::Instant::now());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            c.cancel();
        });
        let raced = cancel.unless(tokio::time::sleep(std::time::Duration::from_secs(30))).await;
        assert!(raced.is_none() && started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(cancel.unless(async { 7 }).await, None, "once cancelled, nothing more starts");
        assert_eq!(Cancel::default().unless(async { 7 }).await, Some(7));
    }
}
