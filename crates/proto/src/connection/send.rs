//! The send path: assemble coalesced, padded, protected datagrams.

use std::time::Instant;

use super::{
    CloseReason, Connection, MIN_INITIAL_SIZE, SentFrames, State,
    migration::PathFrames,
    spaces::{SPACES, index},
};
use crate::{
    FrameType, SpaceId, Transmit, TransportErrorCode, VarInt,
    frame::{Ack, ApplicationClose, ConnectionClose, Crypto},
    packet::{LongHeader, LongHeaderLayout, LongHeaderType, PacketNumber, ShortHeader},
    recovery::SentPacket,
};

/// The AEAD tag every packet ends with (all QUIC v1 suites use 16 bytes).
const TAG_LEN: usize = 16;
/// RFC 9001 §5.4.2: the packet number plus payload must reach 4 bytes so
/// that the header protection sample exists.
const MIN_PN_AND_PAYLOAD: usize = 4;
/// Below this much room a new packet is not started.
const MIN_PACKET_ROOM: usize = 64;

/// How a packet is to be filled.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Only CONNECTION_CLOSE.
    closing: bool,
    /// Only ACK: the congestion window or the pacer holds back the rest.
    ack_only: bool,
    /// A PING padded to end exactly at this offset in the buffer, tag
    /// included (an MTU probe), or, with `path`, a path validation packet.
    pad_to: Option<usize>,
    /// The frames of a path validation packet (see `migration.rs`).
    path: Option<PathFrames>,
}

/// A packet whose header and frames are written but which is not sealed
/// yet, so that the last one of a datagram can still take padding.
struct OpenPacket {
    start: usize,
    space: SpaceId,
    pn: u64,
    pn_offset: usize,
    layout: Option<LongHeaderLayout>,
    frames: SentFrames,
    ack_eliciting: bool,
    /// Where the frames start, for the qlog trace.
    #[cfg(feature = "qlog")]
    payload_start: usize,
}

