//! A client and a server endpoint on the simulated network, connected, for
//! tests that go beyond the handshake: the connections are reachable
//! between runs, and the test drives them like an application would.

use std::{sync::Arc, time::Duration};

use tern_proto::{
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Connection, Event},
    endpoint::{ConnectionHandle, Endpoint},
};

use crate::{
    LinkConfig, RunOutcome, Sim, certs,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

/// Two endpoints and their connection, on one simulated path.
pub struct Pair {
    /// The network and both endpoints (node [`SERVER`] and node [`CLIENT`]).
    pub sim: Sim<Endpoint>,
    /// The connections and the events taken from them.
    pub state: PairState,
}

/// The connections of a [`Pair`] and the events taken from them.
#[derive(Debug)]
pub struct PairState {
    /// The client's connection.
    pub client_conn: ConnectionHandle,
    /// The server's connection, once accepted.
    pub server_conn: Option<ConnectionHandle>,
    /// Events taken from the client's endpoint, in order.
    pub client_events: Vec<Event>,
    /// Events taken from the server's endpoint, in order.
    pub server_events: Vec<Event>,
    /// Accept every client at the server as it arrives (the default); a
    /// test that decides on clients itself clears it and polls the
    /// server's incomings.
    pub auto_accept: bool,
}

/// The pair as a predicate of [`Pair::run_until`] sees it.
pub struct PairView<'a> {
    /// The network and both endpoints.
    pub sim: &'a mut Sim<Endpoint>,
    /// The connections and their events.
    pub state: &'a mut PairState,
}

/// Node index of the server in [`Pair::sim`].
pub const SERVER: usize = 0;
/// Node index of the client in [`Pair::sim`].
pub const CLIENT: usize = 1;

impl Pair {
    /// Both endpoints with `transport` settings on both sides, over `link`,
    /// the client connecting (not yet run).
    ///
    /// # Panics
    /// When the test certificates cannot be made (they always can).
    #[must_use]
    pub fn new(
        seed: u64,
        link: LinkConfig,
        transport: TransportConfig,
        endpoint: EndpointConfig,
    ) -> Self {
        let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
        let transport = Arc::new(transport);
        let mut server_config =
            ServerConfig::new(server_tls).expect("the test tls config runs quic");
        server_config.transport = transport.clone();
        let mut client_config =
            ClientConfig::new(client_tls).expect("the test tls config runs quic");
        client_config.transport = transport;
        Self::with_configs(seed, link, client_config, server_config, endpoint)
    }

    /// Both endpoints with the given client and server configurations (for
    /// tests that change their TLS settings), over `link`, the client
    /// connecting to `localhost` (not yet run).
    ///
    /// # Panics
    /// When the client configuration is not usable for QUIC.
    #[must_use]
    pub fn with_configs(
        seed: u64,
        link: LinkConfig,
        client_config: ClientConfig,
        server_config: ServerConfig,
        endpoint: EndpointConfig,
    ) -> Self {
        Self::build(seed, link, client_config, server_config, endpoint, false)
    }

    /// As [`with_configs`](Self::with_configs), with endpoint settings of
    /// each side's own (a client and a server that support different
    /// versions, say).
    ///
    /// # Panics
    /// When the client configuration is not usable for QUIC.
    #[must_use]
    pub fn with_endpoints(
        seed: u64,
        link: LinkConfig,
        client_config: ClientConfig,
        server_config: ServerConfig,
        (client_endpoint, server_endpoint): (EndpointConfig, EndpointConfig),
    ) -> Self {
        Self::build_split(
            seed,
            link,
            client_config,
            server_config,
            (Arc::new(client_endpoint), Arc::new(server_endpoint)),
            false,
        )
    }

    /// As [`with_configs`](Self::with_configs), with both endpoints on
    /// sockets bound to the wildcard address: each answers from whichever
    /// of its node's addresses a datagram reached, and can send from any
    /// (add addresses with [`Sim::add_address`]).
    ///
    /// # Panics
    /// When the client configuration is not usable for QUIC.
    #[must_use]
    pub fn with_wildcard_sockets(
        seed: u64,
        link: LinkConfig,
        client_config: ClientConfig,
        server_config: ServerConfig,
        endpoint: EndpointConfig,
    ) -> Self {
        Self::build(seed, link, client_config, server_config, endpoint, true)
    }

    fn build(
        seed: u64,
        link: LinkConfig,
        client_config: ClientConfig,
        server_config: ServerConfig,
        endpoint: EndpointConfig,
        wildcard: bool,
    ) -> Self {
        let endpoint = Arc::new(endpoint);
        Self::build_split(
            seed,
            link,
            client_config,
            server_config,
            (endpoint.clone(), endpoint),
            wildcard,
        )
    }

