//! [`Connection`]: an async handle to one QUIC connection.

use std::{
    collections::VecDeque,
    future::{Future, poll_fn},
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use tern_endpoint::EndpointShared;
use tern_proto::{
    Dir, HandshakeInfo, VarInt,
    connection::{ConnectionError, ConnectionStats, Event, ExportError, SendDatagramError},
    endpoint::ConnectionHandle,
};

use crate::{RecvStream, SendStream};

/// A QUIC connection. Cheap to clone: every clone is the same connection,
/// and [`handshake_info`](Self::handshake_info) returns the same `Arc` on
/// all of them, on client and server, for the connection's whole life.
///
/// When the last handle (connections, streams, event streams) is dropped,
/// the connection is closed with code 0.
#[derive(Debug)]
pub struct Connection {
    pub(crate) shared: Arc<EndpointShared>,
    pub(crate) handle: ConnectionHandle,
}

/// The error a connection that is gone reports when it recorded none.
fn gone() -> ConnectionError {
    ConnectionError::TimedOut(std::time::Duration::ZERO)
}

impl Connection {
    pub(crate) fn new(shared: Arc<EndpointShared>, handle: ConnectionHandle) -> Self {
        let mut state = shared.state();
        Self::new_locked(&shared, &mut state, handle)
    }

    /// [`new`](Self::new) for a caller that already holds the state lock.
    pub(crate) fn new_locked(
        shared: &Arc<EndpointShared>,
        state: &mut tern_endpoint::EndpointState,
        handle: ConnectionHandle,
    ) -> Self {
        state.conns.entry(handle).or_default().handles += 1;
        Self {
            shared: shared.clone(),
            handle,
        }
    }

    /// Runs `op` on the protocol connection until it gives a value, waiting
    /// for the connection's events in between; fails with the connection's
    /// error once it has closed.
    pub(crate) fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut tern_proto::connection::Connection) -> Option<T>,
    ) -> Poll<Result<T, ConnectionError>> {
        let mut state = self.shared.state();
        let result = match state.endpoint.connection_mut(self.handle) {
            Some(conn) => match op(conn) {
                Some(value) => Some(Ok(value)),
                None if conn.is_closed() => Some(Err(())),
                None => None,
            },
            None => Some(Err(())),
        };
        match result {
            Some(Ok(value)) => {
                drop(state);
                self.shared.wake();
                Poll::Ready(Ok(value))
            }
            Some(Err(())) => {
                let error = state.conns.get(&self.handle).and_then(|c| c.error.clone());
                Poll::Ready(Err(error.unwrap_or_else(gone)))
            }
            None => {
                state
                    .conns
                    .entry(self.handle)
                    .or_default()
                    .register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Runs `op` once on the protocol connection, then wakes the driver.
    pub(crate) fn with<T>(
        &self,
        op: impl FnOnce(&mut tern_proto::connection::Connection) -> T,
    ) -> Result<T, ConnectionError> {
        let result = {
            let mut state = self.shared.state();
            match state.endpoint.connection_mut(self.handle) {
                Some(conn) => Ok(op(conn)),
                None => Err(state
                    .conns
                    .get(&self.handle)
                    .and_then(|c| c.error.clone())
                    .unwrap_or_else(gone)),
            }
        };
        self.shared.wake();
        result
    }

    /// The handshake information, captured once when the handshake
    /// completed: resolves then, at once if it already has, or with the
    /// connection's error if the handshake failed. It works on the server
    /// too, long after the server freed its TLS session.
    ///
    /// # Errors
    /// The [`ConnectionError`] that ended the handshake.
    pub async fn handshake_info(&self) -> Result<Arc<HandshakeInfo>, ConnectionError> {
        poll_fn(|cx| self.poll_handshake_info(cx)).await
    }

    fn poll_handshake_info(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arc<HandshakeInfo>, ConnectionError>> {
        let mut state = self.shared.state();
        let conn = state.conns.entry(self.handle).or_default();
        if let Some(info) = &conn.info {
            return Poll::Ready(Ok(info.clone()));
        }
        if let Some(error) = &conn.error {
            return Poll::Ready(Err(error.clone()));
        }
        if let Some(info) = state
            .endpoint
            .connection(self.handle)
            .and_then(|c| c.handshake_info())
        {
            return Poll::Ready(Ok(info.clone()));
        }
        if state.endpoint.connection(self.handle).is_none() {
            return Poll::Ready(Err(gone()));
        }
        state
            .conns
            .entry(self.handle)
            .or_default()
            .register(cx.waker());
        Poll::Pending
    }

    /// The handshake information if the handshake has completed.
    #[must_use]
    pub fn try_handshake_info(&self) -> Option<Arc<HandshakeInfo>> {
        let state = self.shared.state();
        state.conns.get(&self.handle).and_then(|c| c.info.clone())
    }

    /// Opens a bidirectional stream, waiting while the peer's stream limit
    /// is reached.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = poll_fn(|cx| self.poll_op(cx, |c| c.open_stream(Dir::Bi))).await?;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// Opens a unidirectional stream, waiting while the peer's stream limit
    /// is reached.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn open_uni(&self) -> Result<SendStream, ConnectionError> {
        let id = poll_fn(|cx| self.poll_op(cx, |c| c.open_stream(Dir::Uni))).await?;
        Ok(SendStream::new(self.clone(), id))
    }

    /// The next bidirectional stream the peer opens.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = poll_fn(|cx| self.poll_op(cx, |c| c.accept_stream(Dir::Bi))).await?;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// The next unidirectional stream the peer opens.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        let id = poll_fn(|cx| self.poll_op(cx, |c| c.accept_stream(Dir::Uni))).await?;
        Ok(RecvStream::new(self.clone(), id))
    }

    /// Queues an unreliable datagram (RFC 9221).
    ///
    /// # Errors
    /// [`SendDatagramError`] when the peer does not take datagrams, it is too
    /// large, or the connection is closed.
    pub fn send_datagram(&self, data: Bytes) -> Result<(), SendDatagramError> {
        self.with(|c| c.send_datagram(data))
            .unwrap_or(Err(SendDatagramError::ConnectionClosed))
    }

    /// The next datagram from the peer.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn read_datagram(&self) -> Result<Bytes, ConnectionError> {
        poll_fn(|cx| self.poll_op(cx, tern_proto::connection::Connection::recv_datagram)).await
    }

    /// Counters, RTT, congestion window, memory-relevant state.
    #[must_use]
    pub fn stats(&self) -> ConnectionStats {
        self.with(|c| c.stats()).unwrap_or_default()
    }

    /// The peer's address.
    #[must_use]
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.with(|c| c.remote_address()).ok()
    }

    /// Closes the connection with an application error code and reason.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        let now = self.shared.now();
        let _ = self.with(|c| c.close(now, code, Bytes::copy_from_slice(reason)));
    }

    /// Resolves with the reason once the connection has closed.
    pub async fn closed(&self) -> ConnectionError {
        match poll_fn(|cx| self.poll_op(cx, |_| None::<()>)).await {
            Err(error) => error,
            Ok(()) => gone(),
        }
    }

    /// Exports keying material from the TLS session (RFC 8446 §7.5).
    ///
    /// # Errors
    /// [`ExportError::InvalidState`] on a server that freed its TLS session
    /// (the message says which setting keeps it), or before the handshake.
    pub fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<(), ExportError> {
        self.with(|c| c.export_keying_material(out, label, context))
            .unwrap_or_else(|error| {
                Err(tern_proto::connection::InvalidState {
                    what: format!("the connection is closed: {error}"),
                }
                .into())
            })
    }

    /// The connection's events as a stream: Connected with the snapshot,
    /// peer streams, datagrams, close. Events queue up (bounded) from the
    /// connection's start, so none is missed by subscribing late.
    #[must_use]
    pub fn events(&self) -> Events {
        Events {
            conn: self.clone(),
            buffered: VecDeque::new(),
            ended: false,
        }
    }
}

