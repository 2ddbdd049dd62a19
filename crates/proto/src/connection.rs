//! One QUIC connection, client or server, as a sans-IO state machine.
//!
//! # Driving a connection
//!
//! The owner (normally [`Endpoint`](crate::endpoint::Endpoint)) calls, in
//! any order and as often as it likes:
//!
//! - `handle_datagram(now, …)` for every datagram routed to it;
//! - [`poll_transmit`](Connection::poll_transmit) until it returns `None`,
//!   sending each datagram or GSO batch it appends;
//! - [`poll_timeout`](Connection::poll_timeout), arming one timer, and
//!   [`handle_timeout`](Connection::handle_timeout) when it fires;
//! - [`poll`](Connection::poll) until `None`, for application events.
//!
//! After any input, poll again: input may create output.
//!
//! The work is split by concern: `spaces` holds each packet number
//! space's state, `recv` decrypts and dispatches, `send` assembles
//! datagrams, `handshake` drives TLS and captures the handshake
//! information, `timers` handles loss detection, idle and closing, `cids`
//! keeps the peer's connection IDs, the ones we issue and the path
//! challenges to answer.

mod aead_limits;
mod cids;
mod datagrams;
mod events;
mod handshake;
mod key_update;
mod migration;
mod open;
mod path;
#[cfg(feature = "qlog")]
mod qlog;
mod recv;
mod retry;
mod send;
mod spaces;
mod stream_api;
#[cfg(feature = "test-hooks")]
mod test_hooks;
#[cfg(test)]
mod tests;
mod timers;
mod tokens;
mod undecryptable;
mod version;
mod zero_rtt;

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;

pub(crate) use self::cids::EndpointEvent;
pub use self::events::{
    Closer, ConnectionError, ConnectionStats, Event, ExportError, InvalidState, SendDatagramError,
};
pub use self::migration::MigrateError;
pub(crate) use self::recv::{constant_time_eq, reset_token_candidate};
use self::spaces::{PacketSpace, index};
pub(crate) use self::version::{Negotiation, client_offer, information as version_information};
use crate::{
    ConnectionId, Side, SpaceId, TransportError, VarInt,
    config::{TokenStore, TransportConfig},
    crypto::TlsSession,
    handshake_info::{AddressValidation, HandshakeInfo},
    packet::Version,
    recovery::{PathState, Recovery, RecoveryConfig, SentPacket},
    transport_params::TransportParameters,
};

/// The smallest datagram that may carry a client's Initial packet, and the
/// size every datagram is sent at before path MTU discovery (RFC 9000 §14.1).
pub const MIN_INITIAL_SIZE: usize = 1200;

/// What recovery remembers about each packet sent, to act when it is
/// acknowledged or lost.
#[derive(Debug, Clone, Default)]
pub(crate) struct SentFrames {
    /// CRYPTO bytes the packet carried.
    crypto: Option<std::ops::Range<u64>>,
    /// Whether it carried HANDSHAKE_DONE.
    handshake_done: bool,
    /// Whether it went out marked ECT(0) (RFC 9000 §13.4.2).
    ect0: bool,
    /// Its packet number, for persistent congestion (RFC 9002 §7.6.2).
    pn: u64,
    /// Whether it was a path MTU probe (RFC 9000 §14.4).
    mtu_probe: bool,
    /// Stream and flow control frames it carried.
    streams: crate::streams::SentStreamFrames,
    /// Sequence numbers of the RETIRE_CONNECTION_ID frames it carried,
    /// sent again if it is lost (RFC 9000 §13.3).
    retired_cids: Vec<u64>,
    /// Sequence numbers of the NEW_CONNECTION_ID frames it carried, sent
    /// again if it is lost (RFC 9000 §13.3).
    new_cids: Vec<u64>,
    /// Whether it carried PATH_RESPONSE, which expands its datagram (RFC
    /// 9000 §8.2.2) and is never sent again (§13.3).
    path_response: bool,
    /// Which of a server's NEW_TOKEN tokens it carried, sent again if it
    /// is lost (RFC 9000 §13.3).
    new_tokens: tokens::NewTokenMask,
    /// The path it was sent on (see `Path::id`).
    path: u32,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The handshake is running.
    Handshaking,
    /// The handshake completed.
    Established,
    /// We closed: CONNECTION_CLOSE goes out in answer to the peer's packets
    /// until the deadline (RFC 9000 §10.2.1).
    Closing { deadline: Instant },
    /// The peer closed: nothing more is sent (RFC 9000 §10.2.2).
    Draining { deadline: Instant },
    /// Finished: the owner may forget the connection.
    Drained,
}

