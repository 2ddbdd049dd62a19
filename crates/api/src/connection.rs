//! [`Connection`]: an async handle to one QUIC connection.

use std::{
    future::{Future, poll_fn},
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use tern_endpoint::{ConnectionRef, Wait};
use tern_proto::{
    Dir, HandshakeInfo, VarInt,
    connection::{ConnectionError, ConnectionStats, ExportError, SendDatagramError},
};

use crate::{Events, RecvStream, SendStream};

/// Events a subscriber's queue holds before it is told it lagged.
pub const DEFAULT_EVENT_CAPACITY: usize = 64;

/// A QUIC connection. Cheap to clone: every clone is the same connection,
/// and [`handshake_info`](Self::handshake_info) returns the same `Arc` on
/// all of them, on client and server, for the connection's whole life.
///
/// When the last handle (connections, streams, event streams) is dropped,
/// the connection is closed with code 0. Every method keeps answering
/// after the connection closed: with the close reason, the final stats and
/// the snapshot.
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) inner: ConnectionRef,
}

impl Connection {
    pub(crate) fn from_ref(inner: ConnectionRef) -> Self {
        Self { inner }
    }

    /// An identifier of the connection, unique within its endpoint for the
    /// endpoint's life.
    #[must_use]
    pub fn stable_id(&self) -> usize {
        usize::try_from(self.inner.handle().0).unwrap_or(usize::MAX)
    }

    /// The handshake information, captured once when the handshake
    /// completed: resolves then, at once if it already has, or with the
    /// connection's error if the handshake failed. It works on the server
    /// too, long after the server freed its TLS session, and after the
    /// connection closed.
    ///
    /// # Errors
    /// The [`ConnectionError`] that ended the handshake.
    pub async fn handshake_info(&self) -> Result<Arc<HandshakeInfo>, ConnectionError> {
        poll_fn(|cx| self.inner.poll_handshake_info(cx)).await
    }

    /// The handshake information if the handshake has completed.
    #[must_use]
    pub fn try_handshake_info(&self) -> Option<Arc<HandshakeInfo>> {
        self.inner.handshake_info()
    }

