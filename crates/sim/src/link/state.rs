//! The running state of one directed link, and the fate of each datagram.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use super::LinkConfig;
use crate::trace::DropReason;

/// What the simulator remembers about one directed link between datagrams.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    /// When the link finishes serializing what it has accepted.
    busy_until: Duration,
    /// The latest in-order arrival so far, which later in-order datagrams
    /// may not precede.
    last_arrival: Duration,
    /// Datagrams still to be lost in the current loss burst.
    burst_left: u32,
}

/// Bits flipped in one byte of a delivered copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corruption {
    /// Which byte.
    pub(crate) offset: usize,
    /// The bits flipped in it (1 to 3 of them).
    pub(crate) mask: u8,
}

/// When and how one copy of a datagram arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// Sim time of arrival.
    pub(crate) at: Duration,
    /// Whether it was held back out of FIFO order.
    pub(crate) reordered: bool,
    /// Bits flipped on the way, if any.
    pub(crate) corruption: Option<Corruption>,
}

/// The copies of a datagram that the link delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carried {
    /// The datagram itself.
    pub(crate) first: Arrival,
    /// A duplicate, if the link made one.
    pub(crate) duplicate: Option<Arrival>,
}

impl LinkState {
    /// Decides the fate of a datagram of `len` bytes sent at `now`: dropped
    /// for a reason, or carried to arrive at some time. Every random choice
    /// comes from `rng`, in a fixed order, and a feature that is off draws
    /// nothing.
    pub(crate) fn carry(
        &mut self,
        cfg: &LinkConfig,
        now: Duration,
        len: usize,
        rng: &mut StdRng,
    ) -> Result<Carried, DropReason> {
        if cfg.blackout.as_ref().is_some_and(|w| w.contains(&now)) {
            return Err(DropReason::Blackout);
        }
        if cfg.mtu.is_some_and(|mtu| len > mtu) {
            return Err(DropReason::TooBig);
        }
        let departure = match cfg.bandwidth {
            Some(bps) => {
                let queued = backlog(self.busy_until.saturating_sub(now), bps);
                if cfg
                    .queue_limit
                    .is_some_and(|limit| queued.saturating_add(len) > limit)
                {
                    return Err(DropReason::Queue);
                }
                let start = self.busy_until.max(now);
                self.busy_until = start.saturating_add(serialization(len, bps));
                self.busy_until
            }
            None => now,
        };
        if self.lost(cfg, rng) {
            return Err(DropReason::Loss);
        }
        let first = self.arrival(cfg, departure, len, rng);
        let duplicate = (cfg.duplicate > 0.0 && rng.random_bool(cfg.duplicate))
            .then(|| self.arrival(cfg, departure, len, rng));
        Ok(Carried { first, duplicate })
    }

    fn lost(&mut self, cfg: &LinkConfig, rng: &mut StdRng) -> bool {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return true;
        }
        if let Some(burst) = cfg.burst
            && burst.probability > 0.0
            && rng.random_bool(burst.probability)
        {
            self.burst_left = rng.random_range(1..=burst.max_len.max(1)) - 1;
            return true;
        }
        cfg.loss > 0.0 && rng.random_bool(cfg.loss)
    }

    fn arrival(
        &mut self,
        cfg: &LinkConfig,
        departure: Duration,
        len: usize,
        rng: &mut StdRng,
    ) -> Arrival {
        let mut at = departure.saturating_add(jittered(cfg.delay, cfg.jitter, rng));
        let reordered = cfg.reorder > 0.0 && rng.random_bool(cfg.reorder);
        if reordered {
            at = at.saturating_add(uniform(cfg.reorder_delay, rng));
        } else {
            at = at.max(self.last_arrival);
            self.last_arrival = at;
        }
        let corruption =
            (cfg.corrupt > 0.0 && len > 0 && rng.random_bool(cfg.corrupt)).then(|| Corruption {
                offset: rng.random_range(0..len),
                mask: bit_mask(rng),
            });
        Arrival {
            at,
            reordered,
            corruption,
        }
    }
}

/// `delay` moved by a uniform amount in `-jitter..=jitter`, not below zero.
fn jittered(delay: Duration, jitter: Duration, rng: &mut StdRng) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let spread = jitter.saturating_mul(2);
    delay
        .saturating_add(uniform(spread, rng))
        .saturating_sub(jitter)
}

/// A uniform duration in `0..=max`, to the nanosecond.
fn uniform(max: Duration, rng: &mut StdRng) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=max))
}

/// A byte with 1 to 3 bits set, chosen uniformly in count then position.
pub(crate) fn bit_mask(rng: &mut StdRng) -> u8 {
    let bits = rng.random_range(1..=3u32);
    let mut mask = 0u8;
    while mask.count_ones() < bits {
        mask |= 1 << rng.random_range(0..8u32);
    }
    mask
}

/// How long `len` bytes take on a link of `bps` bits per second (rounded up
/// to the nanosecond).
pub(crate) fn serialization(len: usize, bps: u64) -> Duration {
    let bits = u128::from(u64::try_from(len).unwrap_or(u64::MAX)) * 8;
    let nanos = (bits * 1_000_000_000).div_ceil(u128::from(bps.max(1)));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The bytes a link of `bps` bits per second still has to serialize when it
/// stays busy for `remaining` (rounded up).
fn backlog(remaining: Duration, bps: u64) -> usize {
    let bytes = (remaining.as_nanos() * u128::from(bps)).div_ceil(8_000_000_000);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
