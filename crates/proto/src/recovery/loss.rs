//! Declaring packets lost (RFC 9002 §6.1, §A.10).

use std::time::{Duration, Instant};

use tracing::trace;

use super::{Recovery, SentPacket, index};
use crate::SpaceId;

impl<T> Recovery<T> {
    /// How long after a later packet was acknowledged a packet is declared
    /// lost: kTimeThreshold × max(smoothed_rtt, latest_rtt), at least
    /// kGranularity.
    pub(super) fn loss_delay(&self) -> Duration {
        let (numerator, denominator) = self.config.time_threshold;
        // RFC 9002 §6.1.2: the time threshold is kTimeThreshold times the larger of
        // smoothed_rtt and latest_rtt, and at least kGranularity.
        let rtt = self.rtt.smoothed().max(self.rtt.latest());
        let delay = rtt.saturating_mul(numerator) / denominator.max(1);
        delay.max(self.config.granularity)
    }

    /// RFC 9002 §A.10 DetectAndRemoveLostPackets: removes the packets of
    /// `space` that a later acknowledged packet shows to be lost, pushing
    /// them to `lost`, and sets the space's loss time for the oldest that
    /// may be lost later. Returns how many were lost.
    pub(super) fn detect_and_remove_lost(
        &mut self,
        now: Instant,
        space: SpaceId,
        lost: &mut Vec<(SpaceId, SentPacket<T>)>,
    ) -> usize {
        let loss_delay = self.loss_delay();
        let packet_threshold = self.config.packet_threshold;
        let state = &mut self.spaces[index(space)];
        state.loss_time = None;
        let Some(largest_acked) = state.largest_acked else {
            return 0;
        };
        let mut loss_time: Option<Instant> = None;
        let mut bytes = 0;
        let mut count = 0;
        let mut ack_eliciting = 0;
        state.sent.remove_up_to(
            largest_acked,
            |pn, packet| {
                let lost_at = packet.time_sent.checked_add(loss_delay);
                // RFC 9002 §6.1.2: a packet sent a time threshold or more before now,
                // earlier than an acknowledged one, is lost.
                let too_old = lost_at.is_some_and(|at| at <= now);
                // RFC 9002 §6.1.1: a packet kPacketThreshold or more below the largest
                // acknowledged one is lost.
                let overtaken = largest_acked >= pn.saturating_add(packet_threshold);
                if !(too_old || overtaken) {
                    // RFC 9002 §6.1.2: a timer is set for when the oldest packet that is
                    // not lost yet would be.
                    if let Some(at) = lost_at {
                        loss_time = Some(loss_time.map_or(at, |t| t.min(at)));
                    }
                }
                too_old || overtaken
            },
            |pn, packet| {
                trace!(?space, pn, "packet lost");
                bytes += packet.bytes_in_flight();
                if packet.ack_eliciting_in_flight() {
                    ack_eliciting += 1;
                }
                count += 1;
                lost.push((space, packet));
            },
        );
        state.sent.trim_front();
        state.loss_time = loss_time;
        state.ack_eliciting_in_flight -= ack_eliciting;
        self.bytes_in_flight -= bytes;
        count
    }

    /// RFC 9002 §A.8 GetLossTimeAndSpace: the earliest loss time and its space.
    pub(super) fn earliest_loss_time(&self) -> Option<(Instant, SpaceId)> {
        super::SPACES
            .into_iter()
            .filter_map(|space| Some((self.spaces[index(space)].loss_time?, space)))
            .min_by_key(|&(time, _)| time)
    }
}
