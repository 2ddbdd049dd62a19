//! Stream and flow control frames (RFC 9000 §19.4, §19.5, §19.9-§19.14).
//!
//! MAX_DATA and DATA_BLOCKED carry a single integer and are plain
//! [`Frame`](super::Frame) variants; the rest are the structs below.

use bytes::BufMut;

use crate::{
    frame::{FrameDecodeError, FrameType, reader::Reader, stream::Dir, stream::StreamId},
    varint::VarInt,
};

/// RFC 9000 §19.11: a stream count above 2^60 would allow stream IDs beyond
/// 2^62-1.
pub const MAX_STREAM_COUNT: u64 = 1 << 60;

/// Bytes a frame of type `ty` holding only the varint fields `fields` takes.
pub(super) fn varint_frame_len(ty: FrameType, fields: &[VarInt]) -> usize {
    ty.to_varint().size() + fields.iter().map(|field| field.size()).sum::<usize>()
}

/// Writes a frame of type `ty` holding only the varint fields `fields`.
pub(super) fn encode_varint_frame<B: BufMut>(ty: FrameType, fields: &[VarInt], buf: &mut B) {
    ty.to_varint().encode(buf);
    for field in fields {
        field.encode(buf);
    }
}

/// A RESET_STREAM frame (RFC 9000 §19.4): the sender abandons a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetStream {
    /// The stream being reset.
    pub id: StreamId,
    /// The application protocol's error code.
    pub error_code: VarInt,
    /// The final size of the stream, in bytes.
    pub final_size: VarInt,
}

/// A STOP_SENDING frame (RFC 9000 §19.5): the receiver asks the sender to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSending {
    /// The stream to stop.
    pub id: StreamId,
    /// The application protocol's error code.
    pub error_code: VarInt,
}

/// A MAX_STREAM_DATA frame (RFC 9000 §19.10): a stream's new flow control limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStreamData {
    /// The stream the limit applies to.
    pub id: StreamId,
    /// The most bytes that may be sent on the stream.
    pub max_data: VarInt,
}

/// A STREAM_DATA_BLOCKED frame (RFC 9000 §19.13): a stream's sender is
/// blocked by flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDataBlocked {
    /// The blocked stream.
    pub id: StreamId,
    /// The stream limit the sender is blocked at.
    pub limit: VarInt,
}

/// A MAX_STREAMS frame (RFC 9000 §19.11): a new limit on streams of one
/// direction the peer may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStreams {
    /// Which kind of stream the limit applies to.
    pub dir: Dir,
    /// The cumulative number of streams that may be opened, at most
    /// [`MAX_STREAM_COUNT`].
    pub count: VarInt,
}

/// A STREAMS_BLOCKED frame (RFC 9000 §19.14): the sender wants to open a
/// stream but is at its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamsBlocked {
    /// Which kind of stream is blocked.
    pub dir: Dir,
    /// The stream limit at the time, at most [`MAX_STREAM_COUNT`].
    pub limit: VarInt,
}

/// Implements `encoded_len`, `encode` and the body decoder of a frame made
/// of a stream ID and varint fields.
macro_rules! stream_varint_frame {
    ($name:ident, $ty:expr, $($field:ident),+) => {
        impl $name {
            /// Bytes the frame takes on the wire.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                varint_frame_len($ty, &[self.id.into_inner(), $(self.$field),+])
            }

            /// Writes the frame.
            ///
            /// # Panics
            /// When `buf` has less than `encoded_len` bytes of room.
            pub fn encode<B: BufMut>(&self, buf: &mut B) {
                encode_varint_frame($ty, &[self.id.into_inner(), $(self.$field),+], buf);
            }

            /// Decodes the fields after the frame type.
            pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
                Ok(Self {
                    id: StreamId::new(r.var()?),
                    $($field: r.var()?,)+
                })
            }
        }
    };
}

stream_varint_frame!(ResetStream, FrameType::RESET_STREAM, error_code, final_size);
stream_varint_frame!(StopSending, FrameType::STOP_SENDING, error_code);
stream_varint_frame!(MaxStreamData, FrameType::MAX_STREAM_DATA, max_data);
stream_varint_frame!(StreamDataBlocked, FrameType::STREAM_DATA_BLOCKED, limit);

/// Reads a stream count and checks it against [`MAX_STREAM_COUNT`].
fn stream_count(r: &mut Reader<'_>) -> Result<VarInt, FrameDecodeError> {
    let count = r.var()?;
    // RFC 9000 §19.11: a MAX_STREAMS count above 2^60 is FRAME_ENCODING_ERROR.
    // RFC 9000 §19.14: so is a STREAMS_BLOCKED limit above 2^60 (we pick
    // FRAME_ENCODING_ERROR over STREAM_LIMIT_ERROR).
    if count.into_inner() > MAX_STREAM_COUNT {
        return Err(r.encoding_error("stream count above 2^60"));
    }
    Ok(count)
}

impl MaxStreams {
    /// The frame type: MAX_STREAMS_BIDI or MAX_STREAMS_UNI.
    #[must_use]
    pub const fn ty(&self) -> FrameType {
        match self.dir {
            Dir::Bi => FrameType::MAX_STREAMS_BIDI,
            Dir::Uni => FrameType::MAX_STREAMS_UNI,
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        varint_frame_len(self.ty(), &[self.count])
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(self.count.into_inner() <= MAX_STREAM_COUNT);
        encode_varint_frame(self.ty(), &[self.count], buf);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>, dir: Dir) -> Result<Self, FrameDecodeError> {
        Ok(Self {
            dir,
            count: stream_count(r)?,
        })
    }
}

impl StreamsBlocked {
    /// The frame type: STREAMS_BLOCKED_BIDI or STREAMS_BLOCKED_UNI.
    #[must_use]
    pub const fn ty(&self) -> FrameType {
        match self.dir {
            Dir::Bi => FrameType::STREAMS_BLOCKED_BIDI,
            Dir::Uni => FrameType::STREAMS_BLOCKED_UNI,
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        varint_frame_len(self.ty(), &[self.limit])
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(self.limit.into_inner() <= MAX_STREAM_COUNT);
        encode_varint_frame(self.ty(), &[self.limit], buf);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>, dir: Dir) -> Result<Self, FrameDecodeError> {
        Ok(Self {
            dir,
            limit: stream_count(r)?,
        })
    }
}
