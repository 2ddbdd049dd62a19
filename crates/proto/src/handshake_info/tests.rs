use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use rustls::pki_types::CertificateDer;

use super::*;
use crate::varint::VarInt;

fn epoch() -> Instant {
    #[expect(
        clippy::disallowed_methods,
        reason = "tests need one real Instant as an epoch; nothing depends on its value"
    )]
    Instant::now()
}

fn details() -> TlsDetails {
    TlsDetails {
        tls_version: TlsVersion::Tls13,
        cipher_suite: Some(CipherSuiteInfo::from_rustls(
            crate::crypto::cipher_suite::TLS13_AES_256_GCM_SHA384,
        )),
        key_exchange_group: Some("X25519"),
        alpn: Some(b"h3".to_vec()),
        server_name: Some("localhost".into()),
        peer_certificates: vec![
            CertificateDer::from(vec![0x30, 0x01, 0x00]),
            CertificateDer::from(vec![0x30, 0x02, 0x01, 0x02]),
        ],
        resumed: false,
        hello_retry_request: true,
        signature_scheme: Some(rustls::SignatureScheme::ED25519),
        early_data: EarlyData::Rejected,
    }
}

fn info(side: Side, completed_at: Instant) -> HandshakeInfo {
    let peer = TransportParameters {
        initial_max_data: VarInt::from_u32(4096),
        ..TransportParameters::default()
    };
    let local: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let remote: SocketAddr = "192.0.2.7:51000".parse().unwrap();
    let ours = TransportParameters {
        initial_max_data: VarInt::from_u32(8192),
        ..TransportParameters::default()
    };
    HandshakeInfo::new(
        side,
        Version::V2,
        details(),
        peer,
        ours,
        AddressValidation::None,
        Some(local),
        remote,
        Duration::from_micros(2500),
        Duration::from_micros(1200),
        completed_at,
    )
}

#[test]
fn snapshot_reports_what_it_was_built_from() {
    let at = epoch() + Duration::from_millis(3);
    let info = info(Side::Server, at);
    assert_eq!(info.side(), Side::Server);
    assert_eq!(info.quic_version(), crate::QUIC_V2);
    assert_eq!(info.tls_version().as_str(), "TLSv1.3");
    let suite = info.cipher_suite().unwrap();
    assert_eq!(
        *suite,
        CipherSuiteInfo {
            id: 0x1302,
            name: "TLS13_AES_256_GCM_SHA384",
            aead: "AES-256-GCM",
            key_len: 32,
            hash: "SHA-384",
        }
    );
    assert_eq!(info.key_exchange_group(), Some("X25519"));
    assert_eq!(info.alpn(), Some(&b"h3"[..]));
    assert_eq!(info.server_name(), Some("localhost"));
    assert_eq!(info.peer_certificates().len(), 2);
    assert!(!info.resumed());
    assert_eq!(info.early_data(), EarlyData::Rejected);
    assert_eq!(
        info.peer_transport_parameters().initial_max_data,
        VarInt::from_u32(4096)
    );
    assert_eq!(
        info.local_transport_parameters().initial_max_data,
        VarInt::from_u32(8192)
    );
    assert!(!info.retry_used());
    assert!(!info.address_validated_by_token());
    assert_eq!(info.address_validation(), AddressValidation::None);
    assert!(info.hello_retry_request());
    assert_eq!(
        info.signature_scheme(),
        Some(rustls::SignatureScheme::ED25519)
    );
    assert_eq!(
        info.local_address(),
        Some("127.0.0.1:4433".parse().unwrap())
    );
    assert_eq!(info.remote_address(), "192.0.2.7:51000".parse().unwrap());
    assert_eq!(info.handshake_duration(), Duration::from_micros(2500));
    assert_eq!(info.rtt(), Duration::from_micros(1200));
    assert_eq!(info.completed_at(), at);
    assert_eq!(info.tls_details(), &details());
}

#[test]
fn each_address_validation_answers_its_own_accessor_only() {
    for (validation, retry, token, name) in [
        (AddressValidation::None, false, false, "none"),
        (AddressValidation::Retry, true, false, "retry"),
        (AddressValidation::Token, false, true, "token"),
    ] {
        let info = HandshakeInfo {
            address_validation: validation,
            ..info(Side::Client, epoch())
        };
        assert_eq!(info.address_validation(), validation);
        assert_eq!(info.retry_used(), retry, "{validation:?}");
        assert_eq!(info.address_validated_by_token(), token, "{validation:?}");
        assert_eq!(validation.as_str(), name);
    }
}

