//! Loss detection (RFC 9002 §5, §6, Appendix A).
//!
//! [`Recovery`] tracks the packets a connection sent in its three packet
//! number spaces, turns ACK frames into acknowledged and lost packets,
//! estimates the round-trip time ([`RttEstimator`]) and says when the loss
//! detection timer fires and what to do then: declare packets lost by
//! time, or send probes (PTO).
//!
//! It is sans-IO like the rest of the crate: every method that depends on
//! time takes `now`, and the timer is a deadline the connection reads with
//! [`Recovery::loss_detection_timer`] and reports with
//! [`Recovery::on_loss_detection_timeout`]. What recovery needs to know of
//! the connection's state (is the handshake confirmed, is the server
//! blocked by the anti-amplification limit…) is passed in a [`PathState`]
//! on each call, so the deadline is always computed from current facts.
//!
//! Congestion control is not here. Recovery keeps the count of bytes in
//! flight and hands back every acknowledged and lost packet as a
//! [`SentPacket`], with its size and send time, for a controller to consume.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use tern_proto::{
//!     SpaceId,
//!     recovery::{PathState, Recovery, RecoveryConfig, SentPacket},
//! };
//!
//! # fn example(start: Instant) {
//! let path = PathState {
//!     handshake_confirmed: false,
//!     peer_completed_address_validation: false,
//!     amplification_blocked: false,
//!     has_handshake_keys: false,
//!     max_ack_delay: Duration::from_millis(25),
//!     is_client: true,
//! };
//! let mut recovery = Recovery::new(RecoveryConfig::default());
//! let packet = SentPacket {
//!     time_sent: start,
//!     size: 1200,
//!     ack_eliciting: true,
//!     in_flight: true,
//!     data: "client hello",
//! };
//! recovery.on_packet_sent(start, SpaceId::Initial, 0, packet);
//! assert_eq!(recovery.bytes_in_flight(), 1200);
//!
//! let (mut acked, mut lost) = (Vec::new(), Vec::new());
//! let now = start + Duration::from_millis(40);
//! let outcome = recovery
//!     .on_ack_received(now, SpaceId::Initial, [0..=0], Duration::ZERO, &path, &mut acked, &mut lost)
//!     .unwrap();
//! assert!(outcome.rtt_sampled);
//! assert_eq!(acked[0].data, "client hello");
//! assert_eq!(recovery.rtt().smoothed(), Duration::from_millis(40));
//! # }
//! ```

use std::{
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use tracing::trace;

use crate::{SpaceId, error::TransportError};

mod loss;
mod pto;
mod rtt;
mod sent;
#[cfg(test)]
mod tests;

pub use rtt::RttEstimator;
pub use sent::SentPacket;
use sent::SentPackets;

/// RFC 9002 §6.2.2: the initial RTT before any sample, 333 ms.
pub const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(333);

/// Loss detection constants (RFC 9002 §A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// The RTT assumed before the first sample (kInitialRtt); 333 ms.
    pub initial_rtt: Duration,
    /// How many packets a packet may be overtaken by before it is declared
    /// lost (kPacketThreshold); 3. The RFC advises against less than 3.
    pub packet_threshold: u64,
    /// How much longer than the RTT a packet may stay unacknowledged after
    /// a later one was acknowledged, as (numerator, denominator)
    /// (kTimeThreshold); (9, 8). A denominator of 0 is taken as 1.
    pub time_threshold: (u32, u32),
    /// The timer granularity (kGranularity); 1 ms.
    pub granularity: Duration,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        // RFC 9002 §6.1.1: kPacketThreshold is 3.
        // RFC 9002 §6.1.2: kTimeThreshold is 9/8 and kGranularity 1 ms.
        Self {
            initial_rtt: DEFAULT_INITIAL_RTT,
            packet_threshold: 3,
            time_threshold: (9, 8),
            granularity: Duration::from_millis(1),
        }
    }
}

/// What the connection knows that recovery needs (RFC 9002 §A.6, §A.8),
/// passed on every call so that the timer follows the connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathState {
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    pub handshake_confirmed: bool,
    /// For a client: the server has validated our address, which it has
    /// once we receive an ACK for a Handshake packet or the handshake is
    /// confirmed. Recovery notices Handshake ACKs itself, so it is enough
    /// to set this once the handshake is confirmed. Ignored by servers,
    /// for which clients validate implicitly.
    pub peer_completed_address_validation: bool,
    /// For a server: the anti-amplification limit leaves no room to send.
    pub amplification_blocked: bool,
    /// Handshake keys are available, so an anti-deadlock probe is a
    /// Handshake packet rather than a padded Initial.
    pub has_handshake_keys: bool,
    /// The peer's max_ack_delay transport parameter (25 ms by default).
    pub max_ack_delay: Duration,
    /// We are the client.
    pub is_client: bool,
}

