//! What a completed handshake negotiated, kept as a plain value.
//!
//! [`HandshakeInfo`] answers "what did this connection agree on?": the QUIC
//! and TLS versions, the cipher suite with its AEAD, key length and hash,
//! the key exchange group, the signature scheme, ALPN, the server name, the
//! peer's certificate chain, resumption, HelloRetryRequest, how the client's
//! address was validated (Retry or a NEW_TOKEN token), the 0-RTT outcome,
//! both sides' transport parameters, the addresses, and how long the
//! handshake took.
//!
//! It is captured exactly once, when the handshake completes (the
//! connection's Connected event), and shared as an `Arc<HandshakeInfo>`.
//! It copies everything it holds out of the TLS session, so it outlives
//! that session: a server frees its TLS state once the handshake is
//! confirmed and its session tickets are sent, and the snapshot still
//! answers afterwards. Nothing in it changes after it is built.
//!
//! [`TlsDetails`] is the part the TLS session knows
//! ([`TlsSession::details`](crate::crypto::TlsSession::details));
//! [`HandshakeInfo::new`] adds what the connection knows.
//!
//! With the `serde` feature, `HandshakeInfo` serializes to a flat object
//! for logs and tools (see its `Serialize` implementation).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::pki_types::CertificateDer;

use crate::{Side, packet::Version, transport_params::TransportParameters};

#[cfg(feature = "serde")]
mod json;
#[cfg(test)]
mod tests;

/// The TLS protocol version of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.3 (RFC 8446), the only version QUIC runs on (RFC 9001 §4.2).
    Tls13,
}

impl TlsVersion {
    /// The version's conventional name, `"TLSv1.3"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tls13 => "TLSv1.3",
        }
    }
}

/// A negotiated TLS 1.3 cipher suite and the algorithms it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CipherSuiteInfo {
    /// The IANA code point, such as `0x1301` for TLS13_AES_128_GCM_SHA256
    /// (RFC 8446 §B.4).
    pub id: u16,
    /// The IANA name, such as `"TLS13_AES_128_GCM_SHA256"`.
    pub name: &'static str,
    /// The AEAD that protects packets: `"AES-128-GCM"`, `"AES-256-GCM"` or
    /// `"CHACHA20-POLY1305"` (`"unknown"` for a suite this crate does not
    /// know, from a custom crypto provider).
    pub aead: &'static str,
    /// The AEAD key length in bytes: 16 for AES-128, 32 for AES-256 and
    /// ChaCha20.
    pub key_len: usize,
    /// The hash of the key schedule: `"SHA-256"` or `"SHA-384"`.
    pub hash: &'static str,
}

impl CipherSuiteInfo {
    /// Describes a cipher suite rustls negotiated.
    #[must_use]
    pub fn from_rustls(suite: rustls::SupportedCipherSuite) -> Self {
        use rustls::{CipherSuite as C, crypto::hash::HashAlgorithm as H};

        let id = suite.suite();
        let (name, aead) = match id {
            C::TLS13_AES_128_GCM_SHA256 => ("TLS13_AES_128_GCM_SHA256", "AES-128-GCM"),
            C::TLS13_AES_256_GCM_SHA384 => ("TLS13_AES_256_GCM_SHA384", "AES-256-GCM"),
            C::TLS13_CHACHA20_POLY1305_SHA256 => {
                ("TLS13_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305")
            }
            C::TLS13_AES_128_CCM_SHA256 => ("TLS13_AES_128_CCM_SHA256", "AES-128-CCM"),
            other => (other.as_str().unwrap_or("unknown"), "unknown"),
        };
        let tls13 = suite.tls13();
        let key_len = tls13
            .and_then(|tls13| tls13.quic)
            .map_or(0, |quic| quic.aead_key_len());
        let hash = match tls13.map(|tls13| tls13.common.hash_provider.algorithm()) {
            Some(H::SHA256) => "SHA-256",
            Some(H::SHA384) => "SHA-384",
            Some(H::SHA512) => "SHA-512",
            _ => "unknown",
        };
        Self {
            id: u16::from(id),
            name,
            aead,
            key_len,
            hash,
        }
    }
}

/// What happened to 0-RTT data on a connection (RFC 9001 §4.6), as the
/// packets showed it: a client's TLS offers early data whenever its ticket
/// allows, but only a connection that sent 0-RTT packets (after
/// `Connection::enable_zero_rtt`, or `Connecting::into_0rtt` in the API)
/// reports more than `NotAttempted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EarlyData {
    /// No 0-RTT data was sent (client), or none arrived (server).
    #[default]
    NotAttempted,
    /// The client sent 0-RTT data and the server accepted it.
    Accepted,
    /// The client sent 0-RTT data and the server rejected it (it had no
    /// session for the ticket, one for other transport parameters, or had
    /// seen the ticket before): the client sent that data again in 1-RTT
    /// packets by itself. A server reports it when it dropped 0-RTT
    /// packets.
    Rejected,
}

impl EarlyData {
    /// The outcome in snake case: `"not_attempted"`, `"accepted"` or
    /// `"rejected"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotAttempted => "not_attempted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }
}

