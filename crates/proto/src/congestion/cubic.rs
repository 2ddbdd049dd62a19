//! CUBIC (RFC 9438).
//!
//! Windows are kept in bytes; the cubic function itself is evaluated in
//! datagrams and seconds, the units its constant C = 0.4 is given in, and
//! converted back. Window growth smaller than a byte accumulates in a
//! fractional credit so that slow growth on a small window is not lost to
//! rounding.

use std::time::{Duration, Instant};

use tracing::{debug, trace};

use super::{Controller, ControllerFactory, RecoveryPeriod, initial_window, minimum_window, mss};
use crate::recovery::RttEstimator;

#[cfg(test)]
mod tests;

/// RFC 9438 §5.1: C is 0.4, in datagrams per second cubed.
const C: f64 = 0.4;
/// RFC 9438 §4.6: beta_cubic, the multiplicative decrease factor, is 0.7.
const BETA: f64 = 0.7;
/// RFC 9438 §4.3: alpha_cubic is 3 * (1 - beta) / (1 + beta), so that the
/// Reno-friendly estimate grows like Reno's average window.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// Settings of [`Cubic`]; as a [`ControllerFactory`] it builds one per
/// path. CUBIC is Tern's default congestion controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CubicConfig {
    /// The congestion window of a new path, in bytes. `None`, the default,
    /// is RFC 9002's `min(10 * mss, max(14720, 2 * mss))`; a value below
    /// the minimum window of two datagrams is raised to it.
    pub initial_window: Option<u64>,
    /// Fast convergence (RFC 9438 §4.7): when a loss comes at a window
    /// below the previous W_max, lower W_max further so that a new flow
    /// gets its share sooner. On by default.
    pub fast_convergence: bool,
}

impl Default for CubicConfig {
    /// The RFC's initial window, with fast convergence.
    fn default() -> Self {
        Self {
            initial_window: None,
            fast_convergence: true,
        }
    }
}

impl ControllerFactory for CubicConfig {
    fn build(&self, now: Instant, max_datagram_size: u16) -> Box<dyn Controller> {
        Box::new(Cubic::new(self, now, max_datagram_size))
    }
}

/// The CUBIC congestion controller of RFC 9438, with standard slow start
/// until the first congestion event (no HyStart).
#[derive(Debug, Clone)]
pub struct Cubic {
    config: CubicConfig,
    /// The maximum datagram size.
    mss: u64,
    /// cwnd, in bytes.
    window: u64,
    /// Window growth earned but below one byte.
    credit: f64,
    /// ssthresh; `u64::MAX` until the first congestion event.
    ssthresh: u64,
    recovery: RecoveryPeriod,
    /// W_max, in bytes: the window just before the last reduction, lowered
    /// by fast convergence.
    w_max: f64,
    /// cwnd_prior, in bytes: the window just before the last reduction.
    cwnd_prior: f64,
    /// W_est, in bytes: the window Reno would have (RFC 9438 §4.3).
    w_est: f64,
    /// K, in seconds: when the cubic function reaches W_max again.
    k: f64,
    /// t_epoch: when the current congestion avoidance stage began; `None`
    /// until its first acknowledgment.
    epoch: Option<Instant>,
    /// When the sender became application limited within the current
    /// stage, so that the time can be left out of t.
    app_limited_since: Option<Instant>,
    /// The last reduction was for persistent congestion, the RFC's timeout.
    after_timeout: bool,
}

impl Cubic {
    /// A controller in slow start with the configured initial window, for
    /// datagrams of `max_datagram_size` bytes.
    #[must_use]
    pub fn new(config: &CubicConfig, _now: Instant, max_datagram_size: u16) -> Self {
        let initial = config
            .initial_window
            .unwrap_or_else(|| initial_window(max_datagram_size));
        Self {
            config: *config,
            mss: mss(max_datagram_size),
            window: initial.max(minimum_window(max_datagram_size)),
            credit: 0.0,
            // RFC 9438 §4.10: CUBIC starts in slow start, with an infinite ssthresh.
            ssthresh: u64::MAX,
            recovery: RecoveryPeriod::default(),
            w_max: 0.0,
            cwnd_prior: 0.0,
            w_est: 0.0,
            k: 0.0,
            epoch: None,
            app_limited_since: None,
            after_timeout: false,
        }
    }

