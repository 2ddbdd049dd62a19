//! The application's calls on streams, passed to [`Streams`](crate::streams::Streams)
//! once the connection can carry them.

use bytes::Bytes;

use super::Connection;
use crate::{
    Dir, StreamId, VarInt,
    streams::{Chunk, ReadError, WriteError},
};

impl Connection {
    /// Opens a stream; `None` while the peer's stream limit is reached (a
    /// [`StreamEvent::Available`](crate::StreamEvent::Available) says when
    /// to try again) or the connection is closed.
    pub fn open_stream(&mut self, dir: Dir) -> Option<StreamId> {
        if self.is_closed() {
            return None;
        }
        self.streams.open(dir)
    }

    /// The next stream the peer opened, if any.
    pub fn accept_stream(&mut self, dir: Dir) -> Option<StreamId> {
        self.streams.accept(dir)
    }

    /// Queues `data` on a stream without copying it; returns how many bytes
    /// flow control and the send buffers took.
    ///
    /// # Errors
    /// [`WriteError::Blocked`] when nothing fits now (a
    /// [`StreamEvent::Writable`](crate::StreamEvent::Writable) follows),
    /// and the stream's state errors.
    pub fn write_stream(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        if self.is_closed() {
            return Err(WriteError::ClosedStream);
        }
        self.streams.write(id, data)
    }

    /// Ends a stream after what was written (FIN).
    ///
    /// # Errors
    /// The stream's state errors.
    pub fn finish_stream(&mut self, id: StreamId) -> Result<(), WriteError> {
        self.streams.finish(id)
    }

    /// Abandons sending on a stream with an application error code
    /// (RESET_STREAM, RFC 9000 §19.4).
    ///
    /// # Errors
    /// The stream's state errors.
    pub fn reset_stream(&mut self, id: StreamId, code: VarInt) -> Result<(), WriteError> {
        self.streams.reset(id, code)
    }

    /// Asks the peer to stop sending on a stream (STOP_SENDING, RFC 9000
    /// §19.5).
    ///
    /// # Errors
    /// The stream's state errors.
    pub fn stop_stream(&mut self, id: StreamId, code: VarInt) -> Result<(), ReadError> {
        self.streams.stop(id, code)
    }

    /// Reads up to `max_len` bytes from a stream, zero-copy; `Ok(None)` once
    /// everything up to the FIN was read. `ordered = false` takes data in
    /// any order it arrived.
    ///
    /// # Errors
    /// [`ReadError::Blocked`] when nothing is ready (a
    /// [`StreamEvent::Readable`](crate::StreamEvent::Readable) follows),
    /// [`ReadError::Reset`] when the peer reset it, and the ID errors.
    pub fn read_stream(
        &mut self,
        id: StreamId,
        max_len: usize,
        ordered: bool,
    ) -> Result<Option<Chunk>, ReadError> {
        self.streams.read(id, max_len, ordered)
    }

    /// Sets a stream's urgency: lower values are sent first, equal ones
    /// share round-robin.
    ///
    /// # Errors
    /// The stream's state errors.
    pub fn set_stream_priority(&mut self, id: StreamId, urgency: i32) -> Result<(), WriteError> {
        self.streams.set_priority(id, urgency)
    }
}