/// The frame that closes the connection, kept to repeat while closing.
#[derive(Debug, Clone)]
enum CloseReason {
    Transport(TransportError),
    Application { code: VarInt, reason: Bytes },
}

/// A QUIC connection: handshake, packet protection, ACKs, loss recovery of
/// handshake data and closing. See the module documentation for how to
/// drive it.
pub struct Connection {
    side: Side,
    version: Version,
    state: State,
    config: Arc<TransportConfig>,
    /// The TLS session; `None` once a server freed it after the handshake.
    /// Boxed, so that freeing it returns its inline state too.
    tls: Option<Box<TlsSession>>,
    /// When the TLS session was freed.
    tls_freed_at: Option<Instant>,
    /// The space TLS currently writes handshake bytes in.
    tls_write_space: SpaceId,
    /// The 1-RTT key phase and the secrets of key updates (RFC 9001 §6).
    key_phase: key_update::KeyPhase,
    retain_tls_state: bool,
    spaces: [PacketSpace; 3],
    recovery: Recovery<SentFrames>,
    /// Reused buffers for recovery's outputs (no allocation per ACK).
    acked_buf: Vec<SentPacket<SentFrames>>,
    lost_buf: Vec<(SpaceId, SentPacket<SentFrames>)>,
    discarded_buf: Vec<SentFrames>,

    /// Our handshake connection ID (sequence number 0), the SCID of our
    /// long headers; `local_cids` has every ID the peer may send to.
    local_cid: ConnectionId,
    /// The peer's connection ID (we send packets to it).
    remote_cid: ConnectionId,
    /// The Destination Connection ID of the client's first Initial, from
    /// which Initial keys derive (RFC 9001 §5.2) and which the server must
    /// echo in original_destination_connection_id (RFC 9000 §7.3).
    original_dcid: ConnectionId,
    /// Whether the client has switched to the server's chosen CID: it
    /// processed a packet from the server.
    remote_cid_set: bool,
    /// How the client's address was validated, the Retry a client followed
    /// and the token its Initials carry (RFC 9000 §8.1).
    tokens: tokens::Tokens,
    /// The endpoint's bound address, when it is a specific one.
    local: Option<SocketAddr>,
    /// The path our packets take: the peer's address, the local IP, the
    /// anti-amplification budget, congestion control, pacing, path MTU and
    /// ECN (see `path.rs`).
    path: path::Path,
    /// The last validated path, while the connection tries a new one (see
    /// `migration.rs`).
    previous_path: Option<Box<migration::Fallback>>,
    /// A client's path being validated before it moves there (see
    /// `migration/candidate.rs`).
    candidate: Option<Box<migration::Candidate>>,
    /// Paths made so far, which numbers the next.
    paths_made: u32,
    /// The secret path challenges are drawn from (RFC 9000 §8.2.1), and
    /// how many were drawn.
    challenge_key: [u8; 16],
    challenges_made: u64,

    /// Both sides' transport parameters, shared with the handshake
    /// snapshot once it is taken.
    local_params: Arc<TransportParameters>,
    peer_params: Option<Arc<TransportParameters>>,

    handshake_complete: bool,
    handshake_confirmed: bool,
    handshake_done_pending: bool,
    /// Whether the buffers the handshake grew were given back (see
    /// `maybe_release_handshake_buffers`).
    handshake_buffers_released: bool,
    handshake_info: Option<Arc<HandshakeInfo>>,

