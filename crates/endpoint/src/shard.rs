//! Hand-over between the shards of one endpoint: several event loops, each
//! with its own `SO_REUSEPORT` socket on the same port and its own
//! connections.
//!
//! The kernel spreads datagrams over the sockets by a hash of their
//! addresses, so a client whose address changes (a NAT rebinding, a
//! migration) may reach another shard than the one holding its
//! connection. Every connection ID a shard issues carries the shard
//! ([`ConnectionIdGenerator::shard_of`]); a shard that receives a datagram
//! whose destination ID names another shard hands it over on that shard's
//! bounded queue and wakes its loop. A full queue drops the datagram, as a
//! full socket buffer would; the peer sends its contents again.
//!
//! Why a queue and not a reuseport eBPF program that steers each datagram
//! to the right socket in the kernel: the program would have to be loaded
//! with `unsafe` system calls (this crate has none) and needs privileges
//! many deployments lack, while hand-over is rare: it happens only for
//! the datagrams of a client whose address changed, and costs one copy
//! and one wake-up each.
//!
//! A shard whose loop has ended (its runtime shut down) is marked gone;
//! datagrams for its IDs are then handled where they arrive: with no
//! connection for them, they are answered with a stateless reset, valid
//! because all shards share the reset key (RFC 9000 §10.3).

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError},
    },
};

use bytes::BytesMut;
use tern_proto::{
    ConnectionIdGenerator, EcnCodepoint,
    packet::{LongType, Version},
};

use crate::shared::EndpointShared;

/// A datagram handed from the shard that received it to the one whose
/// connection ID it carries.
pub(crate) struct Handed {
    pub(crate) remote: SocketAddr,
    pub(crate) local_ip: Option<IpAddr>,
    pub(crate) ecn: Option<EcnCodepoint>,
    pub(crate) data: BytesMut,
}

/// One shard as the others see it.
struct Inbox {
    queue: SyncSender<Handed>,
    shared: Arc<EndpointShared>,
    alive: AtomicBool,
    /// Datagrams this shard handed to others.
    handed_out: AtomicU64,
    /// Datagrams other shards handed to this one.
    handed_in: AtomicU64,
    /// Datagrams for this shard dropped because its queue was full.
    dropped: AtomicU64,
}

/// What the shards of one endpoint share: a way to reach each other.
pub(crate) struct Router {
    inboxes: Vec<Inbox>,
}

/// Counters of one shard's hand-overs, for [`EndpointRef::shard_stats`](crate::EndpointRef::shard_stats).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardStats {
    /// The shard's index.
    pub shard: usize,
    /// Connections the shard holds now.
    pub connections: usize,
    /// Datagrams this shard received and handed to the shard their
    /// connection ID names.
    pub handed_out: u64,
    /// Datagrams other shards received and handed to this one.
    pub handed_in: u64,
    /// Datagrams for this shard dropped because its hand-over queue was
    /// full.
    pub handover_dropped: u64,
}