/// What an ACK frame did (RFC 9002 §A.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckOutcome {
    /// The ACK's largest acknowledged packet was acknowledged for the
    /// first time.
    pub largest_newly_acked: bool,
    /// The ACK produced an RTT sample (RFC 9002 §5.1).
    pub rtt_sampled: bool,
    /// An ack-eliciting packet was newly acknowledged.
    pub newly_acked_ack_eliciting: bool,
}

/// What the connection must do after the loss detection timer fired
/// (RFC 9002 §A.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum TimeoutOutcome {
    /// The timer had not expired: nothing to do.
    None,
    /// Packets were declared lost by the time threshold; they are in the
    /// `lost` output.
    LossDetected,
    /// The probe timeout expired: send `packets` ack-eliciting packets in
    /// `space`, with new data if there is some, else retransmitted data,
    /// else a PING. A client's anti-deadlock probe is one packet: a
    /// Handshake packet, or an Initial padded to a full datagram.
    Probe {
        /// The packet number space to probe.
        space: SpaceId,
        /// How many probe packets to send: 1 or 2.
        packets: u8,
    },
}

/// Loss detection state of one packet number space (RFC 9002 §A.3).
#[derive(Debug)]
struct Space<T> {
    sent: SentPackets<T>,
    largest_sent: Option<u64>,
    /// largest_acked_packet; `None` is the RFC's infinite.
    largest_acked: Option<u64>,
    /// time_of_last_ack_eliciting_packet.
    last_ack_eliciting_sent: Option<Instant>,
    /// When the oldest packet not yet lost by time would be.
    loss_time: Option<Instant>,
    /// Ack-eliciting packets in flight.
    ack_eliciting_in_flight: u64,
}

impl<T> Space<T> {
    const fn new() -> Self {
        Self {
            sent: SentPackets::new(),
            largest_sent: None,
            largest_acked: None,
            last_ack_eliciting_sent: None,
            loss_time: None,
            ack_eliciting_in_flight: 0,
        }
    }
}

/// Loss detection for one connection, over its three packet number spaces
/// (RFC 9002 §6, Appendix A). `T` is whatever the connection wants back
/// when a packet is acknowledged or lost.
#[derive(Debug)]
pub struct Recovery<T> {
    config: RecoveryConfig,
    rtt: RttEstimator,
    /// When the first RTT sample was taken (first_rtt_sample).
    first_rtt_sample: Option<Instant>,
    spaces: [Space<T>; 3],
    pto_count: u32,
    bytes_in_flight: u64,
    /// A client received an ACK in the Handshake space, so the server has
    /// validated its address.
    handshake_acked: bool,
    /// When the RFC's SetLossDetectionTimer last ran: the start of the
    /// client's anti-deadlock PTO.
    timer_set_at: Option<Instant>,
}

/// The index of a space in [`Recovery::spaces`].
const fn index(space: SpaceId) -> usize {
    match space {
        SpaceId::Initial => 0,
        SpaceId::Handshake => 1,
        SpaceId::Data => 2,
    }
}

/// The spaces in the order the RFC walks them.
const SPACES: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

impl<T> Recovery<T> {
    /// Recovery for a new connection: nothing sent, no RTT sample.
    #[must_use]
    pub fn new(config: RecoveryConfig) -> Self {
        Self {
            rtt: RttEstimator::new(config.initial_rtt),
            config,
            first_rtt_sample: None,
            spaces: [Space::new(), Space::new(), Space::new()],
            pto_count: 0,
            bytes_in_flight: 0,
            handshake_acked: false,
            timer_set_at: None,
        }
    }

    const fn space(&self, space: SpaceId) -> &Space<T> {
        &self.spaces[index(space)]
    }

    const fn space_mut(&mut self, space: SpaceId) -> &mut Space<T> {
        &mut self.spaces[index(space)]
    }

    /// Records packet `pn` of `space`, sent at `now` (RFC 9002 §A.5).
    ///
    /// Packet numbers of a space must increase with each call; the caller
    /// should use every one, as each skipped number costs a slot until
    /// older packets are acknowledged. A packet number at or below one
    /// recorded before is a caller bug: it panics in debug builds and is
    /// ignored otherwise.
    pub fn on_packet_sent(&mut self, now: Instant, space: SpaceId, pn: u64, packet: SentPacket<T>) {
        let increasing = self.largest_sent(space).is_none_or(|largest| pn > largest);
        debug_assert!(
            increasing,
            "packet number {pn} sent twice or out of order in {space:?}"
        );
        if !increasing {
            return;
        }
        self.bytes_in_flight += packet.bytes_in_flight();
        // RFC 9002 §A.5: sending a packet in flight sets the loss detection timer.
        if packet.in_flight {
            self.timer_set_at = Some(now);
        }
        let state = self.space_mut(space);
        state.largest_sent = Some(pn);
        if packet.ack_eliciting_in_flight() {
            state.last_ack_eliciting_sent = Some(now);
            state.ack_eliciting_in_flight += 1;
        }
        state.sent.insert(pn, packet);
    }

