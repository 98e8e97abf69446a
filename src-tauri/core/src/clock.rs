//! The time engines read: wall-clock UTC for what is stored and shown, and a monotonic instant for waits and
//! deadlines. Engines take a `Clock` instead of reading the system clock themselves, so tests can fix it.

use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;

/// Where an engine reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC: what records and their timestamps say.
    fn now(&self) -> OffsetDateTime;
    /// Now, on the monotonic clock: what waits and deadlines are measured against.
    fn instant(&self) -> Instant;

    /// Now as Unix milliseconds, as the store keeps event times.
    fn now_millis(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }
    /// Now as RFC 3339 UTC text, as the store keeps row times.
    fn now_text(&self) -> String {
        utc_text(self.now())
    }
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A wall clock that always says the same time (waits still run on the real monotonic clock, so deadlines pass).
/// For tests that compare stored times.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A shared clock, as engines and their options hold it; the system clock by default.
#[derive(Debug, Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    pub fn new(clock: impl Clock + 'static) -> SharedClock {
        SharedClock(Arc::new(clock))
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        SharedClock::new(SystemClock)
    }
}

impl std::ops::Deref for SharedClock {
    type Target = dyn Clock;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// A time as the database keeps it: RFC 3339, UTC.
pub(crate) fn utc_text(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_says_its_time_in_every_form() {
        let c = FixedClock(time::macros::datetime!(2026-12-02 10:15:09.250 UTC));
        assert_eq!(c.now_millis(), 1_796_206_509_250);
        assert_eq!(c.now_text(), "2026-12-02T10:15:09.25Z");
    }
}
