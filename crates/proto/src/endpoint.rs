//! The endpoint: owns connections, routes datagrams to them by connection
//! ID, holds each new client's first Initial until its owner decides on it,
//! and answers what it cannot route without keeping state (RFC 9000 §5.2,
//! §6).
//!
//! # Driving an endpoint
//!
//! The owner (the event loop of `tern-endpoint`, or a test) calls, in any
//! order and as often as it likes:
//!
//! - [`handle`](Endpoint::handle) for every datagram the socket received;
//! - [`poll_incoming`](Endpoint::poll_incoming) until `None`, deciding on
//!   each new client with [`accept_incoming`](Endpoint::accept_incoming),
//!   [`refuse_incoming`](Endpoint::refuse_incoming) or
//!   [`ignore_incoming`](Endpoint::ignore_incoming);
//! - [`poll_transmit`](Endpoint::poll_transmit) until `None`, sending each
//!   datagram or GSO batch it appends to the buffer (clear it between
//!   calls);
//! - [`poll_timeout`](Endpoint::poll_timeout), arming one timer, and
//!   [`handle_timeout`](Endpoint::handle_timeout) when it fires;
//! - [`poll_event`](Endpoint::poll_event) until `None`, then
//!   [`poll_drained`](Endpoint::poll_drained) until `None`, for the final
//!   record of each connection that finished.
//!
//! After any input, poll again: input may create output.
//!
//! # Cost
//!
//! The work of each call follows the connections it concerns, not the
//! number of connections held: the endpoint keeps the deadlines in order,
//! and queues of the connections that may have something to send or
//! events to report. A connection joins both queues when something may
//! have changed it (a datagram, a timeout, [`Endpoint::connection_mut`])
//! and leaves each when polled with nothing to give; idle connections are
//! not looked at. Each method's documentation gives its cost.
//!
//! # New clients
//!
//! A client's first Initial that authenticates under the Initial keys of
//! its Destination Connection ID (RFC 9001 §5.2) becomes an incoming: the
//! endpoint keeps its datagrams, but no connection and no TLS session, so
//! the owner can decide before any handshake work (by address, load or
//! anything else). The owner must decide on every incoming: one left
//! pending holds up to 16 KiB and counts against
//! [`EndpointConfig::max_incoming`] and
//! [`ServerConfig::max_connections`] until
//! [`EndpointConfig::incoming_timeout`] refuses it.
//!
//! A server that accepts 0-RTT also holds, for a second, 0-RTT datagrams
//! that overtook their client's first Initial (RFC 9000 §5.2.2), within
//! [`EndpointConfig::max_early_zero_rtt_bytes`]; they join the incoming
//! that Initial makes.

mod accept;
mod client;
mod connections;
mod drained;
mod early;
mod incoming;
mod params;
mod rate;
mod ready;
mod server_tls;
mod stateless;
mod stats;
mod token;

use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Instant,
};

use bytes::BytesMut;
use params::local_params;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use zeroize::Zeroizing;

pub use self::{
    drained::DrainedConnection,
    incoming::{AcceptError, IncomingId, IncomingInfo, RetryError},
    stats::{EndpointStats, InitialRefusal, RefusalReport},
};
use crate::{
    ConnectionId, EcnCodepoint, Transmit,
    config::{EndpointConfig, ResetKey, ServerConfig},
    connection::{Connection, Event},
    crypto::{
        TlsConfigError,
        provider::backend::{
            hmac,
            rand::{SecureRandom, SystemRandom},
        },
    },
    packet::{InvariantHeader, Version},
};

/// Names a connection owned by an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// Mixed into a seeded endpoint's seed for the stream its first token key
/// comes from ("token").
const TOKEN_SEED_SALT: u64 = 0x0074_6f6b_656e;

/// A hasher for [`ConnectionHandle`] keys: one multiplication (Fibonacci
/// hashing). Handles are numbers the endpoint hands out, never values a
/// peer chooses, so a keyed hash buys nothing against flooding; SipHash
/// on every touch of a connection cost about 8% of a bulk transfer.
#[derive(Debug, Default, Clone, Copy)]
pub struct HandleHasher(u64);

