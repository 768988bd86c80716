//! The one wall-clock budget of a hook run (`--timeout`).
//!
//! certbot has no hook timeout, so a hook that waits forever holds up the whole renewal. Every
//! wait (name lookups, connections, retries, the self-check's polling) is therefore capped by one
//! [`Deadline`] for the whole run, and messages name the whole `--timeout`.

use std::time::{Duration, Instant};

/// The wall-clock budget for one hook run (`--timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    total: Duration,
    /// When this phase must end, from `start`: `total`, or less for a phase that must leave
    /// time for a later one ([`Deadline::reserving`]).
    end: Duration,
}

impl Deadline {
    /// Starts a deadline `total` from now.
    pub fn new(total: Duration) -> Self {
        Deadline {
            start: Instant::now(),
            total,
            end: total,
        }
    }

    /// The same run's deadline, ending `reserve` earlier, so that a later step (the check's
    /// delete of its probe) still has `reserve` left. Messages keep naming the whole --timeout.
    pub fn reserving(&self, reserve: Duration) -> Self {
        Deadline {
            end: self.end.saturating_sub(reserve),
            ..*self
        }
    }

    /// Time left, zero once expired.
    pub fn remaining(&self) -> Duration {
        self.end.saturating_sub(self.start.elapsed())
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The whole budget (`--timeout`).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// `limit`, or less if less time remains.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_caps_waits() {
        let d = Deadline::new(Duration::from_millis(50));
        assert!(d.cap(Duration::from_secs(10)) <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(d.remaining(), Duration::ZERO);
    }

    #[test]
    fn a_reserving_deadline_ends_earlier_but_names_the_whole_timeout() {
        let d = Deadline::new(Duration::from_secs(60));
        let early = d.reserving(Duration::from_secs(10));
        assert!(early.remaining() <= Duration::from_secs(50));
        assert!(early.remaining() > Duration::from_secs(49));
        assert_eq!(early.total(), Duration::from_secs(60));
        assert!(d.remaining() > Duration::from_secs(59));
        assert_eq!(
            d.reserving(Duration::from_secs(99)).remaining(),
            Duration::ZERO
        );
    }
}
