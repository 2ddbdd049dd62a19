//! The TLS 1.3 handshake of a connection, on rustls's QUIC API
//! (RFC 9001 §4).
//!
//! [`TlsSession`] is the connection's view of TLS; its documentation says
//! how a connection drives it.

use std::{borrow::Cow, fmt, sync::Arc};

use rustls::{
    pki_types::ServerName,
    quic::{self as tls, Connection},
};

use super::{
    DirectionalKeys, Keys, Secrets,
    capture::{self, Capture, Which, in_scope},
    cert_verify::SchemeScan,
    derive::DerivingSuite,
    key_update::DerivedSecrets,
    rustls_version,
    tls_config::{HandshakeSuites, TlsConfigError, check_client_config, check_server_config},
};
use crate::{
    Side, SpaceId, TransportError, TransportErrorCode,
    handshake_info::{CipherSuiteInfo, EarlyData, TlsDetails, TlsVersion},
    packet::Version,
    transport_params::TransportParameters,
};

/// Heap bytes a server's [`TlsSession`] still holds once the handshake is
/// complete and its session tickets are sent: what freeing it returns
/// besides the session's own `size_of` (the connection boxes it). rustls
/// does not report its memory, so
/// [`Connection::stats`](crate::connection::Connection::stats) adds this
/// figure to `memory_bytes` for a live session.
///
/// Measured with a counting global allocator by tern-sim's `tls_memory`
/// test (`freeing_the_server_tls_session_drops_memory_bytes_by_what_the_allocator_sees_released`):
/// two simulated connections alike but for `retain_tls_state`, settled a
/// second after the handshake on the default provider (rustls 0.23.48, an
/// Ed25519 certificate, two tickets), differ by the boxed session and this
/// much: 3453 bytes on aws-lc-rs (X25519MLKEM768), 2447 on ring (X25519).
/// The test fails when the figure moves by more than a quarter (a rustls
/// upgrade, say); measure again then.
#[cfg(feature = "aws-lc-rs")]
pub const TLS_SESSION_HEAP_ESTIMATE: usize = 3453;
/// Heap bytes a server's [`TlsSession`] still holds once the handshake is
/// complete and its session tickets are sent; see the aws-lc-rs build's
/// documentation. Measured at 2447 bytes on ring (X25519).
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub const TLS_SESSION_HEAP_ESTIMATE: usize = 2447;

