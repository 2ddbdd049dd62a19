//! The endpoint: owns connections, routes datagrams to them by connection
//! ID, accepts new clients and answers what it cannot route without
//! keeping state (RFC 9000 §5.2, §6).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::Arc,
    time::Instant,
};

use bytes::BytesMut;
use rand::{RngCore, SeedableRng, rngs::StdRng};

use crate::{
    ConnectionId, EcnCodepoint, Side, Transmit, TransportParameters, VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Connection, ConnectionInit, Event, MIN_INITIAL_SIZE},
    crypto::{TlsConfigError, TlsSession},
    packet::{InvariantHeader, PacketType, Version, VersionNegotiationPacket},
};

/// Names a connection owned by an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// Why a client connection could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TLS configuration cannot be used for QUIC; the message says what
    /// to change.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

/// Why an endpoint refused a client's Initial for a reason of its own, not
/// because of anything wrong with the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InitialRefusal {
    /// The server already holds
    /// [`max_connections`](crate::config::ServerConfig::max_connections).
    ConnectionLimit,
    /// The server's TLS configuration could not start a handshake; the
    /// report's detail says why.
    TlsConfig,
}

impl InitialRefusal {
    fn index(self) -> usize {
        match self {
            Self::ConnectionLimit => 0,
            Self::TlsConfig => 1,
        }
    }
}

/// The first refusal of its kind, for the owner of the endpoint to report
/// (the event loop logs it at `warn`); later ones are only counted in
/// [`EndpointStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalReport {
    /// What kind of refusal.
    pub reason: InitialRefusal,
    /// What exactly went wrong and what to change, in words.
    pub detail: String,
}

/// How many connections an endpoint holds, and what it has dropped and
/// refused since it was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Connections held now, handshaking, established or closing.
    pub connections: usize,
    /// Datagrams dropped without creating or touching a connection: not
    /// QUIC, too short, for no connection we know, or refused.
    pub dropped_datagrams: u64,
    /// Client Initials refused because the server was at
    /// `max_connections`.
    pub refused_connection_limit: u64,
    /// Client Initials refused because the TLS configuration could not
    /// start a handshake.
    pub refused_tls_config: u64,
}

/// A QUIC endpoint: a set of connections sharing one UDP socket.
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    server: Option<Arc<ServerConfig>>,
    rng: StdRng,
    connections: HashMap<ConnectionHandle, Connection>,
    /// Connection IDs (ours, and a client's original DCID) to connections.
    routes: HashMap<ConnectionId, ConnectionHandle>,
    next_handle: u64,
    /// Stateless answers waiting to go out, bounded.
    responses: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Server connections created, for the owner to pick up.
    accepted: VecDeque<ConnectionHandle>,
    /// Connections polled for transmits in turn, for fairness.
    send_order: VecDeque<ConnectionHandle>,
    local: Option<SocketAddr>,
    dropped_datagrams: u64,
    /// Derives stateless reset tokens from connection IDs (RFC 9000 §10.3.2).
    reset_key: crate::crypto::provider::backend::hmac::Key,
    /// Initials refused for a reason of our own, by [`InitialRefusal`].
    refused: [u64; 2],
    /// The first refusal of each kind, not yet taken by the owner.
    refusal_reports: VecDeque<RefusalReport>,
}

impl Endpoint {
    /// An endpoint; `server` makes it accept connections. `seed` drives
    /// every random choice the protocol makes (connection IDs), so a run
    /// is repeatable; use a random seed in production.
    #[must_use]
    pub fn new(
        config: Arc<EndpointConfig>,
        server: Option<Arc<ServerConfig>>,
        local: Option<SocketAddr>,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let reset_key = config.reset_key.unwrap_or_else(|| {
            let mut key = [0; 32];
            rng.fill_bytes(&mut key);
            key
        });
        Self {
            reset_key: crate::crypto::provider::backend::hmac::Key::new(
                crate::crypto::provider::backend::hmac::HMAC_SHA256,
                &reset_key,
            ),
            config,
            server,
            rng,
            connections: HashMap::new(),
            routes: HashMap::new(),
            next_handle: 0,
            responses: VecDeque::new(),
            accepted: VecDeque::new(),
            send_order: VecDeque::new(),
            local,
            dropped_datagrams: 0,
            refused: [0; 2],
            refusal_reports: VecDeque::new(),
        }
    }

