//! [`EndpointRef`]: the application's handle to an endpoint and its event
//! loop, and [`IncomingRef`], a client's first Initial waiting for the
//! application's decision.
//!
//! Lifecycle: the event loop task runs while an `EndpointRef` exists or a
//! connection lives. When the last `EndpointRef` is dropped, incomings are
//! refused, the connections nobody holds are closed, and the loop ends as
//! soon as every held connection has drained; the socket closes with it,
//! so the port is free again. With no connection left, that happens before
//! the drop returns. [`EndpointRef::rebind`] replaces the socket while the
//! loop runs; the old one closes before it returns.

use std::{
    io,
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use tern_proto::{
    VarInt,
    config::{ClientConfig, ServerConfig},
    endpoint::{AcceptError, ConnectError, Endpoint, EndpointStats, IncomingId, RetryError},
};

use crate::{
    AsyncUdpSocket, ConnectionRef, Runtime, SocketConfig,
    shard::{Router, ShardLink, ShardStats},
    shared::EndpointShared,
};

/// Why a connection could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The endpoint is closing, was dropped, or its event loop is gone.
    Closing,
    /// The protocol refused the configuration.
    Connect(ConnectError),
}

/// What one shard of an endpoint starts with
/// ([`EndpointRef::start_sharded`]).
#[derive(Debug)]
pub struct ShardSetup {
    /// The runtime its event loop runs on.
    pub runtime: Arc<dyn Runtime>,
    /// Its socket, bound with `SO_REUSEPORT` to the endpoint's address.
    pub socket: Arc<dyn AsyncUdpSocket>,
    /// Its protocol endpoint, made from its shard's configuration.
    pub endpoint: Endpoint,
}

/// The application's handle to an endpoint. Clones count; see the module
/// documentation for what the last drop does.
pub struct EndpointRef {
    shared: Arc<EndpointShared>,
    /// Its index and the other shards, when it is one shard of several.
    shard: Option<(usize, Arc<Router>)>,
}

impl std::fmt::Debug for EndpointRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EndpointRef").field(&self.shared).finish()
    }
}

impl EndpointRef {
    /// Starts the event loop for `endpoint` on `socket`, on `runtime`.
    ///
    /// # Errors
    /// When the socket cannot tell its local address.
    pub fn start(
        runtime: Arc<dyn Runtime>,
        socket: Arc<dyn AsyncUdpSocket>,
        endpoint: Endpoint,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let shared = Arc::new(EndpointShared::new(runtime, socket, local, endpoint));
        shared.state().endpoint_refs = 1;
        crate::driver::spawn(&shared, None);
        Ok(Self {
            shared,
            shard: None,
        })
    }

    /// Starts the event loops of the shards of one endpoint, one per
    /// element of `shards` (a runtime, a socket, and the protocol endpoint
    /// of that shard), and links them: a datagram one shard receives for a
    /// connection ID that names another (see
    /// [`ConnectionIdGenerator::shard_of`](tern_proto::ConnectionIdGenerator::shard_of))
    /// is handed to that shard on a queue of `queue` datagrams, dropped
    /// when the queue is full. The sockets should share one port with
    /// `SO_REUSEPORT` ([`SocketConfig::reuse_port`](crate::SocketConfig::reuse_port)),
    /// and the endpoints come from
    /// [`EndpointConfig::shards`](tern_proto::config::EndpointConfig::shards),
    /// so that the `i`th makes IDs of shard `i` and all share their keys.
    ///
    /// # Errors
    /// When a socket cannot tell its local address; no loop is started
    /// then.
    pub fn start_sharded(shards: Vec<ShardSetup>, queue: usize) -> std::io::Result<Vec<Self>> {
        let mut parts = Vec::with_capacity(shards.len());
        for ShardSetup {
            runtime,
            socket,
            endpoint,
        } in shards
        {
            let local = socket.local_addr()?;
            let generator = endpoint.cid_generator().clone();
            let shared = Arc::new(EndpointShared::new(runtime, socket, local, endpoint));
            shared.state().endpoint_refs = 1;
            let (sender, receiver) = std::sync::mpsc::sync_channel(queue);
            parts.push((shared, sender, receiver, generator));
        }
        let router = Arc::new(Router::new(
            parts
                .iter()
                .map(|(shared, sender, _, _)| (shared.clone(), sender.clone()))
                .collect(),
        ));
        Ok(parts
            .into_iter()
            .enumerate()
            .map(|(index, (shared, _, receiver, generator))| {
                let link = ShardLink::new(index, router.clone(), receiver, generator);
                crate::driver::spawn(&shared, Some(link));
                Self {
                    shared,
                    shard: Some((index, router.clone())),
                }
            })
            .collect())
    }

