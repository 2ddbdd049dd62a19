//! AEAD usage limits (RFC 9001 §6.6): how many packets one 1-RTT key may
//! seal, and how many forgeries the connection tolerates.
//!
//! Sealing: packets sealed with the current 1-RTT key are counted (in
//! [`KeyPhase`](super::key_update::KeyPhase)). Once the count passes the
//! confidentiality limit less the configured margin, keys are updated on
//! our own initiative as soon as RFC 9001 §6 allows it. Should the count
//! come within a few packets of the limit with no update possible, the
//! connection closes with AEAD_LIMIT_REACHED, and no 1-RTT packet is ever
//! sealed past the limit.
//!
//! Opening: every packet whose payload fails to authenticate, under any
//! key, counts; past the integrity limit the connection closes with
//! AEAD_LIMIT_REACHED and processes nothing more.

use std::time::Instant;

use super::{Connection, spaces::index};
use crate::{SpaceId, TransportError};

/// Packets kept below the confidentiality limit for the CONNECTION_CLOSE
/// of a connection that could not update its keys in time, at most; a
/// lowered test limit keeps an eighth of itself.
const CLOSE_RESERVE: u64 = 16;

impl Connection {
    /// RFC 9001 §6.6: the packets the current 1-RTT key may seal, the
    /// AEAD's limit or the configured one when lower.
    fn confidentiality_limit(&self) -> u64 {
        let suite = self.spaces[index(SpaceId::Data)]
            .keys
            .as_ref()
            .map_or(u64::MAX, |keys| keys.local.packet.confidentiality_limit());
        self.config
            .aead_confidentiality_limit
            .map_or(suite, |limit| limit.min(suite))
    }

    /// RFC 9001 §6.6: the packets that may fail to authenticate over the
    /// whole connection, for the AEAD of the highest keys held (the
    /// negotiated one once there are Handshake keys), or the configured
    /// limit when lower.
    fn integrity_limit(&self) -> u64 {
        let suite = [SpaceId::Data, SpaceId::Handshake, SpaceId::Initial]
            .iter()
            .find_map(|&space| self.spaces[index(space)].keys.as_ref())
            .map_or(u64::MAX, |keys| keys.remote.packet.integrity_limit());
        self.config
            .aead_integrity_limit
            .map_or(suite, |limit| limit.min(suite))
    }

    /// Whether one more 1-RTT packet may be sealed with the current key:
    /// RFC 9001 §6.6 forbids going past the confidentiality limit.
    pub(super) fn may_seal_one_rtt(&self) -> bool {
        self.key_phase.sealed() < self.confidentiality_limit()
    }

    /// Before a datagram is built: updates the 1-RTT keys on our own
    /// initiative once the current key sealed its share of packets, or
    /// closes the connection when the limit is near and no update may
    /// start.
    pub(super) fn check_confidentiality_limit(&mut self, now: Instant) {
        if !self.handshake_confirmed || self.is_closed() {
            return;
        }
        let limit = self.confidentiality_limit();
        let sealed = self.key_phase.sealed();
        let margin = u64::from(self.config.key_update_margin_percent.clamp(1, 90));
        // The margin's packets, computed without overflow for any limit.
        let update_at = limit - (limit / 100 * margin + limit % 100 * margin / 100);
        if sealed < update_at {
            return;
        }
        // RFC 9001 §6.5: after an update, wait three PTOs from the
        // acknowledgment that confirmed it, so that the peer has dropped
        // the keys before the ones it switched to; §6.1 (packets of the
        // current phase acknowledged) is checked by initiate_key_update.
        let pto = self.recovery.pto_duration(&self.path_state());
        let settled = self.key_phase.count == 0
            || self
                .key_phase
                .acked_at()
                .is_some_and(|at| now >= at + pto.saturating_mul(3));
        if settled && self.initiate_key_update(now) {
            tracing::debug!(
                sealed,
                limit,
                "keys updated before the confidentiality limit"
            );
            return;
        }
        let reserve = CLOSE_RESERVE.min(limit / 8);
        if sealed >= limit.saturating_sub(reserve) {
            // RFC 9001 §6.6: an endpoint that cannot update its keys in
            // time closes the connection, before the limit.
            self.fail(
                now,
                TransportError::aead_limit_reached("confidentiality limit reached, no key update"),
            );
        }
    }

    /// RFC 9001 §6.6: a received packet failed to authenticate. Past the
    /// integrity limit, the connection closes with AEAD_LIMIT_REACHED at
    /// once and processes no more packets.
    pub(super) fn on_authentication_failure(&mut self, now: Instant) {
        self.stats.authentication_failures += 1;
        if self.stats.authentication_failures > self.integrity_limit() {
            self.fail(
                now,
                TransportError::aead_limit_reached("integrity limit reached"),
            );
        }
    }
}