    /// Starts a client connection to `remote`, authenticating it as
    /// `server_name`.
    ///
    /// # Errors
    /// [`ConnectError`] when the TLS configuration cannot be used for QUIC.
    pub fn connect(
        &mut self,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        if config.handshake_cipher_suites.is_some() {
            config.validate()?;
        }
        let local_cid = self.config.cid_generator.generate(&mut self.rng);
        // RFC 9000 §7.2: the client's first DCID is random, at least 8 bytes.
        let mut dcid = [0; 16];
        self.rng.fill_bytes(&mut dcid);
        let original_dcid = ConnectionId::new(&dcid).unwrap_or(ConnectionId::EMPTY);
        let params = local_params(&config.transport, &local_cid, None);
        let tls = TlsSession::client(config.tls.clone(), config.version, server_name, &params)?
            .with_handshake_suites(config.handshake_cipher_suites.clone());
        let conn = Connection::new(
            now,
            ConnectionInit {
                side: Side::Client,
                version: config.version,
                config: config.transport.clone(),
                tls,
                retain_tls_state: true,
                local_cid,
                remote_cid: original_dcid,
                original_dcid,
                remote,
                local: self.local,
                local_params: params,
            },
        );
        let handle = self.insert(conn, &[local_cid]);
        Ok(handle)
    }

