//! [`SendStream`] and [`RecvStream`]: the two halves of QUIC streams, with
//! tokio's and futures' `AsyncWrite` / `AsyncRead` and zero-copy chunk reads.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use tern_proto::{StreamId, VarInt, streams as proto};

use tern_endpoint::Wait;

use crate::{Connection, ReadError, WriteError};

/// Bytes one `poll_write` copies at most.
const MAX_WRITE_COPY: usize = 64 * 1024;

/// The sending half of a stream.
///
/// Dropping it finishes the stream (FIN after what was written), unless it
/// was finished or reset already: a handler that answers and returns ends
/// its stream cleanly. Call [`reset`](Self::reset) to abandon it instead.
#[derive(Debug)]
pub struct SendStream {
    conn: Connection,
    id: StreamId,
    /// Finished or reset: dropping it sends nothing more.
    done: bool,
}

impl SendStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
        }
    }

    /// The stream's ID.
    #[must_use]
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Writes some of `data`, waiting while flow control or the send buffer
    /// is full; returns how many bytes were taken.
    pub fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<Result<usize, WriteError>> {
        // One poll copies at most this much: the copy is never much larger
        // than what flow control lets through.
        let data = &data[..data.len().min(MAX_WRITE_COPY)];
        self.poll_write_bytes(cx, || Bytes::copy_from_slice(data))
    }

    /// Queues a prefix of the bytes `data` makes, without copying them;
    /// `data` is called on every attempt, so it should be cheap (a `Bytes`
    /// clone).
    fn poll_write_bytes(
        &mut self,
        cx: &mut Context<'_>,
        data: impl Fn() -> Bytes,
    ) -> Poll<Result<usize, WriteError>> {
        let id = self.id;
        let mut failure = None;
        let result = self.conn.inner.poll_op(cx, Wait::Write(id), |c| {
            let bytes = data();
            if bytes.is_empty() {
                return Some(0);
            }
            match c.write_stream(id, bytes) {
                Ok(n) if n > 0 => Some(n),
                Ok(_) | Err(proto::WriteError::Blocked) => None,
                Err(error) => {
                    failure = Some(error);
                    Some(0)
                }
            }
        });
        match (result, failure) {
            (_, Some(proto::WriteError::Stopped { code })) => {
                Poll::Ready(Err(WriteError::Stopped(code)))
            }
            (_, Some(_)) => Poll::Ready(Err(WriteError::ClosedStream)),
            (Poll::Ready(Ok(n)), None) => Poll::Ready(Ok(n)),
            (Poll::Ready(Err(error)), None) => Poll::Ready(Err(WriteError::ConnectionLost(error))),
            (Poll::Pending, None) => Poll::Pending,
        }
    }

    /// Writes all of `data` (one copy into the connection's buffer).
    ///
    /// # Errors
    /// [`WriteError`] when the peer stopped the stream or the connection ended.
    pub async fn write_all(&mut self, mut data: &[u8]) -> Result<(), WriteError> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_write(cx, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes all of `data` without copying it.
    ///
    /// # Errors
    /// [`WriteError`] when the peer stopped the stream or the connection ended.
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), WriteError> {
        while !data.is_empty() {
            let chunk = data.clone();
            let written = poll_fn(|cx| self.poll_write_bytes(cx, || chunk.clone())).await?;
            let _ = data.split_to(written);
        }
        Ok(())
    }

    /// Ends the stream after what was written (FIN).
    ///
    /// # Errors
    /// [`WriteError`] when the stream was already closed or the connection ended.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        self.done = true;
        match self.conn.inner.with(|c| c.finish_stream(self.id)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(proto::WriteError::Stopped { code })) => Err(WriteError::Stopped(code)),
            Ok(Err(_)) => Err(WriteError::ClosedStream),
            Err(error) => Err(WriteError::ConnectionLost(error)),
        }
    }

    /// Abandons the stream with an application error code (RESET_STREAM).
    ///
    /// # Errors
    /// [`WriteError`] when the stream was already closed or the connection ended.
    pub fn reset(&mut self, code: VarInt) -> Result<(), WriteError> {
        self.done = true;
        match self.conn.inner.with(|c| c.reset_stream(self.id, code)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WriteError::ClosedStream),
            Err(error) => Err(WriteError::ConnectionLost(error)),
        }
    }

    /// Sets the stream's urgency: lower values go first.
    ///
    /// # Errors
    /// [`WriteError`] when the stream was already closed or the connection ended.
    pub fn set_priority(&self, urgency: i32) -> Result<(), WriteError> {
        match self
            .conn
            .inner
            .with(|c| c.set_stream_priority(self.id, urgency))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WriteError::ClosedStream),
            Err(error) => Err(WriteError::ConnectionLost(error)),
        }
    }
}

/// The receiving half of a stream.
///
/// Dropping it before the end of the stream was read (and without a reset
/// from the peer) stops the stream with STOP_SENDING code 0 (RFC 9000
/// §3.5), so the peer stops sending and the stream's state and credit are
/// released. A server that reads only a request's first line and drops
/// the stream keeps serving.
#[derive(Debug)]
pub struct RecvStream {
    conn: Connection,
    id: StreamId,
    /// Read to its end, reset by the peer, or stopped: dropping it sends
    /// nothing.
    done: bool,
    /// Some of its data came in 0-RTT packets, as far as was known when it
    /// was accepted.
    zero_rtt: bool,
}