impl std::hash::Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // 2^64 / the golden ratio: spreads consecutive handles over the
        // high bits (hashbrown's control bytes) and the low ones alike.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by connection handle, with [`HandleHasher`].
pub type HandleMap<V> =
    std::collections::HashMap<ConnectionHandle, V, std::hash::BuildHasherDefault<HandleHasher>>;

/// Why a client connection could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TLS configuration cannot be used for QUIC; the message says what
    /// to change.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

/// A stateless answer waiting to go out.
#[derive(Debug)]
struct Response {
    destination: SocketAddr,
    src_ip: Option<IpAddr>,
    bytes: Vec<u8>,
}

/// A QUIC endpoint: a set of connections sharing one UDP socket. See the
/// module documentation for how to drive it.
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    server: Option<Arc<ServerConfig>>,
    rng: StdRng,
    /// The connections, their routes, deadlines and readiness.
    connections: connections::Connections,
    next_handle: u64,
    /// Stateless answers waiting to go out, bounded.
    responses: VecDeque<Response>,
    /// Clients waiting for the owner's decision.
    incoming: incoming::Pending,
    /// 0-RTT datagrams that came before their client's Initial.
    early: early::EarlyZeroRtt,
    /// Datagrams of clients accepted with `accept_incoming_deferred`,
    /// for `handle_deferred`.
    deferred: VecDeque<accept::Deferred>,
    /// The rustls configuration of the server's handshakes.
    server_tls: server_tls::ServerTls,
    /// Client configurations that capture their TLS secrets, for
    /// connections a server may move to another version (RFC 9368 §2.2).
    client_tls: crate::crypto::CapturingClientTls,
    /// Records of connections that finished, for the owner to take.
    drained: VecDeque<DrainedConnection>,
    /// The connections due in `handle_timeout`, kept to reuse its memory.
    due: Vec<ConnectionHandle>,
    local: Option<SocketAddr>,
    dropped_datagrams: u64,
    /// Derives stateless reset tokens from connection IDs (RFC 9000 §10.3.2).
    /// The key lives inside the crypto backend's HMAC state, which Tern
    /// cannot zeroize; the bytes it was made from are wiped (see
    /// [`ResetKey`]).
    reset_key: hmac::Key,
    /// Initials refused for a reason of our own, by [`InitialRefusal`].
    refused: [u64; InitialRefusal::COUNT],
    /// The first refusal of each kind, not yet taken by the owner.
    refusal_reports: VecDeque<RefusalReport>,
    /// Paces stateless resets and Version Negotiation (RFC 9000 §21.11).
    stateless_bucket: rate::TokenBucket,
    stateless_rate_limited: u64,
    /// The largest max_udp_payload_size any of our configurations
    /// advertises: a larger datagram is dropped on arrival.
    max_udp_payload: usize,
    oversized_datagrams: u64,
    /// Bytes the connections hold in packets waiting for keys, in all.
    undecryptable_bytes: usize,
    /// Seals and opens address validation tokens (RFC 9000 §8.1.3).
    tokens: token::TokenKeys,
    retries_sent: u64,
    validated_by_retry: u64,
    validated_by_token: u64,
}

impl Endpoint {
    /// An endpoint whose every random choice follows `seed`, for
    /// simulators and tests: the same seed and the same input give the
    /// same connection IDs and, when `config` has no reset key, the same
    /// stateless reset key, so a run is repeatable.
    ///
    /// Production code uses [`with_os_seed`](Self::with_os_seed): 64 bits
    /// are too few to keep connection IDs and reset tokens unpredictable.
    /// `server` makes the endpoint accept connections. `local` is the
    /// address the socket is bound to, when it is a specific one (a
    /// wildcard address is no source to send from).
    #[must_use]
    pub fn new(
        config: Arc<EndpointConfig>,
        server: Option<Arc<ServerConfig>>,
        local: Option<SocketAddr>,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut key = Zeroizing::new([0; 32]);
        if config.reset_key.is_none() {
            rng.fill_bytes(&mut *key);
        }
        // The token keys' seed comes from a stream of its own, so that
        // tokens change none of the other choices a seed makes.
        let mut token_key = Zeroizing::new([0; 32]);
        StdRng::seed_from_u64(seed ^ TOKEN_SEED_SALT).fill_bytes(&mut *token_key);
        Self::with_rng(config, server, local, rng, &key, &token_key)
    }

