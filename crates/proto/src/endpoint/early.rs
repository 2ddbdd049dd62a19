//! 0-RTT packets that arrive before their client's first Initial: held,
//! bounded, for a short while, and handed to the incoming that Initial
//! makes (RFC 9000 §5.2.2, RFC 9001 §5.7).
//!
//! A client sends its Initial and its 0-RTT packets together; the network
//! may reorder them. Without this table a 0-RTT datagram that overtakes
//! the Initial would be dropped, and its data would wait for a
//! retransmission one PTO later.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::BytesMut;

use super::Endpoint;
use crate::{
    ConnectionId, EcnCodepoint,
    packet::{LongType, Version},
};

/// How long a 0-RTT datagram waits for its Initial. Reordering moves a
/// datagram by a fraction of a round trip; a second covers a slow path
/// several times over, while a flood's datagrams are not held longer than
/// that.
pub(super) const LIFETIME: Duration = Duration::from_secs(1);
/// Datagrams held for one Destination Connection ID at most: a client's
/// first flight of 0-RTT is a few datagrams, beyond which it waits for the
/// handshake anyway.
pub(super) const MAX_PER_DCID: usize = 4;
/// Bytes charged for each datagram held beyond its own length: the map
/// entries, the vector slot and the buffer's header, so that a flood of
/// tiny datagrams is bounded in memory as well as in bytes.
pub(super) const OVERHEAD: usize = 128;

/// Datagrams held for one Destination Connection ID.
#[derive(Debug)]
struct Held {
    dcid: ConnectionId,
    /// The address of the first datagram; later ones must come from there.
    remote: SocketAddr,
    arrived: Instant,
    datagrams: Vec<(Option<EcnCodepoint>, BytesMut)>,
    /// Bytes charged to the table for them.
    charged: usize,
}

/// The 0-RTT datagrams held for Initials not yet seen, oldest first.
#[derive(Debug, Default)]
pub(super) struct EarlyZeroRtt {
    by_seq: BTreeMap<u64, Held>,
    by_dcid: HashMap<ConnectionId, u64>,
    next_seq: u64,
    /// Bytes charged now, at most `EndpointConfig::max_early_zero_rtt_bytes`.
    pub(super) bytes: usize,
    pub(super) buffered: u64,
    pub(super) delivered: u64,
    pub(super) expired: u64,
    pub(super) dropped: u64,
}

impl EarlyZeroRtt {
    /// Holds `data` for `dcid`, within `max_bytes` in all; `false` (and
    /// counted as dropped) when it does not fit.
    fn hold(
        &mut self,
        now: Instant,
        max_bytes: usize,
        dcid: ConnectionId,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) -> bool {
        self.expire(now);
        let cost = data.len() + OVERHEAD;
        let fits = self.bytes + cost <= max_bytes;
        let held = match self.by_dcid.get(&dcid) {
            Some(seq) => self.by_seq.get_mut(seq).filter(|held| {
                fits && held.remote == remote && held.datagrams.len() < MAX_PER_DCID
            }),
            None if fits => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.by_dcid.insert(dcid, seq);
                let held = Held {
                    dcid,
                    remote,
                    arrived: now,
                    datagrams: Vec::with_capacity(1),
                    charged: 0,
                };
                Some(self.by_seq.entry(seq).or_insert(held))
            }
            None => None,
        };
        let Some(held) = held else {
            self.dropped += 1;
            return false;
        };
        held.datagrams.push((ecn, data));
        held.charged += cost;
        self.bytes += cost;
        self.buffered += 1;
        true
    }

    /// Takes what is held for `dcid`.
    fn take(&mut self, dcid: &ConnectionId) -> Option<Held> {
        let seq = self.by_dcid.remove(dcid)?;
        let held = self.by_seq.remove(&seq)?;
        self.bytes -= held.charged;
        Some(held)
    }

    /// Drops what waited [`LIFETIME`] by `now`, oldest first; the others
    /// are younger and not looked at.
    pub(super) fn expire(&mut self, now: Instant) -> u64 {
        let mut expired = 0;
        while let Some(entry) = self.by_seq.first_entry() {
            if entry.get().arrived + LIFETIME > now {
                break;
            }
            let held = entry.remove();
            self.by_dcid.remove(&held.dcid);
            self.bytes -= held.charged;
            expired += held.datagrams.len() as u64;
        }
        self.expired += expired;
        expired
    }

    /// When the oldest held datagrams expire.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let (_, oldest) = self.by_seq.first_key_value()?;
        Some(oldest.arrived + LIFETIME)
    }
}

/// RFC 9000 §17.2.3: whether `data` starts with a 0-RTT packet of
/// `version`.
fn is_zero_rtt(data: &[u8], version: Version) -> bool {
    data.first().is_some_and(|&first| {
        first & 0x80 != 0 && LongType::from_bits(version, first >> 4) == LongType::ZeroRtt
    })
}

impl Endpoint {
    /// A long-header datagram of a supported version for no connection or
    /// incoming: a 0-RTT one is held for its Initial (RFC 9000 §5.2.2:
    /// a server may buffer 0-RTT that arrives before the Initial) and
    /// `None` returned; anything else is handed back for
    /// `handle_first_initial`.
    pub(super) fn hold_early_zero_rtt(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        (version, dcid): (Version, Option<ConnectionId>),
        data: BytesMut,
    ) -> Option<BytesMut> {
        let accepts = self
            .server
            .as_ref()
            .is_some_and(|s| s.tls.max_early_data_size != 0);
        if !accepts || !is_zero_rtt(&data, version) {
            return Some(data);
        }
        // RFC 9000 §7.2: a client's first DCID has at least 8 bytes; one
        // that does not is no new client's, and is dropped as before.
        let Some(dcid) = dcid.filter(|dcid| dcid.len() >= 8) else {
            return Some(data);
        };
        let max = self.config.max_early_zero_rtt_bytes;
        let before = self.early.expired;
        if !self.early.hold(now, max, dcid, remote, ecn, data) {
            self.dropped_datagrams += 1;
        }
        self.dropped_datagrams += self.early.expired - before;
        tracing::trace!(%remote, held = self.early.bytes, "0-rtt before its initial");
        None
    }

    /// The 0-RTT datagrams that came for `dcid` from `remote` before its
    /// first Initial, at most `room` bytes of them, to follow it into the
    /// incoming; the others are dropped.
    pub(super) fn early_zero_rtt_for(
        &mut self,
        dcid: &ConnectionId,
        remote: SocketAddr,
        mut room: usize,
    ) -> Vec<(Option<EcnCodepoint>, BytesMut)> {
        let Some(held) = self.early.take(dcid) else {
            return Vec::new();
        };
        let mut datagrams = held.datagrams;
        let total = datagrams.len() as u64;
        if held.remote != remote {
            datagrams.clear();
        }
        datagrams.retain(|(_, data)| {
            let fits = data.len() <= room;
            room = room.saturating_sub(data.len());
            fits
        });
        let kept = datagrams.len() as u64;
        self.early.delivered += kept;
        self.early.dropped += total - kept;
        self.dropped_datagrams += total - kept;
        datagrams
    }

    /// Drops the 0-RTT datagrams that waited too long for their Initial.
    pub(super) fn expire_early_zero_rtt(&mut self, now: Instant) {
        self.dropped_datagrams += self.early.expire(now);
    }
}

#[cfg(test)]
mod tests;
