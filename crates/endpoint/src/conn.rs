//! Handles to one connection: [`ConnectionRef`] counts the application's
//! handles, runs operations on the protocol connection, parks tasks by
//! purpose ([`Wait`]) and hands out event [`Subscription`]s.
//!
//! The connection's state has one owner at a time: the protocol endpoint
//! while the connection lives (snapshot, close reason, stats), then its
//! [`DrainedConnection`] record here while handles remain. The last handle
//! dropped closes a live connection with code 0.

pub(crate) mod subscribers;
pub(crate) mod wakers;

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use tern_proto::{
    HandshakeInfo, StreamId, VarInt,
    connection::{Connection, ConnectionError, ConnectionStats, Event},
    endpoint::{ConnectionHandle, DrainedConnection},
};

pub use self::{subscribers::Lagged, wakers::Wait};
use self::{
    subscribers::{Next, Subscribers},
    wakers::ConnWakers,
};
use crate::shared::{EndpointShared, State};

/// What the event loop keeps for a connection besides the protocol state.
#[derive(Debug, Default)]
pub(crate) struct ConnRecord {
    /// Application handles alive (connections, streams, subscriptions).
    pub(crate) handles: usize,
    pub(crate) wakers: ConnWakers,
    pub(crate) subscribers: Subscribers,
    /// The final record, once the connection drained; boxed, so that a
    /// live connection's record does not carry its room.
    pub(crate) drained: Option<Box<DrainedConnection>>,
}

impl ConnRecord {
    /// Hands a protocol event to the tasks it concerns and to subscribers.
    pub(crate) fn on_event(&mut self, event: &Event) {
        self.wakers.on_event(event);
        self.subscribers.push(event);
    }

    pub(crate) fn drained(&mut self, drained: DrainedConnection) {
        self.drained = Some(Box::new(drained));
        self.wakers.wake_all();
    }

    pub(crate) fn on_stopped(&mut self, lost: bool) {
        if lost {
            // Every subscriber that has not seen a close ends with this one.
            self.subscribers
                .push(&Event::Closed(ConnectionError::EndpointStopped));
        }
        self.wakers.wake_all();
    }
}

/// Why a connection is over, from whoever owns that fact now.
fn error_of(state: &State, handle: ConnectionHandle) -> ConnectionError {
    if state.lost {
        return ConnectionError::EndpointStopped;
    }
    if let Some(error) = state
        .endpoint
        .connection(handle)
        .and_then(Connection::close_reason)
    {
        return error.clone();
    }
    state
        .conns
        .get(&handle)
        .and_then(|r| r.drained.as_ref())
        .and_then(|d| d.error.clone())
        .unwrap_or(ConnectionError::EndpointStopped)
}

/// An application handle to one connection. Clones count as handles; the
/// last one dropped closes the connection with code 0.
pub struct ConnectionRef {
    shared: Arc<EndpointShared>,
    handle: ConnectionHandle,
}

impl std::fmt::Debug for ConnectionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConnectionRef").field(&self.handle).finish()
    }
}

impl ConnectionRef {
    /// A new handle; the record must exist or is created.
    pub(crate) fn new_locked(
        shared: &Arc<EndpointShared>,
        state: &mut State,
        handle: ConnectionHandle,
    ) -> Self {
        state.conns.entry(handle).or_default().handles += 1;
        Self {
            shared: shared.clone(),
            handle,
        }
    }

    /// The protocol endpoint's name for the connection, stable for its life
    /// and unique within the endpoint.
    #[must_use]
    pub fn handle(&self) -> ConnectionHandle {
        self.handle
    }