impl RecvStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            zero_rtt: false,
        }
    }

    /// A stream the peer opened, with what is known of its 0-RTT data.
    pub(crate) fn accepted(conn: Connection, id: StreamId) -> Self {
        let zero_rtt = conn
            .inner
            .inspect(|c| c.stream_received_0rtt(id), |_| false)
            .unwrap_or(false);
        Self {
            conn,
            id,
            done: false,
            zero_rtt,
        }
    }

    /// Whether some of this stream's data arrived in 0-RTT packets (RFC
    /// 9001 §4.6.1), which an attacker can replay (RFC 8446 §8): act on
    /// such a request only if acting on it twice is safe (a GET, say), and
    /// otherwise refuse it or wait for the handshake to complete
    /// ([`Connection::handshake_info`](crate::Connection::handshake_info)).
    /// Always `false` for streams this side opened.
    #[must_use]
    pub fn is_0rtt(&self) -> bool {
        self.zero_rtt
            || self
                .conn
                .inner
                .inspect(|c| c.stream_received_0rtt(self.id), |_| false)
                .unwrap_or(false)
    }

    /// The stream's ID.
    #[must_use]
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Reads the next chunk of at most `max_len` bytes without copying;
    /// `None` at the end of the stream.
    pub fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max_len: usize,
    ) -> Poll<Result<Option<Bytes>, ReadError>> {
        let id = self.id;
        let mut failure = None;
        let result = self.conn.inner.poll_op(cx, Wait::Read(id), |c| {
            match c.read_stream(id, max_len.max(1), true) {
                Ok(Some(chunk)) => Some(Some(chunk.bytes)),
                Ok(None) => Some(None),
                Err(proto::ReadError::Blocked) => None,
                Err(error) => {
                    failure = Some(error);
                    Some(None)
                }
            }
        });
        let result = match (result, failure) {
            (_, Some(proto::ReadError::Reset { code })) => Poll::Ready(Err(ReadError::Reset(code))),
            (_, Some(_)) => Poll::Ready(Err(ReadError::ClosedStream)),
            (Poll::Ready(Ok(chunk)), None) => Poll::Ready(Ok(chunk)),
            (Poll::Ready(Err(error)), None) => Poll::Ready(Err(ReadError::ConnectionLost(error))),
            (Poll::Pending, None) => Poll::Pending,
        };
        // The end, a reset, or a closed stream: nothing to stop on drop.
        if matches!(result, Poll::Ready(Ok(None) | Err(_))) {
            self.done = true;
        }
        result
    }

    /// Reads the next chunk without copying; `None` at the end of the stream.
    ///
    /// # Errors
    /// [`ReadError`] when the peer reset the stream or the connection ended.
    pub async fn read_chunk(&mut self, max_len: usize) -> Result<Option<Bytes>, ReadError> {
        poll_fn(|cx| self.poll_read_chunk(cx, max_len)).await
    }

    /// Reads into `buf`; `None` at the end of the stream.
    ///
    /// # Errors
    /// [`ReadError`] when the peer reset the stream or the connection ended.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        match self.read_chunk(buf.len()).await? {
            Some(chunk) => {
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(Some(chunk.len()))
            }
            None => Ok(None),
        }
    }

    /// Reads the whole stream, failing beyond `limit` bytes.
    ///
    /// # Errors
    /// [`ReadError`] when the peer reset the stream or the connection ended;
    /// `ReadError::ClosedStream` past `limit` (the stream is stopped).
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk(usize::MAX).await? {
            if out.len() + chunk.len() > limit {
                self.stop(VarInt::from_u32(0));
                return Err(ReadError::ClosedStream);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending (STOP_SENDING).
    pub fn stop(&mut self, code: VarInt) {
        self.done = true;
        let _ = self.conn.inner.with(|c| c.stop_stream(self.id, code));
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if !self.done {
            // Errors mean the stream or connection is over already.
            let _ = self.conn.inner.with(|c| c.finish_stream(self.id));
        }
        self.conn.inner.forget_writer(self.id);
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if !self.done {
            // RFC 9000 §3.5: STOP_SENDING asks the peer to stop; the stream
            // is freed once its final size is known.
            let _ = self
                .conn
                .inner
                .with(|c| c.stop_stream(self.id, VarInt::from_u32(0)));
        }
        self.conn.inner.forget_reader(self.id);
    }
}

#[cfg(feature = "runtime-tokio")]
impl tokio::io::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        SendStream::poll_write(self.get_mut(), cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().finish().map_err(Into::into))
    }
}

impl futures::io::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        SendStream::poll_write(self.get_mut(), cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().finish().map_err(Into::into))
    }
}

#[cfg(feature = "runtime-tokio")]
impl tokio::io::AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        match self.get_mut().poll_read_chunk(cx, room) {
            Poll::Ready(Ok(Some(chunk))) => {
                buf.put_slice(&chunk);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures::io::AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let room = buf.len();
        match self.get_mut().poll_read_chunk(cx, room) {
            Poll::Ready(Ok(Some(chunk))) => {
                buf[..chunk.len()].copy_from_slice(&chunk);
                Poll::Ready(Ok(chunk.len()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(0)),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
