//! CONNECTION_CLOSE frames (RFC 9000 §19.19).

use bytes::{BufMut, Bytes};

use crate::{
    error::{TransportError, TransportErrorCode},
    frame::{FrameDecodeError, FrameType, reader::Reader, stream::len_varint},
    varint::VarInt,
};

/// A CONNECTION_CLOSE frame of type 0x1c: the connection ends with a
/// transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClose {
    /// Why the connection is closing.
    pub error_code: TransportErrorCode,
    /// The frame type that triggered the error; PADDING (0) when unknown.
    pub frame_type: FrameType,
    /// A reason phrase. It ought to be UTF-8 but is kept as received.
    pub reason: Bytes,
}

/// A CONNECTION_CLOSE frame of type 0x1d: the application closes the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationClose {
    /// The application protocol's error code.
    pub error_code: VarInt,
    /// A reason phrase. It ought to be UTF-8 but is kept as received.
    pub reason: Bytes,
}

impl ConnectionClose {
    /// The frame that reports `err` to the peer.
    #[must_use]
    pub fn from_error(err: &TransportError) -> Self {
        Self {
            error_code: err.code,
            // RFC 9000 §19.19: frame type 0 stands for an unknown trigger.
            frame_type: err.frame_type.unwrap_or(FrameType::PADDING),
            reason: Bytes::copy_from_slice(err.reason.as_bytes()),
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + self.error_code.to_varint().size()
            + self.frame_type.to_varint().size()
            + len_varint(self.reason.len()).size()
            + self.reason.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        FrameType::CONNECTION_CLOSE.to_varint().encode(buf);
        self.error_code.to_varint().encode(buf);
        self.frame_type.to_varint().encode(buf);
        len_varint(self.reason.len()).encode(buf);
        buf.put_slice(&self.reason);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        Ok(Self {
            error_code: TransportErrorCode::from_wire(r.var()?),
            frame_type: FrameType::from_wire(r.var()?),
            // RFC 9000 §20.1: a reason running past the frame is badly formatted,
            // FRAME_ENCODING_ERROR (the checked read reports it).
            reason: r.prefixed_bytes()?,
        })
    }
}

impl ApplicationClose {
    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + self.error_code.size() + len_varint(self.reason.len()).size() + self.reason.len()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        FrameType::APPLICATION_CLOSE.to_varint().encode(buf);
        self.error_code.encode(buf);
        len_varint(self.reason.len()).encode(buf);
        buf.put_slice(&self.reason);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        Ok(Self {
            error_code: r.var()?,
            // RFC 9000 §20.1: a reason running past the frame is FRAME_ENCODING_ERROR.
            reason: r.prefixed_bytes()?,
        })
    }
}
