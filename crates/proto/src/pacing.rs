//! Pacing (RFC 9002 §7.7).
//!
//! A [`Pacer`] is a token bucket in bytes. It fills at
//! `rate = 5/4 * congestion_window / smoothed_rtt` and holds at most a
//! burst of the initial congestion window for the current datagram size
//! (ten datagrams of 1200 bytes; 14,720 bytes for larger datagrams), the
//! burst limit RFC 9002 §7.7 recommends. A sender asks
//! [`Pacer::delay`] before each packet and reports it with
//! [`Pacer::on_sent`]; packets that carry only ACK frames should not be
//! paced, nor counted.
//!
//! The pacer only spaces packets out: the congestion window still limits
//! how many bytes are in flight. Its arithmetic is in whole bytes and
//! nanoseconds, so a run is repeatable to the nanosecond.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use tern_proto::pacing::Pacer;
//!
//! # fn example(start: Instant) {
//! let (rtt, window, mtu) = (Duration::from_millis(100), 120_000, 1200);
//! let mut pacer = Pacer::new(start, mtu);
//! // A burst of ten datagrams goes at once...
//! for _ in 0..10 {
//!     assert_eq!(pacer.delay(start, 1200, rtt, window, mtu), None);
//!     pacer.on_sent(start, 1200);
//! }
//! // ...then one every 1200 / (1.25 * 120000 / 100 ms) = 800 µs.
//! let next = pacer.delay(start, 1200, rtt, window, mtu);
//! assert_eq!(next, Some(start + Duration::from_micros(800)));
//! # }
//! ```

use std::time::{Duration, Instant};

use tracing::trace;

use crate::congestion::initial_window;

#[cfg(test)]
mod tests;

/// RFC 9002 §7.7: the rate is N times the window per RTT, N = 5/4, so that
/// variations in RTT do not leave the window under-used.
const RATE_NUMERATOR: u128 = 5;
/// The denominator of N.
const RATE_DENOMINATOR: u128 = 4;

/// A token bucket that spaces packets out over the round trip
/// (RFC 9002 §7.7).
#[derive(Debug, Clone)]
pub struct Pacer {
    /// The bucket's size in bytes: the largest burst.
    capacity: u64,
    /// The bytes that may be sent now, as of `last`.
    tokens: u64,
    /// When the tokens were last counted.
    last: Instant,
    /// The maximum datagram size the capacity was computed for.
    mtu: u16,
    /// The congestion window and smoothed RTT of the last call to
    /// [`Pacer::delay`], which set the rate until the next.
    window: u64,
    smoothed_rtt: Duration,
}

impl Pacer {
    /// A pacer with a full bucket at `now`, for datagrams of `mtu` bytes.
    #[must_use]
    pub fn new(now: Instant, mtu: u16) -> Self {
        let capacity = burst(mtu);
        Self {
            capacity,
            tokens: capacity,
            last: now,
            mtu,
            window: 0,
            smoothed_rtt: Duration::ZERO,
        }
    }

    /// When a packet of `bytes` may be sent, given the path's
    /// `smoothed_rtt`, congestion `window` and maximum datagram size
    /// `mtu`: `None` for now, else the instant the bucket will hold
    /// enough.
    ///
    /// A packet larger than the bucket waits for a full bucket. A zero
    /// `smoothed_rtt` turns pacing off; a `window` below one datagram is
    /// taken as one datagram. `None` is also returned when the deadline
    /// cannot be represented, which takes an absurd RTT.
    pub fn delay(
        &mut self,
        now: Instant,
        bytes: u64,
        smoothed_rtt: Duration,
        window: u64,
        mtu: u16,
    ) -> Option<Instant> {
        // The time since the last count was paced at the previous rate.
        self.refill(now);
        let window = window.max(u64::from(mtu.max(1)));
        if window != self.window || smoothed_rtt != self.smoothed_rtt {
            // A new rate starts now: the fraction of a byte earned at the old
            // one is dropped, so the deadline below is never in the past.
            self.window = window;
            self.smoothed_rtt = smoothed_rtt;
            self.last = self.last.max(now);
        }
        if mtu != self.mtu {
            self.mtu = mtu;
            self.capacity = burst(mtu);
            self.tokens = self.tokens.min(self.capacity);
        }
        let needed = bytes.min(self.capacity);
        if self.tokens >= needed {
            return None;
        }
        let rtt = smoothed_rtt.as_nanos();
        if rtt == 0 {
            self.tokens = self.capacity;
            self.last = now;
            return None;
        }
        // RFC 9002 §7.7: the bucket fills at N * congestion_window / smoothed_rtt;
        // rounding up, the bucket holds `needed` at the deadline.
        let deficit = u128::from(needed - self.tokens);
        let nanos = deficit
            .checked_mul(rtt)?
            .checked_mul(RATE_DENOMINATOR)?
            .div_ceil(u128::from(self.window) * RATE_NUMERATOR);
        let at = self
            .last
            .checked_add(Duration::from_nanos(u64::try_from(nanos).ok()?))?;
        trace!(bytes, tokens = self.tokens, delay = ?at.saturating_duration_since(now), "paced");
        Some(at)
    }

    /// A paced packet of `bytes` was sent at `now`: its bytes leave the
    /// bucket.
    pub fn on_sent(&mut self, now: Instant, bytes: u64) {
        self.refill(now);
        self.tokens = self.tokens.saturating_sub(bytes);
    }

    /// The bytes that may be sent without waiting, as last counted.
    #[must_use]
    pub const fn tokens(&self) -> u64 {
        self.tokens
    }

    /// The largest burst in bytes.
    #[must_use]
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Adds the tokens earned between the last count and `now` at the rate
    /// of the last [`Pacer::delay`], at most up to the capacity.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        if elapsed == 0 || self.tokens >= self.capacity {
            self.last = self.last.max(now);
            return;
        }
        let rtt = self.smoothed_rtt.as_nanos();
        let rate_numerator = u128::from(self.window) * RATE_NUMERATOR;
        let rate_denominator = rtt * RATE_DENOMINATOR;
        // RFC 9002 §7.7: the bucket fills at N * congestion_window / smoothed_rtt.
        let earned = elapsed
            .checked_mul(rate_numerator)
            .and_then(|product| product.checked_div(rate_denominator));
        let room = self.capacity - self.tokens;
        match earned.map(u64::try_from) {
            Some(Ok(earned)) if earned < room => {
                self.tokens += earned;
                // Only the time those whole bytes took is spent; the remainder
                // counts towards the next byte.
                let spent = u128::from(earned) * rate_denominator / rate_numerator.max(1);
                self.last = u64::try_from(spent)
                    .ok()
                    .and_then(|spent| self.last.checked_add(Duration::from_nanos(spent)))
                    .map_or(now, |last| last.min(now));
            }
            // A zero RTT (division by zero) or a long enough wait fills the bucket.
            _ => {
                self.tokens = self.capacity;
                self.last = now;
            }
        }
    }
}

/// The bucket's capacity for datagrams of `mtu` bytes.
fn burst(mtu: u16) -> u64 {
    // RFC 9002 §7.7: bursts are limited to the initial congestion window.
    initial_window(mtu)
}