    /// An endpoint seeded from the operating system's secure random source
    /// (through the crypto backend, aws-lc-rs or ring): 32 bytes seed the
    /// RNG that makes connection IDs, and, when `config` has no reset key,
    /// 32 more bytes are the stateless reset key (RFC 9000 §10.3.2). Both
    /// are unpredictable, and differ from one endpoint to the next. See
    /// [`new`](Self::new) for the other arguments.
    ///
    /// # Panics
    /// If the operating system has no secure random source to read, which
    /// no supported platform lacks; an endpoint with guessable connection
    /// IDs and reset tokens would be worse.
    #[must_use]
    pub fn with_os_seed(
        config: Arc<EndpointConfig>,
        server: Option<Arc<ServerConfig>>,
        local: Option<SocketAddr>,
    ) -> Self {
        let mut seed = Zeroizing::new([0; 32]);
        os_random(&mut *seed);
        let rng = StdRng::from_seed(*seed);
        let mut key = Zeroizing::new([0; 32]);
        if config.reset_key.is_none() {
            os_random(&mut *key);
        }
        let mut token_key = Zeroizing::new([0; 32]);
        os_random(&mut *token_key);
        Self::with_rng(config, server, local, rng, &key, &token_key)
    }

    /// The endpoint with its RNG, `generated_key` as its reset key unless
    /// the configuration names one, and `token_key` as the seed of its
    /// address validation tokens' keys and nonces.
    fn with_rng(
        config: Arc<EndpointConfig>,
        server: Option<Arc<ServerConfig>>,
        local: Option<SocketAddr>,
        rng: StdRng,
        generated_key: &[u8; 32],
        token_key: &[u8; 32],
    ) -> Self {
        let key = config
            .reset_key
            .as_ref()
            .map_or(generated_key, ResetKey::as_bytes);
        let max_udp_payload = server
            .as_ref()
            .map_or(0, |s| usize::from(s.transport.max_udp_payload_size));
        let tokens = match &config.token_key {
            // Shared keys; this endpoint's own secret seeds its nonces.
            Some(shared) => {
                token::TokenKeys::new(shared.as_bytes(), token_key, Some(shared.epoch()))
            }
            None => token::TokenKeys::new(token_key, token_key, None),
        };
        Self {
            tokens,
            retries_sent: 0,
            validated_by_retry: 0,
            validated_by_token: 0,
            stateless_bucket: rate::TokenBucket::new(config.stateless_rate, config.stateless_burst),
            stateless_rate_limited: 0,
            max_udp_payload,
            oversized_datagrams: 0,
            undecryptable_bytes: 0,
            reset_key: hmac::Key::new(hmac::HMAC_SHA256, key),
            config,
            server,
            rng,
            connections: connections::Connections::default(),
            next_handle: 0,
            responses: VecDeque::new(),
            incoming: incoming::Pending::default(),
            early: early::EarlyZeroRtt::default(),
            deferred: VecDeque::new(),
            server_tls: server_tls::ServerTls::default(),
            client_tls: crate::crypto::CapturingClientTls::default(),
            drained: VecDeque::new(),
            due: Vec::new(),
            local: local.filter(|addr| !addr.ip().is_unspecified()),
            dropped_datagrams: 0,
            refused: [0; InitialRefusal::COUNT],
            refusal_reports: VecDeque::new(),
        }
    }

    /// The endpoint's socket moved to `local` (its bound address, when it is
    /// a specific one): every connection now sends from there, and each
    /// migrates (RFC 9000 §9.2): it sends from the new address at once, so
    /// that the peer validates it and follows, and it does so to a
    /// connection ID of the peer's it has not used on the old address when
    /// one is available (§9.5).
    ///
    /// Cost: one call per connection; a rebinding is rare.
    pub fn rebind(&mut self, now: Instant, local: Option<SocketAddr>) {
        self.local = local.filter(|addr| !addr.ip().is_unspecified());
        for handle in self.connections.handles() {
            if let Some(conn) = self.connections.touch(handle) {
                conn.on_local_rebind(now, local);
            }
        }
    }