/// How the server came to trust the client's address before the handshake
/// (RFC 9000 §8.1), as each side of a connection saw it.
///
/// A server whose client proved its address with a token is not held to
/// the 3x anti-amplification limit from its first packet on (RFC 9000
/// §8.1); otherwise the handshake itself validates the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AddressValidation {
    /// No token: the handshake itself validated the address (RFC 9000
    /// §8.1), when the server processed the client's first Handshake
    /// packet.
    #[default]
    None,
    /// A Retry token (RFC 9000 §8.1.2): the server answered the client's
    /// first Initial with a Retry packet, and the client sent its Initial
    /// again with the token, which cost a round trip. On a client: it
    /// followed a Retry.
    Retry,
    /// A token from a NEW_TOKEN frame of an earlier connection to the same
    /// server (RFC 9000 §8.1.3). On a client: its first Initial carried
    /// such a token and no Retry came; the server may still have ignored
    /// the token (an expired one, say) and validated the address by the
    /// handshake.
    Token,
}

impl AddressValidation {
    /// The outcome in snake case: `"none"`, `"retry"` or `"token"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Retry => "retry",
            Self::Token => "token",
        }
    }
}

/// What the TLS session negotiated, copied out of it.
///
/// [`TlsSession::details`](crate::crypto::TlsSession::details) fills it;
/// the fields are public so that the connection can correct what only it
/// knows (a server learns that 0-RTT was offered and rejected from the 0-RTT
/// packets it had to drop, not from TLS) before it builds the
/// [`HandshakeInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsDetails {
    /// The TLS version; always TLS 1.3 for QUIC.
    pub tls_version: TlsVersion,
    /// The cipher suite; `None` only before the ServerHello.
    pub cipher_suite: Option<CipherSuiteInfo>,
    /// The key exchange group, such as `"X25519"` or `"secp256r1"`; `None`
    /// before the ServerHello and for a resumption without a key exchange.
    pub key_exchange_group: Option<&'static str>,
    /// The application protocol both sides agreed on.
    pub alpn: Option<Vec<u8>>,
    /// On the client the name it dialed; on the server the name the client
    /// sent (SNI), if any.
    pub server_name: Option<String>,
    /// The peer's certificate chain, end entity first, in DER; empty when
    /// the peer sent none (a client without client authentication, or a
    /// resumed session).
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// Whether the session was resumed from a ticket.
    pub resumed: bool,
    /// Whether the server asked the client to try again with another key
    /// share (a HelloRetryRequest, RFC 8446 §4.1.4), which costs a round
    /// trip.
    pub hello_retry_request: bool,
    /// The scheme of the server's CertificateVerify signature (RFC 8446
    /// §4.4.3), such as `ED25519` or `ECDSA_NISTP256_SHA256`; `None` for a
    /// resumed session, which signs nothing.
    pub signature_scheme: Option<rustls::SignatureScheme>,
    /// What happened to 0-RTT.
    pub early_data: EarlyData,
}

/// An immutable snapshot of a completed handshake.
///
/// The connection builds it once, when the handshake completes, and hands
/// out an `Arc<HandshakeInfo>` to everyone who asks; it owns copies of
/// everything, so it stays valid after the TLS session is freed and after
/// the connection is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    side: Side,
    quic_version: u32,
    tls: TlsDetails,
    /// Both sides' parameters are shared with the connection, which reads
    /// them for as long as it lives: one copy each.
    peer_transport_parameters: Arc<TransportParameters>,
    local_transport_parameters: Arc<TransportParameters>,
    address_validation: AddressValidation,
    local_address: Option<SocketAddr>,
    remote_address: SocketAddr,
    handshake_duration: Duration,
    rtt: Duration,
    completed_at: Instant,
}

