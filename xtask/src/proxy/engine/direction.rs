//! One direction of the simulated link: what enters it, what is on it.

use std::{collections::VecDeque, time::Instant};

use super::upstream::{Flow, Packet};
use crate::proxy::{
    DirStats,
    impair::{Fate, Impairer, Link},
};

/// A datagram on the simulated link.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) arrives: Instant,
    /// The binding this datagram comes from or goes to.
    pub(super) flow: Flow,
    pub(super) ecn: u8,
    pub(super) data: Vec<u8>,
}

/// One direction of the link.
#[derive(Debug)]
pub(super) struct Direction {
    pub(super) impairer: Impairer,
    pub(super) link: Link,
    pub(super) in_flight: VecDeque<InFlight>,
}

/// Counts a datagram entering the proxy.
pub(super) fn count_received(stats: &mut DirStats, packet: &Packet) {
    stats.datagrams += 1;
    stats.bytes += u64::try_from(packet.data.len()).unwrap_or(u64::MAX);
    if let Some(n) = stats.ecn.get_mut(usize::from(packet.ecn & 0b11)) {
        *n += 1;
    }
}

/// Decides a datagram's fate at the entry of the link; queues it if it passes.
pub(super) fn enter(
    dir: &mut Direction,
    stats: &mut DirStats,
    blackout: bool,
    flow: Flow,
    packet: &mut Packet,
) {
    // Every datagram takes its draws, even in a blackout, so that the
    // decisions for the k-th datagram do not depend on the blackout.
    let fate = dir.impairer.decide(&mut packet.data);
    if blackout {
        stats.dropped_blackout += 1;
        return;
    }
    match fate {
        Fate::DroppedList => stats.dropped_list += 1,
        Fate::DroppedLoss => stats.dropped_loss += 1,
        Fate::Pass { corrupted } => match dir.link.admit(packet.at, packet.data.len()) {
            None => stats.dropped_queue += 1,
            Some(arrives) => {
                stats.corrupted += u64::from(corrupted);
                dir.in_flight.push_back(InFlight {
                    arrives,
                    flow,
                    ecn: packet.ecn,
                    data: std::mem::take(&mut packet.data),
                });
            }
        },
    }
}

/// The next datagram that has reached the far end by `now`.
pub(super) fn pop_due(queue: &mut VecDeque<InFlight>, now: Instant) -> Option<InFlight> {
    if queue.front()?.arrives <= now {
        queue.pop_front()
    } else {
        None
    }
}