    /// The slow start threshold in bytes; `u64::MAX` until the first
    /// congestion event.
    #[must_use]
    pub const fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    /// W_max in bytes: the window at the last congestion event, after fast
    /// convergence; zero before the first.
    #[must_use]
    pub const fn w_max(&self) -> f64 {
        self.w_max
    }

    /// K in seconds: how long after the start of congestion avoidance the
    /// cubic function returns to W_max.
    #[must_use]
    pub const fn k(&self) -> f64 {
        self.k
    }

    fn minimum_window(&self) -> u64 {
        // RFC 9002 §7.2: kMinimumWindow is two datagrams.
        self.mss.saturating_mul(2)
    }

    /// Starts a congestion avoidance stage at `now`.
    fn start_epoch(&mut self, now: Instant) {
        let cwnd = to_f64(self.window);
        let mss = to_f64(self.mss);
        // RFC 9438 §4.8: the first stage after a timeout uses K = 0 and W_max = cwnd_epoch.
        if self.after_timeout {
            self.w_max = cwnd;
            self.after_timeout = false;
        }
        // RFC 9438 §4.2: K = cubic_root((W_max - cwnd_epoch) / C), in datagrams;
        // a window above W_max gives a negative K and starts in the convex region.
        self.k = ((self.w_max - cwnd) / mss / C).cbrt();
        // RFC 9438 §4.3: W_est starts at cwnd_epoch.
        self.w_est = cwnd;
        self.epoch = Some(now);
        self.app_limited_since = None;
        trace!(w_max = self.w_max, k = self.k, cwnd, "cubic epoch");
    }

    /// RFC 9438 §4.2: W_cubic(t) = C * (t - K)^3 + W_max, in bytes.
    fn w_cubic(&self, t: f64) -> f64 {
        let offset = t - self.k;
        C * offset * offset * offset * to_f64(self.mss) + self.w_max
    }

