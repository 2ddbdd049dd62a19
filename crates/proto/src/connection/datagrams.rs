//! Unreliable datagrams (RFC 9221): bounded queues both ways, frames in and
//! out.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{Connection, Event, SendDatagramError};
use crate::{TransportError, frame::Datagram};

/// Datagrams queued in one direction, oldest first, bounded by count and
/// (for sending) by bytes.
#[derive(Debug, Default)]
pub(super) struct DatagramQueue {
    items: VecDeque<Bytes>,
    /// Payload bytes of `items`.
    bytes: usize,
    /// `try_send_datagram` refused a datagram since the queue last shrank:
    /// `DatagramsUnblocked` is due when one is sent.
    blocked: bool,
    /// `DatagramReceived` was raised and the application has not called
    /// `recv_datagram` since: arrivals until then raise no other.
    signalled: bool,
}

impl DatagramQueue {
    /// Whether `len` more bytes fit without dropping anything.
    fn fits(&self, len: usize, count: usize, bytes: usize) -> bool {
        self.items.len() < count.max(1) && self.bytes.saturating_add(len) <= bytes
    }

    /// Queues `data`, dropping the oldest until it fits within `count`
    /// datagrams and `bytes` bytes; returns how many were dropped.
    fn push(&mut self, data: Bytes, count: usize, bytes: usize) -> u64 {
        let mut dropped = 0;
        while !self.items.is_empty() && !self.fits(data.len(), count, bytes) {
            self.pop();
            dropped += 1;
        }
        self.bytes += data.len();
        self.items.push_back(data);
        dropped
    }

    /// The memory the queue holds: payload bytes and the handle of each
    /// datagram (a DATAGRAM frame's data is a slice of its packet).
    pub(super) fn memory(&self) -> usize {
        self.bytes + self.items.len() * std::mem::size_of::<Bytes>()
    }

    /// Takes the oldest datagram.
    fn pop(&mut self) -> Option<Bytes> {
        let data = self.items.pop_front()?;
        self.bytes -= data.len();
        Some(data)
    }
}

impl Connection {
    /// The largest datagram [`send_datagram`](Self::send_datagram) accepts
    /// now, or `None` when the peer does not accept datagrams: what fits in
    /// one packet under the peer's max_datagram_frame_size and the path
    /// MTU, and at most
    /// [`datagram_send_buffer_size`](crate::config::TransportConfig::datagram_send_buffer_size).
    #[must_use]
    pub fn max_datagram_size(&self) -> Option<usize> {
        let peer = self
            .peer_params
            .as_ref()?
            .max_datagram_frame_size?
            .into_inner();
        if peer == 0 {
            return None;
        }
        let peer = usize::try_from(peer).unwrap_or(usize::MAX);
        // A 1-RTT packet: header (1 + CID + up to 4 for the packet number),
        // the AEAD tag, and the frame's type and length.
        let overhead = 1 + self.remote_cid.len() + 4 + 16;
        let path = self.max_datagram_payload().saturating_sub(overhead);
        let frame_limit = peer.min(path);
        Datagram::max_data_len(frame_limit, true)
            .map(|max| max.min(self.config.datagram_send_buffer_size))
    }

    /// Bytes of datagrams that can still be queued before
    /// [`send_datagram`](Self::send_datagram) would drop older ones (and
    /// [`try_send_datagram`](Self::try_send_datagram) would refuse): what
    /// is left of
    /// [`datagram_send_buffer_size`](crate::config::TransportConfig::datagram_send_buffer_size),
    /// or 0 while the queue holds
    /// [`datagram_send_queue`](crate::config::TransportConfig::datagram_send_queue)
    /// datagrams. Also 0 when datagrams cannot be sent at all: the peer does
    /// not accept them (or has not said yet) or the connection is closed.
    #[must_use]
    pub fn datagram_send_buffer_space(&self) -> usize {
        if self.is_closed() || self.max_datagram_size().is_none() {
            return 0;
        }
        let queue = &self.datagrams_out;
        if queue.items.len() >= self.config.datagram_send_queue.max(1) {
            return 0;
        }
        self.config
            .datagram_send_buffer_size
            .saturating_sub(queue.bytes)
    }

