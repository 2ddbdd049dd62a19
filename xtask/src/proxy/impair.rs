//! The per-direction decisions made when a datagram enters the link: the
//! droplist, random loss and corruption (each with a burst cap), and the
//! drop-tail queue in front of a fixed-rate link.
//!
//! Each direction draws from its own seeded RNG, and every datagram takes
//! the same number of draws whatever happens to it, so the fate of the k-th
//! datagram in a direction depends only on the seed and k, not on how the
//! two directions interleave in time.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Impairment;

/// What happened to a datagram at the entry of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Dropped because its index is on the droplist.
    DroppedList,
    /// Dropped by random loss.
    DroppedLoss,
    /// Passed; `corrupted` says whether one bit was flipped.
    Pass { corrupted: bool },
}

/// The random and listed impairments of one direction.
#[derive(Debug)]
pub(crate) struct Impairer {
    config: Impairment,
    rng: StdRng,
    /// 1-based index of the last datagram seen.
    index: u64,
    loss_run: u32,
    corrupt_run: u32,
}

impl Impairer {
    pub(crate) fn new(config: Impairment, seed: u64) -> Self {
        Self {
            config,
            rng: StdRng::seed_from_u64(seed),
            index: 0,
            loss_run: 0,
            corrupt_run: 0,
        }
    }

    /// Decides the fate of the next datagram, flipping a bit of `data` if
    /// it is to be corrupted.
    pub(crate) fn decide(&mut self, data: &mut [u8]) -> Fate {
        self.index += 1;
        let loss_draw: f64 = self.rng.random();
        let corrupt_draw: f64 = self.rng.random();
        let where_draw: u64 = self.rng.random();
        if self.config.drop_list.contains(&self.index) {
            return Fate::DroppedList;
        }
        let loss_cap_reached =
            self.config.loss_burst != 0 && self.loss_run >= self.config.loss_burst;
        if loss_draw * 100.0 < self.config.loss_percent && !loss_cap_reached {
            self.loss_run += 1;
            return Fate::DroppedLoss;
        }
        self.loss_run = 0;
        let corrupt_cap_reached =
            self.config.corrupt_burst != 0 && self.corrupt_run >= self.config.corrupt_burst;
        if corrupt_draw * 100.0 < self.config.corrupt_percent
            && !corrupt_cap_reached
            && flip_bit(data, where_draw)
        {
            self.corrupt_run += 1;
            return Fate::Pass { corrupted: true };
        }
        self.corrupt_run = 0;
        Fate::Pass { corrupted: false }
    }
}

/// Flips the bit `draw` points at; false for an empty datagram.
fn flip_bit(data: &mut [u8], draw: u64) -> bool {
    let Ok(len) = u64::try_from(data.len()) else {
        return false;
    };
    if len == 0 {
        return false;
    }
    let byte = usize::try_from((draw >> 3) % len).ok();
    let bit = draw & 7;
    match byte.and_then(|i| data.get_mut(i)) {
        Some(b) => {
            *b ^= 1 << bit;
            true
        }
        None => false,
    }
}

/// A drop-tail queue in front of a link of fixed rate, as virtual time:
/// for each datagram admitted we know when its transmission starts and
/// ends, so no thread has to play the link.
#[derive(Debug)]
pub(crate) struct Link {
    bandwidth_bps: u64,
    queue_packets: usize,
    delay: Duration,
    /// Transmission start times of admitted datagrams, oldest first.
    starts: VecDeque<Instant>,
    /// When the link finishes the last admitted datagram.
    busy_until: Option<Instant>,
}

impl Link {
    pub(crate) fn new(bandwidth_bps: u64, queue_packets: usize, delay: Duration) -> Self {
        Self {
            bandwidth_bps,
            queue_packets,
            delay,
            starts: VecDeque::new(),
            busy_until: None,
        }
    }

    /// Offers a datagram of `len` bytes arriving at `now`; returns when it
    /// reaches the far end, or `None` if the queue is full.
    pub(crate) fn admit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        while self.starts.front().is_some_and(|&start| start <= now) {
            self.starts.pop_front(); // on the wire or gone: no longer queued
        }
        let busy = self.busy_until.is_some_and(|until| until > now);
        // The datagram being transmitted is not in the queue; the waiting ones are.
        if busy && self.starts.len() >= self.queue_packets {
            return None;
        }
        let start = self.busy_until.map_or(now, |until| until.max(now));
        let end = start + self.transmission_time(len);
        self.starts.push_back(start);
        self.busy_until = Some(end);
        Some(end + self.delay)
    }

    fn transmission_time(&self, len: usize) -> Duration {
        if self.bandwidth_bps == 0 {
            return Duration::ZERO;
        }
        let bits = u128::try_from(len).unwrap_or(u128::MAX / 2) * 8;
        let nanos = bits * 1_000_000_000 / u128::from(self.bandwidth_bps);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Whether the link is down at `elapsed` since the proxy started.
pub(crate) fn in_blackout(blackout: Option<super::Blackout>, elapsed: Duration) -> bool {
    let Some(b) = blackout else {
        return false;
    };
    if b.off.is_zero() {
        return false;
    }
    // In u128 nanoseconds: `on + off` as a Duration could overflow.
    let period = b.on.as_nanos() + b.off.as_nanos();
    let phase = elapsed.as_nanos() % period;
    phase >= b.on.as_nanos()
}
