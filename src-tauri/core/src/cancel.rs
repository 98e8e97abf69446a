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
}
