//! DATAGRAM frames (RFC 9221 §4).

use bytes::{BufMut, Bytes};

use crate::frame::{
    FrameDecodeError, FrameType,
    reader::Reader,
    stream::{fit_with_length, len_varint},
};

/// A DATAGRAM frame (RFC 9221 §4): one unreliable application datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Whether the frame carries a Length field (type 0x31). Without one
    /// (type 0x30) the data runs to the end of the packet, so such a frame
    /// must be the packet's last.
    pub has_length: bool,
    /// The datagram, a zero-copy slice of the packet payload when decoded.
    pub data: Bytes,
}

impl Datagram {
    /// Bytes the header of a DATAGRAM frame takes: the type, plus a Length
    /// field holding `len` when `len` is `Some`.
    #[must_use]
    pub fn header_len(len: Option<usize>) -> usize {
        1 + len.map_or(0, |len| len_varint(len).size())
    }

    /// Writes the header of a DATAGRAM frame (type 0x31 with a Length field
    /// when `len` is `Some`, else 0x30); the caller then writes the data.
    ///
    /// # Panics
    /// When `buf` has less than [`header_len`](Self::header_len) bytes of room.
    pub fn encode_header<B: BufMut>(len: Option<usize>, buf: &mut B) {
        match len {
            Some(len) => {
                FrameType::DATAGRAM_WITH_LEN.to_varint().encode(buf);
                len_varint(len).encode(buf);
            }
            None => FrameType::DATAGRAM.to_varint().encode(buf),
        }
    }

    /// The largest datagram a DATAGRAM frame can carry in `budget` bytes,
    /// with or without a Length field; `None` when not even an empty one fits.
    #[must_use]
    pub fn max_data_len(budget: usize, with_length: bool) -> Option<usize> {
        let avail = budget.checked_sub(1)?;
        if with_length {
            fit_with_length(avail)
        } else {
            Some(avail)
        }
    }

    /// The frame type: 0x31 with a Length field, 0x30 without.
    #[must_use]
    pub const fn ty(&self) -> FrameType {
        if self.has_length {
            FrameType::DATAGRAM_WITH_LEN
        } else {
            FrameType::DATAGRAM
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.has_length.then_some(self.data.len())) + self.data.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        Self::encode_header(self.has_length.then_some(self.data.len()), buf);
        buf.put_slice(&self.data);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let has_length = r.ty() == FrameType::DATAGRAM_WITH_LEN;
        // RFC 9221 §4: type 0x30 has no Length field and runs to the packet's end.
        let data = if has_length {
            r.prefixed_bytes()?
        } else {
            r.rest()
        };
        Ok(Self { has_length, data })
    }
}
