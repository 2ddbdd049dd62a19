//! Splitting a datagram into its coalesced packets (RFC 9000 §12.2).

use std::iter::FusedIterator;

use bytes::BytesMut;

use crate::ConnectionId;

use super::{DecodeOptions, PacketDecodeError, PartialDecode};

#[cfg(test)]
mod tests;

/// The packets of one datagram, in order, each split off without copying.
///
/// A long header packet with a Length ends where Length says; a short
/// header, Retry or Version Negotiation packet takes the rest. When a header
/// fails to parse, the iterator yields that error and stops, since the end
/// of the packet, and so the start of the next, is unknown; the unparsed
/// bytes stay readable through [`remainder`](Self::remainder).
#[derive(Debug)]
pub struct CoalescedPackets {
    rest: BytesMut,
    options: DecodeOptions,
    first_dcid: Option<ConnectionId>,
    failed: bool,
}

impl CoalescedPackets {
    /// Iterates over the packets of `datagram`.
    #[must_use]
    pub const fn new(datagram: BytesMut, options: DecodeOptions) -> Self {
        Self {
            rest: datagram,
            options,
            first_dcid: None,
            failed: false,
        }
    }

    /// The bytes not yet split off: after an error, the packet that failed
    /// and everything behind it.
    #[must_use]
    pub fn remainder(&self) -> &[u8] {
        &self.rest
    }

    /// Gives back the bytes not yet split off.
    #[must_use]
    pub fn into_remainder(self) -> BytesMut {
        self.rest
    }
}

impl Iterator for CoalescedPackets {
    type Item = Result<PartialDecode, PacketDecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let packet = match PartialDecode::split_from(&mut self.rest, self.options) {
            Ok(packet) => packet,
            Err(error) => {
                self.failed = true;
                return Some(Err(error));
            }
        };
        match self.first_dcid {
            None => self.first_dcid = Some(*packet.dcid()),
            // RFC 9000 §12.2: a receiver ignores coalesced packets whose DCID
            // differs from the first packet's; their framing is still sound.
            Some(first) if first != *packet.dcid() => {
                return Some(Err(PacketDecodeError::DestinationMismatch));
            }
            Some(_) => {}
        }
        Some(Ok(packet))
    }
}

impl FusedIterator for CoalescedPackets {}
