//! The round-trip time estimator (RFC 9002 §5).

use std::time::Duration;

/// Round-trip time estimates of one path (RFC 9002 §5).
///
/// Before the first sample, [`smoothed`](Self::smoothed) is the configured
/// initial RTT, [`rttvar`](Self::rttvar) half of it, and
/// [`min`](Self::min) and [`latest`](Self::latest) are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Duration,
    has_sample: bool,
}

impl RttEstimator {
    /// An estimator with no samples yet, assuming `initial_rtt`.
    #[must_use]
    pub fn new(initial_rtt: Duration) -> Self {
        // RFC 9002 §5.3: before any sample, smoothed_rtt is kInitialRtt and rttvar half of it.
        Self {
            latest: Duration::ZERO,
            smoothed: initial_rtt,
            var: initial_rtt / 2,
            min: Duration::ZERO,
            has_sample: false,
        }
    }

    /// Takes one RTT sample: `rtt_sample` is the time from sending the
    /// largest newly acknowledged packet to receiving its acknowledgment,
    /// `ack_delay` the delay the peer reported in the ACK frame.
    ///
    /// `ack_delay` is capped at `max_ack_delay` once `handshake_confirmed`,
    /// and not subtracted when that would take the sample below the
    /// minimum RTT.
    pub fn update(
        &mut self,
        ack_delay: Duration,
        rtt_sample: Duration,
        handshake_confirmed: bool,
        max_ack_delay: Duration,
    ) {
        self.latest = rtt_sample;
        if !self.has_sample {
            // RFC 9002 §5.2: min_rtt is set to latest_rtt on the first sample.
            // RFC 9002 §5.3: the first sample sets smoothed_rtt to it and rttvar to half of it.
            self.min = rtt_sample;
            self.smoothed = rtt_sample;
            self.var = rtt_sample / 2;
            self.has_sample = true;
            return;
        }
        // RFC 9002 §5.2: min_rtt is the lesser of min_rtt and latest_rtt, ignoring ack delay.
        self.min = self.min.min(rtt_sample);
        // RFC 9002 §5.3: once the handshake is confirmed, ack_delay is at most
        // the peer's max_ack_delay; before that, max_ack_delay is ignored.
        let ack_delay = if handshake_confirmed {
            ack_delay.min(max_ack_delay)
        } else {
            ack_delay
        };
        // RFC 9002 §5.3: the ack delay is not subtracted when the result would be below min_rtt.
        let adjusted = match self.min.checked_add(ack_delay) {
            Some(floor) if rtt_sample >= floor => rtt_sample - ack_delay,
            _ => rtt_sample,
        };
        // RFC 9002 §5.3: rttvar = 3/4 rttvar + 1/4 |smoothed_rtt - adjusted_rtt|,
        // smoothed_rtt = 7/8 smoothed_rtt + 1/8 adjusted_rtt.
        let deviation = self.smoothed.abs_diff(adjusted);
        self.var = self.var.saturating_mul(3).saturating_add(deviation) / 4;
        self.smoothed = self.smoothed.saturating_mul(7).saturating_add(adjusted) / 8;
    }

    /// The smoothed RTT (smoothed_rtt).
    #[must_use]
    pub const fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// The RTT variation (rttvar).
    #[must_use]
    pub const fn rttvar(&self) -> Duration {
        self.var
    }

    /// The smallest sample seen (min_rtt); zero before the first sample.
    #[must_use]
    pub const fn min(&self) -> Duration {
        self.min
    }

    /// The most recent sample (latest_rtt); zero before the first sample.
    #[must_use]
    pub const fn latest(&self) -> Duration {
        self.latest
    }

    /// Whether a sample has been taken.
    #[must_use]
    pub const fn has_sample(&self) -> bool {
        self.has_sample
    }
}

impl Default for RttEstimator {
    /// An estimator assuming the RFC's initial RTT of 333 ms.
    fn default() -> Self {
        Self::new(super::DEFAULT_INITIAL_RTT)
    }
}