    created_at: Instant,
    /// Last time we received a packet or sent the first ack-eliciting
    /// packet after one (RFC 9000 §10.1).
    idle_since: Instant,
    ack_eliciting_sent_since_receive: bool,
    /// Packets that arrived before their keys, or 1-RTT packets at a
    /// server before its handshake completed (RFC 9001 §5.7), with their
    /// ECN marks; bounded.
    undecryptable: Vec<(crate::packet::PartialDecode, Option<crate::EcnCodepoint>)>,
    /// Bytes of the packets in `undecryptable`.
    undecryptable_bytes: usize,
    /// How many more bytes of such packets the owner's endpoint-wide budget
    /// lets this connection keep (see `lend_undecryptable_room`).
    undecryptable_room: usize,
    /// Packets received while closing, to answer only some of them
    /// (RFC 9000 §10.2.1).
    closing_packets: u64,
    /// When a server last answered a client's 1-RTT packet while waiting
    /// for its lost Finished (see `nudge_handshake`): once per PTO.
    handshake_nudged_at: Option<Instant>,
    close: Option<CloseReason>,
    /// What the `Closed` event carried, once the connection closed.
    close_error: Option<ConnectionError>,
    close_pending: bool,
    events: VecDeque<Event>,
    stats: ConnectionStats,
    datagrams_in: datagrams::DatagramQueue,
    datagrams_out: datagrams::DatagramQueue,
    /// A keep-alive PING is due in the Data space.
    keep_alive_pending: bool,
    /// When we last sent an ack-eliciting packet, for keep-alives.
    last_ack_eliciting_sent: Instant,
    /// The peer's connection IDs (RFC 9000 §5.1), with their stateless
    /// reset tokens (§10.3); `remote_cid` is the one in use.
    remote_cids: cids::RemoteCids,
    /// The connection IDs we issued (RFC 9000 §5.1), routed here by the
    /// endpoint until the peer retires them.
    local_cids: cids::LocalCids,
    /// PATH_RESPONSE frames owed (RFC 9000 §8.2.2).
    path_responses: cids::PathResponses,
    /// Every stream of the connection, and connection flow control.
    streams: crate::streams::Streams,
    /// The 0-RTT keys, while they are used (see `zero_rtt.rs`).
    zero_rtt: Option<Box<zero_rtt::ZeroRttKeys>>,
    /// What became of 0-RTT.
    zero_rtt_state: zero_rtt::ZeroRttState,
    /// Version negotiation under way (see `version.rs`); `None` when the
    /// versions leave no choice, and once the handshake completed.
    negotiation: Option<Box<version::Negotiation>>,
    /// The qlog trace and the states it has reported, when one is kept.
    #[cfg(feature = "qlog")]
    qlog: Option<(crate::qlog::QlogStream, qlog::Reported)>,
    /// Frames a test queued to send as they are (see `test_hooks`).
    #[cfg(feature = "test-hooks")]
    raw_frames: VecDeque<Bytes>,
}

/// Everything needed to start a connection, assembled by the endpoint.
pub(crate) struct ConnectionInit {
    pub(crate) side: Side,
    pub(crate) version: Version,
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) tls: TlsSession,
    pub(crate) retain_tls_state: bool,
    pub(crate) local_cid: ConnectionId,
    pub(crate) remote_cid: ConnectionId,
    pub(crate) original_dcid: ConnectionId,
    pub(crate) remote: SocketAddr,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) local_ip: Option<std::net::IpAddr>,
    pub(crate) local_params: TransportParameters,
    /// Server: how the endpoint validated the client's address before the
    /// handshake; a validated address lifts the 3x anti-amplification
    /// limit (RFC 9000 §8.1). Client: ignored, the connection says
    /// [`AddressValidation::Token`] when `token` is not empty.
    pub(crate) validation: AddressValidation,
    /// Server: tokens the endpoint minted, sent in NEW_TOKEN frames once
    /// the handshake is confirmed, retransmitted if lost (RFC 9000 §8.1.3,
    /// §19.7); empty ones, ones over 512 bytes and ones past the eighth are
    /// dropped (see `tokens::MAX_TOKEN_LEN`, `tokens::MAX_NEW_TOKENS`).
    /// Ignored on a client.
    pub(crate) new_tokens: Vec<Bytes>,
    /// Client: the token every Initial it sends carries (RFC 9000
    /// §17.2.2), from a NEW_TOKEN frame of an earlier connection; empty
    /// for none, and not sent if over 512 bytes. Ignored on a server.
    pub(crate) token: Bytes,
    /// Client: where the tokens of NEW_TOKEN frames go, and the server name
    /// they are for. Ignored on a server.
    pub(crate) token_store: Option<(Arc<dyn TokenStore>, Arc<str>)>,
    /// A secret from the endpoint's RNG, which the data of path challenges
    /// are drawn from (RFC 9000 §8.2.1).
    pub(crate) challenge_key: [u8; 16],
    /// Version negotiation, when the versions leave a choice (RFC 9368).
    pub(crate) negotiation: Option<Box<version::Negotiation>>,
}

