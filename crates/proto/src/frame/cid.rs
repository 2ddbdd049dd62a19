//! NEW_CONNECTION_ID (RFC 9000 §19.15); RETIRE_CONNECTION_ID (§19.16) is a
//! plain [`Frame`](super::Frame) variant.

use std::fmt;

use bytes::BufMut;

use crate::{
    cid::ConnectionId,
    frame::{FrameDecodeError, FrameType, reader::Reader},
    varint::VarInt,
};

/// A NEW_CONNECTION_ID frame (RFC 9000 §19.15): a connection ID the peer
/// may use, with its stateless reset token. Its `Debug` hides the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NewConnectionId {
    /// The ID's sequence number.
    pub sequence: VarInt,
    /// IDs with lower sequence numbers are to be retired; at most `sequence`.
    pub retire_prior_to: VarInt,
    /// The connection ID, 1 to 20 bytes long.
    pub id: ConnectionId,
    /// The stateless reset token bound to the ID (RFC 9000 §10.3).
    pub reset_token: [u8; 16],
}

impl NewConnectionId {
    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + self.sequence.size() + self.retire_prior_to.size() + 1 + self.id.len() + 16
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(!self.id.is_empty(), "NEW_CONNECTION_ID with an empty id");
        debug_assert!(self.retire_prior_to <= self.sequence);
        FrameType::NEW_CONNECTION_ID.to_varint().encode(buf);
        self.sequence.encode(buf);
        self.retire_prior_to.encode(buf);
        self.id.encode_with_len(buf);
        buf.put_slice(&self.reset_token);
    }

    /// Decodes the fields after the frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let sequence = r.var()?;
        let retire_prior_to = r.var()?;
        // RFC 9000 §19.15: Retire Prior To above Sequence Number is FRAME_ENCODING_ERROR.
        if retire_prior_to > sequence {
            return Err(r.encoding_error("retire prior to exceeds sequence number"));
        }
        let len = usize::from(r.u8()?);
        // RFC 9000 §19.15: a length outside 1..=20 is FRAME_ENCODING_ERROR.
        if !(1..=ConnectionId::MAX_LEN).contains(&len) {
            return Err(r.encoding_error("connection id length outside 1..=20"));
        }
        let id = ConnectionId::new(&r.bytes(len)?)
            .map_err(|_| r.encoding_error("connection id length outside 1..=20"))?;
        Ok(Self {
            sequence,
            retire_prior_to,
            id,
            reset_token: r.array()?,
        })
    }
}

impl fmt::Debug for NewConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Reset tokens let anyone end the connection; never log them.
        f.debug_struct("NewConnectionId")
            .field("sequence", &self.sequence)
            .field("retire_prior_to", &self.retire_prior_to)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
