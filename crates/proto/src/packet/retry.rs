//! Retry packets (RFC 9000 §17.2.5).

use std::fmt;

use bytes::BufMut;

use crate::{ConnectionId, coding::BufferTooShort};

use super::{LongType, RETRY_INTEGRITY_TAG_LEN, Version, bits, encode::long_prefix};

/// A Retry packet's header and token, to send. The caller appends the
/// [`RETRY_INTEGRITY_TAG_LEN`]-byte integrity tag, which the crypto layer
/// computes over these bytes (RFC 9001 §5.8). `Debug` shows the token's
/// length, never its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RetryHeader<'a> {
    /// The version (decides the type bits).
    pub version: Version,
    /// The client's source connection ID.
    pub dcid: ConnectionId,
    /// The connection ID the server chose for itself.
    pub scid: ConnectionId,
    /// The token; RFC 9000 §17.2.5.2 has a client drop a Retry whose token
    /// is empty, so it must not be.
    pub token: &'a [u8],
    /// The four unused first-byte bits, from the caller's RNG (only the low
    /// four bits are used).
    pub unused_bits: u8,
    /// Sends the fixed bit as 0 (RFC 9287), only to a peer that advertised
    /// grease_quic_bit.
    pub grease_fixed_bit: bool,
}

impl fmt::Debug for RetryHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryHeader")
            .field("version", &self.version)
            .field("dcid", &self.dcid)
            .field("scid", &self.scid)
            .field("token_len", &self.token.len())
            .field("unused_bits", &self.unused_bits)
            .field("grease_fixed_bit", &self.grease_fixed_bit)
            .finish()
    }
}

impl RetryHeader<'_> {
    /// Bytes the header and token take, without the integrity tag.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + 4 + 1 + self.dcid.len() + 1 + self.scid.len() + self.token.len()
    }

    /// Bytes the whole packet takes, with the integrity tag.
    #[must_use]
    pub fn packet_len(&self) -> usize {
        self.encoded_len() + RETRY_INTEGRITY_TAG_LEN
    }

    /// Writes the header and token; the caller appends the integrity tag.
    ///
    /// # Panics
    /// When `buf` has less room than [`encoded_len`](Self::encoded_len).
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        // RFC 9000 §17.2.5: the server sets the unused bits to anything.
        let first = long_prefix(LongType::Retry, self.version, self.grease_fixed_bit)
            | (self.unused_bits & bits::RETRY_UNUSED);
        buf.put_u8(first);
        buf.put_u32(self.version.to_u32());
        self.dcid.encode_with_len(buf);
        self.scid.encode_with_len(buf);
        buf.put_slice(self.token);
    }

    /// Writes the header and token to the front of `out`, returning their
    /// length.
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