impl Connection {
    pub(crate) fn new(now: Instant, mut init: ConnectionInit) -> Self {
        let tokens = tokens::Tokens::from_init(&mut init);
        let token_validated = tokens.validation != AddressValidation::None;
        let config = init.config;
        let streams_config = config.streams.clone();
        let remote_cids = cids::RemoteCids::new(init.remote_cid, config.active_connection_id_limit);
        let path_responses = cids::PathResponses::new(config.max_path_responses);
        let local_cids = cids::LocalCids::new(init.local_cid, config.issued_connection_ids);
        let mut spaces: [PacketSpace; 3] = std::array::from_fn(|_| PacketSpace::new(&config));
        // RFC 9001 §5.2: Initial keys come from the client's first DCID,
        // with the AES-128-GCM of the TLS configuration's own provider.
        spaces[index(SpaceId::Initial)].keys =
            Some(init.tls.initial_keys(init.version, &init.original_dcid));
        let recovery = Recovery::new(RecoveryConfig {
            initial_rtt: config.initial_rtt,
            ..RecoveryConfig::default()
        });
        #[cfg(feature = "qlog")]
        let qlog = qlog::start(now, &config, init.side, &init.original_dcid);
        // RFC 9000 §8.1: a client never limits itself; a server starts
        // unvalidated, unless the endpoint validated the client's address
        // with a Retry or NEW_TOKEN token.
        let path = path::Path::new(
            now,
            &config,
            init.remote,
            init.local_ip,
            init.side.is_client() || token_validated,
        );
        let mut conn = Self {
            side: init.side,
            version: init.version,
            state: State::Handshaking,
            config,
            tls: Some(Box::new(init.tls)),
            tls_freed_at: None,
            tls_write_space: SpaceId::Initial,
            key_phase: key_update::KeyPhase::default(),
            retain_tls_state: init.retain_tls_state,
            spaces,
            recovery,
            acked_buf: Vec::new(),
            lost_buf: Vec::new(),
            discarded_buf: Vec::new(),
            local_cid: init.local_cid,
            remote_cid: init.remote_cid,
            original_dcid: init.original_dcid,
            remote_cid_set: init.side.is_server(),
            tokens,
            local: init.local,
            path,
            previous_path: None,
            candidate: None,
            paths_made: 0,
            challenge_key: init.challenge_key,
            challenges_made: 0,
            local_params: Arc::new(init.local_params),
            peer_params: None,
            handshake_complete: false,
            handshake_confirmed: false,
            handshake_done_pending: false,
            handshake_buffers_released: false,
            handshake_info: None,
            created_at: now,
            idle_since: now,
            ack_eliciting_sent_since_receive: false,
            undecryptable: Vec::new(),
            undecryptable_bytes: 0,
            undecryptable_room: usize::MAX,
            closing_packets: 0,
            handshake_nudged_at: None,
            close: None,
            close_error: None,
            close_pending: false,
            events: VecDeque::new(),
            stats: ConnectionStats {
                tls_state_retained: true,
                ..ConnectionStats::default()
            },
            datagrams_in: datagrams::DatagramQueue::default(),
            datagrams_out: datagrams::DatagramQueue::default(),
            keep_alive_pending: false,
            last_ack_eliciting_sent: now,
            remote_cids,
            local_cids,
            path_responses,
            streams: crate::streams::Streams::new(init.side, streams_config),
            zero_rtt: None,
            zero_rtt_state: zero_rtt::ZeroRttState::default(),
            negotiation: init.negotiation,
            #[cfg(feature = "qlog")]
            qlog,
            #[cfg(feature = "test-hooks")]
            raw_frames: VecDeque::new(),
        };
        // A received chunk may pin a whole datagram, at most this large.
        conn.streams
            .set_max_packet_size(u64::from(conn.config.max_udp_payload_size));
        if conn.side.is_client() {
            // The ClientHello goes out in the first Initial.
            conn.drive_tls(now);
            // RFC 9001 §4.6.1: a ticket that allows early data gives 0-RTT
            // keys with the ClientHello.
            conn.take_client_zero_rtt_keys();
        }
        conn
    }

