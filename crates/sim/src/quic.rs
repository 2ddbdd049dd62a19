//! Tern's endpoints on the simulated network: [`Node`] for
//! [`tern_proto::endpoint::Endpoint`], and a ready-made client–server
//! handshake run ([`HandshakeRun`]) shared by tests and the `handshake`
//! example.

use std::{
    cell::RefCell,
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::BytesMut;
use tern_proto::{
    EcnCodepoint, HandshakeInfo, Transmit,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Connection, ConnectionError, ConnectionStats, Event, ExportError},
    endpoint::{ConnectionHandle, Endpoint},
    packet::{DecodeOptions, PacketType, PartialDecode},
};

use crate::{LinkConfig, Node, RunOutcome, Sim, TraceEvent, certs};

impl Node for Endpoint {
    fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        Self::handle(self, now, remote, Some(local.ip()), ecn, data);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        Self::poll_transmit(self, now, GSO_SEGMENTS, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        Self::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
}

/// Datagrams an endpoint may write per send on the simulated network, as
/// GSO allows on a real socket; the sim splits each batch into datagrams.
pub const GSO_SEGMENTS: usize = 4;

/// The client's address in a [`HandshakeRun`] (loopback: nothing leaves
/// the process, but the addresses stay obviously local).
pub const CLIENT_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)),
    50_000,
);
/// The server's address in a [`HandshakeRun`].
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    4433,
);

/// A client and a server endpoint completing one handshake over links
/// with the given impairments, checking the server's anti-amplification
/// limit (RFC 9000 §8.1) on every datagram it sends.
#[derive(Debug, Clone)]
pub struct HandshakeRun {
    /// Drives every random choice of the network and both endpoints.
    pub seed: u64,
    /// Both directions of the path.
    pub link: LinkConfig,
    /// Simulated time allowed.
    pub time_limit: Duration,
    /// Whether the server keeps its TLS session after the handshake.
    pub retain_tls_state: bool,
    /// Keep every network event in [`HandshakeReport::trace`], to replay a
    /// failing seed and see what happened.
    pub record_trace: bool,
    /// Hold both sides to this TLS 1.3 cipher suite: their providers list it
    /// first (with AES-128-GCM after it, for Initial packets) and both
    /// configs set `handshake_cipher_suites` to it.
    pub cipher_suite: Option<rustls::SupportedCipherSuite>,
    /// The ALPN protocols the client offers (the server accepts `hq-interop`).
    pub client_alpn: Vec<Vec<u8>>,
    /// Both sides' handshake timeout. `None` by default, so that only the
    /// idle timeout ends a run: over heavy loss a handshake can need more
    /// than the transport's default of 10 s (PTOs of 1, 2, 4, 8 s).
    pub handshake_timeout: Option<Duration>,
}

