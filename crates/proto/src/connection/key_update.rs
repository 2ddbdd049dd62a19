//! 1-RTT key updates (RFC 9001 §6): following the peer's, starting our own,
//! and opening 1-RTT packets with the key their phase bit names.

use std::time::{Duration, Instant};

use super::{Connection, spaces::index};
use crate::{
    SpaceId,
    crypto::{CryptoError, OpenedPacket, PacketKey, PacketKeyPair, Secrets},
    packet::{MAX_PN, PartialDecode},
};

/// The 1-RTT key phase and what moving between phases needs.
#[derive(Debug, Default)]
pub(super) struct KeyPhase {
    /// 1-RTT secrets, from which each next generation of packet keys comes;
    /// kept apart from the TLS session, so they survive its release.
    secrets: Option<Secrets>,
    /// The key phase bit of the current keys.
    phase: bool,
    /// The next generation of packet keys, derived when first needed.
    next: Option<PacketKeyPair>,
    /// The peer's key of the previous phase, for its delayed packets, and
    /// when it goes.
    previous: Option<(PacketKey, Instant)>,
    /// The smallest packet number received in the current phase.
    first_received: Option<u64>,
    /// The first packet number we sent in the current phase.
    first_sent: Option<u64>,
    /// Packets sealed with the current key (RFC 9001 §6.6).
    sealed: u64,
    /// When a packet of the current phase was first acknowledged.
    acked_at: Option<Instant>,
    /// Key updates done, by either side.
    pub(super) count: u64,
}

/// Which key opens a 1-RTT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Previous,
    Current,
    Next,
}

impl KeyPhase {
    /// Takes the secrets from the TLS session's 1-RTT key change.
    pub(super) fn set_secrets(&mut self, secrets: Secrets) {
        self.secrets = Some(secrets);
    }

    /// The key phase bit to send.
    pub(super) const fn bit(&self) -> bool {
        self.phase
    }

    /// Notes a 1-RTT packet sealed and sent in the current phase.
    pub(super) fn on_sent(&mut self, pn: u64) {
        self.first_sent.get_or_insert(pn);
        self.sealed += 1;
    }

    /// Notes the largest 1-RTT packet number the peer acknowledged, at
    /// `now`.
    pub(super) fn on_acked(&mut self, now: Instant, largest: u64) {
        if self.acked_at.is_none() && self.first_sent.is_some_and(|first| largest >= first) {
            self.acked_at = Some(now);
        }
    }

    /// Packets sealed with the current key.
    pub(super) const fn sealed(&self) -> u64 {
        self.sealed
    }

    /// When a packet of the current phase was first acknowledged.
    pub(super) const fn acked_at(&self) -> Option<Instant> {
        self.acked_at
    }

    /// The next generation of keys, derived from the secrets on first use.
    fn next_keys(&mut self) -> Option<&PacketKeyPair> {
        if self.next.is_none() {
            self.next = Some(self.secrets.as_mut()?.next_packet_keys());
        }
        self.next.as_ref()
    }

    /// RFC 9001 §6.3: the generation a packet's phase bit and number point
    /// at. A packet of the other phase is the previous one's if it is
    /// older than the current phase, and otherwise starts the next.
    fn generation(&self, bit: bool, pn: u64) -> Generation {
        if bit == self.phase {
            Generation::Current
        } else if self.previous.is_some() && self.first_received.is_none_or(|first| pn < first) {
            Generation::Previous
        } else {
            Generation::Next
        }
    }
}