    /// Which end of the connection this is.
    #[must_use]
    pub fn side(&self) -> Side {
        self.side
    }

    /// The QUIC version in use.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The peer's address.
    #[must_use]
    pub fn remote_address(&self) -> SocketAddr {
        self.path.remote
    }

    /// Our handshake connection ID (sequence number 0), the first the peer
    /// addressed packets to. Once the handshake is confirmed the peer also
    /// has the IDs we issue with NEW_CONNECTION_ID (RFC 9000 §5.1), and may
    /// retire this one.
    #[must_use]
    pub fn local_cid(&self) -> ConnectionId {
        self.local_cid
    }

    /// The Destination Connection ID of the client's first Initial.
    #[must_use]
    pub fn original_dcid(&self) -> ConnectionId {
        self.original_dcid
    }

    /// The stateless reset token (RFC 9000 §10.3) of the peer's connection
    /// ID in use, if it gave one (a server in its transport parameters,
    /// either side with NEW_CONNECTION_ID): the endpoint files it to
    /// recognise a reset without asking every connection. RFC 9000
    /// §10.3.1: the tokens of IDs not used, or retired, are not checked,
    /// so when the ID in use changes the endpoint files the new token in
    /// place of the old.
    pub(crate) fn peer_reset_token(&self) -> Option<[u8; 16]> {
        self.remote_cids.reset_token()
    }

    /// The peer's connection ID our packets go to.
    #[must_use]
    pub fn remote_cid(&self) -> ConnectionId {
        self.remote_cid
    }

