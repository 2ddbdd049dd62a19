//! Walking the frames of a decrypted packet payload (RFC 9000 §12.4).

use std::iter::FusedIterator;

use bytes::Bytes;

use crate::{
    EncryptionLevel,
    error::TransportError,
    frame::{Frame, FrameDecodeError, FrameType, decode_type},
};

#[cfg(test)]
mod tests;

/// The frames of one packet payload, in order.
///
/// Yields each frame, or the first error and then nothing more: an error in
/// a frame is a connection error, and the rest of the packet is not read.
/// Frames not allowed at the packet's encryption level are
/// `PROTOCOL_VIOLATION`; a run of PADDING bytes is one [`Frame::Padding`].
#[derive(Debug, Clone)]
pub struct Frames {
    payload: Bytes,
    level: EncryptionLevel,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet.
    Start,
    /// At least one frame read.
    Running,
    /// The payload is used up or an error was reported.
    Done,
}

impl Frames {
    /// The frames of `payload`, a packet of `level` with its protection removed.
    #[must_use]
    pub const fn new(payload: Bytes, level: EncryptionLevel) -> Self {
        Self {
            payload,
            level,
            state: State::Start,
        }
    }

    /// The bytes not yet decoded.
    #[must_use]
    pub const fn remaining(&self) -> &Bytes {
        &self.payload
    }

    fn decode_next(&mut self) -> Result<Frame, FrameDecodeError> {
        let ty = decode_type(&mut self.payload)?;
        // RFC 9000 §12.4: a frame not permitted in the packet's type is
        // PROTOCOL_VIOLATION.
        if !ty.is_allowed_in(self.level) {
            return Err(FrameDecodeError::protocol_violation(
                ty,
                "frame not allowed at this encryption level",
            ));
        }
        Frame::decode_body(ty, &mut self.payload)
    }
}

impl Iterator for Frames {
    type Item = Result<Frame, TransportError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Done => return None,
            // RFC 9000 §12.4: a packet with no frames is PROTOCOL_VIOLATION.
            State::Start if self.payload.is_empty() => {
                self.state = State::Done;
                // RFC 9000 §19.19: frame type 0 stands in when there is no frame.
                let err = FrameDecodeError::protocol_violation(
                    FrameType::PADDING,
                    "packet contains no frames",
                );
                return Some(Err(err.into()));
            }
            State::Running if self.payload.is_empty() => {
                self.state = State::Done;
                return None;
            }
            State::Start | State::Running => self.state = State::Running,
        }
        let result = self.decode_next();
        if result.is_err() {
            self.state = State::Done;
        }
        Some(result.map_err(TransportError::from))
    }
}

impl FusedIterator for Frames {}