impl Connection {
    /// Opens a 1-RTT packet in place with the key its phase bit names,
    /// following the peer's key update when the packet authenticates with
    /// the next generation. `None` when it does not authenticate.
    pub(super) fn open_one_rtt(
        &mut self,
        now: Instant,
        packet: &mut PartialDecode,
    ) -> Option<OpenedPacket> {
        // RFC 9001 §6.5: old read keys go three PTOs after the update.
        if self
            .key_phase
            .previous
            .as_ref()
            .is_some_and(|(_, until)| now >= *until)
        {
            self.key_phase.previous = None;
        }
        let pn_offset = packet.pn_offset()?;
        let sp = &self.spaces[index(SpaceId::Data)];
        let largest = sp.largest_received;
        // Header protection keys never change (RFC 9001 §6).
        let header = sp
            .keys
            .as_ref()?
            .remote
            .header
            .unprotect(packet.data_mut(), pn_offset)
            .ok()?;
        let pn = header.pn.expand(largest);
        if pn > MAX_PN {
            return None;
        }
        let bit = packet
            .protected_bits(header.first_byte)
            .and_then(|bits| bits.key_phase)?;
        let generation = self.key_phase.generation(bit, pn);
        if generation == Generation::Next {
            self.key_phase.next_keys()?;
        }
        let key = match generation {
            Generation::Previous => &self.key_phase.previous.as_ref()?.0,
            Generation::Current => {
                &self.spaces[index(SpaceId::Data)]
                    .keys
                    .as_ref()?
                    .remote
                    .packet
            }
            Generation::Next => &self.key_phase.next.as_ref()?.remote,
        };
        let payload = match key.decrypt(pn, packet.data_mut(), header.header_len) {
            Ok(payload) => payload,
            Err(error) => {
                if error == CryptoError::AuthenticationFailed {
                    self.on_authentication_failure(now);
                }
                return None;
            }
        };
        match generation {
            Generation::Next => {
                // RFC 9001 §6.2: the peer updated; we update our send keys
                // too, before sending anything more.
                tracing::debug!(pn, "peer started a key update");
                self.switch_keys(now);
                self.key_phase.first_received = Some(pn);
            }
            Generation::Current => {
                let first = self.key_phase.first_received.get_or_insert(pn);
                *first = (*first).min(pn);
            }
            Generation::Previous => {}
        }
        Some(OpenedPacket {
            pn,
            first_byte: header.first_byte,
            header_len: header.header_len,
            payload,
        })
    }

    /// Starts a 1-RTT key update on demand (RFC 9001 §6.1): from the next
    /// packet on, both directions use the next generation of keys and the
    /// key phase bit flips; the peer follows when it opens that packet.
    /// Updates also count in
    /// [`ConnectionStats::key_updates`](super::ConnectionStats::key_updates).
    ///
    /// Returns `true` when the update started. Returns `false` and changes
    /// nothing when it is not allowed yet; try again later (after more
    /// packets were acknowledged):
    ///
    /// - before the handshake is confirmed, or once the connection is
    ///   closed;
    /// - until a packet we sent in the current key phase was acknowledged,
    ///   which includes right after an update (by either side) until a
    ///   packet of the new phase is sent and acknowledged, and right after
    ///   the handshake until the first 1-RTT packet is acknowledged.
    ///
    /// The peer's old keys are kept for three PTOs after an update, for
    /// its delayed packets (RFC 9001 §6.5).
    pub fn initiate_key_update(&mut self, now: Instant) -> bool {
        // RFC 9001 §6.1: no update before the handshake is confirmed, and
        // none until a packet of the current phase was acknowledged.
        if !self.handshake_confirmed || self.is_closed() {
            return false;
        }
        let acked = self.recovery.largest_acked(SpaceId::Data);
        let current_acked = self
            .key_phase
            .first_sent
            .is_some_and(|first| acked.is_some_and(|largest| largest >= first));
        if !current_acked || self.key_phase.next_keys().is_none() {
            return false;
        }
        tracing::debug!("starting a key update");
        self.switch_keys(now);
        // The peer's packets of the new phase are still to come.
        self.key_phase.first_received = None;
        true
    }

    /// Moves both directions to the next generation of packet keys and
    /// keeps the peer's old key for its packets still on the way.
    fn switch_keys(&mut self, now: Instant) {
        let Some(next) = self.key_phase.next.take() else {
            return;
        };
        let Some(keys) = self.spaces[index(SpaceId::Data)].keys.as_mut() else {
            return;
        };
        let old_remote = std::mem::replace(&mut keys.remote.packet, next.remote);
        keys.local.packet = next.local;
        let pto = self.recovery.pto_duration(&self.path_state());
        let keep = pto.saturating_mul(3).max(Duration::from_millis(1));
        self.key_phase.previous = Some((old_remote, now + keep));
        self.key_phase.phase = !self.key_phase.phase;
        self.key_phase.first_sent = None;
        self.key_phase.sealed = 0;
        self.key_phase.acked_at = None;
        self.key_phase.count += 1;
    }
}
