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

use super::{DirectionalKeys, Keys, Secrets, rustls_version};
use crate::{
    Side, TransportError, TransportErrorCode,
    handshake_info::{CipherSuiteInfo, EarlyData, TlsDetails, TlsVersion},
    packet::Version,
    transport_params::TransportParameters,
};

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
/// use tern_proto::{TransportParameters, Version};
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
/// server.read_handshake(&client_hello).unwrap();
///
/// // ... and the server answers with its ServerHello, then moves to Handshake keys.
/// let mut server_hello = Vec::new();
/// let change = server.write_handshake(&mut server_hello);
/// assert!(matches!(change, Some(KeyChange::Handshake(_))));
/// client.read_handshake(&server_hello).unwrap();
/// ```
pub struct TlsSession {
    conn: Connection,
    /// On the client the name it dialed; the server reads SNI from rustls.
    server_name: Option<String>,
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

/// Why a TLS configuration cannot start a QUIC handshake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The crypto provider offers no cipher suite with a QUIC packet
    /// protection algorithm. Give the config a provider with TLS 1.3 suites,
    /// such as `rustls::crypto::ring::default_provider()`.
    #[error("the crypto provider has no tls 1.3 cipher suite usable for quic")]
    NoQuicCipherSuite,
    /// The config does not enable TLS 1.3, which QUIC requires
    /// (RFC 9001 §4.2). Build it with `rustls::version::TLS13` among its
    /// protocol versions.
    #[error("the config does not enable tls 1.3, which quic requires")]
    Tls13Disabled,
    /// The server config's `max_early_data_size` is neither 0 (no 0-RTT)
    /// nor `u32::MAX` (0-RTT on), the only values QUIC allows
    /// (RFC 9001 §4.6.1).
    #[error("max_early_data_size is {0}: set it to 0 to refuse 0-rtt or to u32::MAX to accept it")]
    EarlyDataSize(u32),
    /// The server name to dial is neither a DNS name nor an IP address.
    /// Pass a name such as `"example.com"` or an address such as
    /// `"192.0.2.1"`.
    #[error("invalid server name {0:?}: use a dns name or an ip address")]
    InvalidServerName(String),
    /// rustls refused the configuration for another reason; its error says
    /// which setting to change.
    #[error("tls config not usable for quic: {0}")]
    Rustls(rustls::Error),
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
        check_provider(config.crypto_provider())?;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsConfigError::InvalidServerName(server_name.to_owned()))?;
        let conn = tls::ClientConnection::new(
            config,
            rustls_version(version),
            name,
            encode_params(Side::Client, params),
        )
        .map_err(config_error)?;
        Ok(Self {
            conn: conn.into(),
            server_name: Some(server_name.to_owned()),
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
        check_provider(config.crypto_provider())?;
        // RFC 9001 §4.6.1: a server signals 0-RTT with a max_early_data_size
        // of 0xffffffff, and sends no other value.
        let early = config.max_early_data_size;
        if early != 0 && early != u32::MAX {
            return Err(TlsConfigError::EarlyDataSize(early));
        }
        let conn = tls::ServerConnection::new(
            config,
            rustls_version(version),
            encode_params(Side::Server, params),
        )
        .map_err(config_error)?;
        Ok(Self {
            conn: conn.into(),
            server_name: None,
        })
    }

    /// Feeds in-order CRYPTO data received at the current read level. Data
    /// of different levels goes in separate calls.
    ///
    /// # Errors
    /// The [`TransportError`] to close the connection with: RFC 9001 §4.8:
    /// a TLS alert becomes CRYPTO_ERROR, 0x0100 plus the alert number.
    /// A failure without an alert is a PROTOCOL_VIOLATION when the peer's
    /// messages caused it and an INTERNAL_ERROR otherwise.
    pub fn read_handshake(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.conn.read_hs(data).map_err(|error| {
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
        match self.conn.write_hs(buf)? {
            tls::KeyChange::Handshake { keys } => Some(KeyChange::Handshake(keys.into())),
            tls::KeyChange::OneRtt { keys, next } => Some(KeyChange::OneRtt {
                keys: keys.into(),
                secrets: next.into(),
            }),
        }
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
    /// On the server, [`TlsDetails::early_data`] is `Accepted` or
    /// `NotAttempted`: rustls does not say whether a client offered 0-RTT
    /// that the server declined, so the connection sets `Rejected` when it
    /// dropped 0-RTT packets.
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

/// RFC 9001 §4.2: QUIC runs on TLS 1.3 only, with cipher suites that define
/// a header protection algorithm.
fn check_provider(provider: &rustls::crypto::CryptoProvider) -> Result<(), TlsConfigError> {
    let usable = provider
        .cipher_suites
        .iter()
        .any(|suite| suite.tls13().is_some_and(|tls13| tls13.quic.is_some()));
    if usable {
        Ok(())
    } else {
        Err(TlsConfigError::NoQuicCipherSuite)
    }
}

/// Our transport parameters as the extension's payload.
fn encode_params(side: Side, params: &TransportParameters) -> Vec<u8> {
    let mut buf = Vec::with_capacity(params.encoded_len(side));
    params.encode(side, &mut buf);
    buf
}

/// Sorts rustls's refusal of a config. rustls reports a config without
/// TLS 1.3 only in its message, so that is what is matched.
fn config_error(error: rustls::Error) -> TlsConfigError {
    match &error {
        rustls::Error::General(message) if message.contains("TLS 1.3") => {
            TlsConfigError::Tls13Disabled
        }
        _ => TlsConfigError::Rustls(error),
    }
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
