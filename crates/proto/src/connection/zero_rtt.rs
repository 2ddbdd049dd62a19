//! 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1): a resuming client sends stream
//! data before the handshake completes, under the transport parameters it
//! remembered with its ticket; the server opens it, or rejects it and the
//! client sends it again in 1-RTT packets.
//!
//! A client uses 0-RTT only when the application asks
//! ([`Connection::enable_zero_rtt`]), since data sent so can be replayed by
//! an attacker (RFC 8446 §8). A server accepts it when its TLS
//! configuration does (`max_early_data_size`, a session cache; see
//! `ServerConfig`), and marks the streams it arrived on
//! ([`Connection::stream_received_0rtt`]).

use std::{borrow::Cow, time::Instant};

use super::{Connection, spaces::index};
use crate::{
    Side, SpaceId, StreamId, TransportError, TransportErrorCode, crypto::DirectionalKeys,
    handshake_info::EarlyData, packet::PartialDecode, transport_params::TransportParameters,
};

/// A connection's 0-RTT keys and what goes with them, boxed: most
/// connections never have any, and none keeps them past the handshake.
pub(super) struct ZeroRttKeys {
    /// Client: the keys 0-RTT packets are sealed with. Server: the client's
    /// keys, to open them.
    keys: DirectionalKeys,
    /// Client: the server's transport parameters remembered with the
    /// ticket, once the application enabled 0-RTT.
    remembered: Option<TransportParameters>,
}

/// What became of 0-RTT on this connection; a byte, kept after the keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ZeroRttState {
    /// Client: the application enabled 0-RTT. Server: TLS accepted the
    /// client's early data.
    pub(super) used: bool,
    /// Server: a 0-RTT packet was dropped because early data was not
    /// accepted.
    pub(super) dropped: bool,
    /// Server: TLS has decided on early data (the ClientHello was read).
    pub(super) decided: bool,
    /// Client: 0-RTT packets were sent.
    pub(super) sent: bool,
    /// Client: the first packet number of a 1-RTT packet; those below it
    /// in the Data space were 0-RTT packets.
    pub(super) one_rtt_from: u64,
}

impl Connection {
    /// Client: keeps the 0-RTT keys TLS derived when a ticket allows early
    /// data, for [`enable_zero_rtt`](Self::enable_zero_rtt).
    pub(super) fn take_client_zero_rtt_keys(&mut self) {
        let keys = self.tls.as_ref().and_then(|tls| tls.zero_rtt_keys());
        if let Some(keys) = keys {
            self.zero_rtt = Some(Box::new(ZeroRttKeys {
                keys,
                remembered: None,
            }));
        }
    }

    /// Client: sends stream data in 0-RTT packets from now until the
    /// handshake completes, when a ticket of an earlier connection to the
    /// server allows early data. Returns whether it does.
    ///
    /// RFC 9000 §7.4.1: streams are opened and written within the
    /// transport parameters the server gave the connection that issued the
    /// ticket (its stream counts and flow control windows), remembered with
    /// the ticket. Should the server reject the early data, everything sent
    /// in 0-RTT is sent again in 1-RTT packets under its new parameters,
    /// and the handshake information says
    /// [`EarlyData::Rejected`].
    ///
    /// Data sent in 0-RTT is not protected against replay (RFC 8446 §8):
    /// send only what may safely be received twice. DATAGRAM frames wait
    /// for the handshake.
    pub fn enable_zero_rtt(&mut self) -> bool {
        if self.side.is_server() || !self.is_handshaking() {
            return false;
        }
        if self.zero_rtt_state.used {
            return true;
        }
        let raw = self
            .tls
            .as_ref()
            .and_then(|tls| tls.peer_transport_parameters())
            .map(<[u8]>::to_vec);
        let (Some(zero_rtt), Some(raw)) = (self.zero_rtt.as_mut(), raw) else {
            return false;
        };
        // RFC 9000 §7.4.1: the remembered parameters, from the ticket.
        let Ok(remembered) = TransportParameters::decode(Side::Server, &raw) else {
            tracing::debug!("remembered transport parameters do not decode; no 0-rtt");
            self.zero_rtt = None;
            return false;
        };
        // RFC 9000 §7.4.1: only the limits apply to 0-RTT; the ack delay
        // values, connection IDs, tokens and preferred address of the old
        // connection do not.
        self.streams.set_peer_params(&remembered);
        zero_rtt.remembered = Some(remembered);
        self.zero_rtt_state.used = true;
        tracing::debug!("0-rtt enabled");
        true
    }

