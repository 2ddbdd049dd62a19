//! Configuration of endpoints and connections.

mod session_cache;
mod token_store;

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use rustls::CipherSuite;
use zeroize::Zeroize;

pub use self::session_cache::AntiReplay;
pub(crate) use self::session_cache::ZeroRttSessionStore;
pub(crate) use self::token_store::NamedTokenStore;
pub use self::token_store::{MemoryTokenStore, TokenStore};
use crate::{
    cid::{ConnectionIdGenerator, RandomConnectionIdGenerator},
    crypto::TlsConfigError,
    packet::Version,
};

mod admission;
mod keys;
mod shards;

pub use admission::RetryPolicy;
pub use keys::TokenKey;
pub use shards::ShardError;

/// Transport settings shared by client and server connections.
///
/// The defaults suit a general-purpose service; each field says what it
/// trades.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Close a connection that has been silent this long (RFC 9000 §10.1).
    /// The peer's value applies when it is shorter; `None` disables ours.
    pub max_idle_timeout: Option<Duration>,
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2).
    pub initial_rtt: Duration,
    /// Bytes of out-of-order CRYPTO data buffered per packet number space
    /// before the connection fails with CRYPTO_BUFFER_EXCEEDED
    /// (RFC 9000 §7.5 asks for at least 4096).
    pub crypto_buffer_size: u64,
    /// Separate out-of-order CRYPTO fragments held per space before the
    /// peer is treated as hostile (CRYPTO_BUFFER_EXCEEDED).
    pub crypto_max_fragments: usize,
    /// Largest ACK delay we promise the peer (max_ack_delay, RFC 9000 §18.2).
    pub max_ack_delay: Duration,
    /// Received packet number ranges remembered per space for ACK frames;
    /// the oldest are forgotten first.
    pub max_ack_ranges: usize,
    /// Packet numbers below the largest received in a space that are
    /// remembered one by one for duplicate detection (RFC 9000 §12.3);
    /// every older packet is dropped as a duplicate, so a replayed packet
    /// is never processed twice, however many gaps the history has.
    /// Rounded up to a multiple of 64, within 64 and 65,536. 1024 by
    /// default: 128 bytes per space that receives packets, while a
    /// legitimate packet reordered by more than 1024 packets is only lost
    /// (its sender retransmits what it carried).
    pub duplicate_window: u32,
    /// Packets one 1-RTT key may seal (RFC 9001 §6.6): the negotiated
    /// AEAD's confidentiality limit (2^23 for AES-GCM, 2^62 for
    /// ChaCha20-Poly1305), or this value when it is lower. `None`, the
    /// default, keeps the AEAD's; a lower value only makes key updates
    /// more frequent (tests use one).
    pub aead_confidentiality_limit: Option<u64>,
    /// The share of the confidentiality limit, in percent, still unused
    /// when we update the 1-RTT keys on our own initiative (RFC 9001
    /// §6.6); within 1 and 90. The update waits, if it must, until a
    /// packet of the current keys was acknowledged and, after an earlier
    /// update, three PTOs more (RFC 9001 §6.1, §6.5); the margin is the
    /// room for that wait. Should the limit come within 16 packets anyway
    /// (an eighth of a limit lowered below 128), the connection closes
    /// with AEAD_LIMIT_REACHED. 25 by default: with
    /// AES-GCM an update every 6.3 million packets (about 9 GB), leaving
    /// 2.1 million packets of room.
    pub key_update_margin_percent: u8,
    /// Received packets that may fail to authenticate over the whole
    /// connection (RFC 9001 §6.6): the negotiated AEAD's integrity limit
    /// (2^52 for AES-GCM, 2^36 for ChaCha20-Poly1305), or this value when
    /// it is lower. One more closes the connection with
    /// AEAD_LIMIT_REACHED. `None`, the default, keeps the AEAD's; tests
    /// lower it.
    pub aead_integrity_limit: Option<u64>,
    /// Stream limits, flow control windows and send buffers.
    pub streams: crate::streams::StreamsConfig,
    /// Largest DATAGRAM frame we accept (RFC 9221 §3); `None` refuses
    /// datagrams altogether.
    pub max_datagram_frame_size: Option<u16>,
    /// Received datagrams held for the application; the oldest is dropped
    /// when a new one arrives at a full queue.
    pub datagram_receive_queue: usize,
    /// Datagrams waiting to be sent; the oldest is dropped when the
    /// application queues one more.
    pub datagram_send_queue: usize,
    /// Bytes of datagram payload waiting to be sent, at most (RFC 9221
    /// datagrams are never retransmitted, so only unsent ones are held).
    /// `send_datagram` drops the oldest to stay within it (and within
    /// `datagram_send_queue`); `try_send_datagram` refuses instead. A
    /// datagram larger than this is refused as too large. 1 MiB by default.
    pub datagram_send_buffer_size: usize,
    /// Makes the congestion controller of each connection (RFC 9002 §7;
    /// CUBIC, RFC 9438, by default).
    pub congestion: Arc<dyn crate::congestion::ControllerFactory>,
    /// Largest UDP payload we accept, advertised as max_udp_payload_size,
    /// and the ceiling of path MTU discovery.
    pub max_udp_payload_size: u16,
    /// Discover a path MTU above 1200 bytes (RFC 9000 §14.3, RFC 8899).
    pub mtu_discovery: bool,
    /// Mark packets ECT(0) and validate the path's ECN support (RFC 9000
    /// §13.4); the marks stop by themselves on a path that mangles them.
    pub ecn: bool,
    /// Bytes of packets held per connection for keys not yet available
    /// (RFC 9001 §5.7), counting each packet's length; beyond it (or beyond
    /// 8 packets) they are dropped and the peer sends them again. 16 KiB
    /// by default: a handful of full-size packets, what a peer has in
    /// flight ahead of the keys in an ordinary handshake.
    pub max_undecryptable_bytes: usize,
    /// Close a connection whose handshake has not completed this long after
    /// it started, silently (as for the idle timeout, RFC 9000 §10.1): a
    /// peer that never finishes the handshake, but keeps it alive with
    /// packets, does not hold the connection for ever. `None` waits for
    /// ever. 10 s by default: ten times a slow handshake's round trips,
    /// and past a 1-second PTO doubled three times.
    pub handshake_timeout: Option<Duration>,
    /// Send a PING after this long without sending anything ack-eliciting,
    /// to keep the connection (and NAT bindings) alive; `None` never does.
    pub keep_alive_interval: Option<Duration>,
    /// Connection IDs from the peer we hold at once, advertised as
    /// active_connection_id_limit (RFC 9000 §18.2); a peer that gives us
    /// more fails with CONNECTION_ID_LIMIT_ERROR (RFC 9000 §5.1.1). Values
    /// below the RFC's minimum of 2 are raised to 2. Retirements awaiting
    /// acknowledgement are bounded at twice this (RFC 9000 §5.1.2's
    /// recommended floor), over which the connection fails the same way.
    /// 4 by default: the ID in use and spares for migration, at about 50
    /// bytes each.
    pub active_connection_id_limit: u8,
    /// Connection IDs of ours the peer may use at once, counting the
    /// handshake's: once the handshake is confirmed we issue more with
    /// NEW_CONNECTION_ID up to this or the peer's
    /// active_connection_id_limit, whichever is lower (RFC 9000 §5.1.1),
    /// and replace each one the peer retires. Values below 2 are raised to
    /// 2, so that the peer has a spare. Ignored with zero-length IDs,
    /// which issue none.
    ///
    /// 4 by default: a spare for each of a couple of migrations or probed
    /// paths (RFC 9000 §9.5 wants a new ID on each path) and one to
    /// replace a retired ID while its replacement is on the way. Each ID
    /// costs a route in the endpoint's table and 32 bytes in the
    /// connection (32 more while its NEW_CONNECTION_ID is unacknowledged),
    /// whether or not the peer ever migrates; a server with many idle
    /// connections and clients that never move may lower it to 2.
    pub issued_connection_ids: u8,
    /// PATH_RESPONSE frames waiting to be sent, at most (RFC 9000 §8.2.2);
    /// a further PATH_CHALLENGE pushes out the oldest, so a flood of
    /// challenges holds this many 8-byte answers and the latest are
    /// answered. 4 by default: a challenger has about one challenge per
    /// path outstanding, and answers leave in the next packet anyway.
    pub max_path_responses: usize,
    /// Ask the peer not to migrate actively (disable_active_migration, RFC
    /// 9000 §18.2). A peer whose address changes anyway, as after a NAT
    /// rebinding, is still validated and followed (§9: the RFC lets an
    /// endpoint that sent the parameter either drop such packets or do
    /// so). `false` by default: Tern follows migrations (see
    /// [`Endpoint::rebind`](crate::endpoint::Endpoint::rebind)).
    pub disable_active_migration: bool,
    /// A client validates the server's preferred address (RFC 9000 §9.6)
    /// once the handshake is confirmed, and moves there when it answers.
    /// Ignored on a server. `true` by default, as the RFC recommends.
    pub follow_preferred_address: bool,
    /// Makes the writer each connection's qlog trace goes to (see
    /// [`crate::qlog`]); `None`, the default, traces nothing.
    #[cfg(feature = "qlog")]
    pub qlog: Option<Arc<dyn crate::qlog::QlogFactory>>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_idle_timeout: Some(Duration::from_secs(30)),
            initial_rtt: Duration::from_millis(333),
            crypto_buffer_size: 64 * 1024,
            crypto_max_fragments: 64,
            max_ack_delay: Duration::from_millis(25),
            max_ack_ranges: 64,
            duplicate_window: 1024,
            aead_confidentiality_limit: None,
            key_update_margin_percent: 25,
            aead_integrity_limit: None,
            streams: crate::streams::StreamsConfig::default(),
            max_datagram_frame_size: Some(u16::MAX),
            datagram_receive_queue: 64,
            datagram_send_queue: 64,
            datagram_send_buffer_size: 1 << 20,
            keep_alive_interval: None,
            active_connection_id_limit: 4,
            issued_connection_ids: 4,
            max_path_responses: 4,
            disable_active_migration: false,
            follow_preferred_address: true,
            max_undecryptable_bytes: 16 * 1024,
            handshake_timeout: Some(Duration::from_secs(10)),
            ecn: true,
            congestion: crate::congestion::default_factory(),
            max_udp_payload_size: 1452,
            mtu_discovery: true,
            #[cfg(feature = "qlog")]
            qlog: None,
        }
    }
}