#[test]
fn cipher_suites_are_described_by_their_algorithms() {
    use crate::crypto::cipher_suite as suites;
    let aes128 = CipherSuiteInfo::from_rustls(suites::TLS13_AES_128_GCM_SHA256);
    assert_eq!(
        (
            aes128.id,
            aes128.name,
            aes128.aead,
            aes128.key_len,
            aes128.hash
        ),
        (
            0x1301,
            "TLS13_AES_128_GCM_SHA256",
            "AES-128-GCM",
            16,
            "SHA-256"
        )
    );
    let chacha = CipherSuiteInfo::from_rustls(suites::TLS13_CHACHA20_POLY1305_SHA256);
    assert_eq!(
        (
            chacha.id,
            chacha.name,
            chacha.aead,
            chacha.key_len,
            chacha.hash
        ),
        (
            0x1303,
            "TLS13_CHACHA20_POLY1305_SHA256",
            "CHACHA20-POLY1305",
            32,
            "SHA-256"
        )
    );
}

#[test]
fn snapshot_is_shared_and_outlives_its_sources() {
    let shared = std::sync::Arc::new(info(Side::Client, epoch()));
    let other = std::sync::Arc::clone(&shared);
    drop(shared);
    assert_eq!(other.server_name(), Some("localhost"));
}

#[cfg(feature = "serde")]
#[test]
fn serializes_to_a_flat_json_object() {
    let json = serde_json::to_value(info(Side::Client, epoch())).unwrap();
    let object = json.as_object().unwrap();
    for key in [
        "side",
        "quic_version",
        "tls_version",
        "cipher_suite",
        "key_exchange_group",
        "alpn",
        "server_name",
        "peer_certificates",
        "resumed",
        "hello_retry_request",
        "retry_used",
        "address_validation",
        "signature_scheme",
        "cipher_suite_id",
        "early_data",
        "handshake_duration_us",
        "rtt_us",
    ] {
        assert!(object.contains_key(key), "missing {key} in {json}");
    }
    assert_eq!(json["side"], "client");
    assert_eq!(json["quic_version"], crate::QUIC_V2);
    assert_eq!(json["tls_version"], "TLSv1.3");
    assert_eq!(json["cipher_suite"], "TLS13_AES_256_GCM_SHA384");
    assert_eq!(json["aead"], "AES-256-GCM");
    assert_eq!(json["key_len"], 32);
    assert_eq!(json["hash"], "SHA-384");
    assert_eq!(json["key_exchange_group"], "X25519");
    assert_eq!(json["alpn"], "h3");
    assert_eq!(json["server_name"], "localhost");
    assert_eq!(json["peer_certificates"], 2);
    assert_eq!(json["resumed"], false);
    assert_eq!(json["hello_retry_request"], true);
    assert_eq!(json["retry_used"], false);
    assert_eq!(json["address_validation"], "none");
    assert_eq!(json["signature_scheme"], "ED25519");
    assert_eq!(json["cipher_suite_id"], 0x1302);
    assert_eq!(json["early_data"], "rejected");
    assert_eq!(json["handshake_duration_us"], 2500);
    assert_eq!(json["rtt_us"], 1200);
    assert_eq!(json["local_address"], "127.0.0.1:4433");
    assert_eq!(json["remote_address"], "192.0.2.7:51000");
}

#[cfg(feature = "serde")]
#[test]
fn absent_values_serialize_as_null() {
    let mut tls = details();
    tls.alpn = None;
    tls.server_name = None;
    tls.key_exchange_group = None;
    tls.early_data = EarlyData::NotAttempted;
    tls.signature_scheme = None;
    let info = HandshakeInfo::new(
        Side::Server,
        Version::V1,
        tls,
        TransportParameters::default(),
        TransportParameters::default(),
        AddressValidation::Retry,
        None,
        "[::1]:443".parse().unwrap(),
        Duration::ZERO,
        Duration::ZERO,
        epoch(),
    );
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["side"], "server");
    assert_eq!(json["quic_version"], 1);
    assert!(json["alpn"].is_null());
    assert!(json["server_name"].is_null());
    assert!(json["key_exchange_group"].is_null());
    assert!(json["signature_scheme"].is_null());
    assert!(json["local_address"].is_null());
    assert_eq!(json["early_data"], "not_attempted");
    assert_eq!(json["retry_used"], true);
    assert_eq!(json["address_validation"], "retry");
}
