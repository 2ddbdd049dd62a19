//! Frames (RFC 9000 §19, RFC 9221 §4): types, encoding and decoding.
//!
//! [`Frame`] is the parsed form of every frame. Decoding reads from a
//! [`Bytes`] payload, so the data of STREAM, CRYPTO, DATAGRAM, NEW_TOKEN and
//! CONNECTION_CLOSE frames are zero-copy slices of the packet, and ACK
//! ranges stay encoded (see [`Ack`]). [`Frames`] walks a whole decrypted
//! payload and applies the rules of the packet's encryption level.
//!
//! Stream IDs are a [`StreamId`] newtype, so that an ID cannot be passed
//! where an offset or a limit is expected.
//!
//! ```
//! use bytes::Bytes;
//! use tern_proto::{
//!     EncryptionLevel,
//!     frame::{Frame, Frames},
//! };
//!
//! // PING, then three bytes of PADDING.
//! let payload = Bytes::from_static(&[0x01, 0x00, 0x00, 0x00]);
//! let frames: Vec<_> = Frames::new(payload, EncryptionLevel::Initial)
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(frames, [Frame::Ping, Frame::Padding(3)]);
//! ```

use bytes::{BufMut, Bytes};

use crate::{coding::BufferTooShort, varint::VarInt};

mod ack;
mod cid;
mod close;
mod crypto;
mod datagram;
mod error;
mod flow;
mod iter;
mod reader;
#[cfg(test)]
mod strategy;
mod stream;
#[cfg(test)]
mod tests;
mod ty;

pub use ack::{Ack, AckRanges, EcnCounts, InvalidAckRanges};
pub use cid::NewConnectionId;
pub use close::{ApplicationClose, ConnectionClose};
pub use crypto::{Crypto, NewToken};
pub use datagram::Datagram;
pub use error::FrameDecodeError;
pub use flow::{
    MAX_STREAM_COUNT, MaxStreamData, MaxStreams, ResetStream, StopSending, StreamDataBlocked,
    StreamsBlocked,
};
pub use iter::Frames;
pub use stream::{Dir, Stream, StreamHeader, StreamId};
pub use ty::FrameType;

use self::{
    flow::{encode_varint_frame, varint_frame_len},
    reader::Reader,
};

/// One frame, owning its fields; byte fields share the packet's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A run of this many PADDING bytes (RFC 9000 §19.1), at least one.
    Padding(usize),
    /// PING (RFC 9000 §19.2).
    Ping,
    /// ACK or ACK_ECN (RFC 9000 §19.3).
    Ack(Ack),
    /// RESET_STREAM (RFC 9000 §19.4).
    ResetStream(ResetStream),
    /// STOP_SENDING (RFC 9000 §19.5).
    StopSending(StopSending),
    /// CRYPTO (RFC 9000 §19.6).
    Crypto(Crypto),
    /// NEW_TOKEN (RFC 9000 §19.7).
    NewToken(NewToken),
    /// STREAM, any of the eight types (RFC 9000 §19.8).
    Stream(Stream),
    /// MAX_DATA (RFC 9000 §19.9): the connection's new flow control limit.
    MaxData(VarInt),
    /// MAX_STREAM_DATA (RFC 9000 §19.10).
    MaxStreamData(MaxStreamData),
    /// MAX_STREAMS, bidirectional or unidirectional (RFC 9000 §19.11).
    MaxStreams(MaxStreams),
    /// DATA_BLOCKED (RFC 9000 §19.12): the connection limit the sender is
    /// blocked at.
    DataBlocked(VarInt),
    /// STREAM_DATA_BLOCKED (RFC 9000 §19.13).
    StreamDataBlocked(StreamDataBlocked),
    /// STREAMS_BLOCKED, bidirectional or unidirectional (RFC 9000 §19.14).
    StreamsBlocked(StreamsBlocked),
    /// NEW_CONNECTION_ID (RFC 9000 §19.15).
    NewConnectionId(NewConnectionId),
    /// RETIRE_CONNECTION_ID (RFC 9000 §19.16): the sequence number to retire.
    RetireConnectionId(VarInt),
    /// PATH_CHALLENGE (RFC 9000 §19.17) with its data.
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE (RFC 9000 §19.18) with its data.
    PathResponse([u8; 8]),
    /// CONNECTION_CLOSE of type 0x1c (RFC 9000 §19.19).
    ConnectionClose(ConnectionClose),
    /// CONNECTION_CLOSE of type 0x1d (RFC 9000 §19.19).
    ApplicationClose(ApplicationClose),
    /// HANDSHAKE_DONE (RFC 9000 §19.20).
    HandshakeDone,
    /// DATAGRAM, with or without a Length field (RFC 9221 §4).
    Datagram(Datagram),
}

