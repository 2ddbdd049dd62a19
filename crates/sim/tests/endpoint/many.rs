//! An endpoint with many connections: a stateless reset, a retired
//! connection's routes and the turns connections take to send concern
//! exactly the connections they should; and (ignored, for release builds)
//! what a handshake costs the server as the connections it holds grow.

use std::{cell::RefCell, rc::Rc, sync::Arc, time::Duration};

use bytes::Bytes;
use tern_proto::{
    ConnectionId, Dir, VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    connection::{ConnectionError, Event},
    endpoint::{ConnectionHandle, Endpoint},
};
use tern_sim::{
    LinkConfig, RunOutcome, Sim, TraceEvent, certs,
    quic::{CLIENT_ADDR, GSO_SEGMENTS, SERVER_ADDR},
};

const LIMIT: Duration = Duration::from_secs(10);
const SERVER: usize = 0;
const CLIENT: usize = 1;

/// One client endpoint with many connections to one server endpoint.
struct Many {
    sim: Sim<Endpoint>,
    state: State,
}

/// The connections of a [`Many`] and the client's events.
struct State {
    client_config: ClientConfig,
    /// The client's connections, in the order they were made.
    clients: Vec<ConnectionHandle>,
    /// The server's connections, in the order they were accepted.
    servers: Vec<ConnectionHandle>,
    client_events: Vec<(ConnectionHandle, Event)>,
}

fn server_endpoint(
    endpoint: &EndpointConfig,
    server_tls: Arc<rustls::ServerConfig>,
    seed: u64,
) -> Endpoint {
    let server_config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    Endpoint::new(
        Arc::new(endpoint.clone()),
        Some(Arc::new(server_config)),
        Some(SERVER_ADDR),
        seed,
    )
}

impl Many {
    fn new(seed: u64, endpoint: &EndpointConfig) -> Self {
        let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
        let mut sim = Sim::new(seed);
        sim.set_default_link(LinkConfig::default().delay(Duration::from_millis(5)));
        let server = server_endpoint(endpoint, server_tls, seed);
        assert_eq!(sim.add_node(SERVER_ADDR, server), SERVER);
        let client = Endpoint::new(
            Arc::new(endpoint.clone()),
            None,
            Some(CLIENT_ADDR),
            seed + 1,
        );
        assert_eq!(sim.add_node(CLIENT_ADDR, client), CLIENT);
        let state = State {
            client_config: ClientConfig::new(client_tls).expect("the test tls config runs quic"),
            clients: Vec::new(),
            servers: Vec::new(),
            client_events: Vec::new(),
        };
        Self { sim, state }
    }

    /// Makes `n` more connections and runs until all are confirmed.
    fn connect(&mut self, n: usize) {
        let now = self.sim.now();
        for _ in 0..n {
            let handle = self
                .sim
                .node_mut(CLIENT)
                .connect(now, &self.state.client_config, SERVER_ADDR, "localhost")
                .expect("the client starts");
            self.state.clients.push(handle);
        }
        let outcome = self.run_until(|sim, state| {
            state.servers.len() == state.clients.len()
                && state.clients.iter().all(|&h| {
                    sim.node(CLIENT)
                        .connection(h)
                        .is_some_and(|c| c.is_handshake_confirmed())
                })
        });
        assert!(outcome.is_satisfied(), "{outcome:?}");
    }

    /// Runs until `done` holds, accepting every client and keeping the
    /// client's events (the server's are taken and dropped).
    fn run_until(&mut self, mut done: impl FnMut(&Sim<Endpoint>, &State) -> bool) -> RunOutcome {
        let state = &mut self.state;
        self.sim.run_until(
            |sim| {
                state.collect(sim);
                done(sim, state)
            },
            LIMIT,
        )
    }
}

impl State {
    fn collect(&mut self, sim: &mut Sim<Endpoint>) {
        let now = sim.now();
        let server = sim.node_mut(SERVER);
        let mut accepted = false;
        while let Some(id) = server.poll_incoming() {
            let handle = server.accept_incoming(now, id, None).expect("accepted");
            self.servers.push(handle);
            accepted = true;
        }
        while server.poll_event().is_some() {}
        while let Some(event) = sim.node_mut(CLIENT).poll_event() {
            self.client_events.push(event);
        }
        if accepted {
            // A node that cannot settle is reported by the next run.
            let _ = sim.settle();
        }
    }

    fn closed(&self, handle: ConnectionHandle) -> Option<&ConnectionError> {
        self.client_events
            .iter()
            .find_map(|(h, event)| match event {
                Event::Closed(error) if *h == handle => Some(error),
                _ => None,
            })
    }
}

