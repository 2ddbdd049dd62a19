//! Unreliable datagrams (RFC 9221): bounded queues both ways, frames in and
//! out.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{Connection, Event, SendDatagramError};
use crate::{TransportError, frame::Datagram};

/// Datagrams queued in one direction, oldest first, bounded.
#[derive(Debug, Default)]
pub(super) struct DatagramQueue {
    items: VecDeque<Bytes>,
}

impl DatagramQueue {
    /// Queues `data`; returns whether the oldest had to be dropped.
    fn push(&mut self, data: Bytes, limit: usize) -> bool {
        let mut dropped = false;
        while self.items.len() >= limit.max(1) {
            self.items.pop_front();
            dropped = true;
        }
        self.items.push_back(data);
        dropped
    }
}

impl Connection {
    /// The largest datagram [`send_datagram`](Self::send_datagram) accepts
    /// now, or `None` when the peer does not accept datagrams.
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
    }

    /// Queues a datagram for sending (RFC 9221). It is sent at most once and
    /// never retransmitted; when the queue is full the oldest queued
    /// datagram is dropped.
    ///
    /// # Errors
    /// [`SendDatagramError`] when the peer does not accept datagrams, the
    /// datagram is too large, or the connection is closed.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        if self.is_closed() {
            return Err(SendDatagramError::ConnectionClosed);
        }
        let max = self
            .max_datagram_size()
            .ok_or(SendDatagramError::UnsupportedByPeer)?;
        if data.len() > max {
            return Err(SendDatagramError::TooLarge { max });
        }
        if self
            .datagrams_out
            .push(data, self.config.datagram_send_queue)
        {
            self.stats.datagrams_dropped += 1;
        }
        Ok(())
    }

    /// The oldest received datagram, if any.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.datagrams_in.items.pop_front()
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
        if self
            .datagrams_in
            .push(frame.data, self.config.datagram_receive_queue)
        {
            self.stats.datagrams_dropped += 1;
        }
        self.events.push_back(Event::DatagramReceived);
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
            self.datagrams_out.items.pop_front();
            wrote = true;
        }
        wrote
    }

    /// Whether datagrams wait to be sent.
    pub(super) fn has_datagrams(&self) -> bool {
        !self.datagrams_out.items.is_empty()
    }
}
