//! The receive path: split datagrams, remove protection, dispatch frames.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};

use super::{
    Closer, Connection, ConnectionError, MIN_INITIAL_SIZE, SentFrames, State, cids,
    migration::Origin, open::Opening, spaces::index,
};
use crate::{
    ConnectionId, EcnCodepoint, EncryptionLevel, Frame, Frames, SpaceId, TransportError,
    frame::Ack,
    packet::{DecodeOptions, PartialDecode},
};

/// RFC 9000 §10.3: the last 16 bytes of a datagram that could be a
/// stateless reset (at least 21 bytes, short header form).
pub(crate) fn reset_token_candidate(datagram: &[u8]) -> Option<[u8; 16]> {
    if datagram.len() < 21 || datagram.first().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    datagram.get(datagram.len() - 16..)?.try_into().ok()
}

/// Compares tokens without branching on their contents.
pub(crate) fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a processed packet carried, as far as acknowledging it goes.
struct PayloadContent {
    /// Some frame elicits an acknowledgment (RFC 9002 §2).
    ack_eliciting: bool,
    /// PING and PADDING only, at least one PING: a probe, most likely.
    ping_only: bool,
    /// Some frame is not a probing frame (RFC 9000 §9.1).
    non_probing: bool,
}

impl Connection {
    /// Processes one datagram the endpoint routed to this connection, to
    /// the local IP the active path knows.
    #[cfg(test)]
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        self.handle_datagram_at(now, remote, None, ecn, data);
    }

    /// Processes one datagram the endpoint routed to this connection, sent
    /// to our `local_ip` when known.
    pub(crate) fn handle_datagram_at(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<std::net::IpAddr>,
        ecn: Option<EcnCodepoint>,
        mut data: BytesMut,
    ) {
        if !self.accepts_datagram_from(remote) {
            // RFC 9000 §9: not from a path the connection may use.
            self.stats.packets_dropped += 1;
            return;
        }
        // RFC 9000 §18.2: a datagram larger than the max_udp_payload_size
        // we advertised may be dropped; it would pin that much memory in
        // every piece of it kept.
        if data.len() > usize::from(self.config.max_udp_payload_size) {
            self.stats.packets_dropped += 1;
            return;
        }
        let Ok(options) = DecodeOptions::new(self.local_cid.len()) else {
            return;
        };
        // RFC 9000 §14.1: a server MUST discard a datagram under 1200 bytes
        // that carries a client Initial, at any stage of the connection.
        if self.side.is_server() && data.len() < MIN_INITIAL_SIZE && carries_initial(&data, options)
        {
            self.stats.packets_dropped += 1;
            return;
        }
        let len = data.len() as u64;
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += len;
        // RFC 9000 §8.1: every byte received from the client counts
        // towards the server's amplification budget on its path.
        self.count_received(remote, len);
        let mut origin = Origin {
            remote,
            local_ip: self.local.map(|addr| addr.ip()).or(local_ip),
            len,
            active: self.path.carries(remote, local_ip),
            moves: false,
        };
        let tail = reset_token_candidate(&data);
        let processed_before = self.stats.packets_received;
        let mut first_dcid = None;
        while !data.is_empty() {
            let Ok(packet) = PartialDecode::split_from(&mut data, options) else {
                // RFC 9000 §12.2: what cannot be parsed ends the datagram.
                self.stats.packets_dropped += 1;
                break;
            };
            // RFC 9000 §12.2: coalesced packets with another DCID are ignored.
            let dcid = *packet.dcid();
            if *first_dcid.get_or_insert(dcid) != dcid {
                self.stats.packets_dropped += 1;
                continue;
            }
            self.handle_packet(now, packet, ecn, &mut origin);
        }
        self.replay_buffered(now);
        self.after_datagram(now, &origin);
        if self.stats.packets_received == processed_before {
            self.check_stateless_reset(now, tail);
        }
        #[cfg(feature = "qlog")]
        self.qlog_sync(now);
    }

    /// Checks a datagram that matched no connection ID (a stateless reset
    /// carries a random one) against this connection's reset token;
    /// returns whether it was our peer's reset.
    pub(crate) fn handle_unroutable(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        data: &[u8],
    ) -> bool {
        if !self.accepts_datagram_from(remote) || self.is_closed() {
            return false;
        }
        self.check_stateless_reset(now, reset_token_candidate(data));
        #[cfg(feature = "qlog")]
        self.qlog_sync(now);
        matches!(self.state, State::Draining { .. })
    }

    /// RFC 9000 §10.3.1: a datagram we could not process whose last 16
    /// bytes are the peer's stateless reset token ends the connection.
    fn check_stateless_reset(&mut self, now: Instant, tail: Option<[u8; 16]>) {
        let (Some(tail), Some(token)) = (tail, self.peer_reset_token()) else {
            return;
        };
        if self.is_closed() || !constant_time_eq(&tail, &token) {
            return;
        }
        tracing::debug!("stateless reset received");
        let pto = self.recovery.pto_duration(&self.path_state());
        self.state = State::Draining {
            deadline: now + pto * 3,
        };
        self.emit_closed(ConnectionError::Reset);
    }

    /// RFC 9000 §10.2.1: a packet reaching a closing connection is
    /// answered with CONNECTION_CLOSE again, but the rate is ours to limit
    /// and a packet that does not decrypt is not answered at all (anyone
    /// can forge one). The 1st, 2nd, 4th, 8th, ... packet that decrypts is
    /// answered: a peer that keeps sending gets exponentially fewer.
    fn on_packet_while_closing(&mut self, now: Instant, mut packet: PartialDecode) {
        let level = packet.encryption_level();
        let opened = match level {
            Some(EncryptionLevel::OneRtt) => self.open_one_rtt(now, &mut packet),
            Some(level) if level != EncryptionLevel::ZeroRtt => {
                let sp = &self.spaces[index(level.space())];
                sp.keys.as_ref().and_then(|keys| {
                    keys.remote
                        .open_decoded(&mut packet, sp.largest_received)
                        .ok()
                })
            }
            _ => None,
        };
        let (Some(opened), Some(level)) = (opened, level) else {
            self.stats.packets_dropped += 1;
            return;
        };
        // RFC 9000 §10.2.2: a closing endpoint that receives CONNECTION_CLOSE
        // may enter the draining state, and then sends nothing more: two
        // endpoints that closed at once do not answer each other's closes
        // until their deadlines.
        let payload = packet.into_data().freeze().slice(opened.payload);
        let closes = Frames::new(payload, level).any(|frame| {
            matches!(
                frame,
                Ok(Frame::ConnectionClose(_) | Frame::ApplicationClose(_))
            )
        });
        if closes && let State::Closing { deadline } = self.state {
            self.state = State::Draining { deadline };
            self.close_pending = false;
            return;
        }
        self.closing_packets += 1;
        if self.closing_packets.is_power_of_two() {
            self.close_pending = true;
        }
    }

    /// Whether a packet of `level` may be processed now: its keys are
    /// there, and it is not a 1-RTT packet reaching a server whose
    /// handshake is not complete.
    pub(super) fn readable_now(&self, level: EncryptionLevel) -> bool {
        if level == EncryptionLevel::ZeroRtt {
            // Opened, or dropped, once TLS decided on early data.
            return self.zero_rtt_state.decided;
        }
        self.spaces[index(level.space())].keys.is_some() && !self.defers(level)
    }

    /// RFC 9001 §5.7: a server has 1-RTT keys as soon as it sends its
    /// Finished, but MUST NOT process 1-RTT packets before the handshake is
    /// complete (the client is not authenticated yet); it MAY keep them.
    pub(super) fn defers(&self, level: EncryptionLevel) -> bool {
        self.side.is_server() && level == EncryptionLevel::OneRtt && !self.handshake_complete
    }

    /// A client sends 1-RTT packets only once its handshake is complete,
    /// so one reaching a server that still waits for the client's Finished
    /// means the Finished was lost. The client resends it on its own PTO,
    /// whose backoff can outgrow the idle timeout under heavy loss (the
    /// interop handshakeloss case saw quinn give up so). Answer with a
    /// Handshake PING, at most once per PTO: the client processes it, which
    /// restarts its idle timer (RFC 9000 §10.1), and its acknowledgment
    /// restarts ours, so both wait for the next retransmission. The PING
    /// carries no ACK on purpose: acknowledging a Handshake packet the
    /// client sent after its Finished would make it declare the Finished
    /// lost (RFC 9002 §6.1), moving it from a probe, which congestion
    /// control never blocks, to a retransmission, which a window filled by
    /// the 1-RTT packets we cannot acknowledge yet can block for good (seen
    /// with quinn). Only the client's 1-RTT packets trigger it, so it
    /// cannot loop.
    pub(super) fn nudge_handshake(&mut self, now: Instant) {
        let pto = self.recovery.pto_duration(&self.path_state());
        if self
            .handshake_nudged_at
            .is_some_and(|at| now.saturating_duration_since(at) < pto)
        {
            return;
        }
        let sp = &mut self.spaces[index(SpaceId::Handshake)];
        if sp.keys.is_none() {
            return;
        }
        self.handshake_nudged_at = Some(now);
        sp.ping_pending = true;
        tracing::debug!("1-RTT before the client's Finished: keeping the handshake alive");
    }

    /// What processing a packet of `space`, from `scid` for a long
    /// header, changes before its frames are looked at.
    fn on_packet_opened(&mut self, space: SpaceId, scid: Option<ConnectionId>) {
        if self.side.is_client() && !self.remote_cid_set && space != SpaceId::Data {
            // RFC 9000 §7.2: the client switches to the server's chosen ID.
            if let Some(scid) = scid {
                self.remote_cid = scid;
                self.remote_cid_set = true;
            }
        }
        if self.side.is_server() && space == SpaceId::Handshake {
            // RFC 9000 §8.1: a Handshake packet proves the client's address.
            self.path.validated = true;
            // RFC 9001 §4.9.1: the server drops Initial keys once it
            // processes a Handshake packet.
            self.discard_space(SpaceId::Initial);
        }
    }

    pub(super) fn handle_packet(
        &mut self,
        now: Instant,
        mut packet: PartialDecode,
        ecn: Option<EcnCodepoint>,
        origin: &mut Origin,
    ) {
        match self.state {
            State::Draining { .. } | State::Drained => return,
            State::Closing { .. } => {
                self.on_packet_while_closing(now, packet);
                return;
            }
            State::Handshaking | State::Established => {}
        }
        let Some(level) = packet.encryption_level() else {
            self.on_unprotected_packet(now, &packet);
            return;
        };
        // RFC 9369 §4: packets of another version are dropped, but for the
        // Initials that carry a compatible version negotiation.
        if packet.version().is_some_and(|v| v != self.version.to_u32())
            && !self.accepts_other_version(&packet)
        {
            self.stats.packets_dropped += 1;
            return;
        }
        let space = level.space();
        let opened = match self.open_packet(now, &mut packet, level) {
            Opening::Opened(opened) => Some(opened),
            Opening::Keep => {
                self.buffer_undecryptable(packet, ecn);
                return;
            }
            Opening::Failed => None,
        };
        let Some(opened) = opened else {
            self.stats.packets_dropped += 1;
            return;
        };
        // RFC 9000 §17.2, §17.3.1: reserved bits must be zero once
        // protection is removed; otherwise PROTOCOL_VIOLATION.
        if packet
            .protected_bits(opened.first_byte)
            .is_some_and(|b| !b.reserved_bits_are_zero())
        {
            self.fail(
                now,
                TransportError::protocol_violation("reserved header bits set"),
            );
            return;
        }
        let pn = opened.pn;
        // RFC 9000 §12.3: a packet whose number was processed already, or
        // is too old to tell, is dropped before any of its frames is
        // looked at; RFC 9001 §9.5: only once protection is removed.
        let processed = &mut self.spaces[index(space)].processed;
        if processed.is_duplicate(pn) {
            tracing::trace!(?space, pn, "duplicate packet dropped");
            self.stats.packets_dropped += 1;
            self.stats.packets_duplicate += 1;
            return;
        }
        processed.insert(pn);
        self.on_packet_opened(space, packet.scid().copied());
        let dcid = *packet.dcid();
        let data = packet.into_data().freeze();
        #[cfg(feature = "qlog")]
        if let Some((qlog, _)) = self.qlog.as_mut() {
            let kind = crate::qlog::PacketKind::from_level(level);
            let payload = data.slice(opened.payload.clone());
            qlog.packet_received(now, kind, pn, data.len(), payload);
        }
        let payload = data.slice(opened.payload);
        self.stats.packets_received += 1;
        // RFC 9000 §9.3: only the largest packet number so far can move
        // the connection, so that a late or copied packet cannot.
        let largest = self.spaces[index(space)]
            .largest_received
            .is_none_or(|largest| pn > largest);
        let zero_rtt = level == EncryptionLevel::ZeroRtt;
        if zero_rtt {
            self.on_zero_rtt_received(now);
        } else if level == EncryptionLevel::OneRtt {
            self.on_one_rtt_opened();
        }
        self.streams.set_zero_rtt_input(zero_rtt);
        let result = self.handle_payload(now, space, level, &dcid, payload, origin);
        self.streams.set_zero_rtt_input(false);
        let content = match result {
            Ok(content) => content,
            Err(error) => {
                self.fail(now, error);
                return;
            }
        };
        if space == SpaceId::Data && content.non_probing && largest {
            origin.moves = true;
        }
        // RFC 9000 §13.4.1: count the ECN mark of each packet processed.
        self.path.ecn.on_packet_received(space, ecn);
        self.on_packet_received(now, space, pn, content.ack_eliciting);
        if content.ping_only && space == SpaceId::Data {
            self.answer_probe();
        }
        self.maybe_release_handshake_buffers();
    }

    /// A 1-RTT packet of nothing but PING (and padding) is most often a
    /// probe (RFC 9002 §6.2.4): its sender has data in flight and cannot
    /// tell what arrived, because our acknowledgments did not reach it. A
    /// peer whose probes carry no data (quinn's) resends that data only
    /// when an acknowledgment shows it lost, so an ACK-only answer lost on
    /// the way can leave it waiting until its idle timeout. The answer goes
    /// out at once in an ack-eliciting packet (ACK and PING), which our own
    /// loss recovery repeats, with the ACK, until it is acknowledged. A
    /// packet carrying an ACK frame is not answered this way, so two
    /// endpoints doing the same cannot ping-pong.
    fn answer_probe(&mut self) {
        if !self.handshake_confirmed || self.is_closed() {
            return;
        }
        let sp = &mut self.spaces[index(SpaceId::Data)];
        sp.ack_pending = true;
        sp.ping_pending = true;
    }

    /// Records a processed packet for ACKs and the idle timer.
    fn on_packet_received(&mut self, now: Instant, space: SpaceId, pn: u64, ack_eliciting: bool) {
        self.idle_since = now;
        self.ack_eliciting_sent_since_receive = false;
        let max_ack_delay = self.config.max_ack_delay;
        let sp = &mut self.spaces[index(space)];
        if sp.discarded {
            return;
        }
        // RFC 9000 §13.2.1: a packet below the largest received, or one
        // after a gap, is acknowledged without delay to help the peer's
        // loss detection.
        let out_of_order = sp
            .largest_received
            .is_some_and(|largest| pn < largest || pn > largest.saturating_add(1));
        sp.received.insert_one(pn);
        if sp.largest_received.is_none_or(|largest| pn > largest) {
            sp.largest_received = Some(pn);
            sp.largest_received_at = Some(now);
        }
        if ack_eliciting {
            sp.unacked_eliciting += 1;
            // RFC 9000 §13.2.1: Initial and Handshake packets are
            // acknowledged at once; 1-RTT packets after two, out of order,
            // or within max_ack_delay (§13.2.2).
            if space != SpaceId::Data || sp.unacked_eliciting >= 2 || out_of_order {
                sp.ack_pending = true;
            } else if sp.ack_deadline.is_none() {
                sp.ack_deadline = Some(now + max_ack_delay);
            }
        }
    }

    /// Handles every frame of a payload; says whether it was ack-eliciting
    /// and whether it held nothing but PING and PADDING.
    fn handle_payload(
        &mut self,
        now: Instant,
        space: SpaceId,
        level: EncryptionLevel,
        dcid: &ConnectionId,
        payload: Bytes,
        origin: &Origin,
    ) -> Result<PayloadContent, TransportError> {
        let mut content = PayloadContent {
            ack_eliciting: false,
            ping_only: true,
            non_probing: false,
        };
        let mut pings = false;
        for frame in Frames::new(payload, level) {
            let frame = frame?;
            // RFC 9002 §2: every frame but ACK, PADDING and
            // CONNECTION_CLOSE elicits an acknowledgement.
            content.ack_eliciting |= !matches!(
                frame,
                Frame::Ack(_)
                    | Frame::Padding(_)
                    | Frame::ConnectionClose(_)
                    | Frame::ApplicationClose(_)
            );
            pings |= matches!(frame, Frame::Ping);
            content.ping_only &= matches!(frame, Frame::Ping | Frame::Padding(_));
            // RFC 9000 §9.1: these four are the probing frames.
            content.non_probing |= !matches!(
                frame,
                Frame::Padding(_)
                    | Frame::PathChallenge(_)
                    | Frame::PathResponse(_)
                    | Frame::NewConnectionId(_)
            );
            self.handle_frame(now, space, dcid, frame, origin)?;
            if self.is_closed() {
                break;
            }
        }
        content.ping_only &= pings;
        Ok(content)
    }

    /// Handles one frame of a packet sent to `dcid`.
    fn handle_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        dcid: &ConnectionId,
        frame: Frame,
        origin: &Origin,
    ) -> Result<(), TransportError> {
        match frame {
            Frame::Padding(_) | Frame::Ping => {}
            Frame::Ack(ack) => self.on_ack(now, space, &ack)?,
            Frame::Crypto(crypto) => self.on_crypto_frame(now, space, crypto)?,
            Frame::ConnectionClose(close) => {
                let error = TransportError {
                    code: close.error_code,
                    // RFC 9000 §19.19: type 0 stands for "no particular frame".
                    frame_type: Some(close.frame_type).filter(|t| *t != crate::FrameType::PADDING),
                    reason: String::from_utf8_lossy(&close.reason).into_owned().into(),
                };
                self.on_peer_close(
                    now,
                    ConnectionError::Transport {
                        error,
                        closed_by: Closer::Peer,
                    },
                );
            }
            Frame::ApplicationClose(close) => {
                self.on_peer_close(
                    now,
                    ConnectionError::Application {
                        code: close.error_code,
                        reason: close.reason,
                        closed_by: Closer::Peer,
                    },
                );
            }
            Frame::HandshakeDone => {
                // RFC 9000 §19.20: a server receiving HANDSHAKE_DONE treats
                // it as PROTOCOL_VIOLATION.
                if self.side.is_server() {
                    return Err(TransportError::protocol_violation(
                        "handshake_done from a client",
                    ));
                }
                // RFC 9001 §4.1.2: HANDSHAKE_DONE confirms the handshake.
                if self.handshake_complete {
                    self.confirm_handshake(now);
                }
            }
            Frame::Datagram(datagram) => self.on_datagram_frame(datagram)?,
            Frame::NewConnectionId(frame) => self.on_new_cid(&frame)?,
            Frame::RetireConnectionId(sequence) => {
                self.local_cids.on_retire(sequence, dcid)?;
            }
            Frame::PathChallenge(data) => {
                // RFC 9000 §8.2.2: echo the data in a PATH_RESPONSE, on the
                // path the challenge came on.
                self.path_responses
                    .on_challenge(data, origin.remote, origin.local_ip, origin.len);
                // RFC 9000 §9.3.3: a challenge on the active path is answered
                // with a non-probing packet too, so that a server fooled by a
                // copy of our packet from elsewhere comes back.
                if origin.active && self.handshake_complete {
                    self.keep_alive_pending = true;
                }
            }
            // RFC 9000 §19.18: a response to no challenge of ours MAY be a
            // PROTOCOL_VIOLATION; it is ignored.
            Frame::PathResponse(data) => self.on_path_response(&data),
            Frame::NewToken(_) if self.side.is_server() => {
                // RFC 9000 §19.7: a server receiving NEW_TOKEN treats it as
                // PROTOCOL_VIOLATION.
                return Err(TransportError::protocol_violation(
                    "new_token from a client",
                ));
            }
            // RFC 9000 §8.1.3: kept for the next connection to the server.
            Frame::NewToken(frame) => self.tokens.on_new_token(&frame.token),
            other => {
                if let Some(unhandled) = self.streams.on_frame(other)? {
                    tracing::trace!(ty = ?unhandled.ty(), "frame ignored");
                }
            }
        }
        Ok(())
    }

    /// The peer closed the connection: drain (RFC 9000 §10.2.2).
    fn on_peer_close(&mut self, now: Instant, error: ConnectionError) {
        if self.is_closed() {
            return;
        }
        let pto = self.recovery.pto_duration(&self.path_state());
        self.state = State::Draining {
            deadline: now + pto * 3,
        };
        self.emit_closed(error);
    }

    /// Processes an ACK frame (RFC 9002 §A.7).
    fn on_ack(&mut self, now: Instant, space: SpaceId, ack: &Ack) -> Result<(), TransportError> {
        let ack_delay = if space == SpaceId::Data {
            // RFC 9000 §19.3: the delay is scaled by the peer's exponent.
            let exponent = self
                .peer_params
                .as_ref()
                .map_or(3, |p| p.ack_delay_exponent);
            let micros = ack
                .ack_delay()
                .into_inner()
                .checked_shl(u32::from(exponent))
                .unwrap_or(u64::MAX);
            Duration::from_micros(micros)
        } else {
            Duration::ZERO
        };
        let path = self.path_state();
        let mut acked = std::mem::take(&mut self.acked_buf);
        let mut lost = std::mem::take(&mut self.lost_buf);
        let result = self.recovery.on_ack_received(
            now,
            space,
            ack.iter(),
            ack_delay,
            &path,
            &mut acked,
            &mut lost,
        );
        let ect0_acked = acked.iter().filter(|p| p.data.ect0).count() as u64;
        if let Some(largest_sent) = acked.first().map(|p| p.time_sent) {
            // RFC 9000 §13.4.2.1: validate the peer's ECN counts.
            let outcome =
                self.path
                    .ecn
                    .on_ack(space, ack.largest().into_inner(), ect0_acked, ack.ecn());
            self.on_ecn_ce(now, outcome.ce_increase, largest_sent);
        }
        self.on_path_packets_acked(now, &acked);
        if result.as_ref().is_ok_and(|outcome| outcome.rtt_sampled) {
            self.streams
                .on_rtt_sample(now, self.recovery.rtt().smoothed());
        }
        for packet in acked.drain(..) {
            self.on_frames_acked(space, packet.data);
        }
        self.acked_buf = acked;
        self.lost_buf = lost;
        self.on_packets_lost(now);
        #[cfg(feature = "qlog")]
        self.qlog_metrics(now);
        result?;
        if space == SpaceId::Data {
            self.key_phase.on_acked(now, ack.largest().into_inner());
        }
        // RFC 9001 §4.1.2: a client may also confirm the handshake when a
        // 1-RTT packet it sent is acknowledged.
        if self.side.is_client()
            && space == SpaceId::Data
            && self.handshake_complete
            && self.acks_one_rtt(ack.largest().into_inner())
        {
            self.confirm_handshake(now);
        }
        Ok(())
    }

    /// RFC 9002 §7.1: an increase in CE counts is a congestion signal; the
    /// controller reacts once per round trip.
    fn on_ecn_ce(&mut self, now: Instant, ce_increase: u64, sent: Instant) {
        if ce_increase > 0 {
            self.stats.ecn_ce_reported += ce_increase;
            tracing::trace!(ce_increase, "ecn congestion experienced");
            self.on_path_ce(now, sent);
        }
    }

    fn on_frames_acked(&mut self, space: SpaceId, frames: SentFrames) {
        if let Some(range) = frames.crypto {
            self.spaces[index(space)].crypto_send.on_ack(range);
        }
        if !frames.streams.is_empty() {
            self.streams.on_acked(frames.streams);
        }
        if !frames.retired_cids.is_empty() {
            self.remote_cids.on_retirements_acked(&frames.retired_cids);
        }
        if !frames.new_cids.is_empty() {
            self.local_cids.on_frames_acked(&frames.new_cids);
        }
        if frames.new_tokens != 0 {
            self.tokens.on_new_tokens_acked(frames.new_tokens);
        }
    }

    /// Processes NEW_CONNECTION_ID (RFC 9000 §19.15); when it retired the
    /// ID in use, packets go to the next one from now on.
    fn on_new_cid(&mut self, frame: &crate::frame::NewConnectionId) -> Result<(), TransportError> {
        if let cids::Change::Switched(next) = self.remote_cids.on_new_cid(frame)? {
            tracing::debug!(
                sequence = next.sequence,
                "peer retired the connection id in use"
            );
            self.remote_cid = next.id;
        }
        Ok(())
    }

    /// Queues the contents of lost packets to be sent again.
    pub(super) fn on_packets_lost(&mut self, now: Instant) {
        let mut lost = std::mem::take(&mut self.lost_buf);
        if !lost.is_empty() {
            self.on_path_packets_lost(now, &lost);
        }
        for (space, packet) in lost.drain(..) {
            #[cfg(feature = "qlog")]
            self.qlog_packet_lost(now, space, packet.data.pn);
            let frames = packet.data;
            if frames.ect0 {
                self.path.ecn.on_packets_lost(space, 1);
            }
            self.stats.packets_lost += 1;
            if let Some(range) = frames.crypto {
                self.spaces[index(space)].crypto_send.on_lost(range);
            }
            if frames.handshake_done {
                self.handshake_done_pending = true;
            }
            if !frames.retired_cids.is_empty() {
                self.remote_cids.on_retirements_lost(&frames.retired_cids);
            }
            if !frames.new_cids.is_empty() {
                self.local_cids.on_frames_lost(&frames.new_cids);
            }
            if frames.new_tokens != 0 {
                self.tokens.on_new_tokens_lost(frames.new_tokens);
            }
            if !frames.streams.is_empty() {
                let lost_bytes: u64 = frames
                    .streams
                    .stream_frames()
                    .map(|(_, range, _)| range.end - range.start)
                    .sum();
                self.stats.stream_bytes_retransmitted += lost_bytes;
                self.streams.on_lost(frames.streams);
            }
        }
        self.lost_buf = lost;
    }
}

/// Whether one of the packets coalesced in `data` is an Initial. Only long
/// header packets can be: a datagram that starts with a short header
/// packet holds nothing else (RFC 9000 §12.2), and is not copied.
fn carries_initial(data: &[u8], options: DecodeOptions) -> bool {
    // RFC 9000 §17.2: the header form bit.
    if data.first().is_none_or(|&byte| byte & 0x80 == 0) {
        return false;
    }
    crate::packet::CoalescedPackets::new(BytesMut::from(data), options)
        .map_while(Result::ok)
        .any(|packet| packet.packet_type() == crate::packet::PacketType::Initial)
}
