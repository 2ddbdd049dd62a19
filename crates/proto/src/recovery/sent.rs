//! The packets of one packet number space that await an acknowledgment.
//!
//! Packet numbers of a space are dense, so the packets live in a ring
//! buffer indexed by `pn - base`: sending pushes at the back, acknowledging
//! or declaring lost leaves a hole, and holes at the front are popped. In
//! steady state nothing is allocated per packet, and an ACK range costs
//! what it overlaps in the buffer, never its width.

use std::{collections::VecDeque, ops::RangeInclusive, time::Instant};

/// A packet sent and not yet acknowledged, declared lost or discarded, as
/// recovery tracks it (RFC 9002 §A.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPacket<T> {
    /// When the packet was sent.
    pub time_sent: Instant,
    /// The bytes the packet took in its UDP datagram, counted in bytes in
    /// flight when `in_flight`.
    pub size: u16,
    /// Whether the packet elicits an acknowledgment: it holds a frame other
    /// than ACK, PADDING and CONNECTION_CLOSE.
    pub ack_eliciting: bool,
    /// Whether the packet counts towards bytes in flight: it is
    /// ack-eliciting or holds PADDING.
    pub in_flight: bool,
    /// What the connection needs back when the packet is acknowledged or
    /// lost, such as the frames it carried.
    pub data: T,
}

impl<T> SentPacket<T> {
    /// The bytes this packet adds to bytes in flight.
    pub(super) fn bytes_in_flight(&self) -> u64 {
        if self.in_flight {
            u64::from(self.size)
        } else {
            0
        }
    }

    /// Whether this packet is an ack-eliciting packet in flight.
    pub(super) const fn ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting && self.in_flight
    }
}

/// The unacknowledged packets of one space, by packet number.
#[derive(Debug)]
pub(super) struct SentPackets<T> {
    /// The packet number of `packets[0]`.
    base: u64,
    /// `None` marks a packet acknowledged or lost (or a packet number the
    /// caller skipped). The front entry, when there is one, is `Some`.
    packets: VecDeque<Option<SentPacket<T>>>,
}

impl<T> SentPackets<T> {
    pub(super) const fn new() -> Self {
        Self {
            base: 0,
            packets: VecDeque::new(),
        }
    }

    /// Records packet `pn`, which is above every packet number recorded
    /// before. Skipped packet numbers cost one empty slot each.
    pub(super) fn insert(&mut self, pn: u64, packet: SentPacket<T>) {
        if self.packets.capacity() == 0 {
            // A quiet connection sends one packet at a time (an ACK, most
            // often, that stays here until a later ACK covers it): room
            // for one, not the four a first push makes. A burst doubles
            // from there.
            self.packets.reserve_exact(1);
        }
        if self.packets.is_empty() {
            self.base = pn;
        } else {
            let next = self.end();
            debug_assert!(pn >= next, "packet number {pn} below {next}");
            debug_assert!(pn - next <= 1 << 16, "{} packet numbers skipped", pn - next);
            for _ in next..pn {
                self.packets.push_back(None);
            }
        }
        self.packets.push_back(Some(packet));
    }

    /// One past the last packet number the buffer covers.
    fn end(&self) -> u64 {
        self.base + self.packets.len() as u64
    }

    /// The buffer indices of the packet numbers in `range` that it covers.
    fn indices(&self, range: RangeInclusive<u64>) -> Option<RangeInclusive<usize>> {
        let (start, end) = range.into_inner();
        let last = self.end().checked_sub(1)?;
        let start = start.max(self.base);
        let end = end.min(last);
        if self.packets.is_empty() || start > end {
            return None;
        }
        // Both bounds are below `base + len`, so their offsets fit in usize.
        let start = usize::try_from(start - self.base).ok()?;
        let end = usize::try_from(end - self.base).ok()?;
        Some(start..=end)
    }

    /// Removes the packets in `range`, largest first, calling `f` with each.
    /// Costs the overlap of `range` with the buffer, not its width.
    pub(super) fn remove_range(
        &mut self,
        range: RangeInclusive<u64>,
        mut f: impl FnMut(u64, SentPacket<T>),
    ) {
        let Some(indices) = self.indices(range) else {
            return;
        };
        for index in indices.rev() {
            if let Some(packet) = self.packets[index].take() {
                f(self.base + index as u64, packet);
            }
        }
    }

    /// Removes the packets up to `largest` (inclusive) for which `lost`
    /// returns true, oldest first, calling `f` with each. `lost` sees every
    /// packet up to `largest` that is still tracked.
    pub(super) fn remove_up_to(
        &mut self,
        largest: u64,
        mut lost: impl FnMut(u64, &SentPacket<T>) -> bool,
        mut f: impl FnMut(u64, SentPacket<T>),
    ) {
        let Some(indices) = self.indices(0..=largest) else {
            return;
        };
        for index in indices {
            let pn = self.base + index as u64;
            let slot = &mut self.packets[index];
            if slot.as_ref().is_some_and(|packet| lost(pn, packet))
                && let Some(packet) = slot.take()
            {
                f(pn, packet);
            }
        }
    }

    /// Pops the holes at the front, so that the front entry is a packet.
    /// The buffer keeps its capacity: sending again allocates nothing.
    pub(super) fn trim_front(&mut self) {
        while let Some(None) = self.packets.front() {
            self.packets.pop_front();
            self.base += 1;
        }
    }

    /// Gives back the buffer's spare capacity; sending grows it again.
    pub(super) fn shrink_to_fit(&mut self) {
        self.packets.shrink_to_fit();
    }

    /// Removes every packet, oldest first, and frees the buffer: the space
    /// is being discarded for good.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = SentPacket<T>> + use<T> {
        std::mem::take(&mut self.packets).into_iter().flatten()
    }

    /// The tracked packets with their packet numbers, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &SentPacket<T>)> {
        let base = self.base;
        self.packets
            .iter()
            .enumerate()
            .filter_map(move |(i, p)| p.as_ref().map(|p| (base + i as u64, p)))
    }

    /// The tracked packets' packet numbers and data, oldest first.
    pub(super) fn iter_data_mut(&mut self) -> impl Iterator<Item = (u64, &mut T)> {
        let base = self.base;
        self.packets
            .iter_mut()
            .enumerate()
            .filter_map(move |(i, p)| p.as_mut().map(|p| (base + i as u64, &mut p.data)))
    }
}