/// What a client needs to open a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The TLS configuration; it must allow TLS 1.3, set ALPN protocols and
    /// have a provider with QUIC-capable AES-128-GCM for Initial packets.
    /// [`new`](Self::new) checks it; a connection checks it again.
    ///
    /// Its `resumption` is where session tickets are kept, by server name,
    /// for the next connections (see
    /// [`session_store`](Self::session_store)); 0-RTT also needs
    /// `enable_early_data = true`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
    /// The QUIC version the client's first flight uses (default: v1). The
    /// endpoint's [`supported_versions`](EndpointConfig::supported_versions)
    /// are offered beside it, and the server may move the connection to
    /// one of them (RFC 9368); `HandshakeInfo::quic_version` says where it
    /// ended.
    pub version: Version,
    /// The cipher suites the handshake may settle on, when narrower than
    /// the provider's; `None` (the default) accepts any suite the server
    /// picks from those offered. Set it with
    /// [`handshake_cipher_suites`](Self::handshake_cipher_suites).
    pub handshake_cipher_suites: Option<Arc<[CipherSuite]>>,
    /// Where the tokens servers send in NEW_TOKEN frames are kept, by
    /// server name, and taken from for the first Initial of the next
    /// connection to the same name (RFC 9000 §8.1.3), which lets a server
    /// that asks for address validation skip its Retry round trip. Each
    /// token is used once. [`new`](Self::new) makes a fresh
    /// [`MemoryTokenStore`] (256 servers, 2 tokens each), shared by the
    /// clones of this configuration; `None` keeps no tokens and sends none.
    pub token_store: Option<Arc<dyn TokenStore>>,
}