    /// Whether the next Data-space packet is a client's 0-RTT packet: the
    /// application enabled 0-RTT and the 1-RTT keys are not there yet.
    pub(super) fn sends_zero_rtt(&self) -> bool {
        self.side.is_client()
            && self.zero_rtt_state.used
            && self.zero_rtt.is_some()
            && self.spaces[index(SpaceId::Data)].keys.is_none()
    }

    /// Server: whether it may send stream data in 1-RTT packets before its
    /// handshake completes (0.5-RTT, RFC 9001 §4.1.1): only in answer to
    /// early data it accepted, so that a 0-RTT request gets its response a
    /// round trip sooner.
    pub(super) fn sends_half_rtt(&self) -> bool {
        self.side.is_server() && self.zero_rtt_state.used && !self.handshake_complete
    }

    /// The keys 0-RTT packets are sealed (client) or opened (server) with.
    pub(super) fn zero_rtt_keys(&self) -> Option<&DirectionalKeys> {
        self.zero_rtt.as_ref().map(|z| &z.keys)
    }

    /// Server: once TLS has read the ClientHello, keeps the 0-RTT keys if
    /// it accepted early data.
    pub(super) fn on_server_early_data_decided(&mut self) {
        if self.side.is_client() || self.zero_rtt_state.decided {
            return;
        }
        let Some(tls) = self.tls.as_ref() else {
            return;
        };
        // The ServerHello is written once the ClientHello was read.
        if self.tls_write_space == SpaceId::Initial && tls.is_handshaking() {
            return;
        }
        self.zero_rtt_state.decided = true;
        if let Some(keys) = tls.zero_rtt_keys() {
            self.zero_rtt = Some(Box::new(ZeroRttKeys {
                keys,
                remembered: None,
            }));
            self.zero_rtt_state.used = true;
            tracing::debug!("0-rtt accepted");
        }
    }

    /// Server: what to do with a 0-RTT packet. `Some(true)`: open it with
    /// the 0-RTT keys; `Some(false)`: keep it until TLS decides (RFC 9001
    /// §5.7); `None`: drop it (a client never receives 0-RTT; a server that
    /// did not accept early data cannot read it).
    pub(super) fn zero_rtt_disposition(&mut self) -> Option<bool> {
        if self.side.is_client() {
            return None;
        }
        if self.zero_rtt.is_some() {
            return Some(true);
        }
        if !self.zero_rtt_state.decided {
            return Some(false);
        }
        // RFC 9001 §4.6.2: rejected early data is dropped.
        self.zero_rtt_state.dropped |= !self.zero_rtt_state.used;
        None
    }

    /// Server: opens a 0-RTT packet.
    pub(super) fn open_zero_rtt(
        &self,
        packet: &mut PartialDecode,
    ) -> Option<crate::crypto::OpenedPacket> {
        let largest = self.spaces[index(SpaceId::Data)].largest_received;
        self.zero_rtt_keys()?.open_decoded(packet, largest).ok()
    }

    /// RFC 9001 §4.9.3: a server drops its 0-RTT keys once 1-RTT packets
    /// arrive (it MAY keep them up to three PTOs; a reordered 0-RTT packet
    /// later than that is lost, and the client sends its frames again).
    pub(super) fn on_one_rtt_opened(&mut self) {
        if self.side.is_server() && self.zero_rtt.is_some() {
            self.zero_rtt = None;
        }
    }