#[test]
fn a_stateless_reset_ends_only_the_connection_whose_token_it_carries() {
    // RFC 9000 §10.3.1 (test): the client finds the token among those of
    // the server's address, and resets that connection only.
    let endpoint = EndpointConfig {
        reset_key: Some([3; 32].into()),
        ..EndpointConfig::default()
    };
    let mut many = Many::new(80, &endpoint);
    many.connect(4);
    // Acknowledgements settle; then the server loses its state, and its
    // successor shares the reset key.
    assert_eq!(
        many.sim.run(Duration::from_millis(200)),
        RunOutcome::TimedOut
    );
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    *many.sim.node_mut(SERVER) = server_endpoint(&endpoint, server_tls, 81);
    let target = many.state.clients[2];
    many.sim
        .node_mut(CLIENT)
        .connection_mut(target)
        .expect("open")
        .send_datagram(Bytes::from_static(b"hello?"))
        .expect("queued");
    let outcome = many.run_until(|_, state| state.closed(target).is_some());
    assert!(outcome.is_satisfied(), "{outcome:?}");
    assert_eq!(many.state.closed(target), Some(&ConnectionError::Reset));
    for &other in many.state.clients.iter().filter(|&&h| h != target) {
        assert_eq!(many.state.closed(other), None, "{other:?} was not reset");
        let conn = many.sim.node(CLIENT).connection(other).expect("open");
        assert!(!conn.is_closed());
    }
}

#[test]
fn a_retired_connection_stops_routing_and_the_others_carry_on() {
    let mut many = Many::new(82, &EndpointConfig::default());
    many.connect(3);
    let (closing, server_side) = (many.state.clients[1], many.state.servers[1]);
    let cid = many
        .sim
        .node(SERVER)
        .connection(server_side)
        .expect("accepted")
        .local_cid();
    let now = many.sim.now();
    many.sim
        .node_mut(CLIENT)
        .connection_mut(closing)
        .expect("open")
        .close(now, VarInt::from_u32(0), Bytes::new());
    let outcome = many.run_until(|sim, _| sim.node(SERVER).connection(server_side).is_none());
    assert!(outcome.is_satisfied(), "{outcome:?}");
    assert_eq!(many.sim.node(SERVER).connection_count(), 2);

    // A short-header packet for the retired connection's ID reaches no
    // connection: the server answers it with a stateless reset.
    let answers = Rc::new(RefCell::new(Vec::new()));
    let seen = answers.clone();
    many.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, data, .. } = event
            && *from == SERVER_ADDR
        {
            seen.borrow_mut().push(data.clone());
        }
    });
    let mut packet = vec![0x40];
    packet.extend_from_slice(&cid);
    packet.resize(100, 0x55);
    many.sim.inject(CLIENT_ADDR, SERVER_ADDR, None, packet);
    let outcome = many.run_until(|_, _| !answers.borrow().is_empty());
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let reset = answers.borrow()[0].clone();
    assert!(
        reset.len() < 100 && reset[0] & 0xc0 == 0x40,
        "a stateless reset"
    );

    // The other two still carry streams both ways.
    for &handle in [many.state.clients[0], many.state.clients[2]].iter() {
        let client = many
            .sim
            .node_mut(CLIENT)
            .connection_mut(handle)
            .expect("open");
        let id = client.open_stream(Dir::Uni).expect("a stream");
        client
            .write_stream(id, Bytes::from_static(b"still here"))
            .expect("written");
        client.finish_stream(id).expect("finished");
    }
    let servers = [many.state.servers[0], many.state.servers[2]];
    let outcome = many.run_until(|sim, _| {
        servers.iter().all(|&h| {
            sim.node(SERVER)
                .connection(h)
                .is_some_and(|c| c.stats().packets_received > 0 && c.stream_count() > 0)
        })
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
}

#[test]
fn connections_with_data_take_turns_one_batch_each() {
    let mut many = Many::new(84, &EndpointConfig::default());
    many.connect(2);
    let server_cids: Vec<ConnectionId> = many
        .state
        .servers
        .iter()
        .map(|&h| {
            many.sim
                .node(SERVER)
                .connection(h)
                .expect("accepted")
                .local_cid()
        })
        .collect();
    let sent = Rc::new(RefCell::new(Vec::new()));
    let seen = sent.clone();
    many.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, data, .. } = event
            && *from == CLIENT_ADDR
            && data[0] & 0x80 == 0
        {
            seen.borrow_mut()
                .push(ConnectionId::new(&data[1..9]).expect("8 bytes"));
        }
    });
    // Each server connection's local ID is what its client addresses.
    for &handle in &many.state.clients.clone() {
        let client = many
            .sim
            .node_mut(CLIENT)
            .connection_mut(handle)
            .expect("open");
        let id = client.open_stream(Dir::Uni).expect("a stream");
        client
            .write_stream(id, Bytes::from(vec![9; 200_000]))
            .expect("written");
    }
    many.sim.settle().expect("settles");
    let sent = sent.borrow();
    assert!(sent.len() >= 8, "a burst went out: {}", sent.len());
    assert!(sent.iter().all(|cid| server_cids.contains(cid)));
    // Runs of datagrams to one connection: each is one GSO batch at most,
    // and the other connection's turn comes between two of them.
    let runs: Vec<usize> = sent
        .chunk_by(|a, b| a == b)
        .map(<[ConnectionId]>::len)
        .collect();
    assert!(runs.len() >= 4, "turns alternate: {sent:?}");
    assert!(
        runs.iter().all(|&run| run <= GSO_SEGMENTS),
        "one batch per turn: {sent:?}"
    );
}