    fn build_split(
        seed: u64,
        link: LinkConfig,
        client_config: ClientConfig,
        server_config: ServerConfig,
        (client_endpoint, endpoint): (Arc<EndpointConfig>, Arc<EndpointConfig>),
        wildcard: bool,
    ) -> Self {
        let mut sim = Sim::new(seed);
        sim.set_default_link(link);
        let bound = |addr| (!wildcard).then_some(addr);
        let server = Endpoint::new(
            endpoint,
            Some(Arc::new(server_config)),
            bound(SERVER_ADDR),
            seed.wrapping_mul(2),
        );
        let client = Endpoint::new(
            client_endpoint,
            None,
            bound(CLIENT_ADDR),
            seed.wrapping_mul(2) + 1,
        );
        assert_eq!(sim.add_node(SERVER_ADDR, server), SERVER);
        assert_eq!(sim.add_node(CLIENT_ADDR, client), CLIENT);
        let now = sim.now();
        let client_conn = sim
            .node_mut(CLIENT)
            .connect(now, &client_config, SERVER_ADDR, "localhost")
            .expect("the test client config is usable for QUIC");
        let state = PairState {
            client_conn,
            server_conn: None,
            client_events: Vec::new(),
            server_events: Vec::new(),
            auto_accept: true,
        };
        Self { sim, state }
    }

    /// Replaces the server's endpoint with a fresh one at the same address,
    /// with the test certificate, `endpoint` and `seed`: a server that
    /// restarted, which knows none of the connections (its stateless reset
    /// key is `endpoint`'s, if set).
    ///
    /// # Panics
    /// When the test certificates cannot be made (they always can).
    pub fn restart_server(&mut self, endpoint: EndpointConfig, seed: u64) {
        let (_, tls) = certs::test_configs(&[b"hq-interop"]);
        let config = ServerConfig::new(tls).expect("the test tls config runs quic");
        *self.sim.node_mut(SERVER) = Endpoint::new(
            Arc::new(endpoint),
            Some(Arc::new(config)),
            Some(SERVER_ADDR),
            seed,
        );
    }

    /// Runs until both sides are connected and the handshake confirmed.
    pub fn connect(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |pair| {
            pair.client()
                .is_some_and(Connection::is_handshake_confirmed)
                && pair
                    .server()
                    .is_some_and(Connection::is_handshake_confirmed)
        })
        .is_satisfied()
    }

    /// Runs until `done` holds (checked after every instant), taking the
    /// endpoints' events as they come.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut PairView<'_>) -> bool,
    ) -> RunOutcome {
        let state = &mut self.state;
        self.sim.run_until(
            |sim| {
                state.collect(sim);
                done(&mut PairView { sim, state })
            },
            limit,
        )
    }

    /// A view of the pair, for the accessors.
    pub fn view(&mut self) -> PairView<'_> {
        PairView {
            sim: &mut self.sim,
            state: &mut self.state,
        }
    }
}

impl PairView<'_> {
    /// The client's connection, while it exists.
    #[must_use]
    pub fn client(&self) -> Option<&Connection> {
        self.sim.node(CLIENT).connection(self.state.client_conn)
    }

    /// The client's connection, to act on it.
    pub fn client_mut(&mut self) -> Option<&mut Connection> {
        self.sim
            .node_mut(CLIENT)
            .connection_mut(self.state.client_conn)
    }

    /// The server's connection, once accepted and while it exists.
    #[must_use]
    pub fn server(&self) -> Option<&Connection> {
        self.sim.node(SERVER).connection(self.state.server_conn?)
    }

    /// The server's connection, to act on it.
    pub fn server_mut(&mut self) -> Option<&mut Connection> {
        let handle = self.state.server_conn?;
        self.sim.node_mut(SERVER).connection_mut(handle)
    }

    /// The connection of `side`: [`client`](Self::client) or
    /// [`server`](Self::server).
    #[must_use]
    pub fn connection(&self, side: tern_proto::Side) -> Option<&Connection> {
        if side.is_client() {
            self.client()
        } else {
            self.server()
        }
    }

    /// The connection of `side`, to act on it.
    pub fn connection_mut(&mut self, side: tern_proto::Side) -> Option<&mut Connection> {
        if side.is_client() {
            self.client_mut()
        } else {
            self.server_mut()
        }
    }
}

impl PairState {
    fn collect(&mut self, sim: &mut Sim<Endpoint>) {
        if self.auto_accept
            && let Some(handle) = crate::quic::accept_all(sim, SERVER)
        {
            self.server_conn.get_or_insert(handle);
        }
        while let Some((_, event)) = sim.node_mut(SERVER).poll_event() {
            self.server_events.push(event);
        }
        while let Some((_, event)) = sim.node_mut(CLIENT).poll_event() {
            self.client_events.push(event);
        }
    }
}

/// Reads stream `id` of `conn` into `into`, as far as data is there;
/// `true` once the FIN was read.
///
/// # Panics
/// When the read fails other than for want of data (a reset, say).
pub fn read_to_end(conn: &mut Connection, id: tern_proto::StreamId, into: &mut Vec<u8>) -> bool {
    loop {
        match conn.read_stream(id, usize::MAX, true) {
            Ok(Some(chunk)) => into.extend_from_slice(&chunk.bytes),
            Ok(None) => return true,
            Err(tern_proto::streams::ReadError::Blocked) => return false,
            Err(other) => panic!("read on {id}: {other:?}"),
        }
    }
}