    /// Client, at handshake completion: settles 0-RTT. Accepted, the
    /// server's new parameters must keep the remembered limits (RFC 9000
    /// §7.4.1); rejected, everything 0-RTT packets carried is sent again in
    /// 1-RTT under the new parameters (RFC 9001 §4.6.2). Returns the
    /// outcome for the handshake information.
    pub(super) fn settle_zero_rtt(
        &mut self,
        tls_outcome: EarlyData,
    ) -> Result<EarlyData, TransportError> {
        if self.side.is_server() {
            // What the client's packets showed: TLS accepts early data a
            // client offers whether or not it then sends any.
            let received = self.stats.zero_rtt_packets_received > 0;
            return Ok(match tls_outcome {
                _ if self.zero_rtt_state.dropped => EarlyData::Rejected,
                _ if self.zero_rtt_state.used && received => EarlyData::Accepted,
                _ => EarlyData::NotAttempted,
            });
        }
        let zero_rtt = self.zero_rtt.take();
        self.zero_rtt_state.one_rtt_from = self.spaces[index(SpaceId::Data)].next_pn;
        if !self.zero_rtt_state.used {
            // TLS may have offered early data, but the application sent none.
            return Ok(EarlyData::NotAttempted);
        }
        let remembered = zero_rtt.and_then(|z| z.remembered);
        let peer = self.peer_params.clone();
        let outcome = match (tls_outcome, remembered, peer) {
            (EarlyData::Accepted, Some(old), Some(new)) => {
                check_limits_kept(&old, &new)?;
                EarlyData::Accepted
            }
            (EarlyData::Accepted, ..) => EarlyData::Accepted,
            (_, _, new) => {
                // Streams opened under the remembered limits are held to
                // the new ones, whether or not their data went out yet.
                self.on_zero_rtt_rejected(new.as_deref())?;
                EarlyData::Rejected
            }
        };
        // 0-RTT was enabled, but the handshake completed before anything
        // went out in it: nothing was accepted or rejected.
        Ok(if self.zero_rtt_state.sent {
            outcome
        } else {
            EarlyData::NotAttempted
        })
    }

    /// RFC 9001 §4.6.2: the server rejected early data. Its 0-RTT packets
    /// leave loss recovery without counting as lost (they were never
    /// processed, so say nothing of congestion; RFC 9002 §6.4), and what
    /// they carried is queued again, on streams now held to the server's
    /// new limits.
    fn on_zero_rtt_rejected(
        &mut self,
        new: Option<&TransportParameters>,
    ) -> Result<(), TransportError> {
        let resent = self.requeue_zero_rtt();
        if let Some(new) = new
            && !self.streams.reset_peer_params(new)
        {
            // The streams opened, or the data written, in 0-RTT do not fit
            // what the server allows now; they cannot be sent again as
            // they are.
            return Err(TransportError {
                code: TransportErrorCode::INTERNAL_ERROR,
                frame_type: None,
                reason: Cow::Borrowed(
                    "0-rtt rejected, and the server's new limits are below what was written in 0-rtt",
                ),
            });
        }
        tracing::debug!(resent, "0-rtt rejected; its data goes again in 1-rtt");
        Ok(())
    }

    /// Client: takes every 0-RTT packet in flight out of loss recovery,
    /// without a congestion signal (the server never processed them; RFC
    /// 9002 §6.4), and queues their stream frames again; returns how many
    /// there were. Call it before any 1-RTT packet was sent (at a Retry, or
    /// as the handshake completes): every Data-space packet sent until then
    /// is a 0-RTT packet.
    pub(super) fn requeue_zero_rtt(&mut self) -> usize {
        if !self.zero_rtt_state.sent {
            return 0;
        }
        let mut dropped = std::mem::take(&mut self.discarded_buf);
        self.recovery.discard_space(SpaceId::Data, &mut dropped);
        let resent = dropped.len();
        for frames in dropped.drain(..) {
            if !frames.streams.is_empty() {
                self.streams.on_lost(frames.streams);
            }
        }
        self.discarded_buf = dropped;
        self.stats.zero_rtt_packets_resent += resent as u64;
        resent
    }

    /// Whether the data of stream `id` (one the peer opened) arrived, in
    /// part or whole, in 0-RTT packets. Such data can be a replay (RFC 8446
    /// §8): an application should act on it only if acting twice is safe
    /// (an HTTP GET, say), and otherwise wait for
    /// [`is_handshaking`](Self::is_handshaking) to turn false, or refuse.
    #[must_use]
    pub fn stream_received_0rtt(&self, id: StreamId) -> bool {
        self.streams.received_0rtt(id)
    }