impl HandshakeRun {
    /// A run over `link` with seed `seed`, a 60 s limit and default settings.
    #[must_use]
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        Self {
            seed,
            link,
            time_limit: Duration::from_secs(60),
            retain_tls_state: false,
            record_trace: false,
            cipher_suite: None,
            client_alpn: vec![b"hq-interop".to_vec()],
            handshake_timeout: None,
        }
    }

    /// The client and server configurations of the run.
    fn configs(&self) -> (ClientConfig, Arc<ServerConfig>) {
        let (client_tls, server_tls) = match self.cipher_suite {
            Some(suite) => certs::test_configs_with_suite(&[b"hq-interop"], suite),
            None => certs::test_configs(&[b"hq-interop"]),
        };
        let mut client_tls = (*client_tls).clone();
        client_tls.alpn_protocols.clone_from(&self.client_alpn);
        let client_tls = Arc::new(client_tls);
        // With a suite chosen, both sides are held to it, as a ChaCha20-only
        // (say) deployment would be.
        let only: Option<Vec<rustls::CipherSuite>> = self.cipher_suite.map(|s| vec![s.suite()]);
        let mut server_config = ServerConfig::new(server_tls)
            .expect("the test tls config runs quic")
            .retain_tls_state(self.retain_tls_state);
        let mut client_config =
            ClientConfig::new(client_tls).expect("the test tls config runs quic");
        if let Some(only) = &only {
            server_config = server_config
                .handshake_cipher_suites(only)
                .expect("the test server prefers its suite");
            client_config = client_config
                .handshake_cipher_suites(only)
                .expect("the test client offers its suite first");
        }
        let transport = Arc::new(TransportConfig {
            handshake_timeout: self.handshake_timeout,
            ..TransportConfig::default()
        });
        client_config.transport = transport.clone();
        server_config.transport = transport;
        (client_config, Arc::new(server_config))
    }

    /// Runs it.
    ///
    /// # Panics
    /// When the test certificates cannot be made (they always can).
    #[must_use]
    pub fn run(&self) -> HandshakeReport {
        let (client_config, server_config) = self.configs();
        let endpoint_config = Arc::new(EndpointConfig::default());
        let mut sim = Sim::new(self.seed);
        sim.set_default_link(self.link.clone());
        sim.record_trace(self.record_trace);
        let server = Endpoint::new(
            endpoint_config.clone(),
            Some(server_config),
            Some(SERVER_ADDR),
            self.seed.wrapping_mul(2),
        );
        let client = Endpoint::new(
            endpoint_config,
            None,
            Some(CLIENT_ADDR),
            self.seed.wrapping_mul(2) + 1,
        );
        let server_index = sim.add_node(SERVER_ADDR, server);
        let client_index = sim.add_node(CLIENT_ADDR, client);
        let check = Rc::new(RefCell::new(AmplificationCheck::default()));
        let hook = check.clone();
        sim.on_event(move |event| hook.borrow_mut().observe(event));

        let now = sim.now();
        let client_handle = sim
            .node_mut(client_index)
            .connect(now, &client_config, SERVER_ADDR, "localhost")
            .expect("the test client config is usable for QUIC");
        let mut server_handle = None;
        let mut errors = (None, None);
        let outcome = sim.run_until(
            |sim| {
                if let Some(handle) = accept_all(sim, server_index) {
                    server_handle.get_or_insert(handle);
                }
                while let Some((_, event)) = sim.node_mut(server_index).poll_event() {
                    if let Event::Closed(error) = event {
                        errors.1.get_or_insert(error);
                    }
                }
                while let Some((_, event)) = sim.node_mut(client_index).poll_event() {
                    if let Event::Closed(error) = event {
                        errors.0.get_or_insert(error);
                    }
                }
                finished(
                    sim.node(client_index),
                    client_handle,
                    sim.node(server_index),
                    server_handle,
                )
            },
            self.time_limit,
        );
        let client = sim.node(client_index).connection(client_handle);
        let server = server_handle.and_then(|h| sim.node(server_index).connection(h));
        let export = |conn: Option<&Connection>| {
            conn.map(|c| {
                let mut out = [0; 32];
                c.export_keying_material(&mut out, b"EXPORTER-tern-sim", None)
                    .map(|()| out)
            })
        };
        let client_info = client.and_then(|c| c.handshake_info().cloned());
        let server_info = server.and_then(|c| c.handshake_info().cloned());
        let check = check.borrow();
        HandshakeReport {
            seed: self.seed,
            completed: client_info.is_some() && server_info.is_some(),
            outcome,
            client_info,
            server_info,
            server_tls_retained: server.map(Connection::tls_state_retained),
            client_stats: client.map(Connection::stats),
            server_stats: server.map(Connection::stats),
            client_export: export(client),
            server_export: export(server),
            client_error: errors.0,
            server_error: errors.1,
            sim_time: sim.elapsed(),
            datagrams: sim.stats().sent,
            amplification_violation: check.violation.clone(),
            server_bytes_before_validation: check.sent_before_validation,
            trace: sim.take_trace(),
        }
    }
}

/// Accepts every client waiting at node `index` with the endpoint's own
/// server configuration, as a server that takes everyone does, and sends
/// what that queued at once (the first accepted handle is returned).
/// A client the endpoint cannot take is refused with CONNECTION_REFUSED.
pub fn accept_all(sim: &mut Sim<Endpoint>, index: usize) -> Option<ConnectionHandle> {
    let now = sim.now();
    let server = sim.node_mut(index);
    let mut first = None;
    let mut decided = false;
    while let Some(id) = server.poll_incoming() {
        decided = true;
        if let Ok(handle) = server.accept_incoming(now, id, None) {
            first.get_or_insert(handle);
        }
    }
    if decided {
        // A node that cannot settle is reported by the next `run_until`.
        let _ = sim.settle();
    }
    first
}

/// Whether both sides connected and the handshake settled: the client
/// confirmed it and the server released (or kept, as asked) its TLS state.
fn finished(
    client: &Endpoint,
    client_handle: ConnectionHandle,
    server: &Endpoint,
    server_handle: Option<ConnectionHandle>,
) -> bool {
    let Some(client) = client.connection(client_handle) else {
        return true;
    };
    if client.is_closed() {
        // The client gave up or heard the server's CONNECTION_CLOSE.
        return true;
    }
    let Some(server) = server_handle.and_then(|h| server.connection(h)) else {
        return false;
    };
    if server.is_closed() {
        // Keep going until the client learns of it (or times out).
        return false;
    }
    client.is_handshake_confirmed()
        && server.handshake_info().is_some()
        && server.is_handshake_confirmed()
        && (!server.tls_state_retained() || server.stats().datagrams_sent > 0)
}