    /// The hand-over counters of this shard, when the endpoint is one
    /// shard of several ([`start_sharded`](Self::start_sharded)).
    #[must_use]
    pub fn shard_stats(&self) -> Option<ShardStats> {
        let (index, router) = self.shard.as_ref()?;
        let mut stats = router.stats(*index);
        stats.connections = self.open_connections();
        Some(stats)
    }

    /// A future that completes when this endpoint's event loop has ended,
    /// normally or because its runtime shut down; it does not keep the
    /// endpoint alive as a handle does.
    pub fn stopped(&self) -> Stopped {
        Stopped {
            shared: self.shared.clone(),
        }
    }

    /// The current time, from the runtime's clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// The runtime the endpoint runs on.
    #[must_use]
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.shared.runtime()
    }

    /// The socket's local address as bound; after
    /// [`rebind`](Self::rebind), the new socket's.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr()
    }

    /// Moves the endpoint to `socket`, a UDP socket the caller bound, and
    /// closes the old one.
    ///
    /// The new socket is set up as [`configure_bound`](crate::configure_bound)
    /// sets it up with `config` (non-blocking, buffer sizes), then wrapped
    /// by the runtime, which gives it its own quinn-udp state (GSO and GRO
    /// support, ECN and packet info). Every connection is told
    /// ([`Endpoint::rebind`]): each sends from the new address at once,
    /// which migrates it (RFC 9000 §9.2), and the event loop is woken to
    /// send those packets and to receive on the new socket from its next
    /// turn. A batch of datagrams the old socket had not taken yet is
    /// dropped with it (RFC 9000 §9.5: it carries the connection ID of the
    /// old address), as are datagrams still arriving there; loss recovery
    /// sends their contents again.
    ///
    /// # Errors
    /// When `socket` cannot be set up, its local address cannot be read or
    /// the runtime cannot register it (the endpoint keeps its socket
    /// then), and `NotConnected` when the event loop has ended.
    pub fn rebind(&self, socket: UdpSocket, config: &SocketConfig) -> io::Result<()> {
        if self.shared.state().stopped {
            return Err(ended());
        }
        crate::configure_bound(&socket, config)?;
        let socket = self.shared.runtime().wrap_udp_socket(socket)?;
        let local = socket.local_addr()?;
        let old = {
            let mut state = self.shared.state();
            if state.stopped {
                return Err(ended());
            }
            let now = self.shared.now();
            state.rebind(now, socket, local)
        };
        // The driver holds the socket only within a turn, under the lock:
        // this was the last reference, and the old socket closes here.
        drop(old);
        self.shared.wake();
        Ok(())
    }

    /// Starts a client connection.
    ///
    /// # Errors
    /// [`StartError`] when the endpoint is closing or the configuration
    /// cannot be used.
    pub fn connect(
        &self,
        config: &ClientConfig,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionRef, StartError> {
        let conn = {
            let mut state = self.shared.state();
            if !state.accepting() {
                return Err(StartError::Closing);
            }
            let now = self.shared.now();
            let handle = state
                .endpoint
                .connect(now, config, addr, server_name)
                .map_err(StartError::Connect)?;
            let conn = ConnectionRef::new_locked(&self.shared, &mut state, handle);
            // Its first flight leaves now, not when the driver's turn comes.
            crate::driver::send_now(&mut state, handle, now);
            conn
        };
        self.shared.wake();
        Ok(conn)
    }

    /// The next incoming connection; `None` once the endpoint is closing
    /// or its event loop is gone.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Option<IncomingRef>> {
        let mut state = self.shared.state();
        if !state.accepting() {
            return Poll::Ready(None);
        }
        if let Some(id) = state.incoming.pop_front() {
            state.incoming_out += 1;
            return Poll::Ready(Some(IncomingRef {
                shared: self.shared.clone(),
                id,
                decided: false,
                defer: self.shard.is_some(),
            }));
        }
        state.endpoint_wakers.register(cx.waker());
        Poll::Pending
    }

    /// Closes every connection with `code` and `reason`, refuses incomings,
    /// and stops taking new ones; the event loop ends once every connection
    /// has drained.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        {
            let mut state = self.shared.state();
            state.closing = true;
            state.refuse_queued();
            let now = self.shared.now();
            let handles: Vec<_> = state.conns.keys().copied().collect();
            for handle in handles {
                if let Some(conn) = state.endpoint.connection_mut(handle) {
                    conn.close(now, code, Bytes::copy_from_slice(reason));
                }
            }
            state.endpoint_wakers.wake();
        }
        self.shared.wake();
    }

    /// The endpoint's counters.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        self.shared.state().endpoint.stats()
    }

    /// Connections held now: handshaking, established, or closing.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.state().endpoint.connection_count()
    }

    /// Ready once no connection is left (or the event loop is gone).
    pub fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.state();
        if state.endpoint.connection_count() == 0 || state.stopped {
            return Poll::Ready(());
        }
        state.endpoint_wakers.register(cx.waker());
        Poll::Pending
    }
}

