//! [`Endpoint`]: a UDP socket with its QUIC connections.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use tern_endpoint::{EndpointRef, Runtime, SocketConfig, StartError, bind_udp};
use tern_proto::{
    VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    endpoint::EndpointStats,
};

use crate::{Connection, EndpointError, Incoming, connection::Connecting};

/// A QUIC endpoint: one UDP socket, its connections, and the task that
/// drives them. Cheap to clone; every clone is the same endpoint.
///
/// When the last clone is dropped, incoming connections are refused and
/// the event loop ends as soon as the connections still held have closed
/// and drained; the socket closes with it. With no connection left, the
/// port is free again when the drop returns.
///
/// [`rebind`](Self::rebind) moves the endpoint to another socket, and its
/// connections with it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its event loops: one, or one per shard (see
    /// [`server_multicore`](Self::server_multicore)); never empty.
    shards: Vec<EndpointRef>,
    /// The shard `accept` looks at first, so that none is favoured.
    next_accept: Arc<AtomicUsize>,
    client_config: Arc<Mutex<Option<ClientConfig>>>,
}

mod sharded;

impl Endpoint {
    /// A server on `addr` that accepts connections with `config`, on the
    /// default runtime: the current tokio runtime (feature
    /// `runtime-tokio`), else smol's (feature `runtime-smol`).
    ///
    /// # Errors
    /// [`EndpointError`] when the socket cannot be bound or no runtime runs.
    pub fn server(config: ServerConfig, addr: SocketAddr) -> Result<Self, EndpointError> {
        let runtime = tern_endpoint::default_runtime().ok_or(EndpointError::NoRuntime)?;
        Self::new_with_runtime(EndpointConfig::default(), Some(config), addr, runtime)
    }

    /// A client bound to `addr` (use port 0 for any), on the default
    /// runtime (see [`server`](Self::server)). Give it a configuration with
    /// [`set_default_client_config`](Self::set_default_client_config) or use
    /// [`connect_with`](Self::connect_with).
    ///
    /// # Errors
    /// [`EndpointError`] when the socket cannot be bound or no runtime runs.
    pub fn client(addr: SocketAddr) -> Result<Self, EndpointError> {
        let runtime = tern_endpoint::default_runtime().ok_or(EndpointError::NoRuntime)?;
        Self::new_with_runtime(EndpointConfig::default(), None, addr, runtime)
    }

    /// An endpoint with every part given: endpoint settings, an optional
    /// server configuration, the address, and the runtime.
    ///
    /// # Errors
    /// [`EndpointError::Io`] when the socket cannot be bound;
    /// [`EndpointError::Config`] when the server's TLS configuration cannot
    /// run QUIC (its fields may have changed since `ServerConfig::new`
    /// checked it).
    pub fn new_with_runtime(
        config: EndpointConfig,
        server: Option<ServerConfig>,
        addr: SocketAddr,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, EndpointError> {
        if let Some(server) = &server {
            server.validate()?;
        }
        let socket = bind_udp(addr, &socket_config())?;
        let local = socket.local_addr()?;
        let socket = runtime.wrap_udp_socket(socket)?;
        // A wildcard address is no source to send from: let the kernel pick.
        let specific = (!local.ip().is_unspecified()).then_some(local);
        // The connection IDs and the stateless reset key must be
        // unpredictable outside tests: both come from the system's random
        // source.
        let endpoint = tern_proto::endpoint::Endpoint::with_os_seed(
            Arc::new(config),
            server.map(Arc::new),
            specific,
        );
        Ok(Self::from_shards(vec![EndpointRef::start(
            runtime, socket, endpoint,
        )?]))
    }

    fn from_shards(shards: Vec<EndpointRef>) -> Self {
        Self {
            shards,
            next_accept: Arc::default(),
            client_config: Arc::default(),
        }
    }

    /// The first shard: the endpoint itself when it has one.
    fn first(&self) -> &EndpointRef {
        &self.shards[0]
    }

    /// The configuration [`connect`](Self::connect) uses.
    pub fn set_default_client_config(&self, config: ClientConfig) {
        *self
            .client_config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(config);
    }

    /// Connects to `addr`, authenticating the server as `server_name`, with
    /// the default client configuration. Await the result for the
    /// connection.
    ///
    /// # Errors
    /// [`EndpointError`] when there is no client configuration, it cannot
    /// be used for QUIC, or the endpoint is closing.
    pub fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, EndpointError> {
        let config = self
            .client_config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(EndpointError::NoClientConfig)?;
        self.connect_with(&config, addr, server_name)
    }

    /// Connects with an explicit client configuration. An endpoint of
    /// several shards makes its client connections on its first shard.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(
        &self,
        config: &ClientConfig,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, EndpointError> {
        match self.first().connect(config, addr, server_name) {
            Ok(conn) => Ok(Connecting::new(Connection::from_ref(conn))),
            Err(StartError::Connect(error)) => Err(error.into()),
            Err(_) => Err(EndpointError::Closing),
        }
    }

    /// The next incoming connection attempt, before any TLS work: accept,
    /// refuse or ignore it. `None` once the endpoint is closing.
    pub fn accept(&self) -> Accept<'_> {
        Accept { endpoint: self }
    }