impl ClientConfig {
    /// A client configuration with default transport settings and QUIC v1.
    ///
    /// Session tickets are kept in `tls.resumption` (rustls's default is a
    /// store in memory of 256 server names, shared by every connection
    /// made with `tls` and its clones), so a later connection to the same
    /// server resumes its session. A client offers 0-RTT only when `tls`
    /// sets `enable_early_data = true` (rustls's default is `false`; the
    /// ready-made configurations of the `tern` crate set it).
    ///
    /// # Errors
    /// A [`TlsConfigError`] that names what keeps `tls` from running QUIC
    /// (no TLS 1.3, no ALPN, no AES-128-GCM for Initial packets, ...) and
    /// how to fix it.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Result<Self, TlsConfigError> {
        crate::crypto::check_client_config(&tls, None)?;
        Ok(Self {
            tls,
            transport: Arc::new(TransportConfig::default()),
            version: Version::V1,
            handshake_cipher_suites: None,
            token_store: Some(Arc::new(MemoryTokenStore::default())),
        })
    }

    /// Keeps NEW_TOKEN tokens in `store` (see
    /// [`token_store`](Self::token_store)), or none with `None`.
    #[must_use]
    pub fn token_store(mut self, store: Option<Arc<dyn TokenStore>>) -> Self {
        self.token_store = store;
        self
    }

    /// Keeps TLS session tickets in `store`, or none with `None` (every
    /// handshake is then a full one, and 0-RTT is never attempted).
    ///
    /// A ticket lets a later connection to the same server name resume
    /// the session (a shorter handshake, without the server's certificate)
    /// and, when the server allows, send 0-RTT data. rustls's
    /// [`ClientSessionMemoryCache`](rustls::client::ClientSessionMemoryCache)
    /// is a bounded store in memory. Configurations made from one rustls
    /// configuration that share a store share its tickets (rustls resumes
    /// a ticket only under the certificate verifier that accepted the
    /// server first). The TLS configuration is cloned, so other holders of
    /// the original `Arc` are unaffected.
    #[must_use]
    pub fn session_store(
        mut self,
        store: Option<Arc<dyn rustls::client::ClientSessionStore>>,
    ) -> Self {
        let mut tls = (*self.tls).clone();
        tls.resumption = match store {
            Some(store) => rustls::client::Resumption::store(store),
            None => rustls::client::Resumption::disabled(),
        };
        self.tls = Arc::new(tls);
        self
    }

    /// What a new connection to `server_name` gets of the token store: a
    /// token taken out of it for the connection's Initials (empty without
    /// one; RFC 9000 §8.1.3 has each used once), and the store with the
    /// name, for the tokens the connection receives.
    pub(crate) fn token_for(&self, server_name: &str) -> (Bytes, Option<NamedTokenStore>) {
        let Some(store) = &self.token_store else {
            return (Bytes::new(), None);
        };
        let token = store.take(server_name).unwrap_or_default();
        (token, Some((store.clone(), Arc::from(server_name))))
    }

    /// Checks the configuration again, after its fields were changed.
    ///
    /// # Errors
    /// As [`new`](Self::new), and when the handshake cipher suites do not
    /// fit the provider.
    pub fn validate(&self) -> Result<(), TlsConfigError> {
        crate::crypto::check_client_config(&self.tls, self.handshake_cipher_suites.as_deref())
            .map(|_| ())
    }

    /// Keeps the handshake to `suites`: the server must pick one of them,
    /// or the client ends the handshake with a handshake_failure alert.
    ///
    /// rustls offers every suite of the TLS configuration's provider, and
    /// since 0.23.48 a QUIC provider must hold AES-128-GCM for Initial
    /// packets (RFC 9001 §5.2), so a ChaCha20-only client lists ChaCha20
    /// first and AES-128-GCM after it, and refuses a server that picks the
    /// latter. Build the provider with
    /// [`with_cipher_suites`](crate::crypto::with_cipher_suites), which puts
    /// `suites` first.
    ///
    /// # Errors
    /// [`TlsConfigError`] when `suites` is empty, names a suite the
    /// provider lacks, or does not come first in the provider's order.
    pub fn handshake_cipher_suites(
        mut self,
        suites: &[CipherSuite],
    ) -> Result<Self, TlsConfigError> {
        self.handshake_cipher_suites = Some(suites.into());
        self.validate()?;
        Ok(self)
    }

    /// Logs the TLS secrets of every connection made with this
    /// configuration to `key_log`, in the NSS key log format, so that a
    /// packet capture can be decrypted (by Wireshark, for one).
    ///
    /// For debugging only: whoever reads the log can decrypt the traffic.
    /// [`rustls::KeyLogFile`] writes to the file named by the
    /// `SSLKEYLOGFILE` environment variable, and does nothing when it is
    /// unset. The TLS configuration is cloned, so other holders of the
    /// original `Arc` are unaffected.
    #[must_use]
    pub fn key_log(mut self, key_log: Arc<dyn rustls::KeyLog>) -> Self {
        let mut tls = (*self.tls).clone();
        tls.key_log = key_log;
        self.tls = Arc::new(tls);
        self
    }
}