/// The error of an operation that needs the event loop, which has ended.
fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the endpoint's event loop has ended",
    )
}

impl Clone for EndpointRef {
    fn clone(&self) -> Self {
        self.shared.state().endpoint_refs += 1;
        Self {
            shared: self.shared.clone(),
            shard: self.shard.clone(),
        }
    }
}

/// The future of [`EndpointRef::stopped`].
#[must_use = "futures do nothing unless awaited"]
pub struct Stopped {
    shared: Arc<EndpointShared>,
}

impl std::fmt::Debug for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Stopped").field(&self.shared).finish()
    }
}

impl std::future::Future for Stopped {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.state();
        if state.stopped {
            return Poll::Ready(());
        }
        state.endpoint_wakers.register(cx.waker());
        Poll::Pending
    }
}

impl Drop for EndpointRef {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut state = self.shared.state();
        state.endpoint_refs = state.endpoint_refs.saturating_sub(1);
        if state.endpoint_refs > 0 {
            return;
        }
        state.refuse_queued();
        state.close_unheld(now);
        state.endpoint_wakers.wake();
        // Nothing left to drive: close the socket now, so that the port is
        // free when this returns; the driver ends at its next turn.
        if state.finished() && !state.stopped {
            // Refusals just queued go out first, as far as the socket
            // takes them without waiting.
            let now = self.shared.now();
            crate::driver::flush(&mut state, now);
            state.stop(false);
        }
        drop(state);
        self.shared.wake();
    }
}

/// A client's first Initial, held by the endpoint until the application
/// accepts, refuses, retries or ignores it. Dropping it undecided refuses
/// it.
pub struct IncomingRef {
    shared: Arc<EndpointShared>,
    id: IncomingId,
    decided: bool,
    /// Its endpoint is one shard of several: the handshake's work is left
    /// to the shard's event loop (see [`accept`](Self::accept)).
    defer: bool,
}

impl std::fmt::Debug for IncomingRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IncomingRef").field(&self.id).finish()
    }
}

impl IncomingRef {
    fn read<T>(&self, f: impl FnOnce(&tern_proto::endpoint::IncomingInfo) -> T) -> Option<T> {
        self.shared.state().endpoint.incoming(self.id).map(f)
    }

