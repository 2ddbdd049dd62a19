//! Packets that arrive before their keys (RFC 9001 §5.7), kept a bounded
//! few until they can be read.

use std::time::Instant;

use super::{Connection, migration::Origin, spaces::index};
use crate::{EcnCodepoint, packet::PartialDecode};

/// Packets kept for keys not yet available (RFC 9001 §5.7); each holds at
/// most one datagram's bytes.
const MAX_UNDECRYPTABLE: usize = 8;

impl Connection {
    /// Processes packets buffered for keys that have arrived since (and,
    /// at a server, 1-RTT packets once the handshake completed).
    pub(super) fn replay_buffered(&mut self, now: Instant) {
        while let Some(i) = self.undecryptable.iter().position(|(p, _)| {
            p.encryption_level()
                .is_some_and(|level| self.readable_now(level))
        }) {
            let (packet, ecn) = self.undecryptable.swap_remove(i);
            self.undecryptable_bytes -= packet.data().len();
            // Only datagrams from the active path are kept (see `defers`).
            let mut origin = Origin {
                remote: self.path.remote,
                local_ip: self.path.local_ip,
                len: 0,
                active: true,
                moves: false,
            };
            self.handle_packet(now, packet, ecn, &mut origin);
        }
        // Packets whose keys were discarded will never be readable.
        let spaces = &self.spaces;
        self.undecryptable.retain(|(p, _)| {
            p.encryption_level()
                .is_some_and(|level| !spaces[index(level.space())].discarded)
        });
        self.undecryptable_bytes = self.undecryptable.iter().map(|(p, _)| p.data().len()).sum();
    }

    /// Bytes held in packets waiting for their keys.
    pub(crate) fn undecryptable_bytes(&self) -> usize {
        self.undecryptable_bytes
    }

    /// Sets how many more bytes of packets waiting for keys the owner's
    /// endpoint-wide budget lets this connection keep, until the next call
    /// (the endpoint lends it before each datagram it routes here).
    pub(crate) fn lend_undecryptable_room(&mut self, room: usize) {
        self.undecryptable_room = room;
    }

    /// Keeps a packet that arrived before its keys, within the bounds:
    /// [`MAX_UNDECRYPTABLE`] packets and `max_undecryptable_bytes` bytes
    /// per connection, and the room the endpoint lent; drops it otherwise.
    pub(super) fn buffer_undecryptable(
        &mut self,
        packet: PartialDecode,
        ecn: Option<EcnCodepoint>,
    ) {
        let len = packet.data().len();
        let total = self.undecryptable_bytes.saturating_add(len);
        if self.undecryptable.len() < MAX_UNDECRYPTABLE
            && total <= self.config.max_undecryptable_bytes
            && len <= self.undecryptable_room
        {
            self.undecryptable_room -= len;
            self.undecryptable_bytes = total;
            self.undecryptable.push((packet, ecn));
        } else {
            self.stats.packets_dropped += 1;
        }
    }
}
