//! [`Endpoint`]: a UDP socket with its QUIC connections.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::Bytes;
use tern_endpoint::{EndpointShared, Runtime, SocketConfig, bind_udp};
use tern_proto::{
    VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    endpoint::{ConnectionHandle, EndpointStats},
};

use crate::{Connection, EndpointError, connection::Connecting};

/// A QUIC endpoint: one UDP socket, its connections, and the task that
/// drives them. Cheap to clone; every clone is the same endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    shared: Arc<EndpointShared>,
    client_config: Arc<Mutex<Option<ClientConfig>>>,
}

impl Endpoint {
    /// A server on `addr` that accepts connections with `config`, on the
    /// current tokio runtime.
    ///
    /// # Errors
    /// [`EndpointError`] when the socket cannot be bound or no runtime runs.
    pub fn server(config: ServerConfig, addr: SocketAddr) -> Result<Self, EndpointError> {
        let runtime = tern_endpoint::default_runtime().ok_or(EndpointError::NoRuntime)?;
        Self::new_with_runtime(EndpointConfig::default(), Some(config), addr, runtime)
    }

    /// A client bound to `addr` (use port 0 for any), on the current tokio
    /// runtime. Give it a configuration with
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
        mut config: EndpointConfig,
        server: Option<ServerConfig>,
        addr: SocketAddr,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, EndpointError> {
        if let Some(server) = &server {
            server.validate()?;
        }
        let socket = bind_udp(addr, &SocketConfig::default())?;
        let local = socket.local_addr()?;
        let socket = runtime.wrap_udp_socket(socket)?;
        // The seed of connection IDs and the stateless reset key must be
        // unpredictable outside tests.
        let mut seed = [0; 8];
        crate::random::fill(&mut seed);
        if config.reset_key.is_none() {
            let mut key = [0; 32];
            crate::random::fill(&mut key);
            config.reset_key = Some(key);
        }
        // A wildcard address is no source to send from: let the kernel pick.
        let specific = (!local.ip().is_unspecified()).then_some(local);
        let endpoint = tern_proto::endpoint::Endpoint::new(
            Arc::new(config),
            server.map(Arc::new),
            specific,
            u64::from_le_bytes(seed),
        );
        Ok(Self {
            shared: EndpointShared::start(runtime, socket, endpoint),
            client_config: Arc::default(),
        })
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

    /// Connects with an explicit client configuration.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(
        &self,
        config: &ClientConfig,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, EndpointError> {
        let handle = {
            let mut state = self.shared.state();
            if state.closing {
                return Err(EndpointError::Closing);
            }
            let now = self.shared.now();
            let handle = state.endpoint.connect(now, config, addr, server_name)?;
            state.conns.entry(handle).or_default();
            handle
        };
        self.shared.wake();
        Ok(Connecting::new(Connection::new(
            self.shared.clone(),
            handle,
        )))
    }

    /// The next incoming connection, or `None` once the endpoint is closing.
    /// The handshake may still be running; await
    /// [`Connection::handshake_info`] to wait for it.
    pub fn accept(&self) -> Accept {
        Accept {
            shared: self.shared.clone(),
        }
    }

    /// The local address of the socket.
    ///
    /// # Errors
    /// When the operating system cannot tell.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.local_addr()
    }

    /// Closes every connection with `code` and `reason` and stops accepting.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        {
            let mut state = self.shared.state();
            state.closing = true;
            let now = self.shared.now();
            let handles: Vec<ConnectionHandle> = state.conns.keys().copied().collect();
            for handle in handles {
                if let Some(conn) = state.endpoint.connection_mut(handle) {
                    conn.close(now, code, Bytes::copy_from_slice(reason));
                }
            }
        }
        self.shared.wake();
    }

    /// What the endpoint has dropped and refused since it started: the
    /// client Initials it refused for reasons of its own (the connection
    /// limit, a TLS configuration that cannot run QUIC) are counted here,
    /// and the first of each kind is also logged at `warn`.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        self.shared.state().endpoint.stats()
    }

    /// Waits until every connection has finished closing.
    pub fn wait_idle(&self) -> WaitIdle {
        WaitIdle {
            shared: self.shared.clone(),
        }
    }
}

/// The future of [`Endpoint::accept`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Accept {
    shared: Arc<EndpointShared>,
}

impl Future for Accept {
    type Output = Option<Connection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.state();
        if let Some(handle) = state.accepted.pop_front() {
            return Poll::Ready(Some(Connection::new_locked(
                &self.shared,
                &mut state,
                handle,
            )));
        }
        if state.closing {
            return Poll::Ready(None);
        }
        state.register_endpoint_waker(cx.waker());
        Poll::Pending
    }
}

/// The future of [`Endpoint::wait_idle`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitIdle {
    shared: Arc<EndpointShared>,
}

impl Future for WaitIdle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.state();
        if state.endpoint.connection_count() == 0 {
            return Poll::Ready(());
        }
        state.register_endpoint_waker(cx.waker());
        Poll::Pending
    }
}