impl Frame {
    /// The frame's type as it is written on the wire.
    #[must_use]
    pub fn ty(&self) -> FrameType {
        match self {
            Self::Padding(_) => FrameType::PADDING,
            Self::Ping => FrameType::PING,
            Self::Ack(ack) => ack.ty(),
            Self::ResetStream(_) => FrameType::RESET_STREAM,
            Self::StopSending(_) => FrameType::STOP_SENDING,
            Self::Crypto(_) => FrameType::CRYPTO,
            Self::NewToken(_) => FrameType::NEW_TOKEN,
            Self::Stream(stream) => stream.header().ty(),
            Self::MaxData(_) => FrameType::MAX_DATA,
            Self::MaxStreamData(_) => FrameType::MAX_STREAM_DATA,
            Self::MaxStreams(frame) => frame.ty(),
            Self::DataBlocked(_) => FrameType::DATA_BLOCKED,
            Self::StreamDataBlocked(_) => FrameType::STREAM_DATA_BLOCKED,
            Self::StreamsBlocked(frame) => frame.ty(),
            Self::NewConnectionId(_) => FrameType::NEW_CONNECTION_ID,
            Self::RetireConnectionId(_) => FrameType::RETIRE_CONNECTION_ID,
            Self::PathChallenge(_) => FrameType::PATH_CHALLENGE,
            Self::PathResponse(_) => FrameType::PATH_RESPONSE,
            Self::ConnectionClose(_) => FrameType::CONNECTION_CLOSE,
            Self::ApplicationClose(_) => FrameType::APPLICATION_CLOSE,
            Self::HandshakeDone => FrameType::HANDSHAKE_DONE,
            Self::Datagram(datagram) => datagram.ty(),
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Padding(len) => *len,
            Self::Ping | Self::HandshakeDone => 1,
            Self::Ack(ack) => ack.encoded_len(),
            Self::ResetStream(frame) => frame.encoded_len(),
            Self::StopSending(frame) => frame.encoded_len(),
            Self::Crypto(frame) => frame.encoded_len(),
            Self::NewToken(frame) => frame.encoded_len(),
            Self::Stream(frame) => frame.encoded_len(),
            Self::MaxStreamData(frame) => frame.encoded_len(),
            Self::MaxStreams(frame) => frame.encoded_len(),
            Self::StreamDataBlocked(frame) => frame.encoded_len(),
            Self::StreamsBlocked(frame) => frame.encoded_len(),
            Self::NewConnectionId(frame) => frame.encoded_len(),
            Self::MaxData(value) | Self::DataBlocked(value) | Self::RetireConnectionId(value) => {
                varint_frame_len(self.ty(), &[*value])
            }
            Self::PathChallenge(data) | Self::PathResponse(data) => 1 + data.len(),
            Self::ConnectionClose(frame) => frame.encoded_len(),
            Self::ApplicationClose(frame) => frame.encoded_len(),
            Self::Datagram(frame) => frame.encoded_len(),
        }
    }