/// What a server needs to accept connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The TLS configuration; it must allow TLS 1.3, set ALPN protocols,
    /// have a provider with QUIC-capable AES-128-GCM for Initial packets,
    /// and set `max_early_data_size` to 0 or `u32::MAX` as rustls's QUIC
    /// API asks. [`new`](Self::new) checks it; every connection checks it
    /// again.
    ///
    /// With `max_early_data_size = u32::MAX` the server accepts 0-RTT from
    /// clients that resume with a ticket from its `session_storage`
    /// (rustls accepts 0-RTT only with such stateful tickets, not with a
    /// `ticketer`). The endpoint then binds each stored session to the
    /// 0-RTT limits of [`transport`](Self::transport) (RFC 9000 §7.4.1):
    /// once those change, older tickets get a full handshake. How often a
    /// ticket may be used is [`anti_replay`](Self::anti_replay).
    pub tls: Arc<rustls::ServerConfig>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
    /// Keep the TLS session after the handshake instead of freeing it.
    ///
    /// By default a server frees its rustls session once the handshake is
    /// confirmed and its session tickets are sent, which saves several
    /// kilobytes per connection; the handshake information snapshot stays
    /// available either way. Keep it only to export keying material later.
    pub retain_tls_state: bool,
    /// Most connections held at once, counting the clients whose first
    /// Initial waits for a decision (see
    /// [`Endpoint::poll_incoming`](crate::endpoint::Endpoint::poll_incoming));
    /// the Initial of a further client is refused with CONNECTION_REFUSED,
    /// counted in the endpoint's stats and logged (once) by the event loop.
    pub max_connections: usize,
    /// The cipher suites the handshake may settle on, when narrower than
    /// the provider's; `None` (the default) accepts any suite of the
    /// provider. Set it with
    /// [`handshake_cipher_suites`](Self::handshake_cipher_suites).
    pub handshake_cipher_suites: Option<Arc<[CipherSuite]>>,
    /// When new clients are sent a Retry to prove their address first
    /// (RFC 9000 §8.1.2): by default once
    /// [`RetryPolicy::DEFAULT_UNDER_LOAD`] handshakes are in progress.
    pub retry: RetryPolicy,
    /// Handshakes in progress at most: connections not yet through their
    /// handshake, and clients waiting for the owner's decision. A further
    /// client is sent a Retry if its address is not validated and
    /// [`retry`](Self::retry) allows, and refused with CONNECTION_REFUSED
    /// otherwise; both are counted in the endpoint's stats. 4096 by
    /// default: each holds a TLS session until its handshake ends or
    /// [`TransportConfig::handshake_timeout`] closes it.
    pub max_handshakes: usize,
    /// Handshakes in progress from one IP address at most, answered like
    /// [`max_handshakes`](Self::max_handshakes) beyond it: an unvalidated
    /// client is sent a Retry if [`retry`](Self::retry) allows, and one
    /// whose address is validated (it cannot be forged) is refused. 256 by
    /// default: room for many clients behind one NAT, and for a load test
    /// from one machine; it keeps one address from taking more than a
    /// sixteenth of [`max_handshakes`](Self::max_handshakes).
    pub max_handshakes_per_address: usize,
    /// How long a Retry token stays valid (RFC 9000 §8.1.3): long enough for
    /// the client's next Initial to arrive, short enough that a token
    /// seen on the path is of little use. 15 s by default.
    pub retry_token_lifetime: Duration,
    /// How long a token sent in NEW_TOKEN stays valid; a client that comes
    /// back from the same IP address within it skips the Retry. A day by
    /// default.
    pub new_token_lifetime: Duration,
    /// Tokens sent in NEW_TOKEN frames once a connection's handshake is
    /// confirmed (RFC 9000 §8.1.3), one for each later connection the
    /// client may make; 0 sends none. 2 by default.
    pub new_tokens: usize,
    /// The addresses offered to clients as the server's preferred address
    /// (RFC 9000 §9.6), one per family; `None` offers none (the default).
    /// Each connection gets a connection ID for it (sequence number 1, with
    /// its reset token), and a client that follows moves there once it
    /// validated the address. The endpoint must receive there: its socket
    /// bound to the wildcard address on the same port, so that the
    /// address is another IP of this host on that port. Not offered when
    /// the endpoint's connection IDs are zero-length (§18.2).
    pub preferred_address: Option<PreferredAddresses>,
    /// How many times one session ticket may resume a session and carry
    /// 0-RTT data; [`AntiReplay::SingleUseTickets`] (once) by default.
    /// Read its documentation for what a replay means to the application.
    /// Only applies when `tls` accepts 0-RTT (`max_early_data_size`).
    pub anti_replay: AntiReplay,
}

