//! What the handshake information snapshot reports on both sides: the
//! cipher suite's code point, the signature scheme, HelloRetryRequest,
//! Retry, and both sides' transport parameters.

use std::{sync::Arc, time::Duration};

use tern_proto::{
    HandshakeInfo,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::cipher_suite::TLS13_AES_128_GCM_SHA256,
};
use tern_sim::{LinkConfig, certs, pair::Pair, quic::HandshakeRun};

use crate::perfect;

/// Both snapshots of a completed run.
fn snapshots(run: &HandshakeRun) -> (Arc<HandshakeInfo>, Arc<HandshakeInfo>) {
    let report = run.run();
    assert!(
        report.completed,
        "{:?} {:?}",
        report.outcome, report.client_error
    );
    (
        report.client_info.expect("client snapshot"),
        report.server_info.expect("server snapshot"),
    )
}

#[test]
fn both_sides_report_the_same_suite_code_point_and_signature_scheme() {
    let mut run = HandshakeRun::new(51, perfect());
    run.cipher_suite = Some(TLS13_AES_128_GCM_SHA256);
    let (client, server) = snapshots(&run);
    let suite = client.cipher_suite().expect("suite");
    assert_eq!(suite.id, 0x1301, "TLS13_AES_128_GCM_SHA256");
    assert_eq!(server.cipher_suite().map(|s| s.id), Some(0x1301));
    // The test certificate is Ed25519, so is the CertificateVerify
    // (RFC 8446 §4.4.3); the client read it, the server wrote it.
    assert_eq!(
        client.signature_scheme(),
        Some(rustls::SignatureScheme::ED25519)
    );
    assert_eq!(client.signature_scheme(), server.signature_scheme());
    assert!(!client.hello_retry_request() && !server.hello_retry_request());
    assert!(!client.retry_used() && !server.retry_used());
}

#[test]
fn the_default_suite_has_its_code_point_on_both_sides() {
    let (client, server) = snapshots(&HandshakeRun::new(52, perfect()));
    let suite = client.cipher_suite().expect("suite");
    assert_eq!(server.cipher_suite().map(|s| s.id), Some(suite.id));
    assert_eq!(
        rustls::CipherSuite::from(suite.id).as_str(),
        Some(suite.name)
    );
}

#[test]
fn each_side_sent_the_parameters_the_other_received() {
    let (client, server) = snapshots(&HandshakeRun::new(53, perfect()));
    assert_eq!(
        client.local_transport_parameters(),
        server.peer_transport_parameters()
    );
    assert_eq!(
        server.local_transport_parameters(),
        client.peer_transport_parameters()
    );
    assert_ne!(
        client.local_transport_parameters(),
        server.local_transport_parameters(),
        "the server's carry its connection IDs and reset token"
    );
}

#[test]
fn a_server_without_the_clients_key_share_group_asks_for_another_with_a_hello_retry() {
    // RFC 8446 §4.1.4 (test): the client sends shares for its first groups
    // only (X25519MLKEM768 and X25519, or X25519 with ring); a server that
    // takes secp256r1 alone answers with a HelloRetryRequest, and the
    // handshake completes on secp256r1 one round trip later.
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut provider = tern_proto::crypto::default_provider();
    provider
        .kx_groups
        .retain(|group| group.name() == rustls::NamedGroup::secp256r1);
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_no_client_auth()
        .with_cert_resolver(server_tls.cert_resolver.clone());
    server.alpn_protocols.clone_from(&server_tls.alpn_protocols);
    server.max_early_data_size = 0;
    let server_config = ServerConfig::new(Arc::new(server)).expect("server config");
    let client_config = ClientConfig::new(client_tls).expect("client config");
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(
        54,
        link,
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    assert!(
        pair.connect(Duration::from_secs(10)),
        "the handshake completes"
    );
    let view = pair.view();
    let client = view
        .client()
        .and_then(|c| c.handshake_info().cloned())
        .expect("client snapshot");
    let server = view
        .server()
        .and_then(|c| c.handshake_info().cloned())
        .expect("server snapshot");
    assert!(client.hello_retry_request(), "the client saw the retry");
    assert!(server.hello_retry_request(), "the server asked for it");
    assert_eq!(client.key_exchange_group(), Some("secp256r1"));
    assert_eq!(server.key_exchange_group(), Some("secp256r1"));
    assert_eq!(client.signature_scheme(), server.signature_scheme());
    assert!(client.signature_scheme().is_some());
    // Two round trips of 40 ms: the retry costs one.
    assert_eq!(client.handshake_duration(), Duration::from_millis(80));
}