    /// Replaces the configuration new clients are accepted with (`None`
    /// stops accepting: new Initials are dropped). Connections already
    /// made keep theirs; pending incomings are accepted with the new one
    /// unless [`accept_incoming`](Self::accept_incoming) is given another.
    pub fn set_server_config(&mut self, server: Option<Arc<ServerConfig>>) {
        if let Some(server) = &server {
            self.allow_payload(server.transport.max_udp_payload_size);
        }
        self.server_tls.retain(server.as_ref());
        self.server = server;
    }

    /// Processes a datagram received from `remote`. `local_ip` is the
    /// address it was sent to, as the socket reports it (`IP_PKTINFO`),
    /// when known: on a socket bound to a wildcard address, a connection
    /// answers from the address its peer reached (see
    /// [`Connection::local_ip`]), and so do the stateless answers.
    ///
    /// Cost: one route lookup, then the connection's own work. A
    /// short-header datagram for no connection is checked as a stateless
    /// reset with one hash lookup among the reset tokens of the peers at
    /// `remote`, after refreshing the connections touched since the last
    /// refresh; it does not grow with the number of connections.
    pub fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        // RFC 9000 §18.2: a datagram larger than the max_udp_payload_size
        // we advertised may be dropped; no peer of ours sends one.
        if data.len() > self.max_udp_payload_size() {
            self.oversized_datagrams += 1;
            self.dropped_datagrams += 1;
            return;
        }
        let cid_len = self.config.cid_generator.cid_len();
        let (dcid, version) = match InvariantHeader::parse(&data, cid_len) {
            Ok(header) => (ConnectionId::new(header.dcid()).ok(), header.version()),
            Err(_) => {
                self.dropped_datagrams += 1;
                return;
            }
        };
        if let Some(handle) = dcid.and_then(|cid| self.connections.route(&cid)) {
            if let Some(conn) = self.connections.touch(handle) {
                deliver(
                    conn,
                    &mut self.undecryptable_bytes,
                    self.config.max_undecryptable_bytes,
                    (now, remote, local_ip, ecn),
                    data,
                );
                // The handshake may have completed, or the peer retired
                // some of our IDs.
                if conn.has_endpoint_events() {
                    self.serve(handle);
                }
            }
            return;
        }
        let data = match dcid {
            Some(cid) => match self.incoming.hold(&cid, remote, ecn, data) {
                incoming::Hold::Held => return,
                incoming::Hold::Dropped => {
                    self.dropped_datagrams += 1;
                    return;
                }
                incoming::Hold::NotPending(data) => data,
            },
            None => data,
        };
        let Some(version) = version else {
            // RFC 9000 §10.3.1: a stateless reset carries a random connection
            // ID, so an unroutable short header is checked against the reset
            // tokens of our connections to that peer.
            let reset = self.connections.stateless_reset(now, remote, &data);
            if !reset {
                let dcid = dcid.unwrap_or(ConnectionId::EMPTY);
                self.send_stateless_reset(now, &data, &dcid, remote, local_ip);
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
            self.answer_version_negotiation(now, &data, remote, local_ip, cid_len);
            return;
        };
        if let Some(data) = self.hold_early_zero_rtt(now, remote, ecn, (version, dcid), data) {
            self.handle_first_initial(now, remote, local_ip, ecn, version, data);
        }
    }

