//! Establishing persistent congestion (RFC 9002 §7.6).

use std::time::{Duration, Instant};

use crate::recovery::RttEstimator;

/// kPersistentCongestionThreshold: how many PTO periods of total loss
/// make persistent congestion (RFC 9002 §7.6.1).
pub const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

/// A packet declared lost, as persistent congestion detection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostPacket {
    /// Its packet number.
    pub pn: u64,
    /// When it was sent.
    pub time_sent: Instant,
    /// Whether it was ack-eliciting.
    pub ack_eliciting: bool,
}

/// The PTO period persistent congestion is measured in:
/// `smoothed_rtt + max(4 * rttvar, granularity) + max_ack_delay`.
///
/// Unlike the PTO that arms the loss detection timer, it always includes
/// `max_ack_delay`, whatever the packet number space. It saturates rather
/// than overflow.
#[must_use]
pub fn persistent_congestion_pto(
    rtt: &RttEstimator,
    granularity: Duration,
    max_ack_delay: Duration,
) -> Duration {
    // RFC 9002 §7.6.1: the duration includes max_ack_delay irrespective of the packet number space.
    rtt.smoothed()
        .saturating_add(rtt.rttvar().saturating_mul(4).max(granularity))
        .saturating_add(max_ack_delay)
}

/// Whether the packets one acknowledgment (or loss timeout) declared lost
/// show persistent congestion (RFC 9002 §7.6.2): two ack-eliciting lost
/// packets, both sent after the first RTT sample, more than
/// `pto * PERSISTENT_CONGESTION_THRESHOLD` apart, with no packet between
/// them acknowledged.
///
/// What the caller provides:
///
/// - `lost`: every packet of one packet number space declared lost by the
///   event, ack-eliciting or not, in increasing packet number order. Use
///   the space the acknowledgment was for; calling once per space and
///   combining with `||` is what RFC 9002 §7.6.2 allows for senders that
///   do not compare send times across spaces.
/// - `pto`: [`persistent_congestion_pto`] of the path.
/// - `first_rtt_sample`: when the first RTT sample was taken
///   ([`Recovery::first_rtt_sample`](crate::recovery::Recovery::first_rtt_sample));
///   `None` means there was none, and so no persistent congestion.
///
/// "No packet between them acknowledged" is judged by packet numbers: a
/// gap in `lost` is a packet that may have been acknowledged, so the span
/// restarts after it. A gap left by a packet declared lost by an earlier
/// event, or by a skipped packet number, also restarts it: the check errs
/// towards not collapsing the window. Input out of order only restarts
/// spans; it never panics.
#[must_use]
pub fn in_persistent_congestion(
    lost: &[LostPacket],
    pto: Duration,
    first_rtt_sample: Option<Instant>,
) -> bool {
    // RFC 9002 §7.6.2: no persistent congestion before the first RTT sample.
    let Some(first_rtt_sample) = first_rtt_sample else {
        return false;
    };
    // RFC 9002 §7.6.1: the duration is kPersistentCongestionThreshold PTO periods.
    let duration = pto.saturating_mul(PERSISTENT_CONGESTION_THRESHOLD);
    let mut previous_pn: Option<u64> = None;
    // The send time of the earliest qualifying packet of the current run.
    let mut start: Option<Instant> = None;
    for packet in lost {
        // RFC 9002 §7.6.2: no packet sent between the two may be acknowledged;
        // a gap in the lost packet numbers may be one that was.
        let contiguous = previous_pn
            .and_then(|pn| pn.checked_add(1))
            .is_some_and(|next| next == packet.pn);
        if !contiguous {
            start = None;
        }
        previous_pn = Some(packet.pn);
        // RFC 9002 §7.6.2: both packets are ack-eliciting and were sent after the
        // first RTT sample.
        if !packet.ack_eliciting || packet.time_sent <= first_rtt_sample {
            continue;
        }
        match start {
            // RFC 9002 §7.6.2: their send times are more than the duration apart.
            Some(start) if packet.time_sent.saturating_duration_since(start) > duration => {
                return true;
            }
            Some(_) => {}
            None => start = Some(packet.time_sent),
        }
    }
    false
}
