//! The global timing of email actions (Settings → Email Actions): what every new job starts from — in the app's job
//! builder and for `mailproof run` without its timing options.

use time::OffsetDateTime;

use super::{JobTiming, RuntimeParams};
use crate::settings;
use crate::store::{Store, StoreError};

const KEY: &str = "actions.timing";

/// Why a timing cannot be saved, in the words the form uses.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored timing, or the built-in one until something was saved.
pub fn load_timing(store: &Store) -> Result<JobTiming, StoreError> {
    Ok(settings::read(store, KEY)?.unwrap_or_default())
}

/// Saves the timing after checking it as a job's timing is checked; nothing is saved when it cannot run.
pub fn save_timing(store: &Store, timing: &JobTiming, now: OffsetDateTime) -> Result<(), TimingError> {
    if let Some(why) = timing.problem(&RuntimeParams { spoofed_from: None, extra_sleep_secs: 0 }) {
        return Err(TimingError::Invalid(why));
    }
    settings::write(store, KEY, timing, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timing_defaults_round_trips_and_refuses_what_a_job_would_refuse() {
        let store = Store::open_in_memory().unwrap();
        let now = time::macros::datetime!(2026-12-06 12:00 UTC);
        assert_eq!(load_timing(&store).unwrap(), JobTiming::default());
        let quick = JobTiming { timeout_secs: 45, pause_millis: 500, poll_millis: 100, concurrency: 2 };
        save_timing(&store, &quick, now).unwrap();
        assert_eq!(load_timing(&store).unwrap(), quick);
        let err = save_timing(&store, &JobTiming { timeout_secs: 1, ..quick.clone() }, now).unwrap_err();
        assert_eq!(err.to_string(), "Wait for each message: a whole number of seconds from 3 to 86,400.");
        assert_eq!(load_timing(&store).unwrap(), quick, "nothing saved");
    }
}
