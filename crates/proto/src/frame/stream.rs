//! STREAM frames (RFC 9000 §19.8) and stream IDs (RFC 9000 §2.1).

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::{
    Side,
    frame::{FrameDecodeError, FrameType, reader::Reader},
    varint::VarInt,
};

/// A stream ID (RFC 9000 §2.1).
///
/// A newtype over [`VarInt`] so that stream IDs, offsets and limits cannot
/// be mixed up; the two low bits give the initiator and the direction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(VarInt);

/// Whether a stream carries data both ways or one way (RFC 9000 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Bidirectional.
    Bi,
    /// Unidirectional: only the initiator sends.
    Uni,
}

impl StreamId {
    /// Wraps a stream ID read from the wire or chosen by the stream manager.
    #[must_use]
    pub const fn new(value: VarInt) -> Self {
        Self(value)
    }

    /// The ID as a variable-length integer.
    #[must_use]
    pub const fn into_inner(self) -> VarInt {
        self.0
    }

    /// Which side opened the stream.
    #[must_use]
    pub const fn initiator(self) -> Side {
        // RFC 9000 §2.1: bit 0x01 is clear for client-initiated streams.
        if self.0.into_inner() & 0x1 == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// Whether the stream is bidirectional or unidirectional.
    #[must_use]
    pub const fn dir(self) -> Dir {
        // RFC 9000 §2.1: bit 0x02 is set for unidirectional streams.
        if self.0.into_inner() & 0x2 == 0 {
            Dir::Bi
        } else {
            Dir::Uni
        }
    }

    /// The stream's index among those of the same initiator and direction.
    #[must_use]
    pub const fn index(self) -> u64 {
        self.0.into_inner() >> 2
    }
}

impl From<VarInt> for StreamId {
    fn from(value: VarInt) -> Self {
        Self(value)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// RFC 9000 §19.8: the OFF bit of a STREAM frame type.
const OFF_BIT: u64 = 0x04;
/// RFC 9000 §19.8: the LEN bit of a STREAM frame type.
const LEN_BIT: u64 = 0x02;
/// RFC 9000 §19.8: the FIN bit of a STREAM frame type.
const FIN_BIT: u64 = 0x01;

/// A STREAM frame (RFC 9000 §19.8): a slice of a stream's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The stream the data belongs to.
    pub id: StreamId,
    /// The stream offset of the first byte of `data`; written only when not 0.
    pub offset: VarInt,
    /// Whether this frame ends the stream.
    pub fin: bool,
    /// Whether the frame carries a Length field. Without one the data runs
    /// to the end of the packet, so such a frame must be the packet's last.
    pub has_length: bool,
    /// The data, a zero-copy slice of the packet payload when decoded.
    pub data: Bytes,
}

/// The header of a STREAM frame: everything before the data, so that a
/// sender can write it and then copy the data straight from its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    /// The stream the data belongs to.
    pub id: StreamId,
    /// The stream offset of the first data byte; written only when not 0.
    pub offset: VarInt,
    /// Whether the frame ends the stream.
    pub fin: bool,
    /// The Length field, or `None` for a frame that runs to the end of the
    /// packet.
    pub len: Option<usize>,
}

impl StreamHeader {
    /// The frame type, with the OFF, LEN and FIN bits this header needs.
    #[must_use]
    pub fn ty(&self) -> FrameType {
        let mut bits = FrameType::STREAM.into_inner();
        if self.offset.into_inner() != 0 {
            bits |= OFF_BIT;
        }
        if self.len.is_some() {
            bits |= LEN_BIT;
        }
        if self.fin {
            bits |= FIN_BIT;
        }
        FrameType::from_wire(VarInt::from_u64_bounded(bits))
    }

    /// Bytes the header takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        // The eight STREAM types all fit in one byte.
        let offset = match self.offset.into_inner() {
            0 => 0,
            _ => self.offset.size(),
        };
        1 + self.id.0.size() + offset + self.len.map_or(0, |len| len_varint(len).size())
    }

