//! Ready-made rustls configurations for QUIC: TLS 1.3 only, ALPN set, on
//! Tern's default crypto provider or one you pass. Bring your own
//! `rustls::ClientConfig` / `ServerConfig` for anything else, and make the
//! Tern configuration with `ClientConfig::new` / `ServerConfig::new`, which
//! check it for QUIC.
//!
//! The server configurations accept 0-RTT from clients resuming a session
//! (`max_early_data_size = u32::MAX`, stateful tickets in a
//! [`ServerSessionMemoryCache`] of [`SERVER_SESSION_CACHE_SIZE`] entries);
//! each ticket carries 0-RTT once unless
//! [`ServerConfig::anti_replay`] says otherwise, and early data can still
//! be replayed across servers that do not share the cache, so an
//! application must accept in 0-RTT only what is safe to receive twice.
//! The client configurations keep tickets and offer 0-RTT
//! (`enable_early_data = true`); the ticket store is rustls's `Resumption`
//! of the configuration, in memory, 256 server names by default, shared by
//! every connection made with the configuration and its clones (so by all
//! of an endpoint's connections). [`ClientConfig::session_store`] replaces
//! or disables it.
//!
//! The default provider ([`default_provider`]) is rustls's aws-lc-rs
//! provider with the post-quantum hybrid X25519MLKEM768 key exchange
//! first and X25519 as the fallback; with the crate feature `ring` (and
//! without `aws-lc-rs`) it is ring's, with X25519 first.
//!
//! To keep the handshake to some cipher suites, ChaCha20-Poly1305 alone
//! say, build the provider with [`with_cipher_suites`] and set the same
//! suites as the configuration's `handshake_cipher_suites`:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tern::tls::{self, cipher_suite::TLS13_CHACHA20_POLY1305_SHA256 as CHACHA20};
//!
//! // rustls needs AES-128-GCM in every QUIC provider for Initial packets
//! // (RFC 9001 §5.2): `with_cipher_suites` lists it after ChaCha20, and
//! // `handshake_cipher_suites` refuses a peer that picks it.
//! let provider = Arc::new(tls::with_cipher_suites(tls::default_provider(), &[CHACHA20]));
//! let client = tls::dangerous_insecure_client_config_with(provider, &[b"hq-interop"])?
//!     .handshake_cipher_suites(&[CHACHA20.suite()])?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use rustls::{
    RootCertStore,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    server::ServerSessionMemoryCache,
};
pub use tern_proto::crypto::{cipher_suite, default_provider, with_cipher_suites};
use tern_proto::{
    config::{ClientConfig, ServerConfig},
    crypto::TlsConfigError,
};

/// Sessions the ready-made server configurations keep for resumption and
/// 0-RTT (rustls's default is 256): one per ticket, and rustls sends 2
/// tickets per connection, so the latest 2,048 connections' clients can
/// come back with one. The oldest entry makes room for a new one.
///
/// rustls's cache reserves its slots up front, 0.5 MB for 4,096 (122
/// bytes a slot), and each entry costs about 224 bytes more: a 32-byte
/// ticket ID kept twice and a 119-byte session with Tern's 0-RTT limits,
/// in malloc's blocks; 1.4 MB once full (measured with a counting
/// allocator on rustls 0.23.48: `cargo test -p tern-sim --test heap
/// session_cache -- --nocapture`). A busy server whose clients come back
/// after minutes wants more: give the rustls configuration a larger
/// cache, or one of its own.
pub const SERVER_SESSION_CACHE_SIZE: usize = 4096;

/// Why a ready-made configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// rustls refused the parts: a key that does not match the
    /// certificate or is of a kind it does not support, or a provider
    /// without TLS 1.3. Its message says which.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The configuration cannot run QUIC; the message says what to change.
    #[error(transparent)]
    Quic(#[from] TlsConfigError),
}

/// A server configuration presenting `cert_chain` with `key`, offering the
/// `alpn` protocols, on Tern's [`default_provider`].
///
/// # Errors
/// [`ConfigError::Rustls`] when the key does not match the certificate or
/// is of a kind the provider does not support; [`ConfigError::Quic`] when
/// `alpn` is empty.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<ServerConfig, ConfigError> {
    // rustls picks the suite the client prefers (among ours).
    let tls = server_tls(Arc::new(default_provider()), cert_chain, key, alpn, false)?;
    Ok(ServerConfig::new(Arc::new(tls))?)
}

/// [`server_config`] on a given crypto provider. The server picks the first
/// suite, in the provider's order, that the client offers
/// (`ignore_client_order`), so a provider built with [`with_cipher_suites`]
/// decides; set `handshake_cipher_suites` on the result to refuse clients
/// that offer none of its suites.
///
/// # Errors
/// As [`server_config`]; also when the provider has no QUIC-capable
/// AES-128-GCM for Initial packets.
pub fn server_config_with(
    provider: Arc<CryptoProvider>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<ServerConfig, ConfigError> {
    let tls = server_tls(provider, cert_chain, key, alpn, true)?;
    Ok(ServerConfig::new(Arc::new(tls))?)
}

fn server_tls(
    provider: Arc<CryptoProvider>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
    by_own_order: bool,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // RFC 9001 §4.6.1: 0xffffffff offers 0-RTT, the only other value
    // rustls's QUIC API takes besides 0. rustls accepts it only with
    // stateful tickets, from `session_storage`.
    tls.max_early_data_size = u32::MAX;
    tls.session_storage = ServerSessionMemoryCache::new(SERVER_SESSION_CACHE_SIZE);
    tls.ignore_client_order = by_own_order;
    Ok(tls)
}

/// A client configuration trusting `roots`, offering the `alpn` protocols,
/// on Tern's [`default_provider`].
///
/// # Errors
/// [`ConfigError::Quic`] when `alpn` is empty.
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Result<ClientConfig, ConfigError> {
    client_config_with(Arc::new(default_provider()), roots, alpn)
}

/// [`client_config`] on a given crypto provider. The ClientHello offers its
/// suites in the provider's order.
///
/// # Errors
/// [`ConfigError`] when the provider cannot do TLS 1.3 or lacks a
/// QUIC-capable AES-128-GCM for Initial packets, or `alpn` is empty.
pub fn client_config_with(
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    alpn: &[&[u8]],
) -> Result<ClientConfig, ConfigError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tls.enable_early_data = true;
    Ok(ClientConfig::new(Arc::new(tls))?)
}

/// A client configuration that accepts **any** server certificate. Only
/// for tests and tools talking to servers with throwaway certificates
/// (`tern get --insecure`): it gives no protection against impostors.
///
/// # Errors
/// [`ConfigError::Quic`] when `alpn` is empty.
pub fn dangerous_insecure_client_config(alpn: &[&[u8]]) -> Result<ClientConfig, ConfigError> {
    dangerous_insecure_client_config_with(Arc::new(default_provider()), alpn)
}

/// [`dangerous_insecure_client_config`] on a given crypto provider, for
/// example one that prefers a single cipher suite.
///
/// # Errors
/// As [`client_config_with`].
pub fn dangerous_insecure_client_config_with(
    provider: Arc<CryptoProvider>,
    alpn: &[&[u8]],
) -> Result<ClientConfig, ConfigError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tls.enable_early_data = true;
    Ok(ClientConfig::new(Arc::new(tls))?)
}

/// Accepts every certificate, but still checks the handshake signatures
/// with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