impl Connection {
    /// Appends the next datagrams to send to `buf` and says where to send
    /// them; `None` (with `buf` unchanged) when there is nothing to send now.
    ///
    /// Up to `max_datagrams` datagrams are written back to back, for one
    /// GSO send: all of the first one's size but the last, which may be
    /// shorter. [`Transmit::size`] counts every byte appended and
    /// [`Transmit::segment_size`] gives the datagram size when there are
    /// several. A batch only grows behind a full-size datagram, and ends
    /// at the first shorter one, at a change of ECN mark, or where a path
    /// MTU probe (always sent alone) is due.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let start = buf.len();
        let first = self.poll_datagram(now, buf, None)?;
        let segment = first.size;
        let mut count = 1;
        if segment == self.max_datagram_payload() {
            while count < max_datagrams {
                let Some(next) = self.poll_datagram(now, buf, Some((segment, first.ecn))) else {
                    break;
                };
                count += 1;
                if next.size < segment {
                    break;
                }
            }
        }
        Some(Transmit {
            size: buf.len() - start,
            segment_size: (count > 1).then_some(segment),
            ..first
        })
    }

    /// Appends one datagram to `buf`. With `batch` (the segment size and
    /// ECN mark of the datagram before it in a GSO batch), it is at most
    /// that size and carries that mark, or is not written.
    fn poll_datagram(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        batch: Option<(usize, Option<crate::EcnCodepoint>)>,
    ) -> Option<Transmit> {
        let base = buf.len();
        self.check_confidentiality_limit(now);
        let closing = match self.state {
            State::Draining { .. } | State::Drained => return None,
            State::Closing { .. } => {
                if !self.close_pending {
                    return None;
                }
                true
            }
            State::Handshaking | State::Established => false,
        };
        // RFC 9000 §8.2: path validation goes first, so that the first
        // datagram on a new path carries its challenge.
        if !closing
            && batch.is_none()
            && self.path_datagram_due()
            && let Some(transmit) = self.poll_path_datagram(now, buf)
        {
            return Some(transmit);
        }
        let mut max_size = self.max_datagram_payload();
        if let Some((segment, _)) = batch {
            max_size = max_size.min(segment);
        }
        // RFC 9000 §8.1: before validation a server sends at most three
        // times what it received; a full datagram must fit the budget.
        if self.amplification_budget() < max_size as u64 {
            return None;
        }
        // RFC 9000 §13.4.2: every packet of the datagram carries its mark.
        let ecn = self.path.ecn.codepoint();
        if batch.is_some_and(|(_, mark)| mark != ecn) {
            return None;
        }
        let ack_only = !closing && self.congestion_blocked(now, max_size);
        if !closing
            && !ack_only
            && self.handshake_confirmed
            && self.may_seal_one_rtt()
            && batch.is_none()
            && let Some(size) = self.path.mtud.poll_probe(now)
        {
            return self.send_mtu_probe(now, buf, usize::from(size));
        }
        // Offsets in `buf` are absolute: the datagram ends by `end`.
        let end = base + max_size;
        let mut open: Option<OpenPacket> = None;
        let mut pad = false;
        let mut sent_handshake = false;
        for space in SPACES {
            if !self.should_send_in(now, space, closing, ack_only) {
                continue;
            }
            if buf.len() + MIN_PACKET_ROOM > end {
                break;
            }
            if let Some(packet) = open.take() {
                self.seal_packet(now, buf, packet, None, ecn);
            }
            let mode = Mode {
                closing,
                ack_only,
                pad_to: None,
                path: None,
            };
            let Some(packet) = self.write_packet(now, space, buf, end, mode) else {
                continue;
            };
            // RFC 9000 §14.1: a client pads every datagram with an Initial
            // packet, a server those with an ack-eliciting Initial packet.
            if space == SpaceId::Initial && (self.side.is_client() || packet.ack_eliciting) {
                pad = true;
            }
            // RFC 9000 §8.2.2: a datagram with PATH_RESPONSE is expanded to
            // 1200 bytes, unless the anti-amplification limit forbids it;
            // this datagram was only started because a full one fits the
            // limit (above), so it does.
            pad |= packet.frames.path_response;
            sent_handshake |= space == SpaceId::Handshake;
            open = Some(packet);
        }
        let Some(packet) = open else {
            // RFC 9002 §7.8: with room in the window and nothing to send,
            // the sender is application-limited.
            self.path.app_limited = !ack_only;
            return None;
        };
        self.seal_packet(
            now,
            buf,
            packet,
            pad.then_some(base + MIN_INITIAL_SIZE),
            ecn,
        );
        if closing {
            self.close_pending = false;
        }
        if self.side.is_client() && sent_handshake {
            // RFC 9001 §4.9.1: a client drops Initial keys once it sends a
            // Handshake packet.
            self.discard_space(SpaceId::Initial);
        }
        let size = buf.len() - base;
        self.path.amplification_sent = self.path.amplification_sent.saturating_add(size as u64);
        debug_assert!(
            self.path.validated
                || self.path.amplification_sent <= 3 * self.path.amplification_received,
            "anti-amplification limit exceeded"
        );
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += size as u64;
        self.maybe_free_tls(now);
        self.transmit(ecn, size)
    }

    fn transmit(&self, ecn: Option<crate::EcnCodepoint>, size: usize) -> Option<Transmit> {
        Some(Transmit {
            destination: self.path.remote,
            ecn,
            size,
            segment_size: None,
            src_ip: self.local_ip(),
        })
    }

    /// RFC 9002 §7: ack-eliciting packets wait for room in the congestion
    /// window and for the pacer (§7.7); probes do not wait (§7.5), and
    /// ACK-only packets are never held back.
    fn congestion_blocked(&mut self, now: Instant, size: usize) -> bool {
        let probing = SPACES.iter().any(|&s| {
            let sp = &self.spaces[index(s)];
            sp.probes > 0 || sp.ping_pending
        });
        if probing {
            return false;
        }
        if !self.window_has_room(size) {
            self.path.app_limited = false;
            return true;
        }
        self.path.pacing_deadline = self.pacing_delay(now, size);
        self.path.pacing_deadline.is_some()
    }

    /// Sends a path MTU probe: a 1-RTT packet of exactly `size` bytes, a
    /// PING padded out (RFC 9000 §14.4).
    fn send_mtu_probe(&mut self, now: Instant, buf: &mut Vec<u8>, size: usize) -> Option<Transmit> {
        let base = buf.len();
        let end = base + size;
        let mode = Mode {
            closing: false,
            ack_only: true,
            pad_to: Some(end),
            path: None,
        };
        let mut packet = self.write_packet(now, SpaceId::Data, buf, end, mode)?;
        packet.frames.mtu_probe = true;
        packet.ack_eliciting = true;
        self.seal_packet(now, buf, packet, None, None);
        let size = buf.len() - base;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += size as u64;
        self.transmit(None, size)
    }

    /// Writes and seals a path validation packet (see `migration.rs`), a
    /// 1-RTT packet padded to end at `end`, counted as sent on path
    /// `path_id`; `None` when it could not be written.
    pub(super) fn write_path_packet(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        end: usize,
        frames: PathFrames,
        path_id: u32,
    ) -> Option<()> {
        let mode = Mode {
            closing: false,
            ack_only: true,
            pad_to: Some(end),
            path: Some(frames),
        };
        let mut packet = self.write_packet(now, SpaceId::Data, buf, end, mode)?;
        packet.frames.path = path_id;
        self.seal_packet(now, buf, packet, None, None);
        Some(())
    }

    fn should_send_in(&self, now: Instant, space: SpaceId, closing: bool, ack_only: bool) -> bool {
        let sp = &self.spaces[index(space)];
        if sp.keys.is_none() {
            // RFC 9001 §4.6.1: before its 1-RTT keys, a client that enabled
            // 0-RTT sends stream frames in 0-RTT packets.
            return space == SpaceId::Data
                && !closing
                && !ack_only
                && self.sends_zero_rtt()
                && self.streams.wants_to_send();
        }
        // RFC 9001 §6.6: no packet is sealed past the confidentiality limit.
        if space == SpaceId::Data && !self.may_seal_one_rtt() {
            return false;
        }
        if ack_only && !closing {
            return sp.ack_pending || sp.ack_deadline.is_some_and(|d| d <= now);
        }
        if closing {
            // RFC 9000 §10.2.3: before confirmation, close in every space
            // the peer may be able to read; 1-RTT only once complete.
            return space != SpaceId::Data || self.handshake_complete;
        }
        if space == SpaceId::Data && !self.handshake_complete && self.side.is_server() {
            // 1-RTT keys exist before completion, but nothing is due yet,
            // unless accepted 0-RTT data has an answer (0.5-RTT).
            return self.sends_half_rtt()
                && (sp.wants_to_send(now) || self.streams.wants_to_send());
        }
        sp.wants_to_send(now)
            || (space == SpaceId::Data
                && (self.handshake_done_pending
                    || (self.handshake_complete
                        && (self.has_datagrams()
                            || self.has_raw_frames()
                            || self.keep_alive_pending
                            || self.owes_cid_frames()
                            || self.owes_new_tokens()
                            || self.streams.wants_to_send()))))
    }

    /// Writes one packet's header and frames, ending by `end` (an offset in
    /// `buf`, tag included); `None` when nothing fit.
    fn write_packet(
        &mut self,
        now: Instant,
        space: SpaceId,
        buf: &mut Vec<u8>,
        end: usize,
        mode: Mode,
    ) -> Option<OpenPacket> {
        let start = buf.len();
        let pn = self.spaces[index(space)].next_pn;
        let truncated = PacketNumber::new(pn, self.recovery.largest_acked(space));
        // RFC 9000 §17.2.3: a Data-space packet before the 1-RTT keys is a
        // client's 0-RTT packet, with a long header.
        let zero_rtt = space == SpaceId::Data && self.spaces[index(space)].keys.is_none();
        let (pn_offset, layout) = match space {
            _ if zero_rtt || space != SpaceId::Data => {
                let ty = match space {
                    // RFC 9000 §17.2.2: a client's Initials carry the token
                    // of the Retry it followed or of an earlier connection's
                    // NEW_TOKEN frame; a server's carry none.
                    SpaceId::Initial => LongHeaderType::Initial {
                        token: &self.tokens.initial,
                    },
                    SpaceId::Handshake => LongHeaderType::Handshake,
                    SpaceId::Data => LongHeaderType::ZeroRtt,
                };
                let header = LongHeader {
                    ty,
                    // RFC 9369 §4: 0-RTT stays in the original version.
                    version: if zero_rtt {
                        self.zero_rtt_version()
                    } else {
                        self.version
                    },
                    dcid: self.remote_cid,
                    scid: self.local_cid,
                    pn: truncated,
                    grease_fixed_bit: false,
                };
                let layout = header.encode(buf);
                (start + layout.pn_offset, Some(layout))
            }
            _ => {
                let header = ShortHeader {
                    dcid: mode
                        .path
                        .and_then(|path| path.dcid)
                        .unwrap_or(self.remote_cid),
                    pn: truncated,
                    spin: false,
                    key_phase: self.key_phase.bit(),
                    grease_fixed_bit: false,
                };
                (start + header.encode(buf), None)
            }
        };
        let header_end = buf.len();
        let limit = end.saturating_sub(TAG_LEN);
        let mut frames = SentFrames {
            path: self.path.id,
            ..SentFrames::default()
        };
        let ack_eliciting = if mode.closing {
            self.write_close(space, buf, limit);
            false
        } else if let Some(size) = mode.pad_to {
            let eliciting = if let Some(path) = mode.path {
                self.write_path_frames(now, buf, limit, path, &mut frames.path_response)
            } else {
                self.write_ack(now, space, buf, limit);
                buf.push(0x01); // PING, RFC 9000 §19.2
                true
            };
            // PADDING frames fill the packet to its exact size, tag aside.
            buf.resize(size.saturating_sub(TAG_LEN).max(buf.len()), 0);
            eliciting
        } else if mode.ack_only {
            self.write_ack(now, space, buf, limit);
            false
        } else {
            self.write_frames(now, space, buf, limit, &mut frames)
        };
        if buf.len() == header_end {
            buf.truncate(start);
            return None;
        }
        // RFC 9001 §5.4.2: pad so that the header protection sample exists.
        let pn_and_payload = buf.len() - pn_offset;
        if pn_and_payload < MIN_PN_AND_PAYLOAD {
            buf.resize(buf.len() + MIN_PN_AND_PAYLOAD - pn_and_payload, 0);
        }
        self.spaces[index(space)].next_pn += 1;
        Some(OpenPacket {
            start,
            space,
            pn,
            pn_offset,
            layout,
            frames,
            ack_eliciting,
            #[cfg(feature = "qlog")]
            payload_start: header_end,
        })
    }

    /// Writes ACK, HANDSHAKE_DONE, CRYPTO and PING frames as due; returns
    /// whether any is ack-eliciting.
    fn write_frames(
        &mut self,
        now: Instant,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut SentFrames,
    ) -> bool {
        let mut ack_eliciting = false;
        if space == SpaceId::Data && !self.handshake_complete {
            // RFC 9001 §4.6.1, RFC 9000 §12.4: a client's 0-RTT packets, and
            // a server's 1-RTT packets before its handshake completes
            // (0.5-RTT), carry stream frames; the server's acknowledge the
            // 0-RTT packets too (0-RTT packets carry no ACK).
            if self.side.is_server() {
                self.write_ack(now, space, buf, limit);
            }
            let before = buf.len();
            self.streams
                .write_control_frames(buf, limit, &mut frames.streams);
            self.streams
                .write_stream_frames(buf, limit, &mut frames.streams);
            return buf.len() > before;
        }
        if space != SpaceId::Handshake || self.side.is_client() {
            // RFC 9000 §13.2.1: a sender bundles ACK frames with the
            // frames it sends. A probe, or a PING owed to the peer, carries
            // our ACK state too: it is the ack-eliciting packet that loss
            // recovery repeats, so the acknowledgments get through with it
            // even when the packet that first carried them was lost and the
            // peer sends nothing more that elicits one (a server whose
            // ServerHello was lost, answering our probes with ACK-only
            // packets). Not a server's in the Handshake space: see
            // `Connection::nudge_handshake`.
            let sp = &mut self.spaces[index(space)];
            if (sp.probes > 0 || sp.ping_pending) && !sp.received.is_empty() {
                sp.ack_pending = true;
            }
        }
        self.write_ack(now, space, buf, limit);
        if space == SpaceId::Data && self.handshake_done_pending && buf.len() < limit {
            buf.push(0x1e); // HANDSHAKE_DONE, RFC 9000 §19.20
            self.handshake_done_pending = false;
            frames.handshake_done = true;
            ack_eliciting = true;
        }
        if space == SpaceId::Data && self.handshake_complete {
            if self.keep_alive_pending && buf.len() < limit {
                buf.push(0x01); // PING, RFC 9000 §19.2
                self.keep_alive_pending = false;
                ack_eliciting = true;
            }
            let before = buf.len();
            // RFC 9000 §8.2.2: a PATH_RESPONSE is not delayed (beyond what
            // congestion control asks), so it goes first.
            frames.path_response =
                self.path_responses
                    .write_for(buf, limit, self.path.remote, self.path.local_ip);
            self.remote_cids
                .write_retirements(buf, limit, &mut frames.retired_cids);
            self.local_cids
                .write_frames(buf, limit, &mut frames.new_cids);
            // RFC 9000 §8.1.3: a server sends its NEW_TOKEN tokens once the
            // handshake is confirmed, in 1-RTT packets (§19.7).
            if self.handshake_confirmed {
                frames.new_tokens = self.tokens.write_new_tokens(buf, limit);
            }
            // RFC 9000 §4.6: credit updates that are not due yet ride in a
            // packet that elicits an ACK anyway, never make one so.
            if ack_eliciting || self.will_elicit(space) {
                self.streams
                    .write_deferred_credit(buf, limit, &mut frames.streams);
            }
            self.streams
                .write_control_frames(buf, limit, &mut frames.streams);
            // RFC 9221 §5: datagrams are ack-eliciting but never resent.
            self.write_datagrams(buf, limit);
            self.write_raw_frames(buf, limit);
            self.streams
                .write_stream_frames(buf, limit, &mut frames.streams);
            ack_eliciting |= buf.len() > before;
        }
        let sp = &mut self.spaces[index(space)];
        // RFC 9002 §6.2.4: every probe carries data while some is
        // unacknowledged, not only the first of a pair. A server may drop a
        // client's Initial that opens a connection without CRYPTO (RFC 9000
        // §17.2.2), and under loss the second probe can be the first to arrive.
        if sp.probes > 0 && !sp.crypto_send.has_pending() {
            sp.crypto_send.requeue_unacked();
        }
        let room = limit.saturating_sub(buf.len());
        let end = VarInt::from_u64_bounded(sp.crypto_send.end());
        if let Some(max_len) = Crypto::max_data_len(end, room)
            && let Some((offset, data)) = sp.crypto_send.next_chunk(max_len)
        {
            let len = data.len();
            Crypto::encode_header(VarInt::from_u64_bounded(offset), len, buf);
            buf.extend_from_slice(data);
            frames.crypto = Some(offset..offset + len as u64);
            ack_eliciting = true;
        }
        let owes_ping = sp.probes > 0 || sp.ping_pending;
        sp.probes = sp.probes.saturating_sub(1);
        sp.ping_pending = false;
        // RFC 9002 §6.2.4: a probe must be ack-eliciting.
        if owes_ping && !ack_eliciting && buf.len() < limit {
            buf.push(0x01); // PING, RFC 9000 §19.2
            ack_eliciting = true;
        }
        ack_eliciting
    }

    /// Whether the 1-RTT packet being written will elicit an ACK without
    /// the credit updates that wait for one: it has stream, control,
    /// DATAGRAM or CRYPTO frames to carry, or owes a PING.
    fn will_elicit(&self, space: SpaceId) -> bool {
        let sp = &self.spaces[index(space)];
        sp.probes > 0
            || sp.ping_pending
            || sp.crypto_send.has_pending()
            || self.has_datagrams()
            || self.owes_cid_frames()
            || self.owes_new_tokens()
            || self.streams.wants_to_send()
    }

    /// Whether a server's NEW_TOKEN frame waits to be sent, now that it
    /// may be (RFC 9000 §8.1.3: once the handshake is confirmed).
    pub(super) fn owes_new_tokens(&self) -> bool {
        self.handshake_confirmed && self.tokens.has_new_tokens_to_send()
    }

    /// Whether a PATH_RESPONSE, a RETIRE_CONNECTION_ID or a
    /// NEW_CONNECTION_ID waits to be sent.
    pub(super) fn owes_cid_frames(&self) -> bool {
        self.path_responses
            .has_pending_for(self.path.remote, self.path.local_ip)
            || self.remote_cids.has_retirements_to_send()
            || self.local_cids.has_frames_to_send()
    }

    /// Writes an ACK frame of every range received, when one is due or can
    /// ride along.
    pub(super) fn write_ack(
        &mut self,
        now: Instant,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
    ) {
        let sp = &mut self.spaces[index(space)];
        if sp.received.is_empty()
            || (!sp.ack_pending && sp.unacked_eliciting == 0 && sp.ack_deadline.is_none())
        {
            return;
        }
        let delay = if space == SpaceId::Data {
            // RFC 9000 §19.3: microseconds since the largest was received,
            // scaled down by our ack_delay_exponent.
            let since = sp
                .largest_received_at
                .map_or(std::time::Duration::ZERO, |at| {
                    now.saturating_duration_since(at)
                });
            let micros = u64::try_from(since.as_micros()).unwrap_or(u64::MAX);
            VarInt::from_u64_bounded(
                (micros >> self.local_params.ack_delay_exponent).min(VarInt::MAX.into_inner()),
            )
        } else {
            VarInt::from_u32(0)
        };
        let ranges = sp.received.iter().rev().map(|r| r.start..=r.end - 1);
        let counts = self.path.ecn.ack_counts(space);
        // Written in place: every packet carries an ACK, and building the
        // frame first would allocate its ranges each time.
        if Ack::write_ranges(ranges, delay, counts, buf, limit) != Ok(true) {
            return;
        }
        sp.ack_pending = false;
        sp.unacked_eliciting = 0;
        sp.ack_deadline = None;
    }

    /// Writes the CONNECTION_CLOSE of a closing connection.
    fn write_close(&self, space: SpaceId, buf: &mut Vec<u8>, limit: usize) {
        let Some(reason) = &self.close else { return };
        let room = limit.saturating_sub(buf.len()).saturating_sub(32);
        match reason {
            CloseReason::Transport(error) => {
                let mut frame = ConnectionClose::from_error(error);
                frame.reason.truncate(room);
                frame.encode(buf);
            }
            // RFC 9000 §10.2.3: an application close is not sent in Initial
            // or Handshake packets; APPLICATION_ERROR stands in for it.
            CloseReason::Application { .. } if space != SpaceId::Data => {
                ConnectionClose {
                    error_code: TransportErrorCode::APPLICATION_ERROR,
                    frame_type: FrameType::PADDING,
                    reason: bytes::Bytes::new(),
                }
                .encode(buf);
            }
            CloseReason::Application { code, reason } => {
                let mut reason = reason.clone();
                reason.truncate(room);
                ApplicationClose {
                    error_code: *code,
                    reason,
                }
                .encode(buf);
            }
        }
    }

    /// Pads to `pad_to` (an offset in `buf`, tag included) if asked, sets
    /// the Length, seals the packet and hands it to loss recovery.
    fn seal_packet(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        mut packet: OpenPacket,
        pad_to: Option<usize>,
        ecn: Option<crate::EcnCodepoint>,
    ) {
        let pad = pad_to.is_some();
        if let Some(end) = pad_to
            && buf.len() + TAG_LEN < end
        {
            // PADDING frames are zero bytes (RFC 9000 §19.1).
            buf.resize(end - TAG_LEN, 0);
        }
        buf.resize(buf.len() + TAG_LEN, 0);
        let bytes = &mut buf[packet.start..];
        if let Some(layout) = packet.layout
            && layout.set_length(bytes).is_err()
        {
            buf.truncate(packet.start);
            return;
        }
        // The plaintext frames, copied only when a trace is kept.
        #[cfg(feature = "qlog")]
        let qlog_payload = self.qlog.is_some().then(|| {
            bytes::Bytes::copy_from_slice(&buf[packet.payload_start..buf.len() - TAG_LEN])
        });
        // A Data-space packet before the 1-RTT keys is a 0-RTT packet.
        let space_keys = self.spaces[index(packet.space)].keys.as_ref();
        let zero_rtt = packet.space == SpaceId::Data && space_keys.is_none();
        let keys = match space_keys {
            Some(keys) => Some(&keys.local),
            None if zero_rtt => self.zero_rtt_keys(),
            None => None,
        };
        let Some(keys) = keys else {
            buf.truncate(packet.start);
            return;
        };
        let bytes = &mut buf[packet.start..];
        if keys
            .seal(packet.pn, bytes, packet.pn_offset - packet.start)
            .is_err()
        {
            buf.truncate(packet.start);
            return;
        }
        let size = u16::try_from(buf.len() - packet.start).unwrap_or(u16::MAX);
        self.path.ecn.on_packet_sent(packet.space, packet.pn, ecn);
        if zero_rtt {
            self.on_zero_rtt_sent();
        } else if packet.space == SpaceId::Data {
            self.key_phase.on_sent(packet.pn);
        }
        packet.frames.ect0 = ecn == Some(crate::EcnCodepoint::Ect0);
        packet.frames.pn = packet.pn;
        // RFC 9002 §2: padded packets count as in flight too.
        let in_flight = packet.ack_eliciting || pad;
        let sent = SentPacket {
            time_sent: now,
            size,
            ack_eliciting: packet.ack_eliciting,
            in_flight,
            data: packet.frames,
        };
        self.on_path_packet_sent(now, &sent);
        self.recovery
            .on_packet_sent(now, packet.space, packet.pn, sent);
        #[cfg(feature = "qlog")]
        if let (Some((qlog, _)), Some(payload)) = (self.qlog.as_mut(), qlog_payload) {
            let kind = if zero_rtt {
                crate::qlog::PacketKind::ZeroRtt
            } else {
                crate::qlog::PacketKind::from_space(packet.space)
            };
            qlog.packet_sent(now, kind, packet.pn, usize::from(size), payload);
            self.qlog_metrics(now);
        }
        self.stats.packets_sent += 1;
        if packet.ack_eliciting {
            self.last_ack_eliciting_sent = now;
        }
        if packet.ack_eliciting && !self.ack_eliciting_sent_since_receive {
            // RFC 9000 §10.1: sending the first ack-eliciting packet after
            // receiving restarts the idle timer.
            self.ack_eliciting_sent_since_receive = true;
            self.idle_since = now;
        }
    }
}
