//! Congestion control (RFC 9002 §7, RFC 9438).
//!
//! A [`Controller`] owns one path's congestion window. The connection
//! tells it what happened, packets sent, acknowledged, lost or marked with
//! ECN-CE, and asks it for [`Controller::window`] before sending more. It
//! does not count bytes in flight: [`Recovery`](crate::recovery::Recovery)
//! does, and the connection compares the two.
//!
//! Users pick an algorithm with an `Arc<dyn ControllerFactory>`, which
//! builds one controller per path:
//!
//! - [`CubicConfig`]: CUBIC (RFC 9438), the default;
//! - [`NewRenoConfig`]: NewReno (RFC 9002 §7, Appendix B).
//!
//! [`in_persistent_congestion`] decides from the packets one ACK declared
//! lost whether the loss is persistent congestion (RFC 9002 §7.6), which
//! the connection then reports to the controller.
//!
//! Both controllers share these rules:
//!
//! - the initial window is `min(10 * mss, max(14720, 2 * mss))` unless the
//!   configuration overrides it, and the window never falls below the
//!   minimum of `2 * mss` ([`initial_window`], [`minimum_window`]);
//! - a congestion event reduces the window once per recovery period: a
//!   loss or ECN-CE mark of a packet sent before the period began changes
//!   nothing, and acknowledgments of such packets do not grow the window;
//! - acknowledgments received while the sender is application limited do
//!   not grow the window (RFC 9002 §7.8);
//! - persistent congestion collapses the window to the minimum and ends
//!   the recovery period.
//!
//! ```
//! use std::{sync::Arc, time::{Duration, Instant}};
//!
//! use tern_proto::{
//!     congestion::{ControllerFactory, CubicConfig},
//!     recovery::RttEstimator,
//! };
//!
//! # fn example(start: Instant) {
//! let factory: Arc<dyn ControllerFactory> = Arc::new(CubicConfig::default());
//! let mut cc = factory.build(start, 1200);
//! assert_eq!(cc.name(), "cubic");
//! assert_eq!(cc.window(), 12_000);
//!
//! // A full window sent and acknowledged one RTT later doubles it in slow start.
//! let rtt = RttEstimator::new(Duration::from_millis(50));
//! let later = start + Duration::from_millis(50);
//! cc.on_sent(start, 12_000, 12_000);
//! cc.on_ack(later, start, 12_000, false, &rtt);
//! assert_eq!(cc.window(), 24_000);
//!
//! // A loss reduces it by beta_cubic = 0.7.
//! cc.on_congestion_event(later, start, false, 1200);
//! assert_eq!(cc.window(), 16_800);
//! # }
//! ```

use std::{sync::Arc, time::Instant};

use crate::recovery::RttEstimator;

mod cubic;
mod new_reno;
mod persistent;
#[cfg(test)]
mod tests;

pub use cubic::{Cubic, CubicConfig};
pub use new_reno::{NewReno, NewRenoConfig};
pub use persistent::{
    LostPacket, PERSISTENT_CONGESTION_THRESHOLD, in_persistent_congestion,
    persistent_congestion_pto,
};

/// A congestion controller for one path.
///
/// The connection calls it in the order things happen, with the time they
/// happened; `now` never goes backwards. Implementations must not panic
/// on any sequence of calls, and [`window`](Self::window) is always at
/// least the minimum window of two datagrams.
pub trait Controller: Send + Sync + std::fmt::Debug {
    /// A packet of `bytes` that counts towards bytes in flight was sent at
    /// `now`; `bytes_in_flight` includes it.
    fn on_sent(&mut self, now: Instant, bytes: u64, bytes_in_flight: u64);

    /// A packet in flight of `bytes`, sent at `sent`, was acknowledged at
    /// `now` (RFC 9002 §7.3.1, §7.3.3). `app_limited` means the sender was
    /// not using the window when it was sent, by lack of data or flow
    /// control credit, so the window must not grow on it (RFC 9002 §7.8).
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    );

    /// Packets were declared lost or reported with ECN-CE at `now`
    /// (RFC 9002 §7.3.2). `sent` is the send time of the latest packet
    /// lost or marked: an event about packets sent before the current
    /// recovery period began reduces nothing, so one round trip of losses
    /// reduces the window once. `is_persistent_congestion` comes from
    /// [`in_persistent_congestion`]; `lost_bytes` is the size of the
    /// packets lost (zero for ECN-CE).
    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    );

    /// The maximum datagram size changed to `max_datagram_size`, by path
    /// MTU discovery. The minimum window follows it and the window is
    /// raised to the new minimum if it was below.
    fn on_mtu_update(&mut self, max_datagram_size: u16);

    /// The congestion window in bytes: how many bytes may be in flight.
    fn window(&self) -> u64;

    /// The algorithm's name for statistics and logs, such as `"cubic"`.
    fn name(&self) -> &'static str;
}

/// Builds a [`Controller`] for each new path: how users choose the
/// congestion control algorithm, as an `Arc<dyn ControllerFactory>`.
pub trait ControllerFactory: Send + Sync + std::fmt::Debug {
    /// A controller for a path whose first packet is sent at or after
    /// `now`, with datagrams of `max_datagram_size` bytes.
    fn build(&self, now: Instant, max_datagram_size: u16) -> Box<dyn Controller>;
}

/// The default congestion control algorithm: CUBIC with
/// [`CubicConfig::default`].
#[must_use]
pub fn default_factory() -> Arc<dyn ControllerFactory> {
    Arc::new(CubicConfig::default())
}

/// The maximum datagram size in bytes, at least 1 so that nothing divides
/// by zero.
fn mss(max_datagram_size: u16) -> u64 {
    u64::from(max_datagram_size.max(1))
}

/// The initial congestion window for datagrams of `max_datagram_size`.
#[must_use]
pub fn initial_window(max_datagram_size: u16) -> u64 {
    let mss = mss(max_datagram_size);
    // RFC 9002 §7.2: the initial window is ten datagrams, limited to the larger
    // of 14,720 bytes and two datagrams.
    (10 * mss).min(14_720.max(2 * mss))
}

/// The minimum congestion window for datagrams of `max_datagram_size`.
#[must_use]
pub fn minimum_window(max_datagram_size: u16) -> u64 {
    // RFC 9002 §7.2: the minimum window is two datagrams.
    2 * mss(max_datagram_size)
}

/// The start of the current recovery period, shared by the controllers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RecoveryPeriod {
    /// congestion_recovery_start_time; `None` when not in recovery.
    start: Option<Instant>,
}

impl RecoveryPeriod {
    /// RFC 9002 §B.5 InCongestionRecovery: whether a packet sent at `sent`
    /// was sent during the recovery period, so that it neither grows nor
    /// reduces the window again.
    fn contains(self, sent: Instant) -> bool {
        // RFC 9002 §7.3.2: the recovery period covers the packets sent up to its start.
        self.start.is_some_and(|start| sent <= start)
    }

    /// Starts a recovery period at `now`.
    const fn enter(&mut self, now: Instant) {
        self.start = Some(now);
    }

    /// Ends it, so that the next congestion event reduces the window.
    const fn reset(&mut self) {
        self.start = None;
    }
}