/// One side of a connection's TLS handshake, wrapping a rustls QUIC client
/// or server connection.
///
/// QUIC carries TLS handshake messages in CRYPTO frames instead of TLS
/// records, and takes its packet protection keys from TLS as the handshake
/// moves through the encryption levels. These are the calls a connection
/// needs for that:
///
/// - [`read_handshake`](Self::read_handshake) takes the in-order
///   CRYPTO data of the level the peer is writing at;
/// - [`write_handshake`](Self::write_handshake) hands out the bytes to
///   send at our current write level and, when the level moves on, the keys
///   of the next level ([`KeyChange`]);
/// - [`details`](Self::details) copies out what was negotiated, for
///   the [`HandshakeInfo`](crate::HandshakeInfo) snapshot.
///
/// The transport parameters travel inside the handshake, in the
/// `quic_transport_parameters` extension (RFC 9001 §8.2): each side's are
/// encoded when the session is made, and the peer's are available from
/// [`peer_transport_parameters`](Self::peer_transport_parameters).
///
/// A server session keeps writing after the handshake completes: rustls
/// sends TLS 1.3 NewSessionTicket messages (as many as
/// `ServerConfig::send_tls13_tickets`) in 1-RTT CRYPTO frames. The
/// connection keeps calling `write_handshake` after completion until it
/// returns nothing, and only then may it free the session.
///
/// ```
/// use std::sync::Arc;
/// use tern_proto::crypto::{KeyChange, TlsSession};
/// use tern_proto::{SpaceId, TransportParameters, Version};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
/// let mut server_config = rustls::ServerConfig::builder()
///     .with_no_client_auth()
///     .with_single_cert(vec![cert.cert.der().clone()], key.into())
///     .unwrap();
/// server_config.alpn_protocols = vec![b"h3".to_vec()];
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(cert.cert.der().clone()).unwrap();
/// let mut client_config = rustls::ClientConfig::builder()
///     .with_root_certificates(roots)
///     .with_no_client_auth();
/// client_config.alpn_protocols = vec![b"h3".to_vec()];
///
/// let params = TransportParameters::default();
/// let mut client =
///     TlsSession::client(Arc::new(client_config), Version::V1, "localhost", &params).unwrap();
/// let mut server = TlsSession::server(Arc::new(server_config), Version::V1, &params).unwrap();
///
/// // The ClientHello goes out in Initial packets ...
/// let mut client_hello = Vec::new();
/// assert!(client.write_handshake(&mut client_hello).is_none());
/// server.read_handshake(SpaceId::Initial, &client_hello).unwrap();
///
/// // ... and the server answers with its ServerHello, then moves to Handshake keys.
/// let mut server_hello = Vec::new();
/// let change = server.write_handshake(&mut server_hello);
/// assert!(matches!(change, Some(KeyChange::Handshake(_))));
/// client.read_handshake(SpaceId::Initial, &server_hello).unwrap();
/// ```
pub struct TlsSession {
    conn: Connection,
    /// On the client the name it dialed; the server reads SNI from rustls.
    server_name: Option<String>,
    /// The provider's AES-128-GCM suite, which Initial keys are derived
    /// with (RFC 9001 §5.2).
    initial_suite: tls::Suite,
    /// The suites the handshake may settle on, when narrower than the
    /// provider's.
    handshake_suites: HandshakeSuites,
    /// The space our handshake bytes are written in now.
    write_space: SpaceId,
    /// Looks for the server's CertificateVerify in the Handshake-level
    /// bytes: those a server writes, those a client reads.
    scheme_scan: SchemeScan,
    /// On a capturing client, until its 1-RTT keys are out: the traffic
    /// secrets rustls derived, and the version to derive keys for once
    /// [`switch_version`](Self::switch_version) names one. `None` (and no
    /// heap) on every other session.
    capture: Option<Box<Capture>>,
}

/// Why [`TlsSession::switch_version`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionSwitchError {
    /// The session does not capture its secrets (it was not made with
    /// [`TlsSession::client_capturing`], or its 1-RTT keys are already
    /// out), so nothing can be derived for another version. Make the
    /// client's session capturing when it offers other versions.
    #[error("the tls session does not capture its secrets, so it cannot change quic version")]
    NotCapturing,
    /// The negotiated cipher suite is not one of the three TLS 1.3 suites
    /// Tern derives QUIC keys for (AES-128-GCM, AES-256-GCM,
    /// ChaCha20-Poly1305). Close the connection with INTERNAL_ERROR.
    #[error("cannot derive quic keys for the negotiated cipher suite {0:?}")]
    UnsupportedSuite(rustls::CipherSuite),
}

/// New packet protection keys from the handshake: every later byte from
/// [`TlsSession::write_handshake`] goes out at the new level.
pub enum KeyChange {
    /// The Handshake keys: our next bytes go in Handshake packets.
    Handshake(Keys),
    /// The 1-RTT keys, and the secrets that derive their successors on a key
    /// update (RFC 9001 §6).
    OneRtt {
        /// Header and packet keys for 1-RTT packets.
        keys: Keys,
        /// The secrets for the next key phases.
        secrets: Secrets,
    },
}

