//! What the endpoint sends without keeping state: Version Negotiation
//! (RFC 9000 §6.1), stateless resets (§10.3), Retry packets (§8.1.2) and
//! refusals of new clients (§10.2.3). Every answer is queued, at most
//! [`max_stateless_responses`](crate::config::EndpointConfig::max_stateless_responses)
//! of them; more are dropped.

use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use rand::RngCore;

use super::{Endpoint, Response, token::TokenKind};
use crate::{
    ConnectionId, FrameType, Side, TransportErrorCode,
    connection::MIN_INITIAL_SIZE,
    crypto::{Keys, SAMPLE_OFFSET, provider::backend::hmac, retry_integrity_tag},
    frame::ConnectionClose,
    packet::{
        InvariantHeader, LongHeader, LongHeaderType, PacketNumber, RetryHeader, Version,
        VersionNegotiationPacket,
    },
};

impl Endpoint {
    /// Whether another stateless answer may be queued.
    fn response_room(&self) -> bool {
        self.responses.len() < self.config.max_stateless_responses
    }

    /// RFC 9000 §21.11: takes a token for a stateless reset or a Version
    /// Negotiation packet, which a forged datagram can trigger; `false`
    /// (counted) when the endpoint is over its rate.
    fn stateless_allowed(&mut self, now: Instant) -> bool {
        if self.stateless_bucket.take(now) {
            return true;
        }
        self.stateless_rate_limited += 1;
        false
    }

    fn respond(&mut self, destination: SocketAddr, local_ip: Option<IpAddr>, bytes: Vec<u8>) {
        let src_ip = self.source_ip(local_ip);
        self.responses.push_back(Response {
            destination,
            src_ip,
            bytes,
        });
    }

    /// RFC 9000 §6.1: answers an unknown version with the ones we support,
    /// but only for a datagram big enough to start a connection (§14.1).
    pub(super) fn answer_version_negotiation(
        &mut self,
        now: Instant,
        data: &[u8],
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        cid_len: usize,
    ) {
        if self.server.is_none()
            || data.len() < MIN_INITIAL_SIZE
            || !self.response_room()
            || !self.stateless_allowed(now)
        {
            self.dropped_datagrams += 1;
            return;
        }
        let Ok(header) = InvariantHeader::parse(data, cid_len) else {
            return;
        };
        let versions: Vec<u32> = self
            .config
            .supported_versions
            .iter()
            .map(|v| v.to_u32())
            .collect();
        let random = u8::try_from(self.rng.next_u32() & 0x7f).unwrap_or(0);
        let Some(packet) = VersionNegotiationPacket::answering(&header, &versions, random) else {
            return;
        };
        let mut out = Vec::with_capacity(packet.encoded_len());
        packet.encode(&mut out);
        self.respond(remote, local_ip, out);
    }

    /// The stateless reset token of one of our connection IDs (RFC 9000
    /// §10.3.2): a keyed hash, so it needs no state to recompute.
    pub(super) fn reset_token(&self, cid: &[u8]) -> [u8; 16] {
        reset_token(&self.reset_key, cid)
    }

    /// RFC 9000 §10.3: answers a short-header packet for a connection we do
    /// not know with a stateless reset, smaller than what triggered it (so
    /// two endpoints cannot loop), at least 21 bytes, and looking like any
    /// short-header packet.
    pub(super) fn send_stateless_reset(
        &mut self,
        now: Instant,
        data: &[u8],
        dcid: &[u8],
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
    ) {
        self.dropped_datagrams += 1;
        const MIN_RESET: usize = 21;
        if self.server.is_none()
            || data.len() <= MIN_RESET + 1
            || dcid.len() != self.config.cid_generator.cid_len()
            || !self.response_room()
            || !self.stateless_allowed(now)
        {
            return;
        }
        let len = (data.len() - 1).clamp(MIN_RESET, MIN_INITIAL_SIZE);
        let mut packet = vec![0; len];
        self.rng.fill_bytes(&mut packet[..len - 16]);
        // RFC 9000 §10.3: a short header first byte, fixed bit set.
        packet[0] = (packet[0] & 0x3f) | 0x40;
        packet[len - 16..].copy_from_slice(&self.reset_token(dcid));
        self.respond(remote, local_ip, packet);
    }

    /// RFC 9000 §10.2.3, §20.1: refuses a client without keeping state:
    /// an Initial packet carrying CONNECTION_CLOSE with CONNECTION_REFUSED,
    /// protected with the server's Initial keys for the client's original
    /// DCID, addressed to the client's SCID from a fresh one of ours.
    pub(super) fn send_refusal(&mut self, refused: &Refused) {
        self.send_close(refused, TransportErrorCode::CONNECTION_REFUSED);
    }

