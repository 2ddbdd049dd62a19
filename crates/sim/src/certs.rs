//! Throwaway TLS configurations for tests and examples.
//!
//! Each call makes a fresh self-signed Ed25519 certificate for `localhost`
//! with rcgen, a QUIC-ready server config that presents it, and a client config
//! that trusts exactly that certificate (a root store holding it, not a
//! verifier that accepts anything), so the handshake runs real certificate
//! verification.

use std::sync::Arc;

use rustls::{
    ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite,
    crypto::CryptoProvider,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// A client and a server config for `localhost`, TLS 1.3 only on Tern's
/// default provider ([`tern_proto::crypto::default_provider`]: aws-lc-rs
/// with X25519MLKEM768 first, or ring with X25519 first), both offering the
/// protocols in `alpn`.
///
/// The server sets `max_early_data_size` to 0 (no 0-RTT), one of the two
/// values rustls accepts for QUIC.
///
/// # Panics
/// When rcgen or rustls fails to make the certificate or the configs,
/// which they do not for these fixed inputs.
#[must_use]
pub fn test_configs(alpn: &[&[u8]]) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    configs(tern_proto::crypto::default_provider(), alpn)
}

/// Like [`test_configs`], with both sides preferring one cipher suite,
/// such as `tern_proto::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256`.
///
/// The providers list `suite` first and AES-128-GCM after it, which rustls
/// requires for Initial packets (see
/// [`tern_proto::crypto::with_cipher_suites`]); the server chooses by its
/// own order, so the handshake settles on `suite`.
///
/// # Panics
/// As [`test_configs`]; also when `suite` is not a TLS 1.3 suite.
#[must_use]
pub fn test_configs_with_suite(
    alpn: &[&[u8]],
    suite: SupportedCipherSuite,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider =
        tern_proto::crypto::with_cipher_suites(tern_proto::crypto::default_provider(), &[suite]);
    let (client, server) = configs(provider, alpn);
    let mut server = Arc::unwrap_or_clone(server);
    server.ignore_client_order = true;
    (client, Arc::new(server))
}

fn configs(provider: CryptoProvider, alpn: &[&[u8]]) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider = Arc::new(provider);
    let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
    // Ed25519 with a fixed serial number: every handshake message then has
    // the same size in every run, so a seeded simulation replays exactly
    // even though the key material itself is fresh.
    let signing_key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("rcgen makes an Ed25519 key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()])
        .expect("localhost is a valid subject alternative name");
    params.serial_number = Some(rcgen::SerialNumber::from(1_u64));
    let cert = params
        .self_signed(&signing_key)
        .expect("rcgen makes a self-signed certificate for localhost")
        .der()
        .clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));

    let mut server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the provider supports TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("rustls accepts the rcgen certificate and key");
    server.alpn_protocols.clone_from(&alpn);
    server.max_early_data_size = 0;

    let mut roots = RootCertStore::empty();
    roots
        .add(cert)
        .expect("the rcgen certificate parses as a trust anchor");
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the provider supports TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn;

    (Arc::new(client), Arc::new(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_usable_for_quic() {
        let (client, server) = test_configs(&[b"h3"]);
        assert_eq!(client.alpn_protocols, vec![b"h3".to_vec()]);
        assert_eq!(server.alpn_protocols, vec![b"h3".to_vec()]);
        assert_eq!(server.max_early_data_size, 0);
        let suite = tern_proto::crypto::cipher_suite::TLS13_AES_256_GCM_SHA384;
        let initial = tern_proto::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let (client, server) = test_configs_with_suite(&[b"hq-interop"], suite);
        assert_eq!(client.crypto_provider().cipher_suites, vec![suite, initial]);
        assert_eq!(server.crypto_provider().cipher_suites, vec![suite, initial]);
        assert!(server.ignore_client_order);
    }
}