    /// Writes the header; the caller then writes exactly `len` data bytes
    /// (or the rest of the packet when `len` is `None`).
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.ty().to_varint().encode(buf);
        self.id.0.encode(buf);
        if self.offset.into_inner() != 0 {
            self.offset.encode(buf);
        }
        if let Some(len) = self.len {
            len_varint(len).encode(buf);
        }
    }
}

impl Stream {
    /// The frame's header.
    #[must_use]
    pub fn header(&self) -> StreamHeader {
        StreamHeader {
            id: self.id,
            offset: self.offset,
            fin: self.fin,
            len: self.has_length.then_some(self.data.len()),
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.header().encoded_len() + self.data.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(data_end(self.offset, self.data.len()).is_some());
        self.header().encode(buf);
        buf.put_slice(&self.data);
    }

    /// The most data bytes a STREAM frame for `id` at `offset` can carry in
    /// `budget` bytes, with or without a Length field; `None` when not even
    /// the header (with no data) fits.
    ///
    /// The result also keeps the frame's end within 2^62-1.
    #[must_use]
    pub fn max_data_len(
        id: StreamId,
        offset: VarInt,
        budget: usize,
        with_length: bool,
    ) -> Option<usize> {
        let header = StreamHeader {
            id,
            offset,
            fin: false,
            len: None,
        };
        let avail = budget.checked_sub(header.encoded_len())?;
        let fit = if with_length {
            fit_with_length(avail)?
        } else {
            avail
        };
        Some(fit.min(room_below_max(offset)))
    }

    /// Decodes the fields after a STREAM frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let bits = r.ty().into_inner();
        let id = StreamId(r.var()?);
        let offset = if bits & OFF_BIT == 0 {
            VarInt::default()
        } else {
            r.var()?
        };
        let has_length = bits & LEN_BIT != 0;
        // RFC 9000 §19.8: without the LEN bit the data is the rest of the packet.
        let data = if has_length {
            r.prefixed_bytes()?
        } else {
            r.rest()
        };
        // RFC 9000 §19.8: offset plus length beyond 2^62-1 is FRAME_ENCODING_ERROR.
        if data_end(offset, data.len()).is_none() {
            return Err(r.encoding_error("stream data ends beyond 2^62-1"));
        }
        Ok(Self {
            id,
            offset,
            fin: bits & FIN_BIT != 0,
            has_length,
            data,
        })
    }
}

/// The offset just past `len` bytes at `offset`, when it is at most 2^62-1.
pub(super) fn data_end(offset: VarInt, len: usize) -> Option<VarInt> {
    let len = u64::try_from(len).ok()?;
    VarInt::from_u64(offset.into_inner().checked_add(len)?).ok()
}

/// How many bytes can follow `offset` before the 2^62-1 limit.
pub(super) fn room_below_max(offset: VarInt) -> usize {
    let room = VarInt::MAX.into_inner() - offset.into_inner();
    usize::try_from(room).unwrap_or(usize::MAX)
}

/// The largest `len` for which a Length field plus `len` bytes fit in
/// `avail` bytes; `None` when not even a zero Length field fits.
pub(super) fn fit_with_length(avail: usize) -> Option<usize> {
    // For each Length field size, the most data that size can describe.
    const SIZES: [(usize, u64); 4] = [(1, 63), (2, 16_383), (4, (1 << 30) - 1), (8, (1 << 62) - 1)];
    SIZES
        .iter()
        .filter_map(|&(size, max)| {
            let left = avail.checked_sub(size)?;
            Some(left.min(usize::try_from(max).unwrap_or(usize::MAX)))
        })
        .max()
}

/// A data length as a varint. Lengths of in-memory buffers are far below
/// 2^62, so this never saturates in practice.
pub(super) fn len_varint(len: usize) -> VarInt {
    debug_assert!(VarInt::try_from(len).is_ok(), "length beyond 2^62");
    VarInt::try_from(len).unwrap_or(VarInt::MAX)
}