    /// Client: whether an acknowledgment of packets up to `largest` in the
    /// Data space covers a 1-RTT packet, which confirms the handshake (RFC
    /// 9001 §4.1.2); one of 0-RTT packets alone does not.
    pub(super) fn acks_one_rtt(&self, largest: u64) -> bool {
        largest >= self.zero_rtt_state.one_rtt_from
    }

    /// Client: records that a 0-RTT packet went out.
    pub(super) fn on_zero_rtt_sent(&mut self) {
        self.zero_rtt_state.sent = true;
        self.stats.zero_rtt_packets_sent += 1;
    }

    /// Server: records that a 0-RTT packet was opened.
    pub(super) fn on_zero_rtt_received(&mut self, _now: Instant) {
        self.stats.zero_rtt_packets_received += 1;
    }
}

/// RFC 9000 §7.4.1: a server that accepted 0-RTT must not lower any limit
/// the client's 0-RTT data may have used; one that does is a
/// PROTOCOL_VIOLATION.
fn check_limits_kept(
    old: &TransportParameters,
    new: &TransportParameters,
) -> Result<(), TransportError> {
    let pairs = [
        (
            "initial_max_data",
            old.initial_max_data,
            new.initial_max_data,
        ),
        (
            "initial_max_stream_data_bidi_local",
            old.initial_max_stream_data_bidi_local,
            new.initial_max_stream_data_bidi_local,
        ),
        (
            "initial_max_stream_data_bidi_remote",
            old.initial_max_stream_data_bidi_remote,
            new.initial_max_stream_data_bidi_remote,
        ),
        (
            "initial_max_stream_data_uni",
            old.initial_max_stream_data_uni,
            new.initial_max_stream_data_uni,
        ),
        (
            "initial_max_streams_bidi",
            old.initial_max_streams_bidi,
            new.initial_max_streams_bidi,
        ),
        (
            "initial_max_streams_uni",
            old.initial_max_streams_uni,
            new.initial_max_streams_uni,
        ),
        (
            "active_connection_id_limit",
            old.active_connection_id_limit,
            new.active_connection_id_limit,
        ),
    ];
    if let Some((name, ..)) = pairs.iter().find(|(_, old, new)| new < old) {
        return Err(TransportError {
            code: TransportErrorCode::PROTOCOL_VIOLATION,
            frame_type: None,
            reason: Cow::Owned(format!(
                "0-rtt accepted, but the server lowered {name} below the remembered value"
            )),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VarInt;

    fn params(streams: u32, data: u32) -> TransportParameters {
        TransportParameters {
            initial_max_streams_bidi: VarInt::from_u32(streams),
            initial_max_data: VarInt::from_u32(data),
            initial_max_stream_data_bidi_remote: VarInt::from_u32(data),
            ..TransportParameters::default()
        }
    }

    #[test]
    fn limits_kept_or_raised_pass_and_a_lowered_one_is_protocol_violation() {
        let old = params(10, 1000);
        assert!(check_limits_kept(&old, &params(10, 1000)).is_ok());
        assert!(check_limits_kept(&old, &params(20, 5000)).is_ok());
        let error = check_limits_kept(&old, &params(9, 1000)).expect_err("fewer streams");
        assert_eq!(error.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert!(
            error.reason.contains("initial_max_streams_bidi"),
            "{error:?}"
        );
        let error = check_limits_kept(&old, &params(10, 999)).expect_err("less data");
        assert!(error.reason.contains("initial_max_data"), "{error:?}");
        let fewer_ids = TransportParameters {
            active_connection_id_limit: VarInt::from_u32(2),
            ..params(10, 1000)
        };
        let more_ids = TransportParameters {
            active_connection_id_limit: VarInt::from_u32(8),
            ..params(10, 1000)
        };
        assert!(check_limits_kept(&more_ids, &fewer_ids).is_err());
    }
}