    /// The client's address.
    #[must_use]
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.read(tern_proto::endpoint::IncomingInfo::remote)
    }

    /// The local IP the client sent to, where the platform reports it.
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.read(tern_proto::endpoint::IncomingInfo::local_ip)
            .flatten()
    }

    /// Whether the client's address was validated before its handshake: it
    /// brought a Retry token, or a NEW_TOKEN token from an earlier
    /// connection.
    #[must_use]
    pub fn remote_address_validated(&self) -> bool {
        self.read(tern_proto::endpoint::IncomingInfo::remote_address_validated)
            .unwrap_or(false)
    }

    /// Accepts it: the handshake starts, with `server` for this connection
    /// or the endpoint's server configuration.
    ///
    /// With one event loop, the client's first datagrams are processed and
    /// the server's first flight sent from the calling task, at once. At a
    /// shard of several, the connection is made here and the handshake's
    /// work (TLS, the certificate signature) is left to the shard's event
    /// loop, on its own thread: one task accepting for every shard would
    /// otherwise do every shard's signatures itself, holding each shard's
    /// lock meanwhile.
    ///
    /// # Errors
    /// [`AcceptError`] when the endpoint cannot take it (the client is
    /// refused then).
    pub fn accept(
        mut self,
        server: Option<Arc<ServerConfig>>,
    ) -> Result<ConnectionRef, AcceptError> {
        self.decided = true;
        let conn = {
            let mut state = self.shared.state();
            state.incoming_out = state.incoming_out.saturating_sub(1);
            if state.stopped {
                return Err(AcceptError::UnknownIncoming);
            }
            let now = self.shared.now();
            if self.defer {
                let handle = state
                    .endpoint
                    .accept_incoming_deferred(now, self.id, server)?;
                ConnectionRef::new_locked(&self.shared, &mut state, handle)
            } else {
                let handle = state.endpoint.accept_incoming(now, self.id, server)?;
                let conn = ConnectionRef::new_locked(&self.shared, &mut state, handle);
                // Its first flight leaves now, not when the driver's turn
                // comes.
                crate::driver::send_now(&mut state, handle, now);
                conn
            }
        };
        self.shared.wake();
        Ok(conn)
    }

    /// Answers it with a Retry packet (RFC 9000 §8.1.2), whatever the
    /// server's retry policy: the client comes back with a token that
    /// proves its address, as a new incoming whose
    /// [`remote_address_validated`](Self::remote_address_validated) is
    /// true. Nothing is kept meanwhile. On success, or when the endpoint no
    /// longer holds it, this one is decided and dropping it does nothing.
    ///
    /// # Errors
    /// [`RetryError::AddressValidated`] when the client already proved its
    /// address: it is still undecided, to accept or refuse.
    /// [`RetryError::UnknownIncoming`] when it was decided already, timed
    /// out, or the endpoint stopped.
    pub fn retry(&mut self) -> Result<(), RetryError> {
        if self.decided {
            return Err(RetryError::UnknownIncoming);
        }
        let result = {
            let mut state = self.shared.state();
            let result = if state.stopped {
                Err(RetryError::UnknownIncoming)
            } else {
                let now = self.shared.now();
                state.endpoint.retry_incoming(now, self.id)
            };
            if !matches!(result, Err(RetryError::AddressValidated)) {
                self.decided = true;
                state.incoming_out = state.incoming_out.saturating_sub(1);
            }
            result
        };
        if result.is_ok() {
            // The Retry leaves at the driver's next turn.
            self.shared.wake();
        }
        result
    }

    /// Refuses it: the client gets CONNECTION_REFUSED at once.
    pub fn refuse(mut self) {
        self.decide(true);
    }

    /// Ignores it: nothing is sent, and the client times out.
    pub fn ignore(mut self) {
        self.decide(false);
    }

    fn decide(&mut self, refuse: bool) {
        if std::mem::replace(&mut self.decided, true) {
            return;
        }
        {
            let mut state = self.shared.state();
            state.incoming_out = state.incoming_out.saturating_sub(1);
            if refuse {
                state.endpoint.refuse_incoming(self.id);
            } else {
                state.endpoint.ignore_incoming(self.id);
            }
        }
        self.shared.wake();
    }
}

impl Drop for IncomingRef {
    fn drop(&mut self) {
        self.decide(true);
    }
}
