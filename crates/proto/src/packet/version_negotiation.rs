//! Version Negotiation packets (RFC 9000 §17.2.1, RFC 8999 §6).

use std::{iter::FusedIterator, slice::ChunksExact};

use bytes::BufMut;

use crate::coding::BufferTooShort;

use super::{InvariantHeader, bits};

#[cfg(test)]
mod tests;

/// The versions listed in a Version Negotiation packet, read in place four
/// bytes at a time (no allocation).
#[derive(Debug, Clone)]
pub struct SupportedVersions<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl<'a> SupportedVersions<'a> {
    /// Iterates over a list of big-endian 32-bit versions; a trailing
    /// partial version is ignored (the parser rejects it first).
    pub(super) fn new(list: &'a [u8]) -> Self {
        Self {
            chunks: list.chunks_exact(4),
        }
    }
}

impl Iterator for SupportedVersions<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let chunk = self.chunks.next()?;
        chunk.try_into().ok().map(u32::from_be_bytes)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for SupportedVersions<'_> {}

impl FusedIterator for SupportedVersions<'_> {}

/// A connection ID longer than the 255 bytes its one-byte length can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection id of {0} bytes is longer than the 255 a long header can carry")]
pub struct InvariantCidTooLong(pub usize);

/// A Version Negotiation packet to send (RFC 9000 §17.2.1).
///
/// Connection IDs are raw bytes of up to 255, so that a server can answer
/// a client of any version (RFC 8999 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionNegotiationPacket<'a> {
    dcid: &'a [u8],
    scid: &'a [u8],
    versions: &'a [u32],
    first: u8,
}

impl<'a> VersionNegotiationPacket<'a> {
    /// A packet listing `versions`, with the first byte's low six bits taken
    /// from `random` (the caller's RNG).
    ///
    /// # Errors
    /// [`InvariantCidTooLong`] when a connection ID exceeds 255 bytes.
    pub fn new(
        dcid: &'a [u8],
        scid: &'a [u8],
        versions: &'a [u32],
        random: u8,
    ) -> Result<Self, InvariantCidTooLong> {
        for cid in [dcid, scid] {
            if cid.len() > usize::from(u8::MAX) {
                return Err(InvariantCidTooLong(cid.len()));
            }
        }
        // RFC 9000 §17.2.1: the bits after the form bit are arbitrary, but
        // 0x40 should be set so the packet demultiplexes as QUIC.
        let first = bits::FORM | bits::FIXED | (random & 0x3f);
        Ok(Self {
            dcid,
            scid,
            versions,
            first,
        })
    }

    /// The answer to a client's long header `received`: its connection IDs
    /// swapped (RFC 9000 §17.2.1) and `versions` listed. `None` for a
    /// short header, which is never answered with Version Negotiation.
    #[must_use]
    pub fn answering(
        received: &InvariantHeader<'a>,
        versions: &'a [u32],
        random: u8,
    ) -> Option<Self> {
        // RFC 9000 §17.2.1: the DCID echoes the client's SCID, the SCID its DCID.
        Self::new(received.scid()?, received.dcid(), versions, random).ok()
    }

    /// Bytes the packet takes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + 4 + 1 + self.dcid.len() + 1 + self.scid.len() + 4 * self.versions.len()
    }

    /// Writes the packet.
    ///
    /// # Panics
    /// When `buf` has less room than [`encoded_len`](Self::encoded_len).
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_u8(self.first);
        // RFC 9000 §17.2.1: version 0 identifies Version Negotiation.
        buf.put_u32(0);
        for cid in [self.dcid, self.scid] {
            // `new` bounded both lengths by 255.
            buf.put_u8(u8::try_from(cid.len()).unwrap_or(u8::MAX));
            buf.put_slice(cid);
        }
        for &version in self.versions {
            buf.put_u32(version);
        }
    }

    /// Writes the packet to the front of `out`, returning its length.
    ///
    /// # Errors
    /// [`BufferTooShort`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len); nothing is written then.
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, BufferTooShort> {
        let needed = self.encoded_len();
        let mut room = BufferTooShort::prefix(out, needed)?;
        self.encode(&mut room);
        Ok(needed)
    }
}