/// The time of day, to measure CPU time spent in one thread.
#[expect(
    clippy::disallowed_methods,
    reason = "a measurement of real time, outside the protocol code"
)]
fn clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// An endpoint that adds up the real time spent in its calls.
struct Timed {
    endpoint: Endpoint,
    busy: Duration,
}

impl Timed {
    fn timed<T>(&mut self, f: impl FnOnce(&mut Endpoint) -> T) -> T {
        let start = clock();
        let out = f(&mut self.endpoint);
        self.busy += start.elapsed();
        out
    }
}

impl tern_sim::Node for Timed {
    fn handle(
        &mut self,
        now: std::time::Instant,
        remote: std::net::SocketAddr,
        local: std::net::SocketAddr,
        ecn: Option<tern_proto::EcnCodepoint>,
        data: bytes::BytesMut,
    ) {
        self.timed(|e| e.handle(now, remote, Some(local.ip()), ecn, data));
    }

    fn poll_transmit(
        &mut self,
        now: std::time::Instant,
        buf: &mut Vec<u8>,
    ) -> Option<tern_proto::Transmit> {
        self.timed(|e| e.poll_transmit(now, GSO_SEGMENTS, buf))
    }

    fn poll_timeout(&mut self) -> Option<std::time::Instant> {
        self.timed(|e| e.poll_timeout())
    }

    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.timed(|e| e.handle_timeout(now));
    }
}

/// Connects `n` more clients, `batch` at a time, accepting each at the
/// server; returns the server's time per handshake.
fn grow(sim: &mut Sim<Timed>, config: &ClientConfig, n: usize, batch: usize) -> Duration {
    sim.node_mut(SERVER).busy = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let now = sim.now();
        let count = left.min(batch);
        for _ in 0..count {
            sim.node_mut(CLIENT)
                .endpoint
                .connect(now, config, SERVER_ADDR, "localhost")
                .expect("the client starts");
        }
        let mut connected = 0;
        let outcome = sim.run_until(
            |sim| {
                let now = sim.now();
                let server = sim.node_mut(SERVER);
                server.timed(|e| {
                    while let Some(id) = e.poll_incoming() {
                        e.accept_incoming(now, id, None).expect("accepted");
                    }
                    while e.poll_event().is_some() {}
                });
                while let Some((_, event)) = sim.node_mut(CLIENT).endpoint.poll_event() {
                    connected += usize::from(matches!(event, Event::Connected(_)));
                }
                let _ = sim.settle();
                connected == count
            },
            LIMIT,
        );
        assert!(outcome.is_satisfied(), "{outcome:?}");
        left -= count;
    }
    sim.node(SERVER).busy / u32::try_from(n).expect("fits")
}

// Issue 14: the server's time per handshake should not grow with the
// connections it holds. Timing is printed, not asserted; run it in
// release:
//   cargo test --release -p tern-sim --test endpoint -- --ignored --nocapture handshake_cost
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn handshake_cost_as_connections_grow() {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let config = ClientConfig::new(client_tls).expect("the test tls config runs quic");
    let endpoint = EndpointConfig::default();
    let mut sim = Sim::new(90);
    sim.set_default_link(LinkConfig::default().delay(Duration::from_millis(1)));
    let server = server_endpoint(&endpoint, server_tls, 90);
    let timed = |endpoint| Timed {
        endpoint,
        busy: Duration::ZERO,
    };
    assert_eq!(sim.add_node(SERVER_ADDR, timed(server)), SERVER);
    let client = Endpoint::new(Arc::new(endpoint), None, Some(CLIENT_ADDR), 91);
    assert_eq!(sim.add_node(CLIENT_ADDR, timed(client)), CLIENT);
    let measured = 500;
    let mut held = 0;
    for target in [1_000, 10_000] {
        grow(&mut sim, &config, target - held, 250);
        let per_handshake = grow(&mut sim, &config, measured, 100);
        held = target + measured;
        println!(
            "server time per handshake with {target} connections held: {} µs",
            per_handshake.as_micros()
        );
    }
}
