//! A token bucket: at most `burst` events at once, `rate` per second on
//! average. It paces what the endpoint sends without keeping state for the
//! peer (stateless resets, Version Negotiation).

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Tokens refilled at a steady rate up to a burst; each event takes one.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    /// Tokens added per second.
    rate: u32,
    /// Most tokens held.
    burst: u32,
    tokens: u32,
    /// The time up to which refills have been counted; `None` before the
    /// first call (the bucket starts full).
    refilled_to: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub(super) const fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            refilled_to: None,
        }
    }

    /// Takes a token at `now`; `false` when none is left.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Adds the whole tokens earned since the last refill, keeping the
    /// fraction of a token earned for the next one.
    fn refill(&mut self, now: Instant) {
        let Some(since) = self.refilled_to else {
            self.refilled_to = Some(now);
            return;
        };
        if self.rate == 0 {
            return;
        }
        let elapsed = now.saturating_duration_since(since);
        let earned = elapsed.as_nanos() * u128::from(self.rate) / 1_000_000_000;
        let room = self.burst - self.tokens;
        if earned >= u128::from(room) {
            self.tokens = self.burst;
            self.refilled_to = Some(now);
            return;
        }
        // `earned` is below `room`, a u32.
        let earned = u32::try_from(earned).unwrap_or(room);
        self.tokens += earned;
        let used = Duration::from_nanos(
            u64::try_from(u128::from(earned) * 1_000_000_000 / u128::from(self.rate))
                .unwrap_or(u64::MAX),
        );
        self.refilled_to = Some(since + used);
    }
}