    /// Drops a client's Initial for a reason of our own: counts it, and
    /// keeps the first of its kind for the owner to report.
    fn refuse(&mut self, reason: InitialRefusal, detail: impl FnOnce() -> String) {
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

    /// The largest datagram [`handle`](Self::handle) takes: the largest
    /// max_udp_payload_size (RFC 9000 §18.2) that the server configuration
    /// or any client connection made advertises, 1200 bytes at least. An
    /// event loop may drop larger datagrams before copying them.
    #[must_use]
    pub fn max_udp_payload_size(&self) -> usize {
        self.max_udp_payload
            .max(crate::connection::MIN_INITIAL_SIZE)
    }

    /// Counts a datagram the event loop dropped unread for being larger
    /// than [`max_udp_payload_size`](Self::max_udp_payload_size), as
    /// [`handle`](Self::handle) would have.
    pub fn drop_oversized(&mut self) {
        self.oversized_datagrams += 1;
        self.dropped_datagrams += 1;
    }

    /// Raises the largest datagram taken to `size` if it is larger.
    fn allow_payload(&mut self, size: u16) {
        self.max_udp_payload = self.max_udp_payload.max(usize::from(size));
    }

    /// The generator of this endpoint's connection IDs, which also reads
    /// back the shard an ID carries
    /// ([`ConnectionIdGenerator::shard_of`](crate::ConnectionIdGenerator::shard_of)).
    #[must_use]
    pub fn cid_generator(&self) -> &Arc<dyn crate::ConnectionIdGenerator> {
        &self.config.cid_generator
    }

    /// A new connection ID of ours (RFC 9000 §5.1), from the configured
    /// generator and the endpoint's RNG, drawn again while it routes to a
    /// connection already (at most `UNIQUE_CID_ATTEMPTS` draws; then the
    /// last one, as zero-length IDs must be).
    fn new_cid(&mut self) -> ConnectionId {
        let mut cid = self.config.cid_generator.generate(&mut self.rng);
        for _ in 1..connections::UNIQUE_CID_ATTEMPTS {
            if cid.is_empty() || !self.connections.is_routed(&cid) {
                break;
            }
            cid = self.config.cid_generator.generate(&mut self.rng);
        }
        cid
    }

    /// Does what connection `handle` asked of the endpoint: routes new
    /// connection IDs for it, unique among the routes, with their reset
    /// tokens (RFC 9000 §10.3.2), and stops routing the ones its peer
    /// retired (see [`connections`]).
    fn serve(&mut self, handle: ConnectionHandle) {
        let Self {
            connections,
            config,
            rng,
            reset_key,
            ..
        } = self;
        let generator = &config.cid_generator;
        connections.serve(handle, &mut || generator.generate(rng), &|cid| {
            stateless::reset_token(reset_key, cid)
        });
    }

    fn insert(&mut self, conn: Connection, cids: &[ConnectionId]) -> ConnectionHandle {
        let handle = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.connections.insert(handle, conn, cids);
        handle
    }

    /// The source IP of what we send in answer to a datagram sent to
    /// `local_ip`: the bound address when it is specific, as for
    /// [`Connection::local_ip`].
    fn source_ip(&self, local_ip: Option<IpAddr>) -> Option<IpAddr> {
        self.local.map(|addr| addr.ip()).or(local_ip)
    }

    /// Appends the next datagrams to send to `buf` and says where to send
    /// them; `None` (with `buf` unchanged) when nothing is due now.
    ///
    /// Up to `max_datagrams` datagrams of one connection come out as one
    /// GSO batch, written in place (see [`Connection::poll_transmit`]); a
    /// stateless answer is always alone.
    ///
    /// Stateless answers go first; then the connections that may have
    /// something to send take turns, one batch each (round robin). Only
    /// those are polled: the connections touched since their last poll
    /// returned `None` (by a datagram, a timeout, or
    /// [`connection_mut`](Self::connection_mut)). A connection whose timer
    /// is due sends once [`handle_timeout`](Self::handle_timeout) ran it.
    ///
    /// Cost: one connection poll per batch, plus one for each touched
    /// connection that turns out to have nothing to send; O(1) amortized
    /// besides, whatever the number of connections.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if let Some(response) = self.responses.pop_front() {
            buf.extend_from_slice(&response.bytes);
            return Some(Transmit {
                destination: response.destination,
                ecn: None,
                size: response.bytes.len(),
                segment_size: None,
                src_ip: response.src_ip,
            });
        }
        while let Some(handle) = self.connections.next_send_ready() {
            // Whatever the owner did may have asked for connection IDs,
            // which must be routed before a frame announces them.
            self.serve(handle);
            let Some(conn) = self.connections.visit(handle) else {
                continue;
            };
            let transmit = conn.poll_transmit(now, max_datagrams, buf);
            self.connections.transmitted(handle, transmit.is_some());
            if transmit.is_some() {
                return transmit;
            }
        }
        None
    }

    /// Appends the next datagrams of connection `handle` alone to `buf`, as
    /// [`poll_transmit`](Self::poll_transmit) does when that connection's
    /// turn comes; `None` when it has nothing to send now or is gone.
    ///
    /// For an owner that wants one connection's flight to leave at once,
    /// without running every other connection's turn: a server's first
    /// answer right after [`accept_incoming`](Self::accept_incoming), a
    /// client's first Initial after [`connect`](Self::connect).
    pub fn poll_transmit_of(
        &mut self,
        handle: ConnectionHandle,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        self.serve(handle);
        let conn = self.connections.visit(handle)?;
        let transmit = conn.poll_transmit(now, max_datagrams, buf);
        self.connections.transmitted(handle, transmit.is_some());
        transmit
    }

    /// The earliest deadline of any connection, and of the oldest pending
    /// incoming's [`incoming_timeout`](EndpointConfig::incoming_timeout).
    ///
    /// Cost: the deadlines are kept in order, so this reads the first one,
    /// after filing again the deadline of each connection touched since
    /// the last call (O(log n) for each that moved). It takes `&mut self`
    /// for that filing.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.connections.refresh();
        let connections = self.connections.next_deadline();
        let incoming = self
            .incoming_deadline()
            .into_iter()
            .chain(self.early.deadline());
        let incoming = incoming.min();
        match (connections, incoming) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers of every connection due by `now`, and refuses the
    /// incomings that waited too long.
    ///
    /// Cost: one call per connection due (each runs once per call, even if
    /// its timer is still due after), found in the ordered deadlines in
    /// O(log n); the connections not due are not looked at.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.connections.refresh();
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.connections.due(now, &mut due);
        for &handle in &due {
            if let Some(conn) = self.connections.visit(handle) {
                conn.handle_timeout(now);
            }
            self.connections.touch(handle);
        }
        self.due = due;
        self.expire_incoming(now);
        self.expire_early_zero_rtt(now);
    }

    /// The next event of any connection; a connection's events come out
    /// together. A drained connection stays until its events are taken;
    /// then its final record goes to [`poll_drained`](Self::poll_drained)
    /// and the connection is dropped.
    ///
    /// Cost: one connection poll per event, plus one for each connection
    /// touched or polled for transmits since it last had no event; the
    /// others are not looked at.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        while let Some(handle) = self.connections.next_event_ready() {
            let Some(conn) = self.connections.visit(handle) else {
                self.connections.events_taken(handle);
                continue;
            };
            if let Some(event) = conn.poll() {
                return Some((handle, event));
            }
            let drained = conn.is_drained();
            self.connections.events_taken(handle);
            if drained {
                self.retire(handle);
            }
        }
        None
    }

    /// A connection, by handle. O(1).
    #[must_use]
    pub fn connection(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.connections.get(handle)
    }

    /// A connection, by handle, to act on it. The endpoint cannot see what
    /// is done with it, so the connection is polled again for transmits
    /// and events, and its deadline read again, at the next calls: use
    /// [`connection`](Self::connection) only to read. O(1).
    pub fn connection_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.connections.touch(handle)
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

/// Hands a datagram to a connection, lending it what is left of the
/// endpoint-wide budget for packets waiting for keys (`cap` bytes, of which
/// `held` are held now) and counting what it holds after.
fn deliver(
    conn: &mut Connection,
    held: &mut usize,
    cap: usize,
    (now, remote, local_ip, ecn): (Instant, SocketAddr, Option<IpAddr>, Option<EcnCodepoint>),
    data: BytesMut,
) {
    let before = conn.undecryptable_bytes();
    conn.lend_undecryptable_room(cap.saturating_sub(*held));
    conn.handle_datagram_to(now, remote, local_ip, ecn, data);
    *held = (*held - before.min(*held)) + conn.undecryptable_bytes();
}

/// Fills `out` from the operating system's secure random source.
pub(crate) fn os_random(out: &mut [u8]) {
    // A documented panic: no endpoint is safer than a predictable one.
    SystemRandom::new()
        .fill(out)
        .expect("the operating system's secure random source failed");
}

#[cfg(test)]
pub(crate) mod tests;

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("server", &self.server.is_some())
            .field("connections", &self.connections.len())
            .field("incoming", &self.incoming.len())
            .finish_non_exhaustive()
    }
}
