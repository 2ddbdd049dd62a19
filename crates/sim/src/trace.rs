//! What happens to datagrams, as events and as counters.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tern_proto::EcnCodepoint;

/// One thing that happened to a datagram. Times are sim time since the
/// epoch, so a trace depends only on the seed and the nodes.
///
/// Every datagram has a `Sent` event; then a `Dropped` event, or a
/// `Delivered` event (two with a `Duplicated` one), with a `Corrupted` event
/// for each copy whose bits were flipped. `Duplicated` and `Corrupted` are
/// recorded when the link decides, at send time; `Delivered` at arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A node handed a datagram to the network.
    Sent {
        /// Sim time.
        at: Duration,
        /// The datagram's number, unique in this sim, counting from 0.
        id: u64,
        /// The sender's address.
        from: SocketAddr,
        /// The destination.
        to: SocketAddr,
        /// The ECN codepoint the sender set.
        ecn: Option<EcnCodepoint>,
        /// The bytes as sent.
        data: Bytes,
    },
    /// The network dropped a datagram.
    Dropped {
        /// Sim time.
        at: Duration,
        /// The datagram's number.
        id: u64,
        /// Whether this was the duplicate copy.
        duplicate: bool,
        /// The sender's address.
        from: SocketAddr,
        /// The destination.
        to: SocketAddr,
        /// Its length in bytes.
        len: usize,
        /// Why.
        reason: DropReason,
    },
    /// The link will deliver a second copy of a datagram.
    Duplicated {
        /// Sim time.
        at: Duration,
        /// The datagram's number.
        id: u64,
    },
    /// The link flipped bits in one copy of a datagram.
    Corrupted {
        /// Sim time.
        at: Duration,
        /// The datagram's number.
        id: u64,
        /// Whether this was the duplicate copy.
        duplicate: bool,
        /// The byte changed.
        offset: usize,
        /// The bits flipped in it (1 to 3).
        mask: u8,
    },
    /// A copy of a datagram reached its destination node.
    Delivered {
        /// Sim time.
        at: Duration,
        /// The datagram's number.
        id: u64,
        /// Whether this was the duplicate copy.
        duplicate: bool,
        /// The sender's address.
        from: SocketAddr,
        /// The destination.
        to: SocketAddr,
        /// The bytes as delivered (corrupted, if a `Corrupted` event says so).
        data: Bytes,
    },
}

impl TraceEvent {
    /// The sim time of the event.
    #[must_use]
    pub const fn at(&self) -> Duration {
        match self {
            Self::Sent { at, .. }
            | Self::Dropped { at, .. }
            | Self::Duplicated { at, .. }
            | Self::Corrupted { at, .. }
            | Self::Delivered { at, .. } => *at,
        }
    }

    /// The variant's name, for logs.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Dropped { .. } => "dropped",
            Self::Duplicated { .. } => "duplicated",
            Self::Corrupted { .. } => "corrupted",
            Self::Delivered { .. } => "delivered",
        }
    }

    /// The number of the datagram the event is about.
    #[must_use]
    pub const fn id(&self) -> u64 {
        match self {
            Self::Sent { id, .. }
            | Self::Dropped { id, .. }
            | Self::Duplicated { id, .. }
            | Self::Corrupted { id, .. }
            | Self::Delivered { id, .. } => *id,
        }
    }
}

/// Why the network dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Random loss (independent or in a burst).
    Loss,
    /// The link's queue was full (tail drop).
    Queue,
    /// The link was in its blackout window.
    Blackout,
    /// No node holds the destination address when the datagram arrives.
    NoRoute,
    /// The datagram is larger than the link's MTU.
    TooBig,
    /// A test's filter chose it ([`Sim::drop_if`](crate::Sim::drop_if)).
    Filtered,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loss => "loss",
            Self::Queue => "queue full",
            Self::Blackout => "blackout",
            Self::TooBig => "larger than the mtu",
            Self::NoRoute => "no route",
            Self::Filtered => "filtered",
        })
    }
}

/// Counters over the whole run, kept whether or not a trace is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Bytes handed to the network.
    pub sent_bytes: u64,
    /// Copies delivered to a node (duplicates count twice).
    pub delivered: u64,
    /// Bytes delivered to nodes.
    pub delivered_bytes: u64,
    /// Datagrams lost at random.
    pub lost: u64,
    /// Datagrams tail-dropped by a full queue.
    pub queue_dropped: u64,
    /// Datagrams dropped in a blackout window.
    pub blackout_dropped: u64,
    /// Copies dropped for want of a node at the destination.
    pub unroutable: u64,
    /// Datagrams dropped for exceeding the link MTU.
    pub too_big: u64,
    /// Datagrams a test's filter dropped.
    pub filtered: u64,
    /// Datagrams the network duplicated.
    pub duplicated: u64,
    /// Copies the network corrupted.
    pub corrupted: u64,
}

impl Stats {
    /// Every datagram dropped, whatever the reason.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.lost
            + self.queue_dropped
            + self.blackout_dropped
            + self.unroutable
            + self.too_big
            + self.filtered
    }

    /// Counts one event.
    pub(crate) fn count(&mut self, event: &TraceEvent) {
        match event {
            TraceEvent::Sent { data, .. } => {
                self.sent += 1;
                self.sent_bytes += byte_count(data.len());
            }
            TraceEvent::Dropped { reason, .. } => match reason {
                DropReason::Loss => self.lost += 1,
                DropReason::Queue => self.queue_dropped += 1,
                DropReason::Blackout => self.blackout_dropped += 1,
                DropReason::NoRoute => self.unroutable += 1,
                DropReason::TooBig => self.too_big += 1,
                DropReason::Filtered => self.filtered += 1,
            },
            TraceEvent::Duplicated { .. } => self.duplicated += 1,
            TraceEvent::Corrupted { .. } => self.corrupted += 1,
            TraceEvent::Delivered { data, .. } => {
                self.delivered += 1;
                self.delivered_bytes += byte_count(data.len());
            }
        }
    }
}

fn byte_count(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