/// The server's preferred addresses, one per family (RFC 9000 §9.6); see
/// [`ServerConfig::preferred_address`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PreferredAddresses {
    /// The IPv4 address and port offered.
    pub ipv4: Option<std::net::SocketAddrV4>,
    /// The IPv6 address and port offered.
    pub ipv6: Option<std::net::SocketAddrV6>,
}

impl ServerConfig {
    /// A server configuration with default transport settings.
    ///
    /// # Errors
    /// A [`TlsConfigError`] that names what keeps `tls` from running QUIC
    /// (no TLS 1.3, no ALPN, no AES-128-GCM for Initial packets, a
    /// `max_early_data_size` QUIC does not allow, ...) and how to fix it.
    pub fn new(tls: Arc<rustls::ServerConfig>) -> Result<Self, TlsConfigError> {
        crate::crypto::check_server_config(&tls, None)?;
        Ok(Self {
            tls,
            transport: Arc::new(TransportConfig::default()),
            retain_tls_state: false,
            max_connections: 100_000,
            handshake_cipher_suites: None,
            retry: RetryPolicy::default(),
            max_handshakes: admission::DEFAULT_MAX_HANDSHAKES,
            max_handshakes_per_address: admission::DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            retry_token_lifetime: admission::DEFAULT_RETRY_TOKEN_LIFETIME,
            new_token_lifetime: admission::DEFAULT_NEW_TOKEN_LIFETIME,
            new_tokens: admission::DEFAULT_NEW_TOKENS,
            preferred_address: None,
            anti_replay: AntiReplay::default(),
        })
    }