    /// The local address of the socket: after [`rebind`](Self::rebind),
    /// the new socket's.
    ///
    /// # Errors
    /// When the operating system cannot tell.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.first().local_addr())
    }

    /// Moves the endpoint to `socket`, a UDP socket you bound (port 0 for
    /// any), and closes the old one: its port is free when this returns.
    /// [`local_addr`](Self::local_addr) reports the new address from then
    /// on.
    ///
    /// The socket gets the setup of the endpoint's first one: non-blocking,
    /// 4 MiB buffers requested, ECN and packet information through
    /// quinn-udp, GSO and GRO where the system has them. Options that must
    /// be set before binding (`IPV6_V6ONLY`, `SO_REUSEPORT`) are yours; the
    /// socket must reach the peers' addresses (an IPv4 socket cannot reach
    /// the IPv6 or IPv4-mapped addresses of a dual-stack endpoint's peers).
    ///
    /// What happens to connections (RFC 9000 §9):
    ///
    /// - **Client connections migrate.** Each sends a PING from the new
    ///   address at once, to a connection ID of the server's it has not used
    ///   before when the server gave it one to spare (§9.5), so the two
    ///   addresses cannot be linked. The server validates the new address
    ///   (§8.2) and follows; the transfers in progress go on, and what was
    ///   in flight to the old socket is sent again. Congestion control and
    ///   the RTT estimate start again unless only the port changed (§9.4).
    ///   [`ConnectionStats::migrations`](crate::ConnectionStats::migrations)
    ///   counts the move; the handshake information stays the same `Arc`.
    /// - **The server's `disable_active_migration` does not stop it**: the
    ///   old socket is gone, and the connection cannot stay behind. A
    ///   server that refuses the new address lets the connection time out.
    /// - **A server's peers do not follow a server that rebinds.** RFC
    ///   9000 §9 makes clients drop packets from a server address they did
    ///   not connect to: its clients see it fall silent, and their
    ///   connections end at their idle timeout. New clients reach it at
    ///   the new address.
    ///
    /// Datagrams that still arrive on the old socket are lost, as after a
    /// real rebinding, and so is a batch it had not taken yet.
    ///
    /// # Errors
    /// When the socket cannot be set up or registered with the runtime (the
    /// endpoint keeps its socket then), the endpoint's event loop has
    /// ended ([`std::io::ErrorKind::NotConnected`]), or the endpoint has
    /// several shards or is one of them ([`std::io::ErrorKind::Unsupported`]:
    /// they share one port, and one socket cannot replace theirs).
    pub fn rebind(&self, socket: std::net::UdpSocket) -> std::io::Result<()> {
        if self.shards.len() > 1 || self.first().shard_stats().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "an endpoint with several shards cannot move to another socket",
            ));
        }
        self.first().rebind(socket, &socket_config())
    }

    /// Closes every connection with `code` and `reason`, refuses incoming
    /// ones, and stops accepting; the event loop ends, and the socket
    /// closes, once every connection has drained.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        for shard in &self.shards {
            shard.close(code, reason);
        }
    }

    /// What the endpoint has dropped and refused since it started: the
    /// client Initials it refused for reasons of its own (the connection
    /// limit, a TLS configuration that cannot run QUIC) are counted here,
    /// and the first of each kind is also logged at `warn`. For an endpoint
    /// with several shards, the sum over them.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        let mut total = EndpointStats::default();
        for shard in &self.shards {
            total += shard.stats();
        }
        total
    }

    /// Connections the endpoint holds now: handshaking, established, or
    /// closing (until they drained).
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shards.iter().map(EndpointRef::open_connections).sum()
    }

    /// Waits until every connection has finished closing.
    pub fn wait_idle(&self) -> WaitIdle<'_> {
        WaitIdle { endpoint: self }
    }
}

/// How the endpoint's sockets are set up, the first and those it moves to.
fn socket_config() -> SocketConfig {
    SocketConfig::default()
}

/// The future of [`Endpoint::accept`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Accept<'a> {
    endpoint: &'a Endpoint,
}

impl Future for Accept<'_> {
    type Output = Option<Incoming>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shards = &self.endpoint.shards;
        let start = self.endpoint.next_accept.fetch_add(1, Ordering::Relaxed);
        let mut closed = 0;
        // Every shard registers the waker, so news on any wakes this task.
        for i in 0..shards.len() {
            match shards[(start + i) % shards.len()].poll_accept(cx) {
                Poll::Ready(Some(incoming)) => return Poll::Ready(Some(Incoming::new(incoming))),
                Poll::Ready(None) => closed += 1,
                Poll::Pending => {}
            }
        }
        // All shards close together; one whose runtime is gone takes no
        // more clients while the others still do.
        if closed == shards.len() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// The future of [`Endpoint::wait_idle`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitIdle<'a> {
    endpoint: &'a Endpoint,
}

impl Future for WaitIdle<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut idle = true;
        for shard in &self.endpoint.shards {
            idle &= shard.poll_idle(cx).is_ready();
        }
        if idle { Poll::Ready(()) } else { Poll::Pending }
    }
}
