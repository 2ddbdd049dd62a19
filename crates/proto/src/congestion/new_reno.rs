//! NewReno (RFC 9002 §7, Appendix B).

use std::time::Instant;

use tracing::{debug, trace};

use super::{Controller, ControllerFactory, RecoveryPeriod, initial_window, minimum_window, mss};
use crate::recovery::RttEstimator;

/// Settings of [`NewReno`]; as a [`ControllerFactory`] it builds one per
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewRenoConfig {
    /// The congestion window of a new path, in bytes. `None`, the default,
    /// is RFC 9002's `min(10 * mss, max(14720, 2 * mss))`; a value below
    /// the minimum window of two datagrams is raised to it.
    pub initial_window: Option<u64>,
}

impl ControllerFactory for NewRenoConfig {
    fn build(&self, now: Instant, max_datagram_size: u16) -> Box<dyn Controller> {
        Box::new(NewReno::new(self, now, max_datagram_size))
    }
}

/// The NewReno congestion controller of RFC 9002 §7: slow start,
/// congestion avoidance adding one datagram per window acknowledged, and
/// a halving of the window once per recovery period.
#[derive(Debug, Clone)]
pub struct NewReno {
    /// The maximum datagram size.
    mss: u64,
    /// congestion_window, in bytes.
    window: u64,
    /// ssthresh; `u64::MAX` is the RFC's infinite.
    ssthresh: u64,
    recovery: RecoveryPeriod,
    /// Bytes acknowledged in congestion avoidance not yet turned into
    /// window growth.
    bytes_acked: u64,
}

impl NewReno {
    /// A controller in slow start with the configured initial window, for
    /// datagrams of `max_datagram_size` bytes.
    #[must_use]
    pub fn new(config: &NewRenoConfig, _now: Instant, max_datagram_size: u16) -> Self {
        let initial = config
            .initial_window
            .unwrap_or_else(|| initial_window(max_datagram_size));
        Self {
            mss: mss(max_datagram_size),
            window: initial.max(minimum_window(max_datagram_size)),
            // RFC 9002 §7.3.1: a sender starts in slow start, with an infinite ssthresh.
            ssthresh: u64::MAX,
            recovery: RecoveryPeriod::default(),
            bytes_acked: 0,
        }
    }

    /// The slow start threshold in bytes; `u64::MAX` until the first
    /// congestion event.
    #[must_use]
    pub const fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn minimum_window(&self) -> u64 {
        // RFC 9002 §7.2: kMinimumWindow is two datagrams.
        self.mss.saturating_mul(2)
    }
}

impl Controller for NewReno {
    fn on_sent(&mut self, _now: Instant, bytes: u64, bytes_in_flight: u64) {
        trace!(
            bytes,
            bytes_in_flight,
            window = self.window,
            "new_reno sent"
        );
    }

    fn on_ack(
        &mut self,
        _now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        _rtt: &RttEstimator,
    ) {
        // RFC 9002 §7.3.2: packets sent before the recovery period began do not grow the window.
        if self.recovery.contains(sent) {
            return;
        }
        // RFC 9002 §7.8: the window does not grow while it is under-utilized.
        if app_limited {
            return;
        }
        if self.window < self.ssthresh {
            // RFC 9002 §7.3.1: in slow start the window grows by the bytes acknowledged.
            self.window = self.window.saturating_add(bytes);
        } else {
            // RFC 9002 §7.3.3: in congestion avoidance the window grows by one
            // datagram per window of bytes acknowledged.
            self.bytes_acked = self.bytes_acked.saturating_add(bytes);
            let window = self.window.max(1);
            if self.bytes_acked >= window {
                let windows = self.bytes_acked / window;
                self.bytes_acked %= window;
                self.window = self.window.saturating_add(windows.saturating_mul(self.mss));
            }
        }
        trace!(
            window = self.window,
            ssthresh = self.ssthresh,
            "new_reno acked"
        );
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        // RFC 9002 §7.3.2: one reduction per recovery period; losses of packets
        // sent before it began are part of the same event.
        if !self.recovery.contains(sent) {
            self.recovery.enter(now);
            // RFC 9002 §7.3.2: ssthresh is half the window (kLossReductionFactor),
            // and the window drops to it, but not below the minimum window.
            self.ssthresh = self.window / 2;
            self.window = self.ssthresh.max(self.minimum_window());
            self.bytes_acked = 0;
        }
        // RFC 9002 §7.6.2: persistent congestion collapses the window to the
        // minimum; RFC 9002 §B.8: and ends the recovery period.
        if is_persistent_congestion {
            self.window = self.minimum_window();
            self.recovery.reset();
            self.bytes_acked = 0;
        }
        debug!(
            window = self.window,
            ssthresh = self.ssthresh,
            lost_bytes,
            persistent = is_persistent_congestion,
            "new_reno congestion event"
        );
    }

    fn on_mtu_update(&mut self, max_datagram_size: u16) {
        self.mss = mss(max_datagram_size);
        // RFC 9002 §7.2: the minimum window follows the maximum datagram size.
        self.window = self.window.max(self.minimum_window());
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn name(&self) -> &'static str {
        "new_reno"
    }
}
