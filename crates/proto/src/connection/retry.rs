//! A client following a Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8):
//! which Retry it accepts, and how it starts its Initials over with the
//! Retry's connection ID and token.

use std::time::Instant;

use bytes::Bytes;

use super::{Connection, spaces::index, tokens::MAX_TOKEN_LEN};
use crate::{
    ConnectionId, SpaceId,
    crypto::verify_retry_integrity,
    packet::{PacketType, PartialDecode},
};

impl Connection {
    /// Processes a packet without protection: a Retry, which a client
    /// may follow, or a Version Negotiation packet (see `version.rs`).
    pub(super) fn on_unprotected_packet(&mut self, now: Instant, packet: &PartialDecode) {
        match packet.packet_type() {
            PacketType::Retry => self.on_retry(now, packet),
            PacketType::VersionNegotiation => self.on_version_negotiation(now, packet),
            _ => self.stats.packets_dropped += 1,
        }
    }

    /// Processes a Retry packet: a client that may follow it does;
    /// anything else drops it and counts it in `packets_dropped`.
    fn on_retry(&mut self, now: Instant, packet: &PartialDecode) {
        let Some(scid) = self.acceptable_retry(packet) else {
            self.stats.packets_dropped += 1;
            return;
        };
        let Some(tls) = self.tls.as_ref() else {
            // A client keeps its TLS session for life; never reached.
            self.stats.packets_dropped += 1;
            return;
        };
        let token = Bytes::copy_from_slice(packet.token().unwrap_or_default());
        // RFC 9000 §17.2.5.2: the client's Initials go to the Retry's
        // Source Connection ID from now on, and carry its token; its own
        // Source Connection ID stays (the server may have bound the token
        // to it). RFC 9001 §5.2: the Initial keys derive from the new
        // Destination Connection ID.
        self.spaces[index(SpaceId::Initial)].keys = Some(tls.initial_keys(self.version, &scid));
        self.remote_cid = scid;
        self.tokens.retry_scid = Some(scid);
        self.tokens.initial = token;
        self.tokens.validation = crate::AddressValidation::Retry;
        // RFC 9000 §17.2.5.3: the ClientHello goes out again in new Initial
        // packets, whose numbers continue from the ones before. RFC 9002
        // §6.2.1: the Initials sent before were not lost to congestion; the
        // server dropped them without state, so recovery forgets them as
        // it does a discarded space's packets, with no congestion event.
        let mut dropped = std::mem::take(&mut self.discarded_buf);
        self.recovery.discard_space(SpaceId::Initial, &mut dropped);
        dropped.clear();
        self.discarded_buf = dropped;
        let sp = &mut self.spaces[index(SpaceId::Initial)];
        sp.probes = 0;
        sp.crypto_send.requeue_unacked();
        // RFC 9000 §17.2.5.3: 0-RTT packets sent before the Retry were
        // dropped too; what they carried goes again, to the new ID.
        self.requeue_zero_rtt();
        // RFC 9000 §10.1: a packet processed from the peer restarts the
        // idle timer.
        self.idle_since = now;
        self.stats.packets_received += 1;
        tracing::debug!(scid = %scid, token_len = self.tokens.initial.len(), "following a retry");
        #[cfg(feature = "qlog")]
        if let Some((qlog, _)) = self.qlog.as_mut() {
            qlog.retry_received(now, &scid, packet.data().len(), self.tokens.initial.len());
        }
    }

    /// The Source Connection ID of a Retry the client may follow; `None`
    /// when it must be dropped.
    fn acceptable_retry(&self, packet: &PartialDecode) -> Option<ConnectionId> {
        // RFC 9000 §17.2.5.2: only a client accepts a Retry, at most one
        // per connection attempt, and none once it processed an Initial
        // (or any packet) from the server.
        if self.side.is_server() || self.tokens.retry_scid.is_some() || self.remote_cid_set {
            tracing::trace!("retry dropped: not expected now");
            return None;
        }
        if packet.version() != Some(self.version.to_u32()) {
            return None;
        }
        let scid = *packet.scid()?;
        let token = packet.token()?;
        // RFC 9000 §17.2.5.2: a Retry with an empty token is discarded.
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            tracing::trace!(token_len = token.len(), "retry dropped: token length");
            return None;
        }
        // RFC 9000 §17.2.5.2: a Retry whose Source Connection ID is the
        // Destination Connection ID of our Initial is discarded.
        if scid == self.remote_cid {
            tracing::trace!("retry dropped: its scid is our dcid");
            return None;
        }
        // RFC 9001 §5.8: the integrity tag, over the DCID of our first
        // Initial, must verify; a Retry that fails is discarded.
        if verify_retry_integrity(self.version, &self.original_dcid, packet.data()).is_err() {
            tracing::trace!("retry dropped: integrity tag");
            return None;
        }
        Some(scid)
    }
}
