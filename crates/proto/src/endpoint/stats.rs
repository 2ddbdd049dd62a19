//! What an endpoint counts of the clients it refused, retried and
//! admitted, and the first refusal of each kind for its owner to report.

use super::Endpoint;

/// Why an endpoint refused a client's Initial for a reason of its own, not
/// because of anything wrong with the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InitialRefusal {
    /// The server already holds
    /// [`max_connections`](crate::config::ServerConfig::max_connections)
    /// connections and pending incomings.
    ConnectionLimit,
    /// The server's TLS configuration could not start a handshake; the
    /// report's detail says why.
    TlsConfig,
    /// [`max_incoming`](crate::config::EndpointConfig::max_incoming)
    /// clients already wait for the owner's decision.
    IncomingLimit,
    /// The owner did not decide on a client within
    /// [`incoming_timeout`](crate::config::EndpointConfig::incoming_timeout).
    IncomingTimeout,
    /// [`max_handshakes`](crate::config::ServerConfig::max_handshakes)
    /// handshakes were in progress, and the client could not be sent a
    /// Retry (its address was validated, or the policy is `Never`).
    HandshakeLimit,
    /// [`max_handshakes_per_address`](crate::config::ServerConfig::max_handshakes_per_address)
    /// handshakes from the client's IP address were in progress, and it
    /// could not be sent a Retry.
    AddressLimit,
    /// The client's Initial carried a Retry token that did not validate
    /// (forged, expired, or from another address): RFC 9000 §8.1.3, it was
    /// closed with INVALID_TOKEN.
    InvalidToken,
}

impl InitialRefusal {
    pub(super) const COUNT: usize = 7;