/// What a [`HandshakeRun`] found.
#[derive(Debug, Clone)]
pub struct HandshakeReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Whether both sides reached the Connected event.
    pub completed: bool,
    /// How the simulation loop ended.
    pub outcome: RunOutcome,
    /// The client's snapshot.
    pub client_info: Option<Arc<HandshakeInfo>>,
    /// The server's snapshot, read after it freed its TLS session.
    pub server_info: Option<Arc<HandshakeInfo>>,
    /// Whether the server still holds its TLS session at the end.
    pub server_tls_retained: Option<bool>,
    /// The client connection's counters at the end.
    pub client_stats: Option<ConnectionStats>,
    /// The server connection's counters at the end.
    pub server_stats: Option<ConnectionStats>,
    /// 32 bytes of keying material the client exported at the end.
    pub client_export: Option<Result<[u8; 32], ExportError>>,
    /// The same export attempted on the server at the end: an invalid-state
    /// error once it freed its TLS session.
    pub server_export: Option<Result<[u8; 32], ExportError>>,
    /// Why the client's connection closed, if it did.
    pub client_error: Option<ConnectionError>,
    /// Why the server's connection closed, if it did.
    pub server_error: Option<ConnectionError>,
    /// Simulated time the run took.
    pub sim_time: Duration,
    /// Datagrams put on the network, both directions.
    pub datagrams: u64,
    /// The first datagram, if any, with which the server exceeded three
    /// times what it had received before validating the client.
    pub amplification_violation: Option<String>,
    /// Bytes the server sent before the client's address was validated.
    pub server_bytes_before_validation: u64,
    /// Every network event, when [`HandshakeRun::record_trace`] was set.
    pub trace: Vec<TraceEvent>,
}

/// RFC 9000 §8.1, checked from the network's point of view as the interop
/// runner does: until an intact client datagram carrying a Handshake packet
/// reaches the server, the server may send at most three times the bytes
/// it received.
#[derive(Debug, Default)]
struct AmplificationCheck {
    received: u64,
    sent_before_validation: u64,
    validated: bool,
    corrupted: Vec<(u64, bool)>,
    violation: Option<String>,
}

impl AmplificationCheck {
    fn observe(&mut self, event: &TraceEvent) {
        match event {
            TraceEvent::Corrupted { id, duplicate, .. } => self.corrupted.push((*id, *duplicate)),
            TraceEvent::Delivered {
                to,
                id,
                duplicate,
                data,
                ..
            } if *to == SERVER_ADDR => {
                self.received += data.len() as u64;
                if !self.corrupted.contains(&(*id, *duplicate)) && carries_handshake_packet(data) {
                    self.validated = true;
                }
            }
            TraceEvent::Sent { from, data, at, .. } if *from == SERVER_ADDR && !self.validated => {
                self.sent_before_validation += data.len() as u64;
                if self.sent_before_validation > 3 * self.received && self.violation.is_none() {
                    self.violation = Some(format!(
                        "at {at:?} the server had sent {} bytes for {} received",
                        self.sent_before_validation, self.received
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Whether any coalesced packet of a client datagram is a Handshake packet
/// (the long header type is readable without keys).
fn carries_handshake_packet(datagram: &[u8]) -> bool {
    let Ok(options) = DecodeOptions::new(8) else {
        return false;
    };
    let mut data = BytesMut::from(datagram);
    while !data.is_empty() {
        match PartialDecode::split_from(&mut data, options) {
            Ok(packet) if packet.packet_type() == PacketType::Handshake => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The first Initial datagram of a fresh Tern client at [`CLIENT_ADDR`]
/// connecting to [`SERVER_ADDR`] as "localhost", whose random choices
/// follow `seed`: a well-formed, 1200-byte client Initial carrying a real
/// ClientHello, for tests that hand a server endpoint datagrams one by one.
///
/// # Panics
/// If the test TLS configuration cannot run QUIC, which it can.
#[must_use]
pub fn client_initial(seed: u64) -> Vec<u8> {
    let (client_tls, _) = certs::test_configs(&[b"hq-interop"]);
    let mut client = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        Some(CLIENT_ADDR),
        seed,
    );
    client
        .connect(
            crate::epoch(),
            &ClientConfig::new(client_tls).expect("the test tls config runs quic"),
            SERVER_ADDR,
            "localhost",
        )
        .expect("the client starts");
    let mut buf = Vec::new();
    let transmit = client
        .poll_transmit(crate::epoch(), 1, &mut buf)
        .expect("the client's first Initial");
    buf.truncate(transmit.size);
    buf
}