    /// Writes the frame, its type in the shortest form.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of
    /// room; [`write_to`](Self::write_to) checks first.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            Self::Padding(len) => buf.put_bytes(0, *len),
            Self::Ping | Self::HandshakeDone => self.ty().to_varint().encode(buf),
            Self::Ack(ack) => ack.encode(buf),
            Self::ResetStream(frame) => frame.encode(buf),
            Self::StopSending(frame) => frame.encode(buf),
            Self::Crypto(frame) => frame.encode(buf),
            Self::NewToken(frame) => frame.encode(buf),
            Self::Stream(frame) => frame.encode(buf),
            Self::MaxStreamData(frame) => frame.encode(buf),
            Self::MaxStreams(frame) => frame.encode(buf),
            Self::StreamDataBlocked(frame) => frame.encode(buf),
            Self::StreamsBlocked(frame) => frame.encode(buf),
            Self::NewConnectionId(frame) => frame.encode(buf),
            Self::MaxData(value) | Self::DataBlocked(value) | Self::RetireConnectionId(value) => {
                encode_varint_frame(self.ty(), &[*value], buf);
            }
            Self::PathChallenge(data) | Self::PathResponse(data) => {
                self.ty().to_varint().encode(buf);
                buf.put_slice(data);
            }
            Self::ConnectionClose(frame) => frame.encode(buf),
            Self::ApplicationClose(frame) => frame.encode(buf),
            Self::Datagram(frame) => frame.encode(buf),
        }
    }

    /// Writes the frame at the front of `buf`, returning the bytes written.
    ///
    /// # Errors
    /// [`BufferTooShort`] when `buf` is shorter than
    /// [`encoded_len`](Self::encoded_len); nothing is written then.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        let needed = self.encoded_len();
        let mut out = BufferTooShort::prefix(buf, needed)?;
        self.encode(&mut out);
        Ok(needed)
    }

    /// Decodes one frame from the front of `buf`, leaving the rest.
    ///
    /// This checks the frame alone; [`Frames`] also checks that the frame
    /// may appear at the packet's encryption level. A PADDING frame takes
    /// the whole run of zero bytes; a STREAM frame without a Length field and
    /// a DATAGRAM of type 0x30 take everything left.
    ///
    /// # Errors
    /// [`FrameDecodeError`] with `FRAME_ENCODING_ERROR` for a truncated,
    /// malformed or unknown frame, or `PROTOCOL_VIOLATION` for a frame type
    /// not in its shortest encoding.
    pub fn decode(buf: &mut Bytes) -> Result<Self, FrameDecodeError> {
        let ty = decode_type(buf)?;
        Self::decode_body(ty, buf)
    }

    /// Decodes the fields that follow a frame type already read and checked
    /// by [`decode_type`].
    fn decode_body(ty: FrameType, buf: &mut Bytes) -> Result<Self, FrameDecodeError> {
        let r = &mut Reader::new(buf, ty);
        Ok(match ty {
            FrameType::PADDING => Self::Padding(1 + r.zero_run()),
            FrameType::PING => Self::Ping,
            FrameType::ACK | FrameType::ACK_ECN => Self::Ack(Ack::decode(r)?),
            FrameType::RESET_STREAM => Self::ResetStream(ResetStream::decode(r)?),
            FrameType::STOP_SENDING => Self::StopSending(StopSending::decode(r)?),
            FrameType::CRYPTO => Self::Crypto(Crypto::decode(r)?),
            FrameType::NEW_TOKEN => Self::NewToken(NewToken::decode(r)?),
            FrameType::MAX_DATA => Self::MaxData(r.var()?),
            FrameType::MAX_STREAM_DATA => Self::MaxStreamData(MaxStreamData::decode(r)?),
            FrameType::MAX_STREAMS_BIDI => Self::MaxStreams(MaxStreams::decode(r, Dir::Bi)?),
            FrameType::MAX_STREAMS_UNI => Self::MaxStreams(MaxStreams::decode(r, Dir::Uni)?),
            FrameType::DATA_BLOCKED => Self::DataBlocked(r.var()?),
            FrameType::STREAM_DATA_BLOCKED => {
                Self::StreamDataBlocked(StreamDataBlocked::decode(r)?)
            }
            FrameType::STREAMS_BLOCKED_BIDI => {
                Self::StreamsBlocked(StreamsBlocked::decode(r, Dir::Bi)?)
            }
            FrameType::STREAMS_BLOCKED_UNI => {
                Self::StreamsBlocked(StreamsBlocked::decode(r, Dir::Uni)?)
            }
            FrameType::NEW_CONNECTION_ID => Self::NewConnectionId(NewConnectionId::decode(r)?),
            FrameType::RETIRE_CONNECTION_ID => Self::RetireConnectionId(r.var()?),
            FrameType::PATH_CHALLENGE => Self::PathChallenge(r.array()?),
            FrameType::PATH_RESPONSE => Self::PathResponse(r.array()?),
            FrameType::CONNECTION_CLOSE => Self::ConnectionClose(ConnectionClose::decode(r)?),
            FrameType::APPLICATION_CLOSE => Self::ApplicationClose(ApplicationClose::decode(r)?),
            FrameType::HANDSHAKE_DONE => Self::HandshakeDone,
            FrameType::DATAGRAM | FrameType::DATAGRAM_WITH_LEN => {
                Self::Datagram(Datagram::decode(r)?)
            }
            _ if ty.is_stream() => Self::Stream(Stream::decode(r)?),
            // `decode_type` lets only known types through.
            _ => return Err(r.encoding_error("unknown frame type")),
        })
    }
}

/// Reads a frame type and checks that it is known and minimally encoded.
fn decode_type(buf: &mut Bytes) -> Result<FrameType, FrameDecodeError> {
    let before = buf.len();
    // RFC 9000 §19.19: frame type 0 stands in when the type itself is unknown,
    // here because it was cut short.
    let raw = Reader::new(buf, FrameType::PADDING).var()?;
    let ty = FrameType::from_wire(raw);
    // RFC 9000 §12.4: an unknown frame type is FRAME_ENCODING_ERROR.
    if !ty.is_known() {
        return Err(FrameDecodeError::encoding(ty, "unknown frame type"));
    }
    // RFC 9000 §12.4: a frame type in a longer encoding than needed may be
    // treated as PROTOCOL_VIOLATION; we do.
    if before - buf.len() != raw.size() {
        return Err(FrameDecodeError::protocol_violation(
            ty,
            "frame type not in its shortest encoding",
        ));
    }
    Ok(ty)
}