    /// Opens a bidirectional stream, waiting while the peer's stream limit
    /// is reached.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = poll_fn(|cx| {
            self.inner
                .poll_op(cx, Wait::Open(Dir::Bi), |c| c.open_stream(Dir::Bi))
        })
        .await?;
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
        let id = poll_fn(|cx| {
            self.inner
                .poll_op(cx, Wait::Open(Dir::Uni), |c| c.open_stream(Dir::Uni))
        })
        .await?;
        Ok(SendStream::new(self.clone(), id))
    }

    /// The next bidirectional stream the peer opens.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = poll_fn(|cx| {
            self.inner
                .poll_op(cx, Wait::Accept(Dir::Bi), |c| c.accept_stream(Dir::Bi))
        })
        .await?;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::accepted(self.clone(), id),
        ))
    }

    /// The next unidirectional stream the peer opens.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        let id = poll_fn(|cx| {
            self.inner
                .poll_op(cx, Wait::Accept(Dir::Uni), |c| c.accept_stream(Dir::Uni))
        })
        .await?;
        Ok(RecvStream::accepted(self.clone(), id))
    }

    /// Queues an unreliable datagram (RFC 9221). When the outgoing queue is
    /// full, the oldest queued datagram is dropped to make room; use
    /// [`send_datagram_wait`](Self::send_datagram_wait) to wait instead.
    ///
    /// # Errors
    /// [`SendDatagramError`] when the peer does not take datagrams, it is too
    /// large, or the connection is closed.
    pub fn send_datagram(&self, data: Bytes) -> Result<(), SendDatagramError> {
        self.inner
            .with(|c| c.send_datagram(data))
            .unwrap_or(Err(SendDatagramError::ConnectionClosed))
    }

    /// Queues an unreliable datagram, waiting while the outgoing queue is
    /// full rather than dropping an older one.
    ///
    /// # Errors
    /// As [`send_datagram`](Self::send_datagram).
    pub async fn send_datagram_wait(&self, data: Bytes) -> Result<(), SendDatagramError> {
        let result = poll_fn(|cx| {
            self.inner.poll_op(cx, Wait::DatagramSend, |c| {
                match c.try_send_datagram(data.clone()) {
                    Err(SendDatagramError::Blocked) => None,
                    other => Some(other),
                }
            })
        })
        .await;
        result.unwrap_or(Err(SendDatagramError::ConnectionClosed))
    }

    /// The largest datagram [`send_datagram`](Self::send_datagram) takes
    /// now, or `None` when the peer takes none (or has not said yet).
    #[must_use]
    pub fn max_datagram_size(&self) -> Option<usize> {
        self.inner.with(|c| c.max_datagram_size()).ok().flatten()
    }

    /// Bytes the outgoing datagram queue takes before a datagram would have
    /// to wait ([`send_datagram_wait`](Self::send_datagram_wait)) or push an
    /// older one out ([`send_datagram`](Self::send_datagram)).
    #[must_use]
    pub fn datagram_send_buffer_space(&self) -> usize {
        self.inner
            .with(|c| c.datagram_send_buffer_space())
            .unwrap_or(0)
    }

    /// The next datagram from the peer.
    ///
    /// # Errors
    /// The connection's error once it closed.
    pub async fn read_datagram(&self) -> Result<Bytes, ConnectionError> {
        poll_fn(|cx| {
            self.inner.poll_op(
                cx,
                Wait::DatagramRecv,
                tern_proto::connection::Connection::recv_datagram,
            )
        })
        .await
    }

    /// Whether the server accepted the early data this connection sent in
    /// 0-RTT (see [`Connecting::into_0rtt`]), once the handshake completed:
    /// `true` when it did; `false` when it rejected it (Tern then sent it
    /// again in 1-RTT packets), when no 0-RTT was sent, or when the
    /// handshake failed. On a server, whether early data came and was
    /// accepted. The handshake information's
    /// [`early_data`](HandshakeInfo::early_data) gives the same outcome.
    pub async fn zero_rtt_accepted(&self) -> bool {
        self.handshake_info()
            .await
            .is_ok_and(|info| info.early_data() == tern_proto::EarlyData::Accepted)
    }

    /// Starts a 1-RTT key update now (RFC 9001 §6); returns whether one
    /// started. It does not while the handshake is unconfirmed or the
    /// previous update is unacknowledged, and never after close.
    pub fn force_key_update(&self) -> bool {
        let now = self.inner.now();
        self.inner
            .with(|c| c.initiate_key_update(now))
            .unwrap_or(false)
    }

    /// Moves a client's connection to a path from `local_ip`, another
    /// address of this host, once that path is validated (RFC 9000 §8.2,
    /// §9.2); the connection stays where it is until the server answers,
    /// and stays for good if it never does. The endpoint must be bound to
    /// a wildcard address (`0.0.0.0:port` or `[::]:port`), so that its
    /// socket can send from `local_ip`. Watch [`stats`](Self::stats)
    /// (`migrations`, `path_validations_failed`) for the outcome.
    ///
    /// # Errors
    /// [`MigrateError`](crate::MigrateError) says why no path was opened:
    /// a server, a handshake not yet confirmed, a server that sent
    /// `disable_active_migration`, no unused connection ID of the
    /// server's, another path being validated, an endpoint bound to one
    /// address, the path in use, or a closed connection.
    pub fn migrate(&self, local_ip: IpAddr) -> Result<(), crate::MigrateError> {
        let now = self.inner.now();
        self.inner
            .with(|c| c.migrate(now, local_ip))
            .unwrap_or(Err(crate::MigrateError::Closed))
    }

    /// Counters, RTT, congestion window, memory-relevant state; after the
    /// connection ended, its final values.
    #[must_use]
    pub fn stats(&self) -> ConnectionStats {
        self.inner.stats()
    }

    /// The peer's address now: where the connection sends. On a server it
    /// follows a client that moved (RFC 9000 §9: a NAT rebinding, or the
    /// client's [`Endpoint::rebind`](crate::Endpoint::rebind)) once a
    /// packet from the new address showed the move. Once the connection
    /// has drained, the address it used last. `None` only while the
    /// connection is not known to its endpoint.
    #[must_use]
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.inner
            .inspect(|c| Some(c.remote_address()), |d| Some(d.remote_address))
            .flatten()
    }

    /// The local IP the peer sends to, where the platform reports it: on a
    /// wildcard socket (`0.0.0.0`, `[::]`) the address the client chose,
    /// which replies go out from.
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.inner
            .inspect(tern_proto::connection::Connection::local_ip, |d| {
                d.handshake_info
                    .as_ref()
                    .and_then(|i| i.local_address())
                    .map(|a| a.ip())
            })
            .flatten()
    }

    /// Closes the connection with an application error code and reason.
    /// From then on every operation fails with
    /// [`ConnectionError::LocallyClosed`].
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        self.inner.close(code, reason);
    }

    /// Why the connection closed, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<ConnectionError> {
        self.inner.close_reason()
    }

    /// Resolves with the reason once the connection has closed.
    pub async fn closed(&self) -> ConnectionError {
        match poll_fn(|cx| self.inner.poll_op(cx, Wait::Closed, |_| None::<()>)).await {
            Err(error) => error,
            Ok(()) => ConnectionError::EndpointStopped,
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
        self.inner
            .with(|c| c.export_keying_material(out, label, context))
            .unwrap_or_else(|error| {
                Err(tern_proto::connection::InvalidState {
                    what: format!("the connection is closed: {error}"),
                }
                .into())
            })
    }

    /// A new subscription to the connection's events: `Connected` with the
    /// snapshot (replayed if the handshake already completed), peer
    /// streams, datagrams, and `Closed`, after which the stream ends. Each
    /// subscriber has its own queue of [`DEFAULT_EVENT_CAPACITY`] events; a
    /// subscriber that falls behind gets `Err(Lagged(n))` in place of the
    /// `n` events it missed, never a silent gap.
    pub fn events(&self) -> Events {
        self.events_with_capacity(DEFAULT_EVENT_CAPACITY)
    }

    /// [`events`](Self::events) with a queue of `capacity` events (at
    /// least 1).
    pub fn events_with_capacity(&self, capacity: usize) -> Events {
        Events::new(self.inner.subscribe(capacity))
    }
}

