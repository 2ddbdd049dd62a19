//! Whether a rustls configuration can run QUIC, checked before any
//! connection uses it, and the errors that say what to change.
//!
//! rustls makes most of these checks itself when a connection starts, but
//! a server would then refuse every client one by one, long after the
//! configuration was built. [`ClientConfig::new`](crate::config::ClientConfig::new)
//! and [`ServerConfig::new`](crate::config::ServerConfig::new) run them at
//! once, and every connection runs them again (the configurations' fields
//! are public).

use std::sync::Arc;

use rustls::{CipherSuite, crypto::CryptoProvider};

use super::provider::is_quic_initial_suite;

/// Why a TLS configuration cannot start a QUIC handshake. Each message says
/// what is wrong; each variant's documentation says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The crypto provider offers no TLS 1.3 cipher suite with QUIC packet
    /// protection. Build the config on a provider with TLS 1.3 suites, such
    /// as [`default_provider`](crate::crypto::default_provider).
    #[error("the crypto provider has no tls 1.3 cipher suite usable for quic")]
    NoQuicCipherSuite,
    /// The crypto provider lacks a QUIC-capable TLS13_AES_128_GCM_SHA256,
    /// which Initial packets are protected with whatever the handshake
    /// negotiates (RFC 9001 §5.2) and which rustls requires for that. Keep
    /// it in the provider's `cipher_suites`; to negotiate other suites only,
    /// build the provider with
    /// [`with_cipher_suites`](crate::crypto::with_cipher_suites) and set
    /// `handshake_cipher_suites` on the Tern config.
    #[error(
        "the crypto provider has no quic-capable TLS13_AES_128_GCM_SHA256, which initial \
         packets need (rfc 9001 §5.2): keep it in the provider, and restrict the handshake \
         with handshake_cipher_suites instead"
    )]
    NoInitialSuite,
    /// The config does not enable TLS 1.3, which QUIC requires
    /// (RFC 9001 §4.2). Build it with `rustls::version::TLS13` among its
    /// protocol versions.
    #[error("the config does not enable tls 1.3, which quic requires")]
    Tls13Disabled,
    /// The config names no application protocol. QUIC endpoints must agree
    /// on one with ALPN (RFC 9001 §8.1): set `alpn_protocols` on the rustls
    /// config (`tern::tls` helpers take the list).
    #[error(
        "the config offers no alpn protocol, which quic requires (rfc 9001 §8.1): set alpn_protocols"
    )]
    MissingAlpn,
    /// The server config's `max_early_data_size` is neither 0 (no 0-RTT)
    /// nor `u32::MAX` (0-RTT on), the only values QUIC allows
    /// (RFC 9001 §4.6.1).
    #[error("max_early_data_size is {0}: set it to 0 to refuse 0-rtt or to u32::MAX to accept it")]
    EarlyDataSize(u32),
    /// `handshake_cipher_suites` is set but empty, which would refuse every
    /// peer. Leave it `None` to accept any suite of the provider.
    #[error("handshake_cipher_suites is empty: name at least one suite, or leave it unset")]
    NoHandshakeSuite,
    /// A suite in `handshake_cipher_suites` is not a QUIC-capable suite of
    /// the provider, so it can never be negotiated. Add it to the provider
    /// (see [`with_cipher_suites`](crate::crypto::with_cipher_suites)) or
    /// remove it from the list.
    #[error("handshake cipher suite {0:?} is not a quic-capable suite of the crypto provider")]
    HandshakeSuiteNotInProvider(CipherSuite),
    /// A client offers its provider's suites in the provider's order, and a
    /// server that follows the client's preference would pick a suite the
    /// client then refuses. List the `handshake_cipher_suites` first in the
    /// provider, as [`with_cipher_suites`](crate::crypto::with_cipher_suites)
    /// does.
    #[error(
        "the crypto provider lists {0:?} before the handshake cipher suites: list those first \
         (with_cipher_suites does)"
    )]
    HandshakeSuitesNotFirst(CipherSuite),
    /// A server restricted to `handshake_cipher_suites` must choose by its
    /// own order, or it would pick the client's favourite and then refuse
    /// it. Set `ignore_client_order = true` on the rustls server config.
    #[error(
        "handshake_cipher_suites needs the server to choose by its own order: set ignore_client_order"
    )]
    ServerFollowsClientOrder,
    /// The server name to dial is neither a DNS name nor an IP address.
    /// Pass a name such as `"example.com"` or an address such as
    /// `"192.0.2.1"`.
    #[error("invalid server name {0:?}: use a dns name or an ip address")]
    InvalidServerName(String),
    /// [`TlsSession::client_capturing`](crate::crypto::TlsSession::client_capturing)
    /// was given a configuration that does not capture TLS secrets. Take
    /// it from [`CapturingClientTls::for_config`](crate::crypto::CapturingClientTls::for_config).
    #[error("the client config does not capture tls secrets: take it from CapturingClientTls")]
    NotCapturing,
    /// rustls refused the configuration for another reason; its error says
    /// which setting to change.
    #[error("tls config not usable for quic: {0}")]
    Rustls(rustls::Error),
}