    /// How long a token key is used before the next is drawn: the longest
    /// token lifetime, so that a token outlives at most one rotation.
    pub(crate) fn token_key_rotation(&self) -> Duration {
        self.retry_token_lifetime.max(self.new_token_lifetime)
    }

    /// Offers `addresses` as the server's preferred address; see
    /// [`preferred_address`](Self::preferred_address).
    #[must_use]
    pub const fn preferred_addresses(mut self, addresses: PreferredAddresses) -> Self {
        self.preferred_address = Some(addresses);
        self
    }

    /// Sets how often a session ticket may carry 0-RTT; see
    /// [`AntiReplay`].
    #[must_use]
    pub const fn anti_replay(mut self, anti_replay: AntiReplay) -> Self {
        self.anti_replay = anti_replay;
        self
    }

    /// Sets when new clients are sent a Retry; see [`RetryPolicy`].
    #[must_use]
    pub const fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Checks the configuration again, after its fields were changed.
    ///
    /// # Errors
    /// As [`new`](Self::new), and when the handshake cipher suites do not
    /// fit the provider.
    pub fn validate(&self) -> Result<(), TlsConfigError> {
        crate::crypto::check_server_config(&self.tls, self.handshake_cipher_suites.as_deref())
            .map(|_| ())
    }