impl HandshakeInfo {
    /// Assembles the snapshot from what the TLS session negotiated and what
    /// the connection knows at the moment the handshake completes. The
    /// transport parameters are taken as values or as `Arc`s to share (the
    /// connection shares the ones it keeps).
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor called once per connection; a builder would only restate the fields"
    )]
    #[must_use]
    pub fn new(
        side: Side,
        version: Version,
        tls: TlsDetails,
        peer_transport_parameters: impl Into<Arc<TransportParameters>>,
        local_transport_parameters: impl Into<Arc<TransportParameters>>,
        address_validation: AddressValidation,
        local_address: Option<SocketAddr>,
        remote_address: SocketAddr,
        handshake_duration: Duration,
        rtt: Duration,
        completed_at: Instant,
    ) -> Self {
        Self {
            side,
            quic_version: version.to_u32(),
            tls,
            peer_transport_parameters: peer_transport_parameters.into(),
            local_transport_parameters: local_transport_parameters.into(),
            address_validation,
            local_address,
            remote_address,
            handshake_duration,
            rtt,
            completed_at,
        }
    }

    /// Which end of the connection took this snapshot.
    #[must_use]
    pub const fn side(&self) -> Side {
        self.side
    }

    /// The QUIC version the connection runs, as on the wire
    /// ([`QUIC_V1`](crate::QUIC_V1) or [`QUIC_V2`](crate::QUIC_V2)): the
    /// negotiated version, which may differ from the one the client
    /// started on when the server moved it (RFC 9368 §2.2). Both sides
    /// report the same.
    #[must_use]
    pub const fn quic_version(&self) -> u32 {
        self.quic_version
    }

    /// The TLS version; always TLS 1.3 for QUIC.
    #[must_use]
    pub const fn tls_version(&self) -> TlsVersion {
        self.tls.tls_version
    }

    /// The cipher suite with its AEAD, key length and hash. `None` only for
    /// a snapshot built from a session that had not yet seen a ServerHello,
    /// which the connection never does.
    #[must_use]
    pub const fn cipher_suite(&self) -> Option<&CipherSuiteInfo> {
        self.tls.cipher_suite.as_ref()
    }

    /// The key exchange group, such as `"X25519"`; `None` when a resumed
    /// session skipped the key exchange.
    #[must_use]
    pub const fn key_exchange_group(&self) -> Option<&'static str> {
        self.tls.key_exchange_group
    }

    /// The negotiated application protocol (ALPN).
    #[must_use]
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls.alpn.as_deref()
    }

    /// On the client the server name it dialed; on the server the name the
    /// client indicated (SNI), if it sent one.
    #[must_use]
    pub fn server_name(&self) -> Option<&str> {
        self.tls.server_name.as_deref()
    }

    /// The peer's certificate chain in DER, end entity first; empty when
    /// the peer presented none.
    #[must_use]
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.tls.peer_certificates
    }

    /// Whether the TLS session was resumed.
    #[must_use]
    pub const fn resumed(&self) -> bool {
        self.tls.resumed
    }

    /// What happened to 0-RTT.
    #[must_use]
    pub const fn early_data(&self) -> EarlyData {
        self.tls.early_data
    }

    /// The transport parameters the peer declared.
    #[must_use]
    pub fn peer_transport_parameters(&self) -> &TransportParameters {
        &self.peer_transport_parameters
    }

    /// Our own transport parameters, as sent in the handshake: the peer's
    /// [`peer_transport_parameters`](Self::peer_transport_parameters).
    #[must_use]
    pub fn local_transport_parameters(&self) -> &TransportParameters {
        &self.local_transport_parameters
    }

    /// Whether the server made the client prove its address with a Retry
    /// packet first (RFC 9000 §8.1.2), which costs a round trip: on a
    /// client, it followed a Retry; on a server, the client's Initial
    /// carried a valid Retry token.
    #[must_use]
    pub fn retry_used(&self) -> bool {
        self.address_validation == AddressValidation::Retry
    }

    /// Whether the client's address was validated by a token from a
    /// NEW_TOKEN frame of an earlier connection (RFC 9000 §8.1.3), which
    /// spares the round trip of a Retry. On a client: its first Initial
    /// carried such a token and no Retry followed (the server may still
    /// have ignored the token); on a server: the token was valid.
    #[must_use]
    pub fn address_validated_by_token(&self) -> bool {
        self.address_validation == AddressValidation::Token
    }

    /// How the client's address was validated before the handshake: by a
    /// Retry token, a NEW_TOKEN token, or not at all (the handshake did).
    #[must_use]
    pub const fn address_validation(&self) -> AddressValidation {
        self.address_validation
    }

    /// Whether the server answered the first ClientHello with a
    /// HelloRetryRequest (RFC 8446 §4.1.4): it wanted a key share for
    /// another group, which costs a round trip.
    #[must_use]
    pub const fn hello_retry_request(&self) -> bool {
        self.tls.hello_retry_request
    }

    /// The scheme the server signed the handshake with in its
    /// CertificateVerify (RFC 8446 §4.4.3), the same on both sides; `None`
    /// for a resumed session. Its IANA code point is `u16::from(scheme)`
    /// and its name `scheme.as_str()`.
    #[must_use]
    pub const fn signature_scheme(&self) -> Option<rustls::SignatureScheme> {
        self.tls.signature_scheme
    }

    /// Our address, when the endpoint knows it (a socket bound to a
    /// wildcard address may not).
    #[must_use]
    pub const fn local_address(&self) -> Option<SocketAddr> {
        self.local_address
    }

    /// The peer's address when the handshake completed.
    #[must_use]
    pub const fn remote_address(&self) -> SocketAddr {
        self.remote_address
    }

    /// From the first packet sent (client) or received (server) to the
    /// handshake's completion.
    #[must_use]
    pub const fn handshake_duration(&self) -> Duration {
        self.handshake_duration
    }

    /// The smoothed round-trip time when the handshake completed.
    #[must_use]
    pub const fn rtt(&self) -> Duration {
        self.rtt
    }

    /// When the handshake completed, on the clock the connection is driven by.
    #[must_use]
    pub const fn completed_at(&self) -> Instant {
        self.completed_at
    }

    /// Everything the TLS session contributed.
    #[must_use]
    pub const fn tls_details(&self) -> &TlsDetails {
        &self.tls
    }
}
