//! Keys Tern derives itself from a secret (crypto::derive), against the
//! RFC vectors and against rustls's own derivation.

use rustls::{
    crypto::tls13::OkmBlock,
    quic::{self as tls},
};

use super::*;
use crate::crypto::derive::{DerivingSuite, Labels, expand_label};

fn suite(suite: rustls::SupportedCipherSuite) -> DerivingSuite {
    DerivingSuite::new(suite.tls13().unwrap()).unwrap()
}

fn aes_128() -> DerivingSuite {
    suite(crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256)
}

/// key, iv and hp expanded from `secret` with `version`'s labels.
fn expanded(secret: &str, version: Version) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let tls13 = crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .unwrap();
    let expander = tls13
        .hkdf_provider
        .expander_for_okm(&OkmBlock::new(&hex(secret)));
    let labels = Labels::of(version);
    let (mut key, mut iv, mut hp) = (vec![0; 16], vec![0; 12], vec![0; 16]);
    expand_label(&*expander, labels.key, &mut key);
    expand_label(&*expander, labels.iv, &mut iv);
    expand_label(&*expander, labels.hp, &mut hp);
    (key, iv, hp)
}

/// RFC 9001 §A.1: the v1 client and server Initial secrets.
const V1_CLIENT_SECRET: &str = "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea";
const V1_SERVER_SECRET: &str = "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b";
/// RFC 9369 §A.1: the v2 client and server Initial secrets.
const V2_CLIENT_SECRET: &str = "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b";
const V2_SERVER_SECRET: &str = "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1";

// RFC 9001 §A.1 (test): "quic key", "quic iv" and "quic hp" expand the
// Initial secrets to the RFC's keys.
#[test]
fn v1_labels_expand_the_initial_secrets_to_the_rfc_keys() {
    let (key, iv, hp) = expanded(V1_CLIENT_SECRET, Version::V1);
    assert_eq!(key, hex("1f369613dd76d5467730efcbe3b1a22d"));
    assert_eq!(iv, hex("fa044b2f42a3fd3b46fb255c"));
    assert_eq!(hp, hex("9f50449e04a0e810283a1e9933adedd2"));
    let (key, iv, hp) = expanded(V1_SERVER_SECRET, Version::V1);
    assert_eq!(key, hex("cf3a5331653c364c88f0f379b6067e37"));
    assert_eq!(iv, hex("0ac1493ca1905853b0bba03e"));
    assert_eq!(hp, hex("c206b8d9b9f0f37644430b490eeaa314"));
}