/// Checks a client configuration and returns the QUIC suite its Initial
/// packets are protected with.
///
/// # Errors
/// The first problem found, as a [`TlsConfigError`].
pub fn check_client_config(
    tls: &rustls::ClientConfig,
    handshake_suites: Option<&[CipherSuite]>,
) -> Result<rustls::quic::Suite, TlsConfigError> {
    let provider = tls.crypto_provider();
    check_provider(provider)?;
    if tls.alpn_protocols.is_empty() {
        return Err(TlsConfigError::MissingAlpn);
    }
    if let Some(suites) = handshake_suites {
        check_handshake_suites(provider, suites)?;
        // The ClientHello lists the provider's suites in its order; the
        // restricted ones must come first for a server that follows the
        // client's preference.
        let quic = quic_suites(provider);
        if let Some(first_other) = quic
            .iter()
            .take(suites.len())
            .find(|suite| !suites.contains(suite))
        {
            return Err(TlsConfigError::HandshakeSuitesNotFirst(*first_other));
        }
    }
    tls.check_quic().map_err(rustls_error)
}

/// Checks a server configuration and returns the QUIC suite its Initial
/// packets are protected with.
///
/// # Errors
/// The first problem found, as a [`TlsConfigError`].
pub fn check_server_config(
    tls: &rustls::ServerConfig,
    handshake_suites: Option<&[CipherSuite]>,
) -> Result<rustls::quic::Suite, TlsConfigError> {
    let provider = tls.crypto_provider();
    check_provider(provider)?;
    // RFC 9001 §4.6.1: a server signals 0-RTT with a max_early_data_size
    // of 0xffffffff, and sends no other value.
    let early = tls.max_early_data_size;
    if early != 0 && early != u32::MAX {
        return Err(TlsConfigError::EarlyDataSize(early));
    }
    if tls.alpn_protocols.is_empty() {
        return Err(TlsConfigError::MissingAlpn);
    }
    if let Some(suites) = handshake_suites {
        check_handshake_suites(provider, suites)?;
        if !tls.ignore_client_order {
            return Err(TlsConfigError::ServerFollowsClientOrder);
        }
    }
    tls.quic_initial_suite().map_err(rustls_error)
}

/// RFC 9001 §4.2, §5.2: QUIC runs on TLS 1.3 suites that define header
/// protection, and protects Initial packets with AES-128-GCM.
fn check_provider(provider: &CryptoProvider) -> Result<(), TlsConfigError> {
    let quic_capable = provider
        .cipher_suites
        .iter()
        .any(|suite| suite.tls13().is_some_and(|tls13| tls13.quic.is_some()));
    if !quic_capable {
        return Err(TlsConfigError::NoQuicCipherSuite);
    }
    if !provider.cipher_suites.iter().any(is_quic_initial_suite) {
        return Err(TlsConfigError::NoInitialSuite);
    }
    Ok(())
}

fn check_handshake_suites(
    provider: &CryptoProvider,
    suites: &[CipherSuite],
) -> Result<(), TlsConfigError> {
    if suites.is_empty() {
        return Err(TlsConfigError::NoHandshakeSuite);
    }
    let quic = quic_suites(provider);
    match suites.iter().find(|suite| !quic.contains(suite)) {
        Some(missing) => Err(TlsConfigError::HandshakeSuiteNotInProvider(*missing)),
        None => Ok(()),
    }
}

/// The provider's suites a QUIC handshake can negotiate, in its order.
fn quic_suites(provider: &CryptoProvider) -> Vec<CipherSuite> {
    provider
        .cipher_suites
        .iter()
        .filter(|suite| suite.tls13().is_some_and(|tls13| tls13.quic.is_some()))
        .map(rustls::SupportedCipherSuite::suite)
        .collect()
}

/// Sorts what rustls's own QUIC checks refused. The checks above leave only
/// a config without TLS 1.3, which rustls reports only in its message.
fn rustls_error(error: rustls::Error) -> TlsConfigError {
    match &error {
        rustls::Error::General(message) if message.contains("TLS 1.3") => {
            TlsConfigError::Tls13Disabled
        }
        _ => TlsConfigError::Rustls(error),
    }
}

/// The cipher suites a handshake may settle on, when narrower than the
/// provider's: a shared list that every session of a configuration holds.
pub(crate) type HandshakeSuites = Option<Arc<[CipherSuite]>>;
