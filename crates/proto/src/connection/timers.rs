//! Time: loss detection and probes, delayed ACKs, the idle timeout, and
//! the closing and draining periods.

use std::time::{Duration, Instant};

use super::{
    CloseReason, Connection, ConnectionError, State,
    spaces::{SPACES, index},
};
use crate::{SpaceId, recovery::TimeoutOutcome};

impl Connection {
    /// The earliest time [`handle_timeout`](Self::handle_timeout) must be
    /// called, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Drained => None,
            State::Closing { deadline } | State::Draining { deadline } => Some(deadline),
            State::Handshaking | State::Established => {
                let path = self.path_state();
                let acks = SPACES
                    .iter()
                    .filter_map(|&space| self.spaces[index(space)].ack_deadline);
                self.recovery
                    .loss_detection_timer(&path)
                    .into_iter()
                    .chain(self.idle_deadline())
                    .chain(self.handshake_deadline())
                    .chain(self.keep_alive_deadline())
                    .chain(self.path.pacing_deadline)
                    .chain(self.path_timeout())
                    .chain(
                        self.handshake_confirmed
                            .then(|| self.path.mtud.next_timeout())
                            .flatten(),
                    )
                    .chain(acks)
                    .min()
            }
        }
    }

    /// Acts on every timer that expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.on_timeout(now);
        #[cfg(feature = "qlog")]
        {
            self.qlog_metrics(now);
            self.qlog_sync(now);
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        match self.state {
            State::Drained => return,
            State::Closing { deadline } | State::Draining { deadline } => {
                if now >= deadline {
                    self.state = State::Drained;
                }
                return;
            }
            State::Handshaking | State::Established => {}
        }
        if self.idle_deadline().is_some_and(|deadline| now >= deadline) {
            // RFC 9000 §10.1: an idle connection is closed silently.
            let idle = self.idle_timeout().unwrap_or_default();
            self.state = State::Drained;
            self.emit_closed(ConnectionError::TimedOut(idle));
            return;
        }
        if self
            .handshake_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            // A handshake that outlived `handshake_timeout` ends silently,
            // as an idle connection does (RFC 9000 §10.1): the peer is not
            // authenticated yet, so nothing it sent earns an answer, and
            // the state is freed at once rather than after a closing period.
            let timeout = self.config.handshake_timeout.unwrap_or_default();
            tracing::debug!(?timeout, "handshake timed out");
            self.state = State::Drained;
            self.emit_closed(ConnectionError::HandshakeTimedOut(timeout));
            return;
        }
        if self
            .path
            .pacing_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            // The pacer now lets a packet out; poll_transmit recomputes.
            self.path.pacing_deadline = None;
        }
        if self
            .keep_alive_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            self.keep_alive_pending = true;
        }
        if self.path_timeout().is_some_and(|deadline| now >= deadline) {
            self.on_path_timeout(now);
        }
        for space in SPACES {
            let sp = &mut self.spaces[index(space)];
            if sp.ack_deadline.is_some_and(|deadline| now >= deadline) {
                sp.ack_pending = true;
            }
        }
        let path = self.path_state();
        if self
            .recovery
            .loss_detection_timer(&path)
            .is_some_and(|t| now >= t)
        {
            let mut lost = std::mem::take(&mut self.lost_buf);
            let outcome = self
                .recovery
                .on_loss_detection_timeout(now, &path, &mut lost);
            self.lost_buf = lost;
            self.on_packets_lost(now);
            if let TimeoutOutcome::Probe { space, packets } = outcome {
                self.stats.pto_count += 1;
                let sp = &mut self.spaces[index(space)];
                if sp.keys.is_some() {
                    sp.probes = sp.probes.max(packets);
                }
                // RFC 9002 §6.2.4: probes carry data when there is some. Before
                // confirmation the peer may miss handshake bytes of either
                // long-header space, so both are sent again, coalesced.
                let spaces: &[SpaceId] = if self.handshake_confirmed {
                    &[space]
                } else {
                    &[SpaceId::Initial, SpaceId::Handshake, space]
                };
                for &s in spaces {
                    let sp = &mut self.spaces[index(s)];
                    if sp.keys.is_some() {
                        sp.crypto_send.requeue_unacked();
                    }
                }
                if space == SpaceId::Data {
                    self.requeue_oldest_data();
                }
            }
        }
        // A timer may be what ends the handshake's traffic (a lost path MTU
        // probe, a delayed ACK) when no packet arrives after it.
        self.maybe_release_handshake_buffers();
    }

    /// RFC 9002 §6.2.4: with no new data to send, a probe retransmits data
    /// still unacknowledged. The stream frames and HANDSHAKE_DONE of the
    /// oldest in-flight packet that carried any go out again (the packet
    /// stays in flight; a late ACK of either copy is harmless), so a lost
    /// response does not wait for an ACK to declare it lost.
    fn requeue_oldest_data(&mut self) {
        if self.streams.wants_to_send() {
            return;
        }
        let Some(frames) = self
            .recovery
            .unacked(SpaceId::Data)
            .map(|(_, packet)| &packet.data)
            .find(|frames| frames.handshake_done || !frames.streams.is_empty())
        else {
            return;
        };
        let (handshake_done, streams) = (frames.handshake_done, frames.streams.clone());
        if handshake_done {
            self.handshake_done_pending = true;
        }
        if !streams.is_empty() {
            self.streams.on_lost(streams);
        }
    }

    /// When a keep-alive PING is due: the interval after the last
    /// ack-eliciting packet we sent, once the handshake is complete.
    fn keep_alive_deadline(&self) -> Option<Instant> {
        let interval = self.config.keep_alive_interval?;
        (self.handshake_complete && !self.keep_alive_pending)
            .then(|| self.last_ack_eliciting_sent + interval)
    }

    /// The negotiated idle timeout: the smaller of both sides' non-zero
    /// values (RFC 9000 §10.1).
    fn idle_timeout(&self) -> Option<Duration> {
        let local = self.config.max_idle_timeout.filter(|d| !d.is_zero());
        let peer = self
            .peer_params
            .as_ref()
            .map(|p| p.max_idle_timeout)
            .filter(|d| !d.is_zero());
        match (local, peer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the handshake must have completed by, while it has not.
    fn handshake_deadline(&self) -> Option<Instant> {
        let timeout = self.config.handshake_timeout?;
        (self.state == State::Handshaking).then(|| self.created_at + timeout)
    }

    /// RFC 9000 §10.1: the idle deadline, never shorter than three PTOs.
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.idle_timeout()?;
        let pto = self.recovery.pto_duration(&self.path_state());
        Some(self.idle_since + idle.max(pto * 3))
    }

    /// Enters the closing state (RFC 9000 §10.2.1) for three PTOs.
    pub(super) fn start_closing(&mut self, now: Instant, reason: CloseReason) {
        let pto = self.recovery.pto_duration(&self.path_state());
        self.state = State::Closing {
            deadline: now + pto * 3,
        };
        self.close = Some(reason);
        self.close_pending = true;
    }
}