    /// Congestion avoidance on `bytes` acknowledged at `now`.
    fn congestion_avoidance(&mut self, now: Instant, bytes: u64, rtt: Duration) {
        let epoch = match self.epoch {
            Some(epoch) => epoch,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let cwnd = to_f64(self.window);
        let mss = to_f64(self.mss);
        let acked = to_f64(bytes);
        // RFC 9438 §4.3: alpha_cubic becomes 1 once W_est reaches cwnd_prior.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        // RFC 9438 §4.3: W_est grows by alpha_cubic datagrams per window acknowledged.
        self.w_est += alpha * mss * acked / cwnd;
        let w_cubic = self.w_cubic(t);
        if w_cubic < self.w_est {
            // RFC 9438 §4.3: in the Reno-friendly region the window is W_est.
            self.grow(self.w_est - cwnd);
        } else {
            // RFC 9438 §4.4, §4.5: in the concave and convex regions the window aims
            // at W_cubic one RTT ahead, between cwnd and 1.5 * cwnd, and moves
            // (target - cwnd) / cwnd of the way per datagram acknowledged.
            let target = self
                .w_cubic(t + rtt.as_secs_f64())
                .max(cwnd)
                .min(1.5 * cwnd);
            self.grow((target - cwnd) * acked / cwnd);
        }
    }

    /// Adds `bytes` to the window, keeping the fraction of a byte for later.
    fn grow(&mut self, bytes: f64) {
        if !bytes.is_finite() || bytes <= 0.0 {
            return;
        }
        self.credit += bytes;
        let whole = self.credit.floor();
        self.credit -= whole;
        self.window = self.window.saturating_add(to_u64(whole));
    }
}

impl Controller for Cubic {
    fn on_sent(&mut self, _now: Instant, bytes: u64, bytes_in_flight: u64) {
        trace!(bytes, bytes_in_flight, window = self.window, "cubic sent");
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        // RFC 9002 §7.3.2: packets sent before the recovery period began do not grow the window.
        if self.recovery.contains(sent) {
            return;
        }
        if app_limited {
            // RFC 9438 §5.8: the window does not grow while application limited,
            // and that time is left out of t.
            if self.epoch.is_some() {
                self.app_limited_since.get_or_insert(now);
            }
            return;
        }
        if let Some(since) = self.app_limited_since.take() {
            let idle = now.saturating_duration_since(since);
            self.epoch = self.epoch.and_then(|epoch| epoch.checked_add(idle));
        }
        if self.window < self.ssthresh {
            // RFC 9438 §4.10: below ssthresh the window grows as in standard slow start.
            self.window = self.window.saturating_add(bytes);
        } else {
            self.congestion_avoidance(now, bytes, rtt.smoothed());
        }
        trace!(
            window = self.window,
            ssthresh = self.ssthresh,
            "cubic acked"
        );
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        // RFC 9002 §7.3.2: one reduction per recovery period.
        if !self.recovery.contains(sent) {
            self.recovery.enter(now);
            let cwnd = to_f64(self.window);
            // RFC 9438 §4.7: with fast convergence, a loss below the previous W_max
            // sets W_max to cwnd * (1 + beta_cubic) / 2.
            self.w_max = if self.config.fast_convergence && cwnd < self.w_max {
                cwnd * (1.0 + BETA) / 2.0
            } else {
                cwnd
            };
            self.cwnd_prior = cwnd;
            // RFC 9438 §4.6: ssthresh is cwnd * beta_cubic and the window drops to
            // it, but not below the minimum window.
            self.ssthresh = beta_of(self.window).max(self.minimum_window());
            self.window = self.ssthresh;
            self.credit = 0.0;
            self.epoch = None;
            self.app_limited_since = None;
            self.after_timeout = false;
        }
        // RFC 9002 §7.6.2: persistent congestion collapses the window to the minimum.
        if is_persistent_congestion {
            self.window = self.minimum_window();
            self.recovery.reset();
            self.credit = 0.0;
            self.epoch = None;
            self.app_limited_since = None;
            self.after_timeout = true;
        }
        debug!(
            window = self.window,
            ssthresh = self.ssthresh,
            w_max = self.w_max,
            lost_bytes,
            persistent = is_persistent_congestion,
            "cubic congestion event"
        );
    }

    fn on_mtu_update(&mut self, max_datagram_size: u16) {
        self.mss = mss(max_datagram_size);
        // RFC 9002 §7.2: the minimum window follows the maximum datagram size.
        self.window = self.window.max(self.minimum_window());
        // K is in datagrams: the next acknowledgment starts a stage in the new
        // unit, continuing the curve from the current window.
        self.epoch = None;
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn name(&self) -> &'static str {
        "cubic"
    }
}

/// `window * beta_cubic` in whole bytes, exactly: 7/10 without overflow.
const fn beta_of(window: u64) -> u64 {
    window / 10 * 7 + window % 10 * 7 / 10
}

/// `value` as a float; windows far beyond 2^53 bytes lose precision only.
const fn to_f64(value: u64) -> f64 {
    value as f64
}

/// `value` rounded down to whole bytes: 0 for NaN and negatives, saturating
/// above `u64::MAX`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "the float is clamped to the range of u64 first; the fraction is meant to go"
)]
fn to_u64(value: f64) -> u64 {
    if value.is_nan() || value <= 0.0 {
        0
    } else if value >= to_f64(u64::MAX) {
        u64::MAX
    } else {
        value as u64
    }
}