    pub(super) const fn index(self) -> usize {
        match self {
            Self::ConnectionLimit => 0,
            Self::TlsConfig => 1,
            Self::IncomingLimit => 2,
            Self::IncomingTimeout => 3,
            Self::HandshakeLimit => 4,
            Self::AddressLimit => 5,
            Self::InvalidToken => 6,
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
    /// Clients whose first Initial waits for the owner's decision now.
    pub incoming: usize,
    /// Datagrams dropped without creating or touching a connection: not
    /// QUIC, too short, for no connection we know, refused, ignored, or
    /// beyond what a pending incoming may hold.
    pub dropped_datagrams: u64,
    /// Client Initials refused because the server was at
    /// `max_connections`.
    pub refused_connection_limit: u64,
    /// Client Initials refused because the TLS configuration could not
    /// start a handshake.
    pub refused_tls_config: u64,
    /// Client Initials refused because `max_incoming` clients already
    /// waited for a decision.
    pub refused_incoming_limit: u64,
    /// Incomings refused because the owner did not decide on them within
    /// `incoming_timeout`.
    pub refused_incoming_timeout: u64,
    /// Client Initials refused because `max_handshakes` handshakes were in
    /// progress and no Retry could be sent.
    pub refused_handshake_limit: u64,
    /// Client Initials refused because `max_handshakes_per_address`
    /// handshakes from the same IP address were in progress and no Retry
    /// could be sent.
    pub refused_address_limit: u64,
    /// Client Initials whose Retry token did not validate, closed with
    /// INVALID_TOKEN (RFC 9000 §8.1.3). NEW_TOKEN tokens that do not
    /// validate are ignored and not counted here.
    pub invalid_tokens: u64,
    /// Retry packets sent (RFC 9000 §8.1.2), by the retry policy or by
    /// [`Endpoint::retry_incoming`](super::Endpoint::retry_incoming).
    pub retries_sent: u64,
    /// Clients that came back with a valid Retry token.
    pub validated_by_retry: u64,
    /// Clients whose NEW_TOKEN token (from an earlier connection)
    /// validated their address, so that they skipped Retry.
    pub validated_by_token: u64,
    /// Stateless resets and Version Negotiation packets not sent because
    /// the endpoint was over `stateless_rate` (their datagrams are also
    /// counted in `dropped_datagrams`).
    pub stateless_rate_limited: u64,
    /// Datagrams dropped for being larger than the max_udp_payload_size we
    /// advertise (RFC 9000 §18.2); also counted in `dropped_datagrams` when
    /// no connection saw them.
    pub oversized_datagrams: u64,
    /// Bytes of packets held for keys not yet available, over all
    /// connections, now (at most `max_undecryptable_bytes`).
    pub undecryptable_bytes: usize,
    /// 0-RTT datagrams held because they arrived before their client's
    /// first Initial (RFC 9000 §5.2.2), since the endpoint was made.
    pub early_zero_rtt_buffered: u64,
    /// Of those, the ones handed on with their Initial to its incoming,
    /// and so to its connection once accepted.
    pub early_zero_rtt_delivered: u64,
    /// 0-RTT datagrams dropped because no Initial came for them within a
    /// second; also counted in `dropped_datagrams`.
    pub early_zero_rtt_expired: u64,
    /// 0-RTT datagrams arriving before their Initial that were dropped:
    /// beyond `max_early_zero_rtt_bytes`, beyond a few for one connection
    /// ID, or from another address than the Initial's; also counted in
    /// `dropped_datagrams`.
    pub early_zero_rtt_dropped: u64,
    /// Bytes held now for 0-RTT datagrams waiting for their Initial,
    /// counting a fixed overhead per datagram (at most
    /// `max_early_zero_rtt_bytes`).
    pub early_zero_rtt_bytes: usize,
}

/// Adds the counters of `other`, as for the shards of one endpoint.
impl std::ops::AddAssign for EndpointStats {
    fn add_assign(&mut self, other: Self) {
        // Destructured so that a new field cannot be forgotten here.
        let Self {
            connections: _,
            incoming: _,
            dropped_datagrams: _,
            refused_connection_limit: _,
            refused_tls_config: _,
            refused_incoming_limit: _,
            refused_incoming_timeout: _,
            refused_handshake_limit: _,
            refused_address_limit: _,
            invalid_tokens: _,
            retries_sent: _,
            validated_by_retry: _,
            validated_by_token: _,
            stateless_rate_limited: _,
            oversized_datagrams: _,
            undecryptable_bytes: _,
            early_zero_rtt_buffered: _,
            early_zero_rtt_delivered: _,
            early_zero_rtt_expired: _,
            early_zero_rtt_dropped: _,
            early_zero_rtt_bytes: _,
        } = other;
        self.connections = self.connections.saturating_add(other.connections);
        self.incoming = self.incoming.saturating_add(other.incoming);
        self.dropped_datagrams = self
            .dropped_datagrams
            .saturating_add(other.dropped_datagrams);
        self.refused_connection_limit = self
            .refused_connection_limit
            .saturating_add(other.refused_connection_limit);
        self.refused_tls_config = self
            .refused_tls_config
            .saturating_add(other.refused_tls_config);
        self.refused_incoming_limit = self
            .refused_incoming_limit
            .saturating_add(other.refused_incoming_limit);
        self.refused_incoming_timeout = self
            .refused_incoming_timeout
            .saturating_add(other.refused_incoming_timeout);
        self.refused_handshake_limit = self
            .refused_handshake_limit
            .saturating_add(other.refused_handshake_limit);
        self.refused_address_limit = self
            .refused_address_limit
            .saturating_add(other.refused_address_limit);
        self.invalid_tokens = self.invalid_tokens.saturating_add(other.invalid_tokens);
        self.retries_sent = self.retries_sent.saturating_add(other.retries_sent);
        self.validated_by_retry = self
            .validated_by_retry
            .saturating_add(other.validated_by_retry);
        self.validated_by_token = self
            .validated_by_token
            .saturating_add(other.validated_by_token);
        self.stateless_rate_limited = self
            .stateless_rate_limited
            .saturating_add(other.stateless_rate_limited);
        self.oversized_datagrams = self
            .oversized_datagrams
            .saturating_add(other.oversized_datagrams);
        self.undecryptable_bytes = self
            .undecryptable_bytes
            .saturating_add(other.undecryptable_bytes);
        self.early_zero_rtt_buffered = self
            .early_zero_rtt_buffered
            .saturating_add(other.early_zero_rtt_buffered);
        self.early_zero_rtt_delivered = self
            .early_zero_rtt_delivered
            .saturating_add(other.early_zero_rtt_delivered);
        self.early_zero_rtt_expired = self
            .early_zero_rtt_expired
            .saturating_add(other.early_zero_rtt_expired);
        self.early_zero_rtt_dropped = self
            .early_zero_rtt_dropped
            .saturating_add(other.early_zero_rtt_dropped);
        self.early_zero_rtt_bytes = self
            .early_zero_rtt_bytes
            .saturating_add(other.early_zero_rtt_bytes);
    }
}

impl Endpoint {
    /// Counters of what the endpoint holds, dropped and refused.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        let refused = |reason: InitialRefusal| self.refused[reason.index()];
        EndpointStats {
            connections: self.connections.len(),
            incoming: self.incoming.len(),
            dropped_datagrams: self.dropped_datagrams,
            refused_connection_limit: refused(InitialRefusal::ConnectionLimit),
            refused_tls_config: refused(InitialRefusal::TlsConfig),
            refused_incoming_limit: refused(InitialRefusal::IncomingLimit),
            refused_incoming_timeout: refused(InitialRefusal::IncomingTimeout),
            refused_handshake_limit: refused(InitialRefusal::HandshakeLimit),
            refused_address_limit: refused(InitialRefusal::AddressLimit),
            invalid_tokens: refused(InitialRefusal::InvalidToken),
            retries_sent: self.retries_sent,
            validated_by_retry: self.validated_by_retry,
            validated_by_token: self.validated_by_token,
            stateless_rate_limited: self.stateless_rate_limited,
            oversized_datagrams: self.oversized_datagrams,
            undecryptable_bytes: self.undecryptable_bytes,
            early_zero_rtt_buffered: self.early.buffered,
            early_zero_rtt_delivered: self.early.delivered,
            early_zero_rtt_expired: self.early.expired,
            early_zero_rtt_dropped: self.early.dropped,
            early_zero_rtt_bytes: self.early.bytes,
        }
    }
}
