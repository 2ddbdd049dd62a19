//! When each datagram of the flood is due: datagram `n` (from 0) at
//! `n / rate` seconds after the start, `rate × duration` of them at most,
//! none after `duration`.

#[cfg(test)]
mod tests;

use std::time::Duration;

/// The shortest sleep between bursts. At rates above a thousand a second
/// the datagrams leave in bursts of `rate / 1000` rather than one by one:
/// a sleep shorter than this costs more in system calls than it smooths.
pub const TICK: Duration = Duration::from_millis(1);

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A fixed-rate schedule, bounded in count and in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacer {
    rate: u32,
    duration: Duration,
    total: u64,
}

impl Pacer {
    /// `rate` datagrams a second for `duration`.
    #[must_use]
    pub fn new(rate: u32, duration: Duration) -> Self {
        let total = duration.as_nanos() * u128::from(rate) / NANOS_PER_SEC;
        Self {
            rate,
            duration,
            total: u64::try_from(total).unwrap_or(u64::MAX),
        }
    }

    /// Datagrams in the whole schedule: `rate × duration`, rounded down.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.total
    }

    /// When datagram `n` (from 0) is due, from the start: `n / rate`
    /// seconds, rounded up to the nanosecond; `None` past the schedule.
    #[must_use]
    pub fn due_at(&self, n: u64) -> Option<Duration> {
        if n >= self.total || self.rate == 0 {
            return None;
        }
        let nanos = (u128::from(n) * NANOS_PER_SEC).div_ceil(u128::from(self.rate));
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// Datagrams due `elapsed` after the start: those whose
    /// [`due_at`](Self::due_at) is at most `elapsed`.
    #[must_use]
    pub fn due(&self, elapsed: Duration) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let passed = elapsed.as_nanos() * u128::from(self.rate) / NANOS_PER_SEC;
        u64::try_from(passed.saturating_add(1))
            .unwrap_or(u64::MAX)
            .min(self.total)
    }

    /// What to do `elapsed` after the start with `sent` datagrams gone:
    /// `None` when the schedule is over (all sent, or `duration` passed,
    /// even if the sender fell behind); `Some(ZERO)` when one is due; else
    /// how long to sleep, at least [`TICK`].
    #[must_use]
    pub fn pause(&self, elapsed: Duration, sent: u64) -> Option<Duration> {
        if elapsed >= self.duration {
            return None;
        }
        let next = self.due_at(sent)?;
        Some(if next <= elapsed {
            Duration::ZERO
        } else {
            (next - elapsed).max(TICK)
        })
    }
}
