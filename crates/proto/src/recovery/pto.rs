//! The loss detection timer and the probe timeout (RFC 9002 §6.2, §A.8, §A.9).

use std::time::{Duration, Instant};

use tracing::debug;

use super::{PathState, Recovery, SPACES, SentPacket, TimeoutOutcome, index};
use crate::SpaceId;

/// The largest PTO backoff exponent: past 2^30 the timer is decades away
/// and the idle timeout has long closed the connection.
const MAX_BACKOFF_EXPONENT: u32 = 30;

impl<T> Recovery<T> {
    /// The probe timeout without backoff: smoothed_rtt + max(4 × rttvar,
    /// kGranularity), plus the peer's max_ack_delay once the handshake is
    /// confirmed. This is the PTO of the Application Data space, which the
    /// connection triples for its idle and closing periods (RFC 9000 §10).
    #[must_use]
    pub fn pto_duration(&self, path: &PathState) -> Duration {
        let base = self.pto_base();
        if path.handshake_confirmed {
            base.saturating_add(path.max_ack_delay)
        } else {
            base
        }
    }

    /// smoothed_rtt + max(4 × rttvar, kGranularity).
    fn pto_base(&self) -> Duration {
        // RFC 9002 §6.2.1: the PTO period is smoothed_rtt + max(4 * rttvar, kGranularity),
        // so at least kGranularity.
        let variance = self.rtt.rttvar().saturating_mul(4);
        self.rtt
            .smoothed()
            .saturating_add(variance.max(self.config.granularity))
    }

    /// `duration` doubled for each PTO expiry in a row.
    fn backoff(&self, duration: Duration) -> Duration {
        // RFC 9002 §6.2.1: each PTO expiry doubles the PTO period.
        let exponent = self.pto_count.min(MAX_BACKOFF_EXPONENT);
        duration.saturating_mul(1 << exponent)
    }

    /// RFC 9002 §A.8 GetPtoTimeAndSpace, for spaces with ack-eliciting
    /// packets in flight: the earliest PTO deadline and its space. `None`
    /// when no space may arm the PTO.
    fn pto_time_and_space(&self, path: &PathState) -> Option<(Instant, SpaceId)> {
        let mut earliest: Option<(Instant, SpaceId)> = None;
        for space in SPACES {
            let state = &self.spaces[index(space)];
            if state.ack_eliciting_in_flight == 0 {
                continue;
            }
            let duration = if space == SpaceId::Data {
                // RFC 9002 §6.2.1: the PTO is not armed for the Application Data space
                // before the handshake is confirmed.
                if !path.handshake_confirmed {
                    break;
                }
                // RFC 9002 §6.2.1: only the Application Data space adds max_ack_delay.
                self.pto_base().saturating_add(path.max_ack_delay)
            } else {
                self.pto_base()
            };
            let Some(sent) = state.last_ack_eliciting_sent else {
                continue;
            };
            let Some(deadline) = sent.checked_add(self.backoff(duration)) else {
                continue;
            };
            if earliest.is_none_or(|(time, _)| deadline < time) {
                earliest = Some((deadline, space));
            }
        }
        earliest
    }

    /// The client's anti-deadlock probe: its deadline and space, when the
    /// client has nothing ack-eliciting in flight and the server may still
    /// be blocked by its anti-amplification limit.
    fn anti_deadlock(&self, path: &PathState) -> Option<(Instant, SpaceId)> {
        if self.any_ack_eliciting_in_flight() || self.peer_completed_address_validation(path) {
            return None;
        }
        // RFC 9002 §6.2.2.1: a client not yet validated by the server arms the PTO even
        // with nothing in flight, from when the timer was last set.
        let deadline = self
            .timer_set_at?
            .checked_add(self.backoff(self.pto_base()))?;
        let space = if path.has_handshake_keys {
            SpaceId::Handshake
        } else {
            SpaceId::Initial
        };
        Some((deadline, space))
    }

    /// When the loss detection timer fires, if it is armed (RFC 9002
    /// §A.8): the earliest time-threshold loss, else the probe timeout.
    ///
    /// The deadline follows from the state and `path`, so it changes when
    /// `path` does: a server unblocked by its anti-amplification limit
    /// should read it again and, if it is already past, call
    /// [`on_loss_detection_timeout`](Self::on_loss_detection_timeout)
    /// (RFC 9002 §A.6). `None` also when the deadline is beyond what
    /// [`Instant`] can hold.
    #[must_use]
    pub fn loss_detection_timer(&self, path: &PathState) -> Option<Instant> {
        self.timer(path).map(|(time, _)| time)
    }

    /// The timer's deadline and what it is for.
    fn timer(&self, path: &PathState) -> Option<(Instant, Timer)> {
        // RFC 9002 §6.1.2: a pending time-threshold loss takes precedence over the PTO.
        if let Some((time, space)) = self.earliest_loss_time() {
            return Some((time, Timer::Loss(space)));
        }
        // RFC 9002 §6.2.2.1: a server blocked by the anti-amplification limit does not
        // arm the PTO, as it could not send a probe.
        if path.amplification_blocked {
            return None;
        }
        if let Some((time, space)) = self.anti_deadlock(path) {
            return Some((time, Timer::AntiDeadlock(space)));
        }
        self.pto_time_and_space(path)
            .map(|(time, space)| (time, Timer::Pto(space)))
    }

    /// Handles the loss detection timer at `now` (RFC 9002 §A.9): declares
    /// packets lost by time, pushing them to `lost`, or says which space to
    /// probe, counting one more PTO. Does nothing if the timer is not armed
    /// or not yet due.
    pub fn on_loss_detection_timeout(
        &mut self,
        now: Instant,
        path: &PathState,
        lost: &mut Vec<(SpaceId, SentPacket<T>)>,
    ) -> TimeoutOutcome {
        let Some((deadline, timer)) = self.timer(path) else {
            return TimeoutOutcome::None;
        };
        if now < deadline {
            return TimeoutOutcome::None;
        }
        self.timer_set_at = Some(now);
        let (space, packets) = match timer {
            Timer::Loss(space) => {
                let count = self.detect_and_remove_lost(now, space, lost);
                debug!(?space, count, "time threshold loss");
                return if count == 0 {
                    TimeoutOutcome::None
                } else {
                    TimeoutOutcome::LossDetected
                };
            }
            // RFC 9002 §6.2.2.1: the anti-deadlock probe is one Handshake packet, or
            // one padded Initial packet without Handshake keys.
            Timer::AntiDeadlock(space) => (space, 1),
            // RFC 9002 §6.2.4: a PTO sends up to two ack-eliciting packets in the space.
            Timer::Pto(space) => (space, 2),
        };
        // RFC 9002 §6.2.1: a PTO expiry increases the backoff.
        self.pto_count = self.pto_count.saturating_add(1);
        debug!(?space, pto_count = self.pto_count, "probe timeout");
        TimeoutOutcome::Probe { space, packets }
    }
}

/// What the loss detection timer is armed for.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// A packet of the space may be lost by the time threshold.
    Loss(SpaceId),
    /// The client's probe while the server may be blocked.
    AntiDeadlock(SpaceId),
    /// The probe timeout of the space.
    Pto(SpaceId),
}
