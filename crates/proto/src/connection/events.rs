//! What a connection reports to its owner, and how it can fail.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;

use crate::{TransportError, VarInt, handshake_info::HandshakeInfo};

/// An event from [`Connection::poll`](super::Connection::poll).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed. The snapshot is captured exactly once, here,
    /// and the same `Arc` is returned by
    /// [`Connection::handshake_info`](super::Connection::handshake_info)
    /// for the rest of the connection's life.
    Connected(Arc<HandshakeInfo>),
    /// The connection closed; no more packets will be processed.
    Closed(ConnectionError),
    /// A datagram arrived (RFC 9221); take it with
    /// [`Connection::recv_datagram`](super::Connection::recv_datagram).
    DatagramReceived,
    /// Datagrams queued for sending went out after
    /// [`Connection::try_send_datagram`](super::Connection::try_send_datagram)
    /// refused one as [`SendDatagramError::Blocked`]: there is room to
    /// queue again. Raised once per refusal streak.
    DatagramsUnblocked,
    /// Something happened on a stream: opened by the peer, readable,
    /// writable again, finished, stopped or reset.
    Stream(crate::streams::StreamEvent),
}

/// Which end closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Closer {
    /// This endpoint.
    Local,
    /// The peer, with a CONNECTION_CLOSE frame.
    Peer,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A transport error: one we detected in the peer's behaviour
    /// ([`Closer::Local`]) or one the peer reported ([`Closer::Peer`]).
    /// Check the code; a `CRYPTO_ERROR` carries the TLS alert.
    #[error("transport error closed by {closed_by:?}: {error}")]
    Transport {
        /// The error and its code.
        error: TransportError,
        /// Who closed.
        closed_by: Closer,
    },
    /// An application closed the connection with a code of its protocol.
    /// Tern reports it with [`Closer::Peer`] when the peer's application
    /// closed; a local close is [`LocallyClosed`](Self::LocallyClosed).
    #[error(
        "application closed by {closed_by:?} with code {code}: {}",
        String::from_utf8_lossy(reason)
    )]
    Application {
        /// The application protocol's error code.
        code: VarInt,
        /// The reason phrase as sent.
        reason: Bytes,
        /// Who closed.
        closed_by: Closer,
    },
    /// Nothing was heard from the peer within the idle timeout (RFC 9000
    /// §10.1). The peer may be gone or the path broken; reconnect.
    #[error("idle timeout: no packet from the peer for {0:?}")]
    TimedOut(Duration),
    /// The handshake did not complete within
    /// [`handshake_timeout`](crate::config::TransportConfig::handshake_timeout)
    /// of the connection's start; the connection was dropped silently. The
    /// peer may be unreachable, too slow, or never finishing on purpose;
    /// retry, or raise the timeout for a slow path.
    #[error("handshake timeout: not completed within {0:?}")]
    HandshakeTimedOut(Duration),
    /// The server supports none of the versions we offered (RFC 9000 §6).
    #[error("version negotiation failed: the server supports none of our versions")]
    VersionMismatch,
    /// The peer lost the connection's state and sent a stateless reset
    /// (RFC 9000 §10.3); reconnect.
    #[error("the peer reset the connection (stateless reset): it no longer knows it")]
    Reset,
    /// The application closed the connection with
    /// [`Connection::close`](super::Connection::close); the peer received
    /// the code and reason given there. Nothing more can be done on it.
    #[error("closed locally by the application")]
    LocallyClosed,
    /// Never produced by tern-proto: the event loop (tern-endpoint) reports
    /// it to whoever waits on a connection when the task that drove the
    /// endpoint stopped (its runtime shut down) before the connection
    /// closed. The connection is gone without a CONNECTION_CLOSE; keep the
    /// runtime alive for as long as its connections are used.
    #[error("the endpoint's event loop stopped (its runtime shut down): the connection is gone")]
    EndpointStopped,
}

impl super::Connection {
    /// Records why the connection closed, for
    /// [`close_reason`](super::Connection::close_reason), and tells the
    /// owner with [`Event::Closed`]. Callers check first that the
    /// connection was not already closed.
    pub(super) fn emit_closed(&mut self, error: ConnectionError) {
        self.close_error = Some(error.clone());
        self.events.push_back(Event::Closed(error));
    }
}

/// Why a datagram could not be queued for sending (RFC 9221).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendDatagramError {
    /// The peer did not advertise max_datagram_frame_size, or the handshake
    /// has not told us yet; datagrams cannot be sent on this connection.
    #[error("the peer does not accept datagrams")]
    UnsupportedByPeer,
    /// The datagram is larger than both the peer's limit and the path allow;
    /// send at most `max` bytes.
    #[error("datagram too large: at most {max} bytes fit")]
    TooLarge {
        /// The largest datagram that fits now.
        max: usize,
    },
    /// The connection is closed.
    #[error("the connection is closed")]
    ConnectionClosed,
    /// The send queue is full (by count or by bytes) and
    /// [`try_send_datagram`](super::Connection::try_send_datagram) drops
    /// nothing to make room: the datagram was not queued. Keep it and try
    /// again after [`Event::DatagramsUnblocked`], or send it with
    /// [`send_datagram`](super::Connection::send_datagram), which drops the
    /// oldest queued datagrams instead.
    #[error("the datagram send queue is full")]
    Blocked,
}

