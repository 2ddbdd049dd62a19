//! Packet number spaces (RFC 9000 §12.3): keys, packet numbers, ACK state
//! and the CRYPTO stream of each.

mod duplicates;

use std::{ops::Range, time::Instant};

use self::duplicates::DuplicateWindow;
use crate::{
    SpaceId,
    config::TransportConfig,
    crypto::Keys,
    range_set::RangeSet,
    streams::assembler::{Assembler, AssemblerLimits},
};

/// The state of one packet number space.
pub(super) struct PacketSpace {
    /// Keys of both directions, once TLS has produced them.
    pub(super) keys: Option<Keys>,
    /// Set once the keys were discarded (RFC 9001 §4.9); never set again.
    pub(super) discarded: bool,
    /// The next packet number to send.
    pub(super) next_pn: u64,
    /// The largest packet number processed, for packet number recovery.
    pub(super) largest_received: Option<u64>,
    /// When the largest packet number was received, for the ACK delay.
    pub(super) largest_received_at: Option<Instant>,
    /// Packet numbers received, for ACK frames; bounded, it forgets the
    /// oldest, so duplicate detection does not rely on it.
    pub(super) received: RangeSet,
    /// Packet numbers processed, for duplicate detection (RFC 9000 §12.3).
    pub(super) processed: DuplicateWindow,
    /// Ack-eliciting packets received since the last ACK we sent.
    pub(super) unacked_eliciting: u32,
    /// Whether an ACK frame should go out at the next opportunity.
    pub(super) ack_pending: bool,
    /// When an ACK must go out at the latest (the Data space delays ACKs).
    pub(super) ack_deadline: Option<Instant>,
    /// Probe packets the loss detection timer asked for (RFC 9002 §6.2.4).
    pub(super) probes: u8,
    /// An ack-eliciting packet owed outside loss detection: a server's
    /// answer while it waits for a client's lost Finished
    /// (`Connection::nudge_handshake`), or the answer, with our ACK state,
    /// to a peer's PING-only 1-RTT packet (`Connection::answer_probe`). Like a probe it is not held
    /// back by congestion control.
    pub(super) ping_pending: bool,
    /// Outgoing handshake bytes.
    pub(super) crypto_send: CryptoSend,
    /// Incoming handshake bytes, reassembled in order.
    pub(super) crypto_recv: Assembler,
}

impl PacketSpace {
    pub(super) fn new(config: &TransportConfig) -> Self {
        Self {
            keys: None,
            discarded: false,
            next_pn: 0,
            largest_received: None,
            largest_received_at: None,
            received: RangeSet::with_max_ranges(config.max_ack_ranges),
            processed: DuplicateWindow::new(config.duplicate_window),
            unacked_eliciting: 0,
            ack_pending: false,
            ack_deadline: None,
            probes: 0,
            ping_pending: false,
            crypto_send: CryptoSend::default(),
            crypto_recv: Assembler::new(AssemblerLimits {
                max_buffered: config.crypto_buffer_size,
                max_chunks: config.crypto_max_fragments,
            }),
        }
    }

    /// Drops keys and buffers; the space takes no part in the connection
    /// any more.
    pub(super) fn discard(&mut self, config: &TransportConfig) {
        *self = Self {
            discarded: true,
            next_pn: self.next_pn,
            ..Self::new(config)
        };
    }

    /// Whether there is anything to send in this space right now.
    pub(super) fn wants_to_send(&self, now: Instant) -> bool {
        self.keys.is_some()
            && (self.ack_pending
                || self.ack_deadline.is_some_and(|deadline| deadline <= now)
                || self.probes > 0
                || self.ping_pending
                || self.crypto_send.has_pending())
    }
}

/// The order of spaces in a coalesced datagram and in loops over spaces.
pub(super) const SPACES: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

/// Index of a space in the connection's array of spaces.
pub(super) const fn index(space: SpaceId) -> usize {
    match space {
        SpaceId::Initial => 0,
        SpaceId::Handshake => 1,
        SpaceId::Data => 2,
    }
}

/// The sending half of a CRYPTO stream: every byte TLS wrote, kept until
/// acknowledged so that it can be sent again without TLS (which a server
/// frees after the handshake).
#[derive(Debug, Default)]
pub(super) struct CryptoSend {
    /// Bytes from `base` on; the acknowledged prefix is released.
    data: Vec<u8>,
    /// Stream offset of `data[0]`.
    base: u64,
    /// Offset of the first byte never sent.
    unsent: u64,
    /// Sent ranges to send again (lost, or re-queued by a probe).
    retransmit: RangeSet,
    /// Acknowledged ranges above `base`.
    acked: RangeSet,
}

impl CryptoSend {
    /// Appends bytes TLS produced.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }

    /// The stream offset just past the last byte written.
    pub(super) fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }

    /// Bytes held for sending and retransmission.
    pub(super) fn held(&self) -> usize {
        self.data.capacity()
    }

    /// Whether every byte written has been sent at least once.
    pub(super) fn all_sent(&self) -> bool {
        self.unsent == self.end()
    }

    /// Whether some bytes wait to be sent (new or again).
    pub(super) fn has_pending(&self) -> bool {
        !self.retransmit.is_empty() || self.unsent < self.end()
    }

    /// Takes the next range to send, at most `max_len` bytes: ranges to
    /// resend first, then new bytes. Returns the offset and the bytes.
    pub(super) fn next_chunk(&mut self, max_len: usize) -> Option<(u64, &[u8])> {
        if max_len == 0 {
            return None;
        }
        let max = max_len as u64;
        let range = if let Some(lost) = self.retransmit.pop_min() {
            let end = lost.end.min(lost.start + max);
            if end < lost.end {
                self.retransmit.insert(end..lost.end);
            }
            lost.start..end
        } else if self.unsent < self.end() {
            let start = self.unsent;
            let end = self.end().min(start + max);
            self.unsent = end;
            start..end
        } else {
            return None;
        };
        let from = usize::try_from(range.start - self.base).ok()?;
        let to = usize::try_from(range.end - self.base).ok()?;
        Some((range.start, self.data.get(from..to)?))
    }

    /// Records an acknowledged range and releases the acknowledged prefix.
    ///
    /// The same bytes can be acknowledged twice, once per packet that carried
    /// them (a retransmission acknowledged before the original): whatever
    /// lies below `base` was released already and is ignored.
    pub(super) fn on_ack(&mut self, range: Range<u64>) {
        let start = range.start.max(self.base);
        if start >= range.end {
            return;
        }
        self.acked.insert(start..range.end);
        self.retransmit.remove(start..range.end);
        loop {
            let first = self.acked.iter().next();
            let Some(first) = first else { break };
            if first.start > self.base {
                break;
            }
            let release = usize::try_from(first.end.saturating_sub(self.base))
                .unwrap_or(usize::MAX)
                .min(self.data.len());
            self.data.drain(..release);
            self.base = self.base.max(first.end);
            self.acked.pop_min();
        }
        if self.data.is_empty() && self.retransmit.is_empty() {
            // Every byte written was acknowledged (for a server, once its
            // session tickets were): the buffers go, rather than be held
            // for the rest of the connection.
            self.data = Vec::new();
            self.retransmit = RangeSet::new();
            self.acked = RangeSet::new();
        }
    }

    /// Queues a lost range to be sent again, less what was acknowledged.
    pub(super) fn on_lost(&mut self, range: Range<u64>) {
        let start = range.start.max(self.base);
        if start >= range.end {
            return;
        }
        let mut lost = RangeSet::new();
        lost.insert(start..range.end);
        lost.subtract(&self.acked);
        for r in lost.iter() {
            self.retransmit.insert(r);
        }
    }

    /// Queues every sent, unacknowledged byte to be sent again, as a probe
    /// that carries data does (RFC 9002 §6.2.4).
    pub(super) fn requeue_unacked(&mut self) {
        if self.base < self.unsent {
            self.on_lost(self.base..self.unsent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CryptoSend;

    fn sent(data: usize) -> CryptoSend {
        let mut send = CryptoSend::default();
        send.write(&vec![7; data]);
        while send.next_chunk(1000).is_some() {}
        send
    }

    #[test]
    fn a_late_ack_of_released_bytes_keeps_the_rest() {
        let mut send = sent(5000);
        send.write(&[9; 1500]);
        // A retransmission of 0..1148 is acknowledged first, then the
        // originals, the oldest last: by then 0..978 is long released.
        send.on_ack(0..1148);
        send.on_ack(2131..3284);
        send.on_ack(978..2131);
        send.on_ack(0..978);
        assert_eq!(send.base, 3284);
        assert_eq!(send.end(), 6500);
        assert!(send.has_pending(), "the 1,500 unsent bytes are still there");
        let (offset, bytes) = send.next_chunk(2000).expect("the unsent tail");
        assert_eq!((offset, bytes.len()), (5000, 1500));
    }

    #[test]
    fn acks_in_any_order_release_exactly_the_acknowledged_prefix() {
        let mut send = sent(4000);
        for range in [
            3000..4000,
            1000..2000,
            0..500,
            500..1000,
            0..1000,
            2000..3000,
        ] {
            send.on_ack(range);
        }
        assert_eq!(send.base, 4000);
        assert_eq!(send.end(), 4000);
        assert!(!send.has_pending());
    }

    #[test]
    fn a_fully_acknowledged_stream_holds_no_buffer_and_goes_on() {
        let mut send = sent(3000);
        send.on_ack(1000..3000);
        assert!(send.held() >= 2000, "bytes 1000.. wait for 0..1000");
        send.on_ack(0..1000);
        assert_eq!(send.held(), 0);
        send.write(&[5; 100]);
        let (offset, bytes) = send.next_chunk(1000).expect("the new bytes");
        assert_eq!((offset, bytes), (3000, &[5; 100][..]));
        send.on_ack(3000..3100);
        assert_eq!((send.base, send.held()), (3100, 0));
    }
}
