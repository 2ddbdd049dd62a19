//! Errors the application sees when it writes to or reads from a stream.

use crate::varint::VarInt;

/// Why [`Streams::write`](super::Streams::write) (or `finish`, `reset`) did
/// not take data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Flow control or the send buffer has no room now. Wait for
    /// [`StreamEvent::Writable`](super::StreamEvent::Writable) and try again.
    #[error("stream is blocked by flow control or a full send buffer")]
    Blocked,
    /// The peer asked us to stop sending (STOP_SENDING) with this
    /// application error code; the stream was reset. Stop writing to it.
    #[error("peer stopped the stream with code {code}")]
    Stopped {
        /// The application error code from the peer.
        code: VarInt,
    },
    /// There is no such stream we can send on: never opened, or receive-only.
    /// Check the stream ID.
    #[error("unknown stream or not a sending stream")]
    UnknownStream,
    /// The stream was finished or reset by us, or is fully closed. Open a new
    /// stream to send more.
    #[error("stream is already finished or reset")]
    ClosedStream,
}

/// Why [`Streams::read`](super::Streams::read) returned no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No data is ready now. Wait for
    /// [`StreamEvent::Readable`](super::StreamEvent::Readable) and try again.
    #[error("no stream data available yet")]
    Blocked,
    /// The peer reset the stream (RESET_STREAM) with this application error
    /// code; data not yet read is lost. Stop reading from it.
    #[error("peer reset the stream with code {code}")]
    Reset {
        /// The application error code from the peer.
        code: VarInt,
    },
    /// There is no such stream we can receive on: never opened, or
    /// send-only. Check the stream ID.
    #[error("unknown stream or not a receiving stream")]
    UnknownStream,
    /// The stream was fully read, stopped or its reset already reported.
    /// Nothing more will arrive on it.
    #[error("stream is already closed for reading")]
    ClosedStream,
}