impl TlsSession {
    /// Starts a client handshake with `server_name`, sending `params` as
    /// our transport parameters.
    ///
    /// # Errors
    /// [`TlsConfigError`] when `config` cannot run QUIC or `server_name` is
    /// not a DNS name or IP address.
    pub fn client(
        config: Arc<rustls::ClientConfig>,
        version: Version,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Self, TlsConfigError> {
        Self::new_client(config, version, server_name, params, None)
    }

    /// [`client`](Self::client) for a client that may be moved to another
    /// QUIC version by compatible version negotiation (RFC 9368 §2.2): the
    /// session keeps the TLS traffic secrets rustls derives until its 1-RTT
    /// keys are out, so that [`switch_version`](Self::switch_version) can
    /// derive the later keys for the server's choice. `config` must come
    /// from [`CapturingClientTls::for_config`](super::CapturingClientTls::for_config).
    ///
    /// # Errors
    /// As [`client`](Self::client), and [`TlsConfigError::NotCapturing`]
    /// when `config` does not come from a [`CapturingClientTls`](super::CapturingClientTls).
    pub fn client_capturing(
        config: Arc<rustls::ClientConfig>,
        version: Version,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Self, TlsConfigError> {
        let mut capture = Some(Box::<Capture>::default());
        capture::probe(&mut capture, &config);
        if !capture.as_ref().is_some_and(|capture| capture.probed()) {
            return Err(TlsConfigError::NotCapturing);
        }
        Self::new_client(config, version, server_name, params, capture)
    }

    fn new_client(
        config: Arc<rustls::ClientConfig>,
        version: Version,
        server_name: &str,
        params: &TransportParameters,
        mut capture: Option<Box<Capture>>,
    ) -> Result<Self, TlsConfigError> {
        let initial_suite = check_client_config(&config, None)?;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsConfigError::InvalidServerName(server_name.to_owned()))?;
        // rustls derives the early secrets here when it offers 0-RTT.
        let conn = in_scope(&mut capture, || {
            tls::ClientConnection::new(
                config,
                rustls_version(version),
                name,
                encode_params(Side::Client, params),
            )
        })
        .map_err(TlsConfigError::Rustls)?;
        Ok(Self {
            conn: conn.into(),
            server_name: Some(server_name.to_owned()),
            initial_suite,
            handshake_suites: None,
            write_space: SpaceId::Initial,
            scheme_scan: SchemeScan::default(),
            capture,
        })
    }

    /// Starts a server handshake, sending `params` as our transport
    /// parameters once the client's Initial arrives.
    ///
    /// # Errors
    /// [`TlsConfigError`] when `config` cannot run QUIC.
    pub fn server(
        config: Arc<rustls::ServerConfig>,
        version: Version,
        params: &TransportParameters,
    ) -> Result<Self, TlsConfigError> {
        let initial_suite = check_server_config(&config, None)?;
        let conn = tls::ServerConnection::new(
            config,
            rustls_version(version),
            encode_params(Side::Server, params),
        )
        .map_err(TlsConfigError::Rustls)?;
        Ok(Self {
            conn: conn.into(),
            server_name: None,
            initial_suite,
            handshake_suites: None,
            write_space: SpaceId::Initial,
            scheme_scan: SchemeScan::default(),
            capture: None,
        })
    }

    /// Holds the handshake to `suites` (when `Some`): once the cipher suite
    /// is negotiated, any other ends the handshake with a handshake_failure
    /// alert, CRYPTO_ERROR 0x128 (RFC 9001 §4.8).
    ///
    /// rustls offers (client) and accepts (server) every suite of the
    /// config's provider, and since 0.23.48 every QUIC provider holds
    /// AES-128-GCM for Initial packets; this is how a connection keeps to,
    /// say, ChaCha20-Poly1305 alone. The Tern configurations pass their
    /// `handshake_cipher_suites` here.
    #[must_use]
    pub fn with_handshake_suites(mut self, suites: Option<Arc<[rustls::CipherSuite]>>) -> Self {
        self.handshake_suites = suites;
        self
    }

    /// The Initial keys for `client_dcid`, derived with the AES-128-GCM
    /// suite of this session's crypto provider (RFC 9001 §5.2).
    #[must_use]
    pub fn initial_keys(&self, version: Version, client_dcid: &[u8]) -> Keys {
        Keys::initial_with(&self.initial_suite, version, client_dcid, self.side())
    }

    /// Feeds in-order CRYPTO data received in the packet number space
    /// `space`. Data of different spaces goes in separate calls.
    ///
    /// # Errors
    /// The [`TransportError`] to close the connection with. RFC 9001 §4.8:
    /// a TLS alert becomes CRYPTO_ERROR, 0x0100 plus the alert number; so
    /// does a handshake message split across packet number spaces
    /// (RFC 8446 §5.1: unexpected_message) and a negotiated suite outside
    /// the [handshake suites](Self::with_handshake_suites)
    /// (handshake_failure). A failure without an alert is a
    /// PROTOCOL_VIOLATION when the peer's messages caused it and an
    /// INTERNAL_ERROR otherwise.
    pub fn read_handshake(&mut self, space: SpaceId, data: &[u8]) -> Result<(), TransportError> {
        // RFC 8446 §5.1, RFC 9001 §4.1.3: a handshake message must not span
        // a key change; rustls checks that when the space changes and
        // raises unexpected_message.
        let tls_space = match space {
            SpaceId::Initial => tls::Space::Initial,
            SpaceId::Handshake => tls::Space::Handshake,
            SpaceId::Data => tls::Space::ApplicationData,
        };
        let conn = &mut self.conn;
        in_scope(&mut self.capture, || conn.read_hs_in_space(data, tls_space)).map_err(
            |error| {
                let code = match self.conn.alert() {
                    Some(alert) => TransportErrorCode::crypto(u8::from(alert)),
                    None => fallback_code(&error),
                };
                tracing::debug!(code = ?code, %error, "tls handshake failed");
                TransportError {
                    code,
                    frame_type: None,
                    reason: Cow::Owned(format!("tls handshake failed: {error}")),
                }
            },
        )?;
        if space == SpaceId::Handshake && self.side() == Side::Client {
            // rustls accepted these bytes: the server's flight.
            self.scheme_scan.feed(data);
        }
        self.check_negotiated_suite()?;
        self.settle_switch_suite().map_err(|error| TransportError {
            code: TransportErrorCode::INTERNAL_ERROR,
            frame_type: None,
            reason: Cow::Owned(error.to_string()),
        })
    }

    /// Moves this client to QUIC `version` (RFC 9368 §2.2, RFC 9369 §4):
    /// every [`KeyChange`] that [`write_handshake`](Self::write_handshake)
    /// returns from now on (the Handshake keys, the 1-RTT keys and the
    /// [`Secrets`] of their key updates) is derived by Tern for `version`
    /// from the captured TLS secrets, instead of taken from rustls, whose
    /// session keeps the version it was made with. Call it as soon as the
    /// server's first packet shows its choice, before the Handshake keys
    /// are taken. 0-RTT keys stay rustls's: 0-RTT is sent in the original
    /// version (RFC 9369 §4).
    ///
    /// # Errors
    /// [`VersionSwitchError::NotCapturing`] when the session was not made
    /// with [`client_capturing`](Self::client_capturing) or its 1-RTT keys
    /// are already out; [`VersionSwitchError::UnsupportedSuite`] when the
    /// negotiated cipher suite is not one Tern derives keys for. A suite
    /// negotiated after this call is checked by
    /// [`read_handshake`](Self::read_handshake), which fails with
    /// INTERNAL_ERROR then.
    pub fn switch_version(&mut self, version: Version) -> Result<(), VersionSwitchError> {
        let capture = self
            .capture
            .as_deref_mut()
            .ok_or(VersionSwitchError::NotCapturing)?;
        capture.target = Some(version);
        self.settle_switch_suite()
    }

    /// Once a switched session's suite is negotiated, finds how to derive
    /// keys for it.
    fn settle_switch_suite(&mut self) -> Result<(), VersionSwitchError> {
        let Some(capture) = self.capture.as_deref_mut() else {
            return Ok(());
        };
        if capture.target.is_none() || capture.suite.is_some() {
            return Ok(());
        }
        let Some(negotiated) = self.conn.negotiated_cipher_suite() else {
            return Ok(());
        };
        let suite = negotiated
            .tls13()
            .and_then(DerivingSuite::new)
            .ok_or(VersionSwitchError::UnsupportedSuite(negotiated.suite()))?;
        capture.suite = Some(suite);
        Ok(())
    }

    /// The keys of a level from the captured `client` and `server` secrets,
    /// derived for the version switched to; `None` when the session has not
    /// switched. The secrets are dropped (zeroized) either way.
    fn derived_keys(&mut self, client: Which, server: Which) -> Option<Keys> {
        let side = self.side();
        let capture = self.capture.as_deref_mut()?;
        let secrets = (capture.take(client), capture.take(server));
        let version = capture.target?;
        match (capture.suite, secrets) {
            (Some(suite), (Some(client), Some(server))) => {
                Some(suite.keys(&client, &server, side, version))
            }
            _ => {
                // Unreachable: client_capturing checked that the key log
                // captures, and read_handshake that the suite is derivable.
                tracing::debug!("switched session lacks its secrets; rustls's keys are used");
                None
            }
        }
    }

    /// Holds the negotiated suite, once there is one, to the handshake
    /// suites.
    fn check_negotiated_suite(&self) -> Result<(), TransportError> {
        let (Some(allowed), Some(negotiated)) =
            (&self.handshake_suites, self.conn.negotiated_cipher_suite())
        else {
            return Ok(());
        };
        if allowed.contains(&negotiated.suite()) {
            return Ok(());
        }
        tracing::debug!(suite = ?negotiated.suite(), "negotiated suite refused");
        // RFC 9001 §4.8: the alert is handshake_failure (40).
        Err(TransportError {
            code: TransportErrorCode::crypto(40),
            frame_type: None,
            reason: Cow::Owned(format!(
                "the handshake settled on {:?}; this endpoint negotiates only {:?}",
                negotiated.suite(),
                allowed
            )),
        })
    }

    /// Appends to `buf` the handshake bytes to send at the current write
    /// level. A returned [`KeyChange`] means the write level moved on: the
    /// bytes already in `buf` still go at the old level, later ones at the
    /// new. Call it until it appends nothing and returns `None`.
    ///
    /// Bytes can follow [`is_handshaking`](Self::is_handshaking) turning
    /// false: the client's own Finished (in Handshake packets) and, on a
    /// server, session tickets (in 1-RTT packets); keep calling it then too.
    pub fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<KeyChange> {
        let start = buf.len();
        let conn = &mut self.conn;
        let change = in_scope(&mut self.capture, || conn.write_hs(buf));
        if self.write_space == SpaceId::Handshake && self.side() == Side::Server {
            self.scheme_scan.feed(buf.get(start..).unwrap_or_default());
        }
        match change? {
            tls::KeyChange::Handshake { keys } => {
                self.write_space = SpaceId::Handshake;
                let keys = match self.derived_keys(Which::ClientHandshake, Which::ServerHandshake) {
                    Some(derived) => derived,
                    None => keys.into(),
                };
                Some(KeyChange::Handshake(keys))
            }
            tls::KeyChange::OneRtt { keys, next } => {
                self.write_space = SpaceId::Data;
                let change = match self.one_rtt_derived() {
                    Some((keys, secrets)) => KeyChange::OneRtt { keys, secrets },
                    None => KeyChange::OneRtt {
                        keys: keys.into(),
                        secrets: next.into(),
                    },
                };
                // Nothing more to capture: free the secrets and the box.
                self.capture = None;
                Some(change)
            }
        }
    }

    /// The 1-RTT keys and their successors' secrets, derived for the
    /// version switched to.
    fn one_rtt_derived(&mut self) -> Option<(Keys, Secrets)> {
        let side = self.side();
        let capture = self.capture.as_deref_mut()?;
        let (client, server) = (
            capture.take(Which::ClientTraffic)?,
            capture.take(Which::ServerTraffic)?,
        );
        let (suite, version) = (capture.suite?, capture.target?);
        let keys = suite.keys(&client, &server, side, version);
        let secrets = DerivedSecrets::after(suite, version, side, &client, &server);
        Some((keys, secrets.into()))
    }

    /// The 0-RTT keys: on a client that offered early data, the keys to
    /// seal 0-RTT packets; on a server that accepted it, the keys to open
    /// them. `None` otherwise.
    #[must_use]
    pub fn zero_rtt_keys(&self) -> Option<DirectionalKeys> {
        self.conn.zero_rtt_keys().map(Into::into)
    }

    /// Whether the TLS handshake is still in progress. It turns false on the
    /// server when it has sent its Finished and on the client when it has
    /// received the server's Finished; RFC 9001 §4.1.1: the handshake is
    /// complete when both Finished messages are sent and verified.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The peer's encoded transport parameters, once its ClientHello or
    /// EncryptedExtensions has been read; decode them with
    /// [`TransportParameters::decode`] and the peer's side.
    #[must_use]
    pub fn peer_transport_parameters(&self) -> Option<&[u8]> {
        self.conn.quic_transport_parameters()
    }

    /// Fills `out` with keying material exported from the session
    /// (RFC 8446 §7.5), for `label` and an optional `context`.
    ///
    /// # Errors
    /// rustls's error before the handshake completes, or when `out` is
    /// longer than the exporter can produce.
    pub fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<(), rustls::Error> {
        self.conn
            .export_keying_material(out, label, context)
            .map(|_| ())
    }

    /// A copy of what the handshake has negotiated so far; complete once
    /// [`is_handshaking`](Self::is_handshaking) is false.
    ///
    /// [`TlsDetails::early_data`] is what TLS decided. On the server it is
    /// `Accepted` or `NotAttempted`: rustls does not say whether a client
    /// offered 0-RTT that the server declined. The connection replaces it
    /// with what its packets showed (see
    /// [`EarlyData`](crate::EarlyData)).
    ///
    /// rustls does not say which scheme signed the handshake either:
    /// [`TlsDetails::signature_scheme`] is read from the server's
    /// CertificateVerify (RFC 8446 §4.4.3) in the Handshake-level bytes
    /// that passed through this session, those the server wrote or the
    /// client read.
    #[must_use]
    pub fn details(&self) -> TlsDetails {
        let conn = &self.conn;
        let (server_name, early_data) = match conn {
            Connection::Client(client) => {
                let early = match (conn.zero_rtt_keys(), client.is_early_data_accepted()) {
                    (_, true) => EarlyData::Accepted,
                    (Some(_), false) => EarlyData::Rejected,
                    (None, false) => EarlyData::NotAttempted,
                };
                (self.server_name.clone(), early)
            }
            Connection::Server(server) => {
                let early = if conn.zero_rtt_keys().is_some() {
                    EarlyData::Accepted
                } else {
                    EarlyData::NotAttempted
                };
                (server.server_name().map(str::to_owned), early)
            }
        };
        TlsDetails {
            tls_version: TlsVersion::Tls13,
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(CipherSuiteInfo::from_rustls),
            key_exchange_group: conn
                .negotiated_key_exchange_group()
                .map(|group| group.name().as_str().unwrap_or("unknown")),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            server_name,
            peer_certificates: conn
                .peer_certificates()
                .map_or_else(Vec::new, <[_]>::to_vec),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            hello_retry_request: conn.handshake_kind()
                == Some(rustls::HandshakeKind::FullWithHelloRetryRequest),
            signature_scheme: self.scheme_scan.scheme().map(rustls::SignatureScheme::from),
            early_data,
        }
    }

    /// Which end of the handshake this is.
    #[must_use]
    pub const fn side(&self) -> Side {
        match self.conn {
            Connection::Client(_) => Side::Client,
            Connection::Server(_) => Side::Server,
        }
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("side", &self.side())
            .field("handshaking", &self.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// Our transport parameters as the extension's payload.
fn encode_params(side: Side, params: &TransportParameters) -> Vec<u8> {
    let mut buf = Vec::with_capacity(params.encoded_len(side));
    params.encode(side, &mut buf);
    buf
}

/// The code for a handshake failure that raised no alert.
fn fallback_code(error: &rustls::Error) -> TransportErrorCode {
    use rustls::Error as E;
    match error {
        E::InappropriateHandshakeMessage { .. }
        | E::InappropriateMessage { .. }
        | E::InvalidMessage(_)
        | E::PeerMisbehaved(_)
        | E::PeerIncompatible(_)
        | E::AlertReceived(_)
        | E::DecryptError
        | E::InvalidCertificate(_) => TransportErrorCode::PROTOCOL_VIOLATION,
        _ => TransportErrorCode::INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests;