    /// The current time, from the runtime's clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Runs `op` on the protocol connection until it gives a value, parking
    /// the task for `wait` in between; fails with the connection's error
    /// once it has closed, or [`ConnectionError::EndpointStopped`] when the
    /// event loop is gone.
    pub fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        wait: Wait,
        mut op: impl FnMut(&mut Connection) -> Option<T>,
    ) -> Poll<Result<T, ConnectionError>> {
        let mut state = self.shared.state();
        if state.lost {
            return Poll::Ready(Err(ConnectionError::EndpointStopped));
        }
        let closed = match state.endpoint.connection_mut(self.handle) {
            Some(conn) => match op(conn) {
                Some(value) => {
                    drop(state);
                    self.shared.wake();
                    return Poll::Ready(Ok(value));
                }
                None => conn.is_closed(),
            },
            None => true,
        };
        if closed {
            return Poll::Ready(Err(error_of(&state, self.handle)));
        }
        if let Some(record) = state.conns.get_mut(&self.handle) {
            record.wakers.register(wait, cx.waker());
        }
        Poll::Pending
    }

    /// Runs `op` once on the live protocol connection, then wakes the
    /// driver so that what it queued goes out.
    ///
    /// # Errors
    /// The connection's error when it is gone.
    pub fn with<T>(&self, op: impl FnOnce(&mut Connection) -> T) -> Result<T, ConnectionError> {
        let result = {
            let mut state = self.shared.state();
            if state.lost {
                return Err(ConnectionError::EndpointStopped);
            }
            match state.endpoint.connection_mut(self.handle) {
                Some(conn) => Ok(op(conn)),
                None => Err(error_of(&state, self.handle)),
            }
        };
        self.shared.wake();
        result
    }

    /// Reads from the connection, live or drained: `live` while the
    /// protocol endpoint holds it, `drained` after.
    pub fn inspect<T>(
        &self,
        live: impl FnOnce(&Connection) -> T,
        drained: impl FnOnce(&DrainedConnection) -> T,
    ) -> Option<T> {
        let state = self.shared.state();
        if let Some(conn) = state.endpoint.connection(self.handle) {
            return Some(live(conn));
        }
        state
            .conns
            .get(&self.handle)
            .and_then(|r| r.drained.as_deref())
            .map(drained)
    }

    /// The handshake snapshot: resolves when the handshake completed, at
    /// once if it already has (also after the connection drained), or with
    /// the connection's error if it ended first.
    pub fn poll_handshake_info(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arc<HandshakeInfo>, ConnectionError>> {
        let mut state = self.shared.state();
        if let Some(info) = handshake_info_of(&state, self.handle) {
            return Poll::Ready(Ok(info));
        }
        let live = state
            .endpoint
            .connection(self.handle)
            .is_some_and(|c| !c.is_closed());
        if !live || state.lost {
            return Poll::Ready(Err(error_of(&state, self.handle)));
        }
        if let Some(record) = state.conns.get_mut(&self.handle) {
            record.wakers.register(Wait::Handshake, cx.waker());
        }
        Poll::Pending
    }

    /// The handshake snapshot if the handshake has completed.
    #[must_use]
    pub fn handshake_info(&self) -> Option<Arc<HandshakeInfo>> {
        handshake_info_of(&self.shared.state(), self.handle)
    }

    /// Why the connection closed, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<ConnectionError> {
        let state = self.shared.state();
        let closed = state
            .endpoint
            .connection(self.handle)
            .is_none_or(Connection::is_closed);
        (closed || state.lost).then(|| error_of(&state, self.handle))
    }

    /// The connection's counters: live values, or the final ones after it
    /// drained.
    #[must_use]
    pub fn stats(&self) -> ConnectionStats {
        self.inspect(Connection::stats, |d| d.stats)
            .unwrap_or_default()
    }

    /// Closes the connection with an application code and reason; the
    /// connection reports [`ConnectionError::LocallyClosed`] from now on.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        let now = self.shared.now();
        let _ = self.with(|c| c.close(now, code, Bytes::copy_from_slice(reason)));
    }

    /// A new subscription to the connection's events, with a queue of
    /// `capacity` events. It starts with `Connected` (replayed if the
    /// handshake already completed) and `Closed` (if it already closed).
    #[must_use]
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let mut state = self.shared.state();
        let mut replay = Vec::with_capacity(2);
        if let Some(info) = handshake_info_of(&state, self.handle) {
            replay.push(Event::Connected(info));
        }
        let closed = state
            .endpoint
            .connection(self.handle)
            .is_none_or(Connection::is_closed);
        if closed || state.lost {
            replay.push(Event::Closed(error_of(&state, self.handle)));
        }
        let conn = Self::new_locked(&self.shared, &mut state, self.handle);
        let id = state
            .conns
            .get_mut(&self.handle)
            .map_or(0, |r| r.subscribers.subscribe(capacity, &replay));
        Subscription { conn, id }
    }

    /// Forgets the tasks waiting to read stream `id`: its receiving
    /// handle is gone. Those waiting to write it stay.
    pub fn forget_reader(&self, id: StreamId) {
        if let Some(record) = self.shared.state().conns.get_mut(&self.handle) {
            record.wakers.forget_reader(id);
        }
    }

    /// Forgets the tasks waiting to write stream `id`: its sending handle
    /// is gone. Those waiting to read it stay.
    pub fn forget_writer(&self, id: StreamId) {
        if let Some(record) = self.shared.state().conns.get_mut(&self.handle) {
            record.wakers.forget_writer(id);
        }
    }
}

fn handshake_info_of(state: &State, handle: ConnectionHandle) -> Option<Arc<HandshakeInfo>> {
    if let Some(conn) = state.endpoint.connection(handle) {
        return conn.handshake_info().cloned();
    }
    state
        .conns
        .get(&handle)
        .and_then(|r| r.drained.as_ref())
        .and_then(|d| d.handshake_info.clone())
}

impl Clone for ConnectionRef {
    fn clone(&self) -> Self {
        let mut state = self.shared.state();
        Self::new_locked(&self.shared, &mut state, self.handle)
    }
}

impl Drop for ConnectionRef {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut state = self.shared.state();
        let Some(record) = state.conns.get_mut(&self.handle) else {
            return;
        };
        record.handles = record.handles.saturating_sub(1);
        if record.handles > 0 {
            return;
        }
        if record.drained.is_some() {
            state.conns.remove(&self.handle);
        } else if let Some(conn) = state.endpoint.connection_mut(self.handle)
            && !conn.is_closed()
        {
            conn.close(now, VarInt::from_u32(0), Bytes::new());
        }
        drop(state);
        self.shared.wake();
    }
}

/// One subscriber's stream of a connection's events; see
/// [`ConnectionRef::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    conn: ConnectionRef,
    id: u64,
}

impl Subscription {
    /// The next event, a [`Lagged`] count of events missed, or `None` once
    /// the close was delivered.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Lagged>>> {
        let mut state = self.conn.shared.state();
        let Some(record) = state.conns.get_mut(&self.conn.handle) else {
            return Poll::Ready(None);
        };
        match record.subscribers.poll(self.id, cx.waker()) {
            Next::Item(item) => Poll::Ready(Some(item)),
            Next::End => Poll::Ready(None),
            Next::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(record) = self.conn.shared.state().conns.get_mut(&self.conn.handle) {
            record.subscribers.unsubscribe(self.id);
        }
    }
}