// RFC 9369 §A.1 (test): the "quicv2" labels give v2's keys.
#[test]
fn v2_labels_expand_the_initial_secrets_to_the_rfc_keys() {
    let (key, iv, hp) = expanded(V2_CLIENT_SECRET, Version::V2);
    assert_eq!(key, hex("8b1a0bc121284290a29e0971b5cd045d"));
    assert_eq!(iv, hex("91f73e2351d8fa91660e909f"));
    assert_eq!(hp, hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    let (key, iv, hp) = expanded(V2_SERVER_SECRET, Version::V2);
    assert_eq!(key, hex("82db637861d55e1d011f19ea71d5d2a7"));
    assert_eq!(iv, hex("dd13c276499c0249d3310652"));
    assert_eq!(hp, hex("edf6d05c83121201b436e16877593c3a"));
}

// RFC 9001 §A.2, §A.3, RFC 9369 §A.2, §A.3 (test): keys Tern derives from
// the Initial secrets protect the RFC's Initial packets byte for byte.
#[test]
fn derived_initial_keys_protect_the_rfc_packets() {
    let client_payload = client_payload();
    let server_payload = hex(SERVER_PAYLOAD);
    let cases = [
        (
            Version::V1,
            V1_CLIENT_SECRET,
            2,
            V1_CLIENT_HEADER,
            &client_payload,
            V1_CLIENT_PACKET,
        ),
        (
            Version::V1,
            V1_SERVER_SECRET,
            1,
            V1_SERVER_HEADER,
            &server_payload,
            V1_SERVER_PACKET,
        ),
        (
            Version::V2,
            V2_CLIENT_SECRET,
            2,
            V2_CLIENT_HEADER,
            &client_payload,
            V2_CLIENT_PACKET,
        ),
        (
            Version::V2,
            V2_SERVER_SECRET,
            1,
            V2_SERVER_HEADER,
            &server_payload,
            V2_SERVER_PACKET,
        ),
    ];
    for (version, secret, pn, header, payload, packet) in cases {
        let keys = aes_128().directional_keys(&OkmBlock::new(&hex(secret)), version);
        check_seal(&keys, pn, header, payload, packet);
        check_open(&keys, pn, header, payload, packet);
    }
}

// RFC 9001 §A.5, RFC 9369 §A.5 (test): ChaCha20-Poly1305 keys Tern derives
// from the RFC's secret protect its short header packet, in both versions.
#[test]
fn derived_chacha20_keys_protect_the_rfc_short_header_packet() {
    let chacha = suite(crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256);
    let plain = hex(CHACHA_PLAIN);
    for (version, expected) in [
        (Version::V1, V1_CHACHA_PACKET),
        (Version::V2, V2_CHACHA_PACKET),
    ] {
        let keys = chacha.directional_keys(&OkmBlock::new(&hex(CHACHA_SECRET)), version);
        check_seal(&keys, CHACHA_PN, "4200bff4", &plain[4..], expected);
        let mut packet = hex(expected);
        let opened = keys.open(&mut packet, 1, Some(CHACHA_PN - 1)).unwrap();
        assert_eq!(opened.pn, CHACHA_PN);
        assert_eq!(&packet[..opened.payload.end], &plain[..]);
    }
}

// RFC 9001 §6.6 (test): derived keys carry the limits rustls's keys do.
#[test]
fn derived_keys_report_the_same_limits_as_rustls() {
    let secret = OkmBlock::new(&[7; 48]);
    let aes_128_rustls = Keys::initial(Version::V1, &dcid(), Side::Client);
    let derived = aes_128().directional_keys(&secret, Version::V2);
    assert_eq!(derived.packet.confidentiality_limit(), 1 << 23);
    assert_eq!(
        derived.packet.confidentiality_limit(),
        aes_128_rustls.local.packet.confidentiality_limit()
    );
    assert_eq!(
        derived.packet.integrity_limit(),
        aes_128_rustls.local.packet.integrity_limit()
    );
    // AES-256 and ChaCha20 take 32-byte keys, which rustls's public
    // AeadKey can hold.
    for rustls_suite in [
        crate::crypto::cipher_suite::TLS13_AES_256_GCM_SHA384,
        crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        let quic = rustls_suite.tls13().unwrap().quic.unwrap();
        let theirs: Box<dyn tls::PacketKey> =
            quic.packet_key(AeadKey::from([1; 32]), Iv::from([0; 12]));
        let ours = suite(rustls_suite).directional_keys(&secret, Version::V1);
        assert_eq!(
            ours.packet.confidentiality_limit(),
            theirs.confidentiality_limit()
        );
        assert_eq!(ours.packet.integrity_limit(), theirs.integrity_limit());
        assert_eq!(ours.packet.tag_len(), theirs.tag_len());
    }
}

#[test]
fn only_the_three_quic_suites_are_derived_for() {
    let base = crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .unwrap();
    let ccm: &'static rustls::Tls13CipherSuite = Box::leak(Box::new(rustls::Tls13CipherSuite {
        common: rustls::CipherSuiteCommon {
            suite: rustls::CipherSuite::TLS13_AES_128_CCM_SHA256,
            ..base.common
        },
        ..*base
    }));
    assert!(DerivingSuite::new(ccm).is_none());
}
