//! CRYPTO (RFC 9000 §19.6) and NEW_TOKEN (RFC 9000 §19.7) frames.

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::{
    frame::{
        FrameDecodeError, FrameType,
        reader::Reader,
        stream::{data_end, fit_with_length, len_varint, room_below_max},
    },
    varint::VarInt,
};

/// A CRYPTO frame (RFC 9000 §19.6): a slice of the TLS handshake stream of
/// one encryption level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The offset of the first byte of `data` in the level's crypto stream.
    pub offset: VarInt,
    /// The data, a zero-copy slice of the packet payload when decoded.
    pub data: Bytes,
}

impl Crypto {
    /// Bytes the header (type, offset and length) of a CRYPTO frame with
    /// `len` data bytes at `offset` takes.
    #[must_use]
    pub fn header_len(offset: VarInt, len: usize) -> usize {
        1 + offset.size() + len_varint(len).size()
    }

    /// Writes the header of a CRYPTO frame with `len` data bytes at
    /// `offset`; the caller then writes the data.
    ///
    /// # Panics
    /// When `buf` has less than [`header_len`](Self::header_len) bytes of room.
    pub fn encode_header<B: BufMut>(offset: VarInt, len: usize, buf: &mut B) {
        FrameType::CRYPTO.to_varint().encode(buf);
        offset.encode(buf);
        len_varint(len).encode(buf);
    }

    /// The most data bytes a CRYPTO frame at `offset` can carry in `budget`
    /// bytes; `None` when not even an empty frame fits.
    #[must_use]
    pub fn max_data_len(offset: VarInt, budget: usize) -> Option<usize> {
        let avail = budget.checked_sub(1 + offset.size())?;
        Some(fit_with_length(avail)?.min(room_below_max(offset)))
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.offset, self.data.len()) + self.data.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(data_end(self.offset, self.data.len()).is_some());
        Self::encode_header(self.offset, self.data.len(), buf);
        buf.put_slice(&self.data);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let offset = r.var()?;
        let data = r.prefixed_bytes()?;
        // RFC 9000 §19.6: data ending beyond 2^62-1 is FRAME_ENCODING_ERROR or
        // CRYPTO_BUFFER_EXCEEDED; we pick FRAME_ENCODING_ERROR, as for STREAM
        // (§19.8), and leave CRYPTO_BUFFER_EXCEEDED to the crypto stream's
        // buffer limit (§7.5).
        if data_end(offset, data.len()).is_none() {
            return Err(r.encoding_error("crypto data ends beyond 2^62-1"));
        }
        Ok(Self { offset, data })
    }
}

/// A NEW_TOKEN frame (RFC 9000 §19.7): a token for a future connection's
/// Initial packets. Its `Debug` shows only the token's length.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The opaque, non-empty token.
    pub token: Bytes,
}

impl NewToken {
    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + len_varint(self.token.len()).size() + self.token.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(!self.token.is_empty(), "NEW_TOKEN with an empty token");
        FrameType::NEW_TOKEN.to_varint().encode(buf);
        len_varint(self.token.len()).encode(buf);
        buf.put_slice(&self.token);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let token = r.prefixed_bytes()?;
        // RFC 9000 §19.7: an empty token is FRAME_ENCODING_ERROR.
        if token.is_empty() {
            return Err(r.encoding_error("empty token"));
        }
        Ok(Self { token })
    }
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are credentials for address validation; never log them.
        f.debug_struct("NewToken")
            .field("token_len", &self.token.len())
            .finish_non_exhaustive()
    }
}