/// A connection whose handshake is running: await it for the
/// [`Connection`], or read its handshake information when it comes.
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
    pub fn into_connection(self) -> Connection {
        self.conn
    }

    /// The connection at once, sending in 0-RTT (RFC 9001 §4.6), when a
    /// session ticket from an earlier connection to this server allows it,
    /// or when the handshake has already completed (on a fast path it can,
    /// before this is called; nothing then goes in 0-RTT); `Err(self)`
    /// otherwise (no ticket, a server that did not offer early data, a TLS
    /// configuration without `enable_early_data`), to be awaited as usual.
    ///
    /// On a client, streams opened and written before the handshake
    /// completes go out in 0-RTT packets, within the limits the server gave
    /// the connection that issued the ticket. If the server rejects the
    /// early data, Tern sends it again in 1-RTT packets by itself;
    /// [`Connection::zero_rtt_accepted`] says which happened. 0-RTT data can
    /// be replayed by an attacker (RFC 8446 §8): send in it only requests
    /// that are safe to act on twice.
    ///
    /// On a server it always succeeds: the connection can answer streams
    /// that came in 0-RTT before the handshake completes (0.5-RTT), saving
    /// the client a round trip ([`RecvStream::is_0rtt`](crate::RecvStream::is_0rtt)
    /// says which streams did).
    ///
    /// # Errors
    /// `self`, when 0-RTT is not possible.
    pub fn into_0rtt(self) -> Result<Connection, Self> {
        let enabled = self
            .conn
            .inner
            .with(|c| c.side().is_server() || !c.is_handshaking() || c.enable_zero_rtt())
            .unwrap_or(false);
        if enabled { Ok(self.conn) } else { Err(self) }
    }

    /// The handshake information once the handshake completed (see
    /// [`Connection::handshake_info`]).
    ///
    /// # Errors
    /// The [`ConnectionError`] that ended the handshake.
    pub async fn handshake_info(&self) -> Result<Arc<HandshakeInfo>, ConnectionError> {
        self.conn.handshake_info().await
    }

    /// The peer's address.
    #[must_use]
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.conn.remote_address()
    }

    /// The local IP the peer sends to (see [`Connection::local_ip`]).
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.conn.local_ip()
    }
}

impl Future for Connecting {
    type Output = Result<Connection, ConnectionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.conn
            .inner
            .poll_handshake_info(cx)
            .map_ok(|_| self.conn.clone())
    }
}