/// An operation needed state the connection no longer (or does not yet) hold.
///
/// The message says what was missing, since when, and which setting keeps
/// it; the handshake information snapshot is never affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid state: {what}")]
pub struct InvalidState {
    /// What was missing and why, in words a user can act on.
    pub what: String,
}

/// Why keying material could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The TLS session is gone (freed after the handshake, or the
    /// connection closed) or not ready; see the message.
    #[error(transparent)]
    InvalidState(#[from] InvalidState),
    /// rustls refused the export (for example an empty output buffer).
    #[error("tls export failed: {0}")]
    Tls(String),
}

/// Counters of one connection, cheap to read at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP datagrams received.
    pub datagrams_received: u64,
    /// Bytes of UDP payload sent.
    pub bytes_sent: u64,
    /// Bytes of UDP payload received.
    pub bytes_received: u64,
    /// QUIC packets sent.
    pub packets_sent: u64,
    /// QUIC packets received and successfully decrypted.
    pub packets_received: u64,
    /// Packets declared lost (RFC 9002 §6.1).
    pub packets_lost: u64,
    /// Packets dropped unprocessed: undecryptable, unparsable, duplicate or
    /// for keys already discarded.
    pub packets_dropped: u64,
    /// Packets dropped, after decryption, as duplicates of one already
    /// processed (RFC 9000 §12.3), or too old to tell; also counted in
    /// `packets_dropped`. Replays by an on-path party end up here.
    pub packets_duplicate: u64,
    /// Packets whose payload failed to authenticate, under any key; also
    /// counted in `packets_dropped`. Past the AEAD's integrity limit (RFC
    /// 9001 §6.6) the connection closes with AEAD_LIMIT_REACHED.
    pub authentication_failures: u64,
    /// Probe timeouts that fired (RFC 9002 §6.2).
    pub pto_count: u64,
    /// Whether the TLS session is still held (a server frees it after the
    /// handshake unless configured to keep it).
    pub tls_state_retained: bool,
    /// Datagrams (RFC 9221) dropped from a full send or receive queue.
    pub datagrams_dropped: u64,
    /// Whether the path passed ECN validation (RFC 9000 §13.4.2).
    pub ecn_capable: bool,
    /// ECN-CE marks the peer reported for our packets.
    pub ecn_ce_reported: u64,
    /// The congestion window, in bytes.
    pub congestion_window: u64,
    /// Bytes sent and not yet acknowledged or declared lost.
    pub bytes_in_flight: u64,
    /// The path MTU in use: the largest UDP payload sent (RFC 9000 §14).
    pub path_mtu: u16,
    /// The smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion events (loss or CE) the controller reacted to.
    pub congestion_events: u64,
    /// Stream bytes in packets declared lost, queued to be sent again.
    pub stream_bytes_retransmitted: u64,
    /// 1-RTT key updates (RFC 9001 §6), started by either side.
    pub key_updates: u64,
    /// Times the connection moved to a new path (RFC 9000 §9): a server
    /// following its client to a new address, or this side's endpoint
    /// rebinding its socket.
    pub migrations: u64,
    /// Paths validated by PATH_CHALLENGE and PATH_RESPONSE (RFC 9000 §8.2).
    pub paths_validated: u64,
    /// Path validations that timed out (RFC 9000 §8.2.4); after one the
    /// connection went back to its last validated path, if it had one.
    pub path_validations_failed: u64,
    /// Client: 0-RTT packets sent (RFC 9001 §4.6.1).
    pub zero_rtt_packets_sent: u64,
    /// Client: 0-RTT packets taken out of loss recovery when the server
    /// rejected early data; what they carried went again in 1-RTT packets
    /// (RFC 9001 §4.6.2).
    pub zero_rtt_packets_resent: u64,
    /// Server: 0-RTT packets opened and processed.
    pub zero_rtt_packets_received: u64,
    /// Memory the connection holds, in bytes, as this crate accounts it:
    /// its own state, CRYPTO and stream buffers, queued datagrams, held
    /// packets, the duplicate detection windows, both sides' connection IDs
    /// and owed path responses, and, while it is retained, the TLS session:
    /// its own state plus [`TLS_SESSION_HEAP_ESTIMATE`](crate::crypto::TLS_SESSION_HEAP_ESTIMATE)
    /// for the heap rustls holds after a handshake (measured, not tracked).
    /// A server frees the whole session after the handshake (see
    /// `tls_state_retained`), and this drops by that much.
    pub memory_bytes: u64,
}
