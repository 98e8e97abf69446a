//! One cancel token for everything that runs for a while: jobs, verification, the agent's looks, the CLI's Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Asks a running job, verification or look to stop; every clone stops the same run.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Ends once the run is cancelled (noticed within [`NOTICE`]): race it against work that may wait on the
    /// network, so a cancel never waits for a server.
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(NOTICE).await;
        }
    }
}

/// How soon [`Cancel::cancelled`] notices a cancel.
pub const NOTICE: std::time::Duration = std::time::Duration::from_millis(100);