    /// Whether the handshake is still running.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.state == State::Handshaking
    }

    /// Whether the handshake is confirmed (RFC 9001 §4.1.2).
    #[must_use]
    pub fn is_handshake_confirmed(&self) -> bool {
        self.handshake_confirmed
    }

    /// Whether the connection is closing, draining or finished.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(
            self.state,
            State::Closing { .. } | State::Draining { .. } | State::Drained
        )
    }

    /// Why the connection closed: the error its [`Event::Closed`] carried
    /// ([`ConnectionError::LocallyClosed`] after [`close`](Self::close));
    /// `None` while it is open.
    #[must_use]
    pub fn close_reason(&self) -> Option<&ConnectionError> {
        self.close_error.as_ref()
    }

    /// Whether the connection is finished and can be forgotten.
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// Whether the server has validated the client's address (RFC 9000
    /// §8.1): from the start when its endpoint checked a Retry or
    /// NEW_TOKEN token, else once a Handshake packet arrived. Until then it
    /// sends at most three times what it received. Always true on a client.
    #[must_use]
    pub fn is_address_validated(&self) -> bool {
        self.path.validated
    }

    /// How the client's address was validated before the handshake, as
    /// far as this side knows yet: on a client, [`AddressValidation::Retry`]
    /// from the moment it follows a Retry, [`AddressValidation::Token`]
    /// while its Initials carry a NEW_TOKEN token; on a server, what the
    /// endpoint found. The handshake snapshot records the final value.
    #[must_use]
    pub fn address_validation(&self) -> AddressValidation {
        self.tokens.validation
    }

    /// The handshake information snapshot, from the Connected event on.
    ///
    /// Captured once when the handshake completed; it stays readable after
    /// the server freed its TLS session and after the connection closed.
    #[must_use]
    pub fn handshake_info(&self) -> Option<&Arc<HandshakeInfo>> {
        self.handshake_info.as_ref()
    }

    /// Whether the TLS session is still held.
    #[must_use]
    pub fn tls_state_retained(&self) -> bool {
        self.tls.is_some()
    }

    /// The peer's transport parameters, once received.
    #[must_use]
    pub fn peer_params(&self) -> Option<&TransportParameters> {
        self.peer_params.as_deref()
    }

    /// The smoothed round-trip time (RFC 9002 §5.3).
    #[must_use]
    pub fn rtt(&self) -> Duration {
        self.recovery.rtt().smoothed()
    }

    /// Streams the connection holds state for: open, or closed in one
    /// direction and waiting for the other. A stream is freed once both
    /// directions reached a terminal state (RFC 9000 §3), and a freed peer
    /// stream lets the peer open one more (MAX_STREAMS, RFC 9000 §4.6).
    #[must_use]
    pub fn stream_count(&self) -> usize {
        self.streams.stream_count()
    }

    /// Counters of this connection.
    #[must_use]
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            tls_state_retained: self.tls.is_some(),
            pto_count: self.stats.pto_count,
            ecn_capable: self.path.ecn.is_capable(),
            memory_bytes: self.memory_bytes(),
            congestion_window: self.path.congestion.window(),
            bytes_in_flight: self.recovery.bytes_in_flight(),
            path_mtu: self.path.mtud.current(),
            rtt: self.recovery.rtt().smoothed(),
            key_updates: self.key_phase.count,
            ..self.stats
        }
    }

    /// The memory this connection holds, as `ConnectionStats::memory_bytes`
    /// documents it.
    fn memory_bytes(&self) -> u64 {
        let crypto: usize = self
            .spaces
            .iter()
            .map(|sp| {
                sp.crypto_send.held()
                    + usize::try_from(sp.crypto_recv.buffered()).unwrap_or(usize::MAX)
            })
            .sum();
        let packets = self.undecryptable_bytes;
        let windows: usize = self.spaces.iter().map(|sp| sp.processed.heap_bytes()).sum();
        let datagrams = self.datagrams_in.memory() + self.datagrams_out.memory();
        let cids = self.remote_cids.heap_bytes()
            + self.local_cids.heap_bytes()
            + self.path_responses.heap_bytes()
            + self.tokens.heap_bytes();
        let streams = self.streams.recv_memory() + self.streams.send_buffered_total();
        let tls = if self.tls.is_some() {
            std::mem::size_of::<TlsSession>() + crate::crypto::TLS_SESSION_HEAP_ESTIMATE
        } else {
            0
        };
        let zero_rtt = self
            .zero_rtt
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<zero_rtt::ZeroRttKeys>());
        // Both sides' transport parameters, behind an `Arc` each.
        let params = std::mem::size_of::<TransportParameters>()
            * (1 + usize::from(self.peer_params.is_some()));
        (std::mem::size_of::<Self>()
            + params
            + crypto
            + packets
            + windows
            + datagrams
            + cids
            + tls
            + zero_rtt) as u64
            + streams
    }

    /// The next application event, if any.
    pub fn poll(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        self.streams.poll_event().map(Event::Stream)
    }

    /// Exports keying material from the TLS session (RFC 8446 §7.5).
    ///
    /// # Errors
    /// [`ExportError::InvalidState`] when the TLS session is not there: a
    /// server frees it once the handshake is confirmed unless
    /// [`ServerConfig::retain_tls_state`](crate::config::ServerConfig::retain_tls_state)
    /// is set, and nothing can be exported before the handshake completes.
    /// [`ExportError::Tls`] when rustls refuses the request.
    pub fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<(), ExportError> {
        if !self.handshake_complete {
            return Err(InvalidState {
                what: "keying material cannot be exported before the handshake completes".into(),
            }
            .into());
        }
        let Some(tls) = &self.tls else {
            let since = self
                .tls_freed_at
                .map(|at| at.saturating_duration_since(self.created_at));
            return Err(InvalidState {
                what: format!(
                    "the server freed its tls session to save memory when the handshake was \
                     confirmed ({} after the connection started), so keying material can no \
                     longer be exported; the handshake information snapshot is still available; \
                     set ServerConfig::retain_tls_state(true) to keep the session",
                    since.map_or_else(|| "at close".to_string(), |d| format!("{d:?}"))
                ),
            }
            .into());
        };
        tls.export_keying_material(out, label, context)
            .map_err(|e| ExportError::Tls(e.to_string()))
    }

    /// Closes the connection with an application error code (RFC 9000
    /// §10.2); the peer sees the code and reason, and this side reports
    /// [`ConnectionError::LocallyClosed`] in its `Closed` event and from
    /// [`close_reason`](Self::close_reason). Does nothing on a connection
    /// already closed.
    pub fn close(&mut self, now: Instant, code: VarInt, reason: Bytes) {
        if self.is_closed() {
            return;
        }
        self.start_closing(now, CloseReason::Application { code, reason });
        self.emit_closed(ConnectionError::LocallyClosed);
        #[cfg(feature = "qlog")]
        self.qlog_sync(now);
    }

    /// Whether a test queued raw frames (never, without `test-hooks`).
    #[cfg(not(feature = "test-hooks"))]
    fn has_raw_frames(&self) -> bool {
        false
    }

    /// Writes a test's raw frames (nothing, without `test-hooks`).
    #[cfg(not(feature = "test-hooks"))]
    fn write_raw_frames(&mut self, _buf: &mut Vec<u8>, _limit: usize) -> bool {
        false
    }

    fn space(&self, space: SpaceId) -> &PacketSpace {
        &self.spaces[index(space)]
    }

    /// What recovery needs to know of the path (RFC 9002 §A.6, §A.8).
    fn path_state(&self) -> PathState {
        PathState {
            handshake_confirmed: self.handshake_confirmed,
            // RFC 9002 §A.8: a server knows the client validated it; a
            // client knows once it has Handshake acknowledgements or the
            // handshake is confirmed.
            peer_completed_address_validation: self.side.is_server()
                || self.handshake_confirmed
                || self.recovery.largest_acked(SpaceId::Handshake).is_some(),
            amplification_blocked: !self.path.validated
                && self.amplification_budget() < MIN_INITIAL_SIZE as u64,
            has_handshake_keys: self.space(SpaceId::Handshake).keys.is_some(),
            max_ack_delay: self.peer_max_ack_delay(),
            is_client: self.side.is_client(),
        }
    }

    /// The largest UDP payload we may send on the path now.
    fn max_datagram_payload(&self) -> usize {
        if self.handshake_confirmed {
            usize::from(self.path.mtud.current())
        } else {
            MIN_INITIAL_SIZE
        }
    }

    fn peer_max_ack_delay(&self) -> Duration {
        self.peer_params
            .as_ref()
            .map_or(Duration::from_millis(25), |p| p.max_ack_delay)
    }

    /// Bytes a server may still send before the client's address is
    /// validated (RFC 9000 §8.1).
    fn amplification_budget(&self) -> u64 {
        if self.path.validated {
            u64::MAX
        } else {
            (3 * self.path.amplification_received).saturating_sub(self.path.amplification_sent)
        }
    }

    /// Fails the connection with a transport error we detected.
    fn fail(&mut self, now: Instant, error: TransportError) {
        if self.is_closed() {
            return;
        }
        tracing::debug!(code = ?error.code, reason = %error.reason, "closing on transport error");
        self.emit_closed(ConnectionError::Transport {
            error: error.clone(),
            closed_by: Closer::Local,
        });
        self.start_closing(now, CloseReason::Transport(error));
    }
}
