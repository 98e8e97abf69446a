//! How long verification waits for its mail and how often it looks: stored in Settings → Email, overridden per
//! run by `mailproof profile verify --wait/--poll`, and checked here for both.

use time::OffsetDateTime;

pub use crate::mailbox::EmailTiming;
use crate::settings;
use crate::store::{Store, StoreError};

use super::EmailSettingError;

const TIMING_KEY: &str = "email.timing";

pub fn load_timing(store: &Store) -> Result<EmailTiming, StoreError> {
    Ok(settings::read(store, TIMING_KEY)?.unwrap_or_default())
}

/// Saves the timing after checking its bounds.
pub fn save_timing(store: &Store, timing: &EmailTiming, now: OffsetDateTime) -> Result<(), EmailSettingError> {
    check(timing)?;
    settings::write(store, TIMING_KEY, timing, now)?;
    Ok(())
}

/// The stored timing with a run's own wait and poll, checked like a saved one.
pub fn timing_for_run(
    store: &Store,
    wait_secs: Option<u32>,
    poll_millis: Option<u32>,
) -> Result<EmailTiming, EmailSettingError> {
    let mut timing = load_timing(store)?;
    timing.wait_secs = wait_secs.unwrap_or(timing.wait_secs);
    timing.poll_millis = poll_millis.unwrap_or(timing.poll_millis);
    check(&timing)?;
    Ok(timing)
}

fn check(timing: &EmailTiming) -> Result<(), EmailSettingError> {
    match timing.problem() {
        Some(why) => Err(EmailSettingError::Invalid(why.to_owned())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_defaults_round_trips_and_refuses_what_is_out_of_bounds() {
        let store = Store::open_in_memory().unwrap();
        let now = time::macros::datetime!(2026-12-02 12:00 UTC);
        assert_eq!(load_timing(&store).unwrap(), EmailTiming::default());
        let fast = EmailTiming { wait_secs: 20, poll_millis: 100, delete_found: false };
        save_timing(&store, &fast, now).unwrap();
        assert_eq!(load_timing(&store).unwrap(), fast);
        let err = save_timing(&store, &EmailTiming { poll_millis: 50, ..fast }, now).unwrap_err().to_string();
        assert_eq!(err, "Wait between 1 s and 24 h, and look no more often than every 100 ms.");
        assert_eq!(load_timing(&store).unwrap(), fast, "nothing saved");
        assert!(timing_for_run(&store, Some(0), None).is_err(), "--wait 0 is refused");
        assert_eq!(timing_for_run(&store, Some(30), None).unwrap().wait_secs, 30);
    }
}