    /// Queues a datagram for sending (RFC 9221). It is sent at most once and
    /// never retransmitted. When the queue is full, by count
    /// ([`datagram_send_queue`](crate::config::TransportConfig::datagram_send_queue))
    /// or by bytes
    /// ([`datagram_send_buffer_size`](crate::config::TransportConfig::datagram_send_buffer_size)),
    /// the oldest queued datagrams are dropped to make room, and counted in
    /// [`ConnectionStats::datagrams_dropped`](super::ConnectionStats::datagrams_dropped);
    /// [`try_send_datagram`](Self::try_send_datagram) refuses instead.
    ///
    /// # Errors
    /// [`SendDatagramError`] when the peer does not accept datagrams, the
    /// datagram is too large, or the connection is closed.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        self.check_datagram(&data)?;
        let dropped = self.datagrams_out.push(
            data,
            self.config.datagram_send_queue,
            self.config.datagram_send_buffer_size,
        );
        self.stats.datagrams_dropped += dropped;
        Ok(())
    }

    /// Queues a datagram for sending (RFC 9221) only if it fits without
    /// dropping a queued one; see
    /// [`datagram_send_buffer_space`](Self::datagram_send_buffer_space).
    ///
    /// # Errors
    /// [`SendDatagramError::Blocked`] when the queue is full: the datagram
    /// was not queued, and [`Event::DatagramsUnblocked`] follows (once)
    /// when queued datagrams have been sent. Otherwise as
    /// [`send_datagram`](Self::send_datagram).
    pub fn try_send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        self.check_datagram(&data)?;
        let queue = &mut self.datagrams_out;
        if !queue.fits(
            data.len(),
            self.config.datagram_send_queue,
            self.config.datagram_send_buffer_size,
        ) {
            queue.blocked = true;
            return Err(SendDatagramError::Blocked);
        }
        queue.bytes += data.len();
        queue.items.push_back(data);
        Ok(())
    }

    /// Whether a datagram may be queued at all.
    fn check_datagram(&self, data: &Bytes) -> Result<(), SendDatagramError> {
        if self.is_closed() {
            return Err(SendDatagramError::ConnectionClosed);
        }
        let max = self
            .max_datagram_size()
            .ok_or(SendDatagramError::UnsupportedByPeer)?;
        if data.len() > max {
            return Err(SendDatagramError::TooLarge { max });
        }
        Ok(())
    }

    /// The oldest received datagram, if any. A call re-arms
    /// [`Event::DatagramReceived`]: the next arrival raises it again.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.datagrams_in.signalled = false;
        self.datagrams_in.pop()
    }

    /// Handles a received DATAGRAM frame.
    pub(super) fn on_datagram_frame(&mut self, frame: Datagram) -> Result<(), TransportError> {
        // RFC 9221 §3: a DATAGRAM frame we did not offer to accept, or one
        // larger than we offered, is PROTOCOL_VIOLATION.
        let Some(limit) = self.config.max_datagram_frame_size else {
            return Err(TransportError::protocol_violation(
                "datagram frames not negotiated",
            ));
        };
        if frame.encoded_len() > usize::from(limit) {
            return Err(TransportError::protocol_violation(
                "datagram frame above our limit",
            ));
        }
        let dropped =
            self.datagrams_in
                .push(frame.data, self.config.datagram_receive_queue, usize::MAX);
        self.stats.datagrams_dropped += dropped;
        // One event until the application reads: a packet of hundreds of
        // empty DATAGRAM frames must not queue hundreds of events.
        if !self.datagrams_in.signalled {
            self.datagrams_in.signalled = true;
            self.events.push_back(Event::DatagramReceived);
        }
        Ok(())
    }

    /// Writes queued datagrams that fit before `limit`; returns whether any
    /// was written. Datagrams that do not fit wait for the next packet.
    pub(super) fn write_datagrams(&mut self, buf: &mut Vec<u8>, limit: usize) -> bool {
        let mut wrote = false;
        while let Some(data) = self.datagrams_out.items.front() {
            let frame_len = Datagram::header_len(Some(data.len())) + data.len();
            if buf.len() + frame_len > limit {
                break;
            }
            Datagram::encode_header(Some(data.len()), buf);
            buf.extend_from_slice(data);
            self.datagrams_out.pop();
            wrote = true;
        }
        if wrote && std::mem::take(&mut self.datagrams_out.blocked) {
            self.events.push_back(Event::DatagramsUnblocked);
        }
        wrote
    }

    /// Whether datagrams wait to be sent.
    pub(super) fn has_datagrams(&self) -> bool {
        !self.datagrams_out.items.is_empty()
    }
}
