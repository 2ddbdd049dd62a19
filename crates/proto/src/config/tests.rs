//! What `ClientConfig::new` and `ServerConfig::new` refuse, and how they
//! say so.

use std::sync::Arc;

use rustls::{
    CipherSuite, RootCertStore,
    crypto::CryptoProvider,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

use super::{ClientConfig, ServerConfig};
use crate::crypto::{TlsConfigError, cipher_suite, default_provider, with_cipher_suites};

const CHACHA: CipherSuite = CipherSuite::TLS13_CHACHA20_POLY1305_SHA256;

/// The default provider with a TLS 1.2 suite added, for configs that offer
/// TLS 1.2 only.
fn with_tls12_suite() -> CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    use rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 as TLS12_SUITE;
    #[cfg(not(feature = "aws-lc-rs"))]
    use rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 as TLS12_SUITE;
    let mut provider = default_provider();
    provider.cipher_suites.push(TLS12_SUITE);
    provider
}

fn server_tls(
    provider: CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
) -> rustls::ServerConfig {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    if !alpn.is_empty() {
        tls.alpn_protocols = vec![alpn.to_vec()];
    }
    tls
}

fn client_tls(
    provider: CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
) -> rustls::ClientConfig {
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    if !alpn.is_empty() {
        tls.alpn_protocols = vec![alpn.to_vec()];
    }
    tls
}

const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

// RFC 9001 §4.2 (test): a server config without TLS 1.3 is refused when it
// is made, not client by client.
#[test]
fn a_server_config_without_tls13_is_refused_at_construction() {
    let error =
        ServerConfig::new(Arc::new(server_tls(with_tls12_suite(), TLS12, b"h3"))).unwrap_err();
    assert!(matches!(error, TlsConfigError::Tls13Disabled), "{error}");
    assert!(error.to_string().contains("tls 1.3"), "{error}");
}

#[test]
fn a_client_config_without_tls13_is_refused_at_construction() {
    let error =
        ClientConfig::new(Arc::new(client_tls(with_tls12_suite(), TLS12, b"h3"))).unwrap_err();
    assert!(matches!(error, TlsConfigError::Tls13Disabled), "{error}");
}

// RFC 9001 §8.1 (test): QUIC endpoints agree on an application protocol
// with ALPN, so a config without one is refused.
#[test]
fn configs_without_alpn_are_refused() {
    let error =
        ServerConfig::new(Arc::new(server_tls(default_provider(), TLS13, b""))).unwrap_err();
    assert!(matches!(error, TlsConfigError::MissingAlpn), "{error}");
    assert!(error.to_string().contains("alpn_protocols"), "{error}");
    let error =
        ClientConfig::new(Arc::new(client_tls(default_provider(), TLS13, b""))).unwrap_err();
    assert!(matches!(error, TlsConfigError::MissingAlpn), "{error}");
}

// RFC 9001 §5.2 (test): Initial packets need AES-128-GCM, so a provider
// narrowed to ChaCha20 alone is refused with the fix in the message.
#[test]
fn a_provider_without_aes_128_gcm_is_refused_with_the_fix() {
    let mut chacha_only = default_provider();
    chacha_only.cipher_suites = vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    let error =
        ClientConfig::new(Arc::new(client_tls(chacha_only.clone(), TLS13, b"h3"))).unwrap_err();
    assert!(matches!(error, TlsConfigError::NoInitialSuite), "{error}");
    assert!(
        error.to_string().contains("handshake_cipher_suites"),
        "{error}"
    );
    let error = ServerConfig::new(Arc::new(server_tls(chacha_only, TLS13, b"h3"))).unwrap_err();
    assert!(matches!(error, TlsConfigError::NoInitialSuite), "{error}");
}

#[test]
fn max_early_data_size_must_be_zero_or_max() {
    let mut tls = server_tls(default_provider(), TLS13, b"h3");
    tls.max_early_data_size = 16_384;
    let error = ServerConfig::new(Arc::new(tls)).unwrap_err();
    assert!(
        matches!(error, TlsConfigError::EarlyDataSize(16_384)),
        "{error}"
    );
}

#[test]
fn chacha20_only_configs_are_accepted_when_built_as_documented() {
    let provider = with_cipher_suites(
        default_provider(),
        &[cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
    );
    let client = ClientConfig::new(Arc::new(client_tls(provider.clone(), TLS13, b"h3")))
        .unwrap()
        .handshake_cipher_suites(&[CHACHA])
        .unwrap();
    assert_eq!(
        client.handshake_cipher_suites.as_deref(),
        Some(&[CHACHA][..])
    );
    let mut tls = server_tls(provider, TLS13, b"h3");
    tls.ignore_client_order = true;
    let server = ServerConfig::new(Arc::new(tls))
        .unwrap()
        .handshake_cipher_suites(&[CHACHA])
        .unwrap();
    server.validate().unwrap();
}

#[test]
fn handshake_cipher_suites_that_cannot_work_are_refused() {
    let chacha_first = with_cipher_suites(
        default_provider(),
        &[cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
    );
    // A server that follows the client's order would pick AES and refuse it.
    let server =
        ServerConfig::new(Arc::new(server_tls(chacha_first.clone(), TLS13, b"h3"))).unwrap();
    let error = server.handshake_cipher_suites(&[CHACHA]).unwrap_err();
    assert!(
        matches!(error, TlsConfigError::ServerFollowsClientOrder),
        "{error}"
    );

    // The default provider lists AES-256-GCM and AES-128-GCM first.
    let client = ClientConfig::new(Arc::new(client_tls(default_provider(), TLS13, b"h3"))).unwrap();
    let error = client
        .clone()
        .handshake_cipher_suites(&[CHACHA])
        .unwrap_err();
    assert!(
        matches!(
            error,
            TlsConfigError::HandshakeSuitesNotFirst(CipherSuite::TLS13_AES_256_GCM_SHA384)
        ),
        "{error}"
    );
    let error = client.clone().handshake_cipher_suites(&[]).unwrap_err();
    assert!(matches!(error, TlsConfigError::NoHandshakeSuite), "{error}");

    let aes_only = with_cipher_suites(
        default_provider(),
        &[cipher_suite::TLS13_AES_128_GCM_SHA256],
    );
    let client = ClientConfig::new(Arc::new(client_tls(aes_only, TLS13, b"h3"))).unwrap();
    let error = client.handshake_cipher_suites(&[CHACHA]).unwrap_err();
    assert!(
        matches!(error, TlsConfigError::HandshakeSuiteNotInProvider(CHACHA)),
        "{error}"
    );
}

/// A reset key no `Debug` output may show.
const RESET_KEY: [u8; 32] = [
    0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
    0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
];

#[test]
fn endpoint_config_debug_hides_the_reset_key() {
    let config = super::EndpointConfig {
        reset_key: Some(RESET_KEY.into()),
        ..super::EndpointConfig::default()
    };
    let text = format!("{config:?} {config:#?}");
    crate::crypto::assert_hides(&text, &RESET_KEY);
    assert!(text.contains("<redacted>"), "{text}");
}
