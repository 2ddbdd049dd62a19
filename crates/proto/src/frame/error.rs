//! The error a frame decoder reports.

use crate::{
    error::{TransportError, TransportErrorCode},
    frame::FrameType,
};

/// A frame could not be decoded: the transport error code to close the
/// connection with, the frame type at fault and a short reason.
///
/// It is `Copy` and allocation-free; convert it into a [`TransportError`]
/// (with `?` or [`From`]) to close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{code} in frame {frame_type:?}: {reason}")]
pub struct FrameDecodeError {
    /// The RFC 9000 §20.1 code: `FRAME_ENCODING_ERROR` or `PROTOCOL_VIOLATION`.
    pub code: TransportErrorCode,
    /// The frame type at fault; PADDING (0) when the type itself could not be
    /// read.
    pub frame_type: FrameType,
    /// A short lower-case reason, sent in CONNECTION_CLOSE.
    pub reason: &'static str,
}

impl FrameDecodeError {
    /// A `FRAME_ENCODING_ERROR` in `frame_type`.
    #[must_use]
    pub const fn encoding(frame_type: FrameType, reason: &'static str) -> Self {
        Self {
            code: TransportErrorCode::FRAME_ENCODING_ERROR,
            frame_type,
            reason,
        }
    }

    /// A `PROTOCOL_VIOLATION` in `frame_type`.
    #[must_use]
    pub const fn protocol_violation(frame_type: FrameType, reason: &'static str) -> Self {
        Self {
            code: TransportErrorCode::PROTOCOL_VIOLATION,
            frame_type,
            reason,
        }
    }

    /// The frame ended before one of its fields did.
    pub(crate) const fn truncated(frame_type: FrameType) -> Self {
        // RFC 9000 §20.1: a frame cut short is badly formatted, FRAME_ENCODING_ERROR.
        Self::encoding(frame_type, "frame ends early")
    }
}

impl From<FrameDecodeError> for TransportError {
    fn from(err: FrameDecodeError) -> Self {
        Self::new(err.code, err.reason).in_frame(err.frame_type)
    }
}
