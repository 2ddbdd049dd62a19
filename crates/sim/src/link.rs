//! How one direction of a path between two addresses treats datagrams.
//!
//! A [`LinkConfig`] is the description; [`state::LinkState`] is what the
//! simulator keeps per directed address pair while it runs (when the link is
//! free again, the last arrival for FIFO order, the loss burst in progress).

pub(crate) mod state;

use std::ops::Range;
use std::time::Duration;

/// One direction of a link: delay, jitter, loss, reordering, duplication,
/// corruption, a bandwidth limit with a tail-drop queue, and a blackout.
///
/// [`LinkConfig::default()`] is a perfect link with a 10 ms one-way delay.
/// Every setter consumes and returns the config, so a link reads as one
/// expression:
///
/// ```
/// use std::time::Duration;
/// use tern_sim::LinkConfig;
///
/// let lossy = LinkConfig::default()
///     .delay(Duration::from_millis(40))
///     .jitter(Duration::from_millis(5))
///     .loss(0.02)
///     .bandwidth(10_000_000)
///     .queue_limit(64 * 1024);
/// assert_eq!(lossy.one_way_delay(), Duration::from_millis(40));
/// ```
///
/// Probabilities are clamped to `0.0..=1.0` (NaN counts as 0).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    pub(crate) delay: Duration,
    pub(crate) jitter: Duration,
    pub(crate) loss: f64,
    pub(crate) burst: Option<BurstLoss>,
    pub(crate) reorder: f64,
    pub(crate) reorder_delay: Duration,
    pub(crate) duplicate: f64,
    pub(crate) corrupt: f64,
    pub(crate) bandwidth: Option<u64>,
    pub(crate) queue_limit: Option<usize>,
    pub(crate) blackout: Option<Range<Duration>>,
    pub(crate) ecn: EcnPolicy,
    pub(crate) mtu: Option<usize>,
}

/// What the path does to ECN marks.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EcnPolicy {
    /// Marks arrive as sent.
    #[default]
    Pass,
    /// Marks are cleared (a path that bleaches ECN).
    Bleach,
    /// An ECT-marked datagram arrives marked CE with this probability (an
    /// AQM signalling congestion instead of dropping).
    MarkCe(f64),
}

/// A simple burst loss model: at each datagram a burst starts with
/// `probability`, and then that datagram and the next ones are lost, between
/// 1 and `max_len` in all (uniformly chosen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// The chance, per datagram outside a burst, that a burst starts.
    pub probability: f64,
    /// The longest burst, in datagrams (at least 1).
    pub max_len: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            bandwidth: None,
            queue_limit: None,
            blackout: None,
            ecn: EcnPolicy::Pass,
            mtu: None,
        }
    }
}

impl LinkConfig {
    /// The base one-way propagation delay (default 10 ms).
    #[must_use]
    pub const fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Jitter: each datagram's delay is moved by a uniform amount in
    /// `-jitter..=+jitter` (never below zero). Jitter alone keeps FIFO order:
    /// a datagram never arrives before one sent earlier on the same link
    /// unless [`reorder`](Self::reorder) picks it.
    #[must_use]
    pub const fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The chance that a datagram is lost on the wire (after it used its
    /// share of the bandwidth).
    #[must_use]
    pub fn loss(mut self, probability: f64) -> Self {
        self.loss = clamp_probability(probability);
        self
    }

    /// Adds burst loss on top of [`loss`](Self::loss): see [`BurstLoss`].
    #[must_use]
    pub fn burst_loss(mut self, probability: f64, max_len: u32) -> Self {
        self.burst = Some(BurstLoss {
            probability: clamp_probability(probability),
            max_len: max_len.max(1),
        });
        self
    }

    /// The chance that a datagram is held back by an extra delay, uniform in
    /// `0..=extra`, outside FIFO order, so later datagrams may overtake it.
    #[must_use]
    pub fn reorder(mut self, probability: f64, extra: Duration) -> Self {
        self.reorder = clamp_probability(probability);
        self.reorder_delay = extra;
        self
    }

    /// The chance that a datagram that got through is delivered twice.
    #[must_use]
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = clamp_probability(probability);
        self
    }

    /// The chance that a delivered copy has 1 to 3 bits flipped in one
    /// random byte.
    #[must_use]
    pub fn corrupt(mut self, probability: f64) -> Self {
        self.corrupt = clamp_probability(probability);
        self
    }

    /// The link's rate in bits per second: a datagram waits until the link
    /// is free, then takes `8 * len / rate` seconds to serialize. Zero means
    /// no limit.
    #[must_use]
    pub const fn bandwidth(mut self, bits_per_second: u64) -> Self {
        self.bandwidth = if bits_per_second == 0 {
            None
        } else {
            Some(bits_per_second)
        };
        self
    }

    /// The most bytes that may wait for the link (including what is left of
    /// the datagram being serialized); a datagram that would go beyond it is
    /// tail-dropped. Only meaningful with a [`bandwidth`](Self::bandwidth)
    /// limit, since without one nothing ever waits.
    #[must_use]
    pub const fn queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit = Some(bytes);
        self
    }

    /// A window of sim time (measured from the sim's epoch, like
    /// [`Sim::elapsed`](crate::Sim::elapsed)) during which every datagram
    /// sent on the link is dropped.
    #[must_use]
    pub fn blackout(mut self, window: Range<Duration>) -> Self {
        self.blackout = Some(window);
        self
    }

    /// What the path does to ECN marks.
    #[must_use]
    pub fn ecn(mut self, policy: EcnPolicy) -> Self {
        self.ecn = policy;
        self
    }

    /// Drops datagrams larger than `mtu` bytes of UDP payload.
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// The base one-way delay.
    #[must_use]
    pub const fn one_way_delay(&self) -> Duration {
        self.delay
    }

    /// The bandwidth limit in bits per second, if any.
    #[must_use]
    pub const fn bandwidth_limit(&self) -> Option<u64> {
        self.bandwidth
    }
}

fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}