impl Clone for Connection {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone(), self.handle)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut state = self.shared.state();
        let last = state.conns.get_mut(&self.handle).is_some_and(|conn| {
            conn.handles = conn.handles.saturating_sub(1);
            conn.handles == 0
        });
        if !last {
            return;
        }
        if let Some(conn) = state.endpoint.connection_mut(self.handle)
            && !conn.is_closed()
        {
            conn.close(now, VarInt::from_u32(0), Bytes::new());
        }
        drop(state);
        self.shared.wake();
    }
}

/// The future of [`Endpoint::connect`](crate::Endpoint::connect): resolves
/// to the connection once its handshake completed.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Connecting {
    conn: Connection,
}

impl Connecting {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// The connection, before its handshake completed.
    #[must_use]
    pub fn into_connection(self) -> Connection {
        self.conn
    }
}

impl Future for Connecting {
    type Output = Result<Connection, ConnectionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.conn
            .poll_handshake_info(cx)
            .map_ok(|_| self.conn.clone())
    }
}

/// The stream of [`Connection::events`].
#[derive(Debug)]
pub struct Events {
    conn: Connection,
    buffered: VecDeque<Event>,
    ended: bool,
}

impl futures::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(event) = self.buffered.pop_front() {
            return Poll::Ready(Some(event));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        let mut state = self.conn.shared.state();
        let gone = state.endpoint.connection(self.conn.handle).is_none();
        let conn = state.conns.entry(self.conn.handle).or_default();
        if let Some(event) = conn.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if gone {
            drop(state);
            self.ended = true;
            return Poll::Ready(None);
        }
        conn.register(cx.waker());
        Poll::Pending
    }
}