    /// Closes a client without keeping state, as
    /// [`send_refusal`](Self::send_refusal) does, with `code`.
    pub(super) fn send_close(&mut self, refused: &Refused, code: TransportErrorCode) {
        if !self.response_room() {
            return;
        }
        let scid = self.config.cid_generator.generate(&mut self.rng);
        let Some(packet) = refusal_packet(refused, &scid, code) else {
            return;
        };
        tracing::debug!(remote = %refused.remote, %code, "client closed without state");
        self.respond(refused.remote, refused.local_ip, packet);
    }

    /// RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8: answers a client's Initial
    /// with a Retry packet from a fresh connection ID of ours, carrying a
    /// token that binds the client's address, its original DCID and that
    /// ID (see [`token`](super::token)), and the integrity tag. Nothing is
    /// kept. A Retry is smaller than the 1200-byte Initial that triggers
    /// it, so it amplifies nothing (RFC 9000 §8): it is not held to the
    /// stateless rate, which a flood of forged Initials must not be able
    /// to exhaust for honest clients. Counted in
    /// [`EndpointStats::retries_sent`](super::EndpointStats::retries_sent).
    pub(super) fn send_retry(&mut self, now: Instant, client: &Refused) {
        let Some(server) = self.server.as_ref() else {
            return;
        };
        if !self.response_room() {
            return;
        }
        let rotation = server.token_key_rotation();
        let retry_scid = self.config.cid_generator.generate(&mut self.rng);
        let Some(token) = self.tokens.seal(
            now,
            rotation,
            TokenKind::Retry,
            client.remote,
            Some((&client.original_dcid, &retry_scid)),
            client.version,
        ) else {
            return;
        };
        let header = RetryHeader {
            version: client.version,
            dcid: client.client_scid,
            scid: retry_scid,
            token: &token,
            unused_bits: u8::try_from(self.rng.next_u32() & 0x0f).unwrap_or(0),
            grease_fixed_bit: false,
        };
        let mut packet = Vec::with_capacity(header.packet_len());
        header.encode(&mut packet);
        let Ok(tag) = retry_integrity_tag(client.version, &client.original_dcid, &packet) else {
            return;
        };
        packet.extend_from_slice(&tag);
        self.retries_sent += 1;
        tracing::debug!(remote = %client.remote, "retry sent");
        self.respond(client.remote, client.local_ip, packet);
    }
}

/// The stateless reset token of connection ID `cid` under `key` (RFC 9000
/// §10.3.2): the first 16 bytes of its HMAC-SHA256.
pub(super) fn reset_token(key: &hmac::Key, cid: &[u8]) -> [u8; 16] {
    let tag = hmac::sign(key, cid);
    let mut token = [0; 16];
    token.copy_from_slice(&tag.as_ref()[..16]);
    token
}

/// Who a refusal or Retry goes to, from the client's first Initial.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refused {
    pub(super) version: Version,
    /// The DCID of the client's Initial: the Initial keys' input, and what
    /// a Retry's integrity tag covers (RFC 9001 §5.8).
    pub(super) original_dcid: ConnectionId,
    /// The client's SCID: the refusal's DCID.
    pub(super) client_scid: ConnectionId,
    pub(super) remote: SocketAddr,
    pub(super) local_ip: Option<IpAddr>,
}

/// The refusal's bytes; `None` if it cannot be sealed (it always can).
fn refusal_packet(
    refused: &Refused,
    scid: &ConnectionId,
    code: TransportErrorCode,
) -> Option<Vec<u8>> {
    let keys = Keys::initial(refused.version, &refused.original_dcid, Side::Server);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: refused.version,
        dcid: refused.client_scid,
        scid: *scid,
        pn: PacketNumber::new(0, None),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::with_capacity(96);
    let layout = header.encode(&mut packet);
    ConnectionClose {
        error_code: code,
        frame_type: FrameType::PADDING,
        reason: bytes::Bytes::new(),
    }
    .encode(&mut packet);
    // RFC 9001 §5.4.2: the header protection sample starts 4 bytes after
    // the packet number; PADDING makes room for it whatever the frame's
    // length. A server's Initial that is not ack-eliciting needs no
    // padding to 1200 bytes (RFC 9000 §14.1).
    let tag_len = keys.local.packet.tag_len();
    let sampled = layout.pn_offset + SAMPLE_OFFSET + keys.local.header.sample_len();
    packet.resize(packet.len().max(sampled.saturating_sub(tag_len)), 0);
    packet.resize(packet.len() + tag_len, 0);
    layout.set_length(&mut packet).ok()?;
    keys.local.seal(0, &mut packet, layout.pn_offset).ok()?;
    Some(packet)
}