    /// Keeps the handshake to `suites`: the server picks the first of them
    /// (in the provider's order) that the client offers, and refuses a
    /// client that offers none with a handshake_failure alert.
    ///
    /// The provider must still hold AES-128-GCM for Initial packets
    /// (RFC 9001 §5.2; rustls requires it), which is why it is not enough
    /// to narrow the provider. The rustls config must choose by its own
    /// order (`ignore_client_order = true`).
    ///
    /// # Errors
    /// [`TlsConfigError`] when `suites` is empty, names a suite the
    /// provider lacks, or the rustls config follows the client's order.
    pub fn handshake_cipher_suites(
        mut self,
        suites: &[CipherSuite],
    ) -> Result<Self, TlsConfigError> {
        self.handshake_cipher_suites = Some(suites.into());
        self.validate()?;
        Ok(self)
    }

    /// Keeps (or frees, the default) the TLS session after the handshake.
    #[must_use]
    pub fn retain_tls_state(mut self, retain: bool) -> Self {
        self.retain_tls_state = retain;
        self
    }

    /// Logs the TLS secrets of every connection accepted with this
    /// configuration to `key_log`, in the NSS key log format, so that a
    /// packet capture can be decrypted (by Wireshark, for one).
    ///
    /// For debugging only: whoever reads the log can decrypt the traffic.
    /// [`rustls::KeyLogFile`] writes to the file named by the
    /// `SSLKEYLOGFILE` environment variable, and does nothing when it is
    /// unset. The TLS configuration is cloned, so other holders of the
    /// original `Arc` are unaffected.
    #[must_use]
    pub fn key_log(mut self, key_log: Arc<dyn rustls::KeyLog>) -> Self {
        let mut tls = (*self.tls).clone();
        tls.key_log = key_log;
        self.tls = Arc::new(tls);
        self
    }
}