impl Router {
    /// A router over `shards`, each with its queue's sending end.
    pub(crate) fn new(shards: Vec<(Arc<EndpointShared>, SyncSender<Handed>)>) -> Self {
        Self {
            inboxes: shards
                .into_iter()
                .map(|(shared, queue)| Inbox {
                    queue,
                    shared,
                    alive: AtomicBool::new(true),
                    handed_out: AtomicU64::new(0),
                    handed_in: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The counters of shard `shard`.
    pub(crate) fn stats(&self, shard: usize) -> ShardStats {
        self.inboxes
            .get(shard)
            .map_or_else(ShardStats::default, |inbox| ShardStats {
                shard,
                connections: 0,
                handed_out: inbox.handed_out.load(Ordering::Relaxed),
                handed_in: inbox.handed_in.load(Ordering::Relaxed),
                handover_dropped: inbox.dropped.load(Ordering::Relaxed),
            })
    }
}

/// A shard's own view: its index, its queue's receiving end, and the
/// router.
pub(crate) struct ShardLink {
    index: usize,
    router: Arc<Router>,
    inbox: Receiver<Handed>,
    generator: Arc<dyn ConnectionIdGenerator>,
}

impl ShardLink {
    pub(crate) fn new(
        index: usize,
        router: Arc<Router>,
        inbox: Receiver<Handed>,
        generator: Arc<dyn ConnectionIdGenerator>,
    ) -> Self {
        Self {
            index,
            router,
            inbox,
            generator,
        }
    }

    /// The live shard other than this one that `datagram`'s destination
    /// connection ID names, if any.
    pub(crate) fn owner(&self, datagram: &[u8]) -> Option<usize> {
        if !carries_our_id(datagram) {
            return None;
        }
        let dcid = destination_cid(datagram, self.generator.cid_len())?;
        let shard = self.generator.shard_of(dcid)?;
        let inbox = self.router.inboxes.get(shard)?;
        (shard != self.index && inbox.alive.load(Ordering::Acquire)).then_some(shard)
    }

    /// Hands `datagram` to shard `shard` and wakes its loop; drops it when
    /// the shard's queue is full or the shard is gone.
    pub(crate) fn hand_over(&self, shard: usize, datagram: Handed) {
        let Some(inbox) = self.router.inboxes.get(shard) else {
            return;
        };
        match inbox.queue.try_send(datagram) {
            Ok(()) => {
                inbox.handed_in.fetch_add(1, Ordering::Relaxed);
                if let Some(me) = self.router.inboxes.get(self.index) {
                    me.handed_out.fetch_add(1, Ordering::Relaxed);
                }
                inbox.shared.wake();
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                inbox.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The next datagram another shard handed to this one.
    pub(crate) fn next_handed(&self) -> Option<Handed> {
        self.inbox.try_recv().ok()
    }

    /// Marks this shard gone: the others keep datagrams for its IDs.
    pub(crate) fn gone(&self) {
        if let Some(me) = self.router.inboxes.get(self.index) {
            me.alive.store(false, Ordering::Release);
        }
    }
}

/// Whether the first packet of `datagram` is one whose destination ID
/// the server chose: a short header, or a Handshake packet of a version we
/// know. A client's Initial and 0-RTT packets may carry an ID of its own
/// choosing (RFC 9000 §7.2), which names a shard at random: they stay
/// where the kernel put them, which is where every packet of the
/// handshake comes from (the client's address cannot change before the
/// handshake is confirmed, RFC 9000 §9), so the connection is made by the
/// shard whose socket its client's address reaches, and nothing is handed
/// over while the address stays.
pub(crate) fn carries_our_id(datagram: &[u8]) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    if first & 0x80 == 0 {
        return true;
    }
    let Some(version) = datagram
        .get(1..5)
        .and_then(|v| v.try_into().ok())
        .map(u32::from_be_bytes)
        .and_then(Version::from_u32)
    else {
        return false;
    };
    LongType::from_bits(version, (first >> 4) & 0b11) == LongType::Handshake
}

/// The destination connection ID of a QUIC datagram's first packet, by
/// the version-independent header rules (RFC 8999 §5): a long header
/// states its length in its sixth byte, a short header carries
/// `local_len` bytes after the first. `None` when the datagram is too
/// short, or a long header states more than 255 bytes it does not have.
pub(crate) fn destination_cid(datagram: &[u8], local_len: usize) -> Option<&[u8]> {
    let first = *datagram.first()?;
    if first & 0x80 != 0 {
        // RFC 8999 §5.1: flags (1), version (4), DCID length (1), DCID.
        let len = usize::from(*datagram.get(5)?);
        datagram.get(6..6 + len)
    } else {
        // RFC 8999 §5.2: flags (1), then the DCID, whose length the
        // receiver knows.
        datagram.get(1..1 + local_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_headers_and_handshake_packets_route_by_their_id() {
        let long = |first: u8, version: u32| {
            let mut datagram = vec![first];
            datagram.extend_from_slice(&version.to_be_bytes());
            datagram.extend_from_slice(&[8; 20]);
            datagram
        };
        assert!(carries_our_id(&[0x40, 1, 2, 3]));
        // v1: Initial 0b00, 0-RTT 0b01, Handshake 0b10, Retry 0b11.
        assert!(!carries_our_id(&long(0xc0, 1)));
        assert!(!carries_our_id(&long(0xd0, 1)));
        assert!(carries_our_id(&long(0xe0, 1)));
        // v2 (RFC 9369 §3.2): Initial 0b01, 0-RTT 0b10, Handshake 0b11.
        assert!(!carries_our_id(&long(0xd0, 0x6b33_43cf)));
        assert!(!carries_our_id(&long(0xe0, 0x6b33_43cf)));
        assert!(carries_our_id(&long(0xf0, 0x6b33_43cf)));
        // An unknown version, a truncated header, nothing.
        assert!(!carries_our_id(&long(0xe0, 0x1a2a_3a4a)));
        assert!(!carries_our_id(&[0xe0, 0, 0]));
        assert!(!carries_our_id(&[]));
    }

    #[test]
    fn the_destination_id_is_read_from_long_and_short_headers() {
        let long = [0xc0, 0, 0, 0, 1, 3, 7, 8, 9, 2, 5, 5];
        assert_eq!(destination_cid(&long, 8), Some(&[7, 8, 9][..]));
        let short = [0x40, 1, 2, 3, 4, 5];
        assert_eq!(destination_cid(&short, 4), Some(&[1, 2, 3, 4][..]));
        assert_eq!(destination_cid(&short, 8), None);
        assert_eq!(destination_cid(&[0xc0, 0, 0, 0, 1, 9, 1], 8), None);
        assert_eq!(destination_cid(&[], 8), None);
        assert_eq!(destination_cid(&[0xc0, 0, 0], 8), None);
    }
}