    /// Processes the ranges of an ACK frame received at `now` in `space`,
    /// largest first (RFC 9002 §A.7). `ack_delay` is the ACK Delay field
    /// already scaled by the peer's ack_delay_exponent.
    ///
    /// Newly acknowledged packets are pushed to `acked`, largest first;
    /// packets this ACK shows to be lost are pushed to `lost`, oldest
    /// first. The work is proportional to the ranges and the packets
    /// tracked, whatever the ranges' widths.
    ///
    /// # Errors
    /// PROTOCOL_VIOLATION when the ACK acknowledges a packet number above
    /// any sent in `space`; nothing is changed then.
    #[expect(
        clippy::too_many_arguments,
        reason = "outputs are caller-owned to avoid allocating"
    )]
    pub fn on_ack_received(
        &mut self,
        now: Instant,
        space: SpaceId,
        ranges: impl IntoIterator<Item = RangeInclusive<u64>>,
        ack_delay: Duration,
        path: &PathState,
        acked: &mut Vec<SentPacket<T>>,
        lost: &mut Vec<(SpaceId, SentPacket<T>)>,
    ) -> Result<AckOutcome, TransportError> {
        let mut ranges = ranges.into_iter();
        let Some(first) = ranges.next() else {
            return Ok(AckOutcome::default());
        };
        let largest = *first.end();
        // RFC 9000 §13.1: acknowledging a packet number never sent is PROTOCOL_VIOLATION.
        if self
            .space(space)
            .largest_sent
            .is_none_or(|sent| largest > sent)
        {
            return Err(TransportError::protocol_violation(
                "ack of a packet number never sent",
            ));
        }
        if space == SpaceId::Handshake {
            self.handshake_acked = true;
        }
        let state = self.space_mut(space);
        state.largest_acked = Some(state.largest_acked.map_or(largest, |l| l.max(largest)));

        let newly = self.remove_acked(space, first, ranges, acked);
        let mut outcome = AckOutcome {
            largest_newly_acked: newly.largest == Some(largest),
            rtt_sampled: false,
            newly_acked_ack_eliciting: newly.ack_eliciting,
        };
        // RFC 9002 §A.7: an ACK that newly acknowledges nothing changes nothing else.
        let Some(largest_sent_time) = newly.largest_time_sent else {
            return Ok(outcome);
        };
        // RFC 9002 §5.1: an RTT sample needs the largest acknowledged packet to be
        // newly acknowledged and at least one newly acknowledged packet to be ack-eliciting.
        if outcome.largest_newly_acked && outcome.newly_acked_ack_eliciting {
            // RFC 9002 §5.3: Initial ACKs are not delayed by the peer, so their ack delay is ignored.
            let ack_delay = if space == SpaceId::Initial {
                Duration::ZERO
            } else {
                ack_delay
            };
            let sample = now.saturating_duration_since(largest_sent_time);
            self.rtt.update(
                ack_delay,
                sample,
                path.handshake_confirmed,
                path.max_ack_delay,
            );
            self.first_rtt_sample.get_or_insert(now);
            outcome.rtt_sampled = true;
            trace!(?space, rtt = ?sample, smoothed = ?self.rtt.smoothed(), "rtt sample");
        }
        self.detect_and_remove_lost(now, space, lost);
        // RFC 9002 §6.2.1: the PTO backoff is reset on an acknowledgment, unless a
        // client is not yet sure the server validated its address.
        if self.peer_completed_address_validation(path) {
            self.pto_count = 0;
        }
        self.timer_set_at = Some(now);
        Ok(outcome)
    }

    /// Removes the packets the ranges acknowledge from `space`, pushing them
    /// to `acked`.
    fn remove_acked(
        &mut self,
        space: SpaceId,
        first: RangeInclusive<u64>,
        rest: impl Iterator<Item = RangeInclusive<u64>>,
        acked: &mut Vec<SentPacket<T>>,
    ) -> NewlyAcked {
        let mut newly = NewlyAcked::default();
        let mut bytes = 0;
        let state = &mut self.spaces[index(space)];
        for range in std::iter::once(first).chain(rest) {
            state.sent.remove_range(range, |pn, packet| {
                if newly.largest.is_none_or(|largest| pn > largest) {
                    newly.largest = Some(pn);
                    newly.largest_time_sent = Some(packet.time_sent);
                }
                newly.ack_eliciting |= packet.ack_eliciting;
                bytes += packet.bytes_in_flight();
                if packet.ack_eliciting_in_flight() {
                    state.ack_eliciting_in_flight -= 1;
                }
                acked.push(packet);
            });
        }
        state.sent.trim_front();
        self.bytes_in_flight -= bytes;
        newly
    }

    /// Forgets the packets of `space`, whose keys are being discarded,
    /// pushing them to `discarded` (RFC 9002 §6.4). They leave bytes in
    /// flight, the space's timers are cleared and the PTO backoff is reset.
    pub fn discard_space(&mut self, space: SpaceId, discarded: &mut Vec<T>) {
        let state = self.space_mut(space);
        let mut bytes = 0;
        // RFC 9002 §6.4: discarding keys discards the recovery state of the space's
        // packets and removes them from bytes in flight.
        for packet in state.sent.drain() {
            bytes += packet.bytes_in_flight();
            discarded.push(packet.data);
        }
        state.ack_eliciting_in_flight = 0;
        // RFC 9002 §6.4: discarding keys resets the space's loss and PTO timers.
        state.last_ack_eliciting_sent = None;
        state.loss_time = None;
        self.bytes_in_flight -= bytes;
        // RFC 9002 §6.2.1: discarding Initial or Handshake keys resets the PTO backoff.
        self.pto_count = 0;
        trace!(?space, bytes, "discarded space");
    }

    /// How many times in a row the PTO fired without an acknowledgment
    /// (pto_count).
    #[must_use]
    pub const fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// The round-trip time estimates.
    #[must_use]
    pub const fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Puts `rtt` in place of the round-trip time estimates and returns the
    /// ones it replaces: a connection that moves to a new path starts its
    /// estimates again (RFC 9000 §9.4), and one that goes back to a path it
    /// left takes that path's back.
    pub fn replace_rtt(&mut self, rtt: RttEstimator) -> RttEstimator {
        std::mem::replace(&mut self.rtt, rtt)
    }

    /// When the first RTT sample was taken, which starts the period in
    /// which persistent congestion may be declared (RFC 9002 §7.6.2).
    #[must_use]
    pub const fn first_rtt_sample(&self) -> Option<Instant> {
        self.first_rtt_sample
    }

    /// The bytes of the packets in flight, over all spaces.
    #[must_use]
    pub const fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// The largest packet number acknowledged in `space`.
    #[must_use]
    pub const fn largest_acked(&self, space: SpaceId) -> Option<u64> {
        self.space(space).largest_acked
    }

    /// The largest packet number sent in `space`.
    #[must_use]
    pub const fn largest_sent(&self, space: SpaceId) -> Option<u64> {
        self.space(space).largest_sent
    }

    /// Whether `space` has ack-eliciting packets in flight.
    #[must_use]
    pub const fn ack_eliciting_in_flight(&self, space: SpaceId) -> bool {
        self.space(space).ack_eliciting_in_flight > 0
    }

    /// The packets of `space` neither acknowledged, lost nor discarded,
    /// with their packet numbers, oldest first.
    pub fn unacked(&self, space: SpaceId) -> impl Iterator<Item = (u64, &SentPacket<T>)> {
        self.space(space).sent.iter()
    }

    /// The data of the packets of `space` neither acknowledged, lost nor
    /// discarded, with their packet numbers, oldest first: for instance to
    /// pick what to retransmit in a probe.
    pub fn unacked_data_mut(&mut self, space: SpaceId) -> impl Iterator<Item = (u64, &mut T)> {
        self.space_mut(space).sent.iter_data_mut()
    }

    /// The oldest packet of `space` neither acknowledged, lost nor
    /// discarded, with its packet number.
    #[must_use]
    pub fn oldest_unacked(&self, space: SpaceId) -> Option<(u64, &SentPacket<T>)> {
        self.unacked(space).next()
    }

    /// RFC 9002 §A.8 PeerCompletedAddressValidation: servers assume it;
    /// clients know it from a Handshake ACK or the handshake's confirmation.
    const fn peer_completed_address_validation(&self, path: &PathState) -> bool {
        !path.is_client
            || path.peer_completed_address_validation
            || path.handshake_confirmed
            || self.handshake_acked
    }

    /// Whether any space has ack-eliciting packets in flight.
    #[must_use]
    pub fn any_ack_eliciting_in_flight(&self) -> bool {
        self.spaces.iter().any(|s| s.ack_eliciting_in_flight > 0)
    }

    /// Gives back the spare capacity of the buffers of packets awaiting
    /// acknowledgment, for a connection that went quiet. They grow again
    /// as packets are sent: call it when a pause is likely, not per packet.
    pub fn shrink_to_fit(&mut self) {
        for space in &mut self.spaces {
            space.sent.shrink_to_fit();
        }
    }
}

/// What [`Recovery::remove_acked`] found.
#[derive(Debug, Default)]
struct NewlyAcked {
    largest: Option<u64>,
    largest_time_sent: Option<Instant>,
    ack_eliciting: bool,
}