/// Settings of an endpoint, client or server.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Makes the connection IDs this endpoint hands out.
    pub cid_generator: Arc<dyn ConnectionIdGenerator>,
    /// The QUIC versions this endpoint speaks, most preferred first
    /// (default: v1 alone).
    ///
    /// A server accepts clients on any of them, lists them in its Version
    /// Negotiation packets and its version_information, and moves a client
    /// to the first of them that the client offered (RFC 9368 §2.2, RFC
    /// 9369 §4: v1 and v2 are compatible both ways, so a client starting on
    /// v1 that offers v2 ends on v2 at a server listing v2 first, with no
    /// extra round trip). A client starts on
    /// [`ClientConfig::version`] and offers these, in this order, in its
    /// version_information; after a Version Negotiation packet it starts
    /// again on the first of these that the packet lists (RFC 9368 §2.1).
    pub supported_versions: Vec<Version>,
    /// Stateless answers (Version Negotiation, stateless resets, refusals
    /// of clients) queued at most; more are dropped rather than buffered.
    pub max_stateless_responses: usize,
    /// Key from which stateless reset tokens are derived (RFC 9000 §10.3.2).
    /// Endpoints that must recognise each other's connection IDs (several
    /// servers behind one address) share it; `None` (the default) takes 32
    /// bytes of the operating system's randomness
    /// ([`Endpoint::with_os_seed`](crate::endpoint::Endpoint::with_os_seed)),
    /// or of the seeded RNG of a simulated endpoint
    /// ([`Endpoint::new`](crate::endpoint::Endpoint::new)). `Debug` prints
    /// it as `<redacted>`.
    pub reset_key: Option<ResetKey>,
    /// Secret from which the keys of address validation tokens (Retry and
    /// NEW_TOKEN, RFC 9000 §8.1.3) derive, with the instant their periods
    /// and issue times count from. Endpoints that must open each other's
    /// tokens (the shards of one endpoint on one port) share it. `None`
    /// (the default) takes 32 bytes of randomness as for
    /// [`reset_key`](Self::reset_key), counted from the endpoint's first
    /// token. `Debug` prints it as `<redacted>`.
    pub token_key: Option<TokenKey>,
    /// Clients whose first Initial waits for the owner's decision (see
    /// [`Endpoint::poll_incoming`](crate::endpoint::Endpoint::poll_incoming))
    /// at most; the Initial of a further client is refused with
    /// CONNECTION_REFUSED and counted. Each one holds at most 16 KiB of
    /// datagrams, so the default of 1024 bounds them to 16 MiB.
    pub max_incoming: usize,
    /// How long a client's first Initial waits for the owner's decision
    /// before the endpoint refuses it (CONNECTION_REFUSED) and counts it:
    /// an owner that forgets to decide does not leave clients waiting or
    /// memory held. `None` waits for ever. 10 s by default, a little less
    /// than a client's usual handshake timeout.
    pub incoming_timeout: Option<Duration>,
    /// Stateless resets and Version Negotiation packets sent per second, on
    /// average, at most (a token bucket with
    /// [`stateless_burst`](Self::stateless_burst)); beyond it the datagrams
    /// that would trigger them are dropped. Either answer costs us a
    /// datagram for one an attacker can forge for free, with any source
    /// address (RFC 9000 §10.3, §21.11). 200 per second by default: a
    /// restarted server resets each of its former peers about once, and a
    /// client offering an unknown version needs one answer.
    pub stateless_rate: u32,
    /// Stateless resets and Version Negotiation packets sent at once at
    /// most, after a quiet spell (the token bucket's size). 64 by default,
    /// as many as `max_stateless_responses` queues.
    pub stateless_burst: u32,
    /// Bytes of packets held for keys not yet available (RFC 9001 §5.7)
    /// over all connections of the endpoint; beyond it such packets are
    /// dropped, to be sent again by the peer. Each connection also has
    /// its own bound,
    /// [`TransportConfig::max_undecryptable_bytes`]. 1 MiB by default:
    /// about 700 full-size packets, a few for each of hundreds of
    /// handshakes at once.
    pub max_undecryptable_bytes: usize,
    /// Bytes of 0-RTT datagrams held for clients whose first Initial has
    /// not arrived yet (reordered behind them; RFC 9000 §5.2.2), in
    /// all, counting 128 bytes of overhead per datagram. Each waits at
    /// most a second, and at most 4 are held per connection ID; when the
    /// Initial comes they follow it to its connection. Only a server that
    /// accepts 0-RTT holds any. 256 KiB by default: the reordered 0-RTT of
    /// dozens of handshakes at once, while a flood of 0-RTT datagrams to
    /// made-up connection IDs holds no more than that for a second. 0
    /// holds none.
    pub max_early_zero_rtt_bytes: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            cid_generator: Arc::new(RandomConnectionIdGenerator::default()),
            supported_versions: vec![Version::V1],
            max_stateless_responses: 64,
            reset_key: None,
            token_key: None,
            max_incoming: 1024,
            incoming_timeout: Some(Duration::from_secs(10)),
            stateless_rate: 200,
            stateless_burst: 64,
            max_undecryptable_bytes: 1 << 20,
            max_early_zero_rtt_bytes: 256 * 1024,
        }
    }
}

/// A stateless reset key (RFC 9000 §10.3.2): 32 secret bytes from which an
/// endpoint derives the reset token of each of its connection IDs. Whoever
/// knows it can end any of the endpoint's connections.
///
/// `Debug` prints `<redacted>`, and the bytes are zeroized when the key is
/// dropped (each clone wipes its own copy).
#[derive(Clone)]
pub struct ResetKey([u8; 32]);

impl ResetKey {
    /// A key of these bytes; take them from a secure random source, or
    /// share one key between the endpoints that must recognise each
    /// other's connection IDs.
    #[must_use]
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for ResetKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl Drop for ResetKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material (docs/security.md).
        f.write_str("ResetKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