    /// Processes a datagram received from `remote`.
    pub fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let cid_len = self.config.cid_generator.cid_len();
        let Ok(header) = InvariantHeader::parse(&data, cid_len) else {
            self.dropped_datagrams += 1;
            return;
        };
        let route = ConnectionId::new(header.dcid())
            .ok()
            .and_then(|cid| self.routes.get(&cid).copied());
        if let Some(handle) = route {
            if let Some(conn) = self.connections.get_mut(&handle) {
                conn.handle_datagram(now, remote, ecn, data);
            }
            return;
        }
        let Some(version) = header.version() else {
            // RFC 9000 §10.3.1: a stateless reset carries a random connection
            // ID, so an unroutable short header is checked against the reset
            // tokens of our connections to that peer.
            let reset = self
                .connections
                .values_mut()
                .any(|conn| conn.handle_unroutable(now, remote, &data));
            if !reset {
                self.send_stateless_reset(&data, header.dcid(), remote);
            }
            return;
        };
        if version == 0 {
            // RFC 9000 §6.2: Version Negotiation is never answered.
            self.dropped_datagrams += 1;
            return;
        }
        let supported =
            Version::from_u32(version).filter(|v| self.config.supported_versions.contains(v));
        let Some(version) = supported else {
            self.answer_version_negotiation(&data, remote, cid_len);
            return;
        };
        self.accept(now, remote, ecn, version, data);
    }

    /// RFC 9000 §6.1: answers an unknown version with the ones we support,
    /// but only for a datagram big enough to start a connection (§14.1).
    fn answer_version_negotiation(&mut self, data: &[u8], remote: SocketAddr, cid_len: usize) {
        if self.server.is_none()
            || data.len() < MIN_INITIAL_SIZE
            || self.responses.len() >= self.config.max_stateless_responses
        {
            self.dropped_datagrams += 1;
            return;
        }
        let Ok(header) = InvariantHeader::parse(data, cid_len) else {
            return;
        };
        let versions: Vec<u32> = self
            .config
            .supported_versions
            .iter()
            .map(|v| v.to_u32())
            .collect();
        let random = u8::try_from(self.rng.next_u32() & 0x7f).unwrap_or(0);
        let Some(packet) = VersionNegotiationPacket::answering(&header, &versions, random) else {
            return;
        };
        let mut out = Vec::with_capacity(packet.encoded_len());
        packet.encode(&mut out);
        self.responses.push_back((remote, out));
    }

    /// The stateless reset token of one of our connection IDs (RFC 9000
    /// §10.3.2): a keyed hash, so it needs no state to recompute.
    fn reset_token(&self, cid: &[u8]) -> [u8; 16] {
        let tag = crate::crypto::provider::backend::hmac::sign(&self.reset_key, cid);
        let mut token = [0; 16];
        token.copy_from_slice(&tag.as_ref()[..16]);
        token
    }

    /// RFC 9000 §10.3: answers a short-header packet for a connection we do
    /// not know with a stateless reset, smaller than what triggered it (so
    /// two endpoints cannot loop), at least 21 bytes, and looking like any
    /// short-header packet.
    fn send_stateless_reset(&mut self, data: &[u8], dcid: &[u8], remote: SocketAddr) {
        self.dropped_datagrams += 1;
        const MIN_RESET: usize = 21;
        if self.server.is_none()
            || data.len() <= MIN_RESET + 1
            || dcid.len() != self.config.cid_generator.cid_len()
            || self.responses.len() >= self.config.max_stateless_responses
        {
            return;
        }
        let len = (data.len() - 1).clamp(MIN_RESET, MIN_INITIAL_SIZE);
        let mut packet = vec![0; len];
        self.rng.fill_bytes(&mut packet[..len - 16]);
        // RFC 9000 §10.3: a short header first byte, fixed bit set.
        packet[0] = (packet[0] & 0x3f) | 0x40;
        packet[len - 16..].copy_from_slice(&self.reset_token(dcid));
        self.responses.push_back((remote, packet));
    }

    /// Starts a server connection for a client's first Initial.
    fn accept(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        version: Version,
        data: BytesMut,
    ) {
        let Some(server) = self.server.clone() else {
            self.dropped_datagrams += 1;
            return;
        };
        // RFC 9000 §14.1: a client's Initial arrives in a datagram of at
        // least 1200 bytes; smaller ones are dropped.
        if data.len() < MIN_INITIAL_SIZE {
            self.dropped_datagrams += 1;
            return;
        }
        let Ok(options) = crate::packet::DecodeOptions::new(self.config.cid_generator.cid_len())
        else {
            return;
        };
        let mut peek = data.clone();
        let Ok(first) = crate::packet::PartialDecode::split_from(&mut peek, options) else {
            self.dropped_datagrams += 1;
            return;
        };
        // RFC 9000 §7.2: the client's first DCID is at least 8 bytes.
        let (Some(client_scid), true) = (first.scid().copied(), first.dcid().len() >= 8) else {
            self.dropped_datagrams += 1;
            return;
        };
        if first.packet_type() != PacketType::Initial {
            self.dropped_datagrams += 1;
            return;
        }
        if self.connections.len() >= server.max_connections {
            let detail = format!(
                "the server holds max_connections ({}) connections; raise the limit if the \
                 machine can take more",
                server.max_connections
            );
            self.refuse(InitialRefusal::ConnectionLimit, || detail);
            return;
        }
        let original_dcid = *first.dcid();
        let local_cid = self.config.cid_generator.generate(&mut self.rng);
        let mut params = local_params(&server.transport, &local_cid, Some(&original_dcid));
        // RFC 9000 §18.2: the server's token for the ID it chose.
        params.stateless_reset_token = Some(self.reset_token(&local_cid));
        let tls = match TlsSession::server(server.tls.clone(), version, &params) {
            Ok(tls) => tls.with_handshake_suites(server.handshake_cipher_suites.clone()),
            Err(error) => {
                self.refuse(InitialRefusal::TlsConfig, || {
                    format!("the server's tls configuration cannot run quic: {error}")
                });
                return;
            }
        };
        let mut conn = Connection::new(
            now,
            ConnectionInit {
                side: Side::Server,
                version,
                config: server.transport.clone(),
                tls,
                retain_tls_state: server.retain_tls_state,
                local_cid,
                remote_cid: client_scid,
                original_dcid,
                remote,
                local: self.local,
                local_params: params,
            },
        );
        conn.handle_datagram(now, remote, ecn, data);
        // A datagram that did not decrypt creates no state.
        if conn.stats().packets_received == 0 {
            self.dropped_datagrams += 1;
            return;
        }
        let handle = self.insert(conn, &[local_cid, original_dcid]);
        self.accepted.push_back(handle);
    }

    /// Drops a client's Initial for a reason of our own: counts it, and
    /// keeps the first of its kind for the owner to report.
    fn refuse(&mut self, reason: InitialRefusal, detail: impl FnOnce() -> String) {
        self.dropped_datagrams += 1;
        let count = &mut self.refused[reason.index()];
        *count += 1;
        if *count == 1 {
            self.refusal_reports.push_back(RefusalReport {
                reason,
                detail: detail(),
            });
        }
        tracing::debug!(?reason, "initial refused");
    }

    /// The first refusal of each kind, once: the event loop logs these at
    /// `warn`, so that a server that cannot take clients says so. A peer
    /// can cause at most one report per kind per endpoint.
    pub fn poll_refusal_report(&mut self) -> Option<RefusalReport> {
        self.refusal_reports.pop_front()
    }

    /// Counters of what the endpoint dropped and refused.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        let refused = |reason: InitialRefusal| self.refused[reason.index()];
        EndpointStats {
            connections: self.connections.len(),
            dropped_datagrams: self.dropped_datagrams,
            refused_connection_limit: refused(InitialRefusal::ConnectionLimit),
            refused_tls_config: refused(InitialRefusal::TlsConfig),
        }
    }

    fn insert(&mut self, conn: Connection, cids: &[ConnectionId]) -> ConnectionHandle {
        let handle = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        for cid in cids {
            self.routes.insert(*cid, handle);
        }
        self.connections.insert(handle, conn);
        self.send_order.push_back(handle);
        handle
    }

    /// The next datagram to send, written into `buf`; `None` when nothing
    /// is due now.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((destination, bytes)) = self.responses.pop_front() {
            buf.clear();
            buf.extend_from_slice(&bytes);
            return Some(Transmit {
                destination,
                ecn: None,
                size: bytes.len(),
                segment_size: None,
                src_ip: self.local.map(|a| a.ip()),
            });
        }
        for _ in 0..self.send_order.len() {
            let handle = self.send_order.pop_front()?;
            self.send_order.push_back(handle);
            if let Some(conn) = self.connections.get_mut(&handle)
                && let Some(transmit) = conn.poll_transmit(now, buf)
            {
                return Some(transmit);
            }
        }
        None
    }

    /// The earliest deadline of any connection.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(Connection::poll_timeout)
            .min()
    }

    /// Runs the timers of every connection due by `now`, and forgets
    /// connections that finished.
    pub fn handle_timeout(&mut self, now: Instant) {
        for conn in self.connections.values_mut() {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
        }
    }

    /// The next event of any connection. Drained connections stay until
    /// their events are taken, then are forgotten.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        let mut found = None;
        let mut finished = Vec::new();
        for (&handle, conn) in &mut self.connections {
            if let Some(event) = conn.poll() {
                found = Some((handle, event));
                break;
            }
            if conn.is_drained() {
                finished.push(handle);
            }
        }
        for handle in finished {
            self.remove(handle);
        }
        found
    }

    fn remove(&mut self, handle: ConnectionHandle) {
        self.connections.remove(&handle);
        self.routes.retain(|_, h| *h != handle);
        self.send_order.retain(|h| *h != handle);
    }

    /// A server connection created since the last call.
    pub fn poll_accepted(&mut self) -> Option<ConnectionHandle> {
        self.accepted.pop_front()
    }

    /// A connection, by handle.
    #[must_use]
    pub fn connection(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.connections.get(&handle)
    }

    /// A connection, by handle, to act on it.
    pub fn connection_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.connections.get_mut(&handle)
    }

    /// How many connections the endpoint holds.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Datagrams dropped without creating or touching a connection.
    #[must_use]
    pub fn dropped_datagrams(&self) -> u64 {
        self.dropped_datagrams
    }
}

/// The transport parameters we send (RFC 9000 §18.2).
fn local_params(
    config: &TransportConfig,
    local_cid: &ConnectionId,
    original_dcid: Option<&ConnectionId>,
) -> TransportParameters {
    let mut params = TransportParameters {
        max_idle_timeout: config.max_idle_timeout.unwrap_or_default(),
        max_ack_delay: config.max_ack_delay,
        // RFC 9000 §7.3: each side names the SCID of its first packet; the
        // server echoes the client's original DCID.
        initial_source_connection_id: Some(*local_cid),
        original_destination_connection_id: original_dcid.copied(),
        max_datagram_frame_size: config.max_datagram_frame_size.map(VarInt::from),
        max_udp_payload_size: VarInt::from(config.max_udp_payload_size),
        ..TransportParameters::default()
    };
    config.streams.apply_to(&mut params);
    params
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("server", &self.server.is_some())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}
