use bytes::BytesMut;
use proptest::prelude::*;
use rustls::crypto::{
    cipher::{AeadKey, Iv},
    tls13::{HkdfExpander, OkmBlock},
};

use super::*;
use crate::{
    ConnectionId, PartialDecode, Side,
    packet::{DecodeOptions, PacketNumber, RETRY_INTEGRITY_TAG_LEN},
};

mod derive;
mod key_update;
mod vectors;

use vectors::*;

fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn dcid() -> Vec<u8> {
    hex(DCID)
}

/// The unprotected header, the payload and room for the tag.
fn plain_packet(header: &str, payload: &[u8]) -> Vec<u8> {
    let mut packet = hex(header);
    packet.extend_from_slice(payload);
    packet.extend_from_slice(&[0; 16]);
    packet
}

fn client_payload() -> Vec<u8> {
    let mut payload = hex(CLIENT_CRYPTO_FRAME);
    payload.resize(CLIENT_PAYLOAD_LEN, 0);
    payload
}

/// HKDF-Expand-Label with an empty context, through rustls's public HKDF.
fn expand_label(expander: &dyn HkdfExpander, label: &str, out: &mut [u8]) {
    let len = u16::try_from(out.len()).unwrap().to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).unwrap()];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label.as_bytes(), &[0]];
    expander.expand_slice(&info, out).unwrap();
}

/// RFC 9001 §A.5's keys: ChaCha20-Poly1305 packet and header keys from a
/// raw secret, built through rustls's `quic::Algorithm`.
fn chacha_keys(version: Version) -> DirectionalKeys {
    let suite = crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256
        .tls13()
        .unwrap();
    let quic = suite.quic.unwrap();
    let expander = suite
        .hkdf_provider
        .expander_for_okm(&OkmBlock::new(&hex(CHACHA_SECRET)));
    let prefix = match version {
        Version::V1 => "quic",
        Version::V2 => "quicv2",
    };
    let (mut key, mut iv, mut hp) = ([0; 32], [0; 12], [0; 32]);
    expand_label(&*expander, &format!("{prefix} key"), &mut key);
    expand_label(&*expander, &format!("{prefix} iv"), &mut iv);
    expand_label(&*expander, &format!("{prefix} hp"), &mut hp);
    DirectionalKeys {
        header: quic.header_protection_key(AeadKey::from(hp)).into(),
        packet: quic.packet_key(AeadKey::from(key), Iv::from(iv)).into(),
    }
}

fn check_seal(keys: &DirectionalKeys, pn: u64, header: &str, payload: &[u8], expected: &str) {
    let mut packet = plain_packet(header, payload);
    let pn_offset = header.len() / 2 - (usize::from(hex(header)[0] & 3) + 1);
    keys.seal(pn, &mut packet, pn_offset).unwrap();
    assert_eq!(packet, hex(expected));
}

fn check_open(keys: &DirectionalKeys, pn: u64, header: &str, payload: &[u8], protected: &str) {
    let mut packet = hex(protected);
    let header = hex(header);
    let pn_offset = header.len() - (usize::from(header[0] & 3) + 1);
    let opened = keys.open(&mut packet, pn_offset, None).unwrap();
    assert_eq!(opened.pn, pn);
    assert_eq!(opened.first_byte, header[0]);
    assert_eq!(opened.header_len, header.len());
    assert_eq!(&packet[..header.len()], &header[..]);
    assert_eq!(&packet[opened.payload], payload);
}

// RFC 9001 §A.2 (test): the client's Initial keys (and so §A.1's key, iv
// and hp) protect the padded CRYPTO frame to the RFC's 1200 bytes.
#[test]
fn client_initial_protects_to_the_rfc_packet() {
    let client = Keys::initial(Version::V1, &dcid(), Side::Client);
    check_seal(
        &client.local,
        2,
        V1_CLIENT_HEADER,
        &client_payload(),
        V1_CLIENT_PACKET,
    );
    assert_eq!(hex(V1_CLIENT_PACKET).len(), 1200);
}

// RFC 9001 §A.2 (test): the server opens the RFC's client Initial.
#[test]
fn server_opens_the_rfc_client_initial() {
    let server = Keys::initial(Version::V1, &dcid(), Side::Server);
    check_open(
        &server.remote,
        2,
        V1_CLIENT_HEADER,
        &client_payload(),
        V1_CLIENT_PACKET,
    );
}

// RFC 9001 §A.3 (test): the server Initial, sealed and opened.
#[test]
fn server_initial_matches_the_rfc_both_ways() {
    let server = Keys::initial(Version::V1, &dcid(), Side::Server);
    let client = Keys::initial(Version::V1, &dcid(), Side::Client);
    let payload = hex(SERVER_PAYLOAD);
    check_seal(
        &server.local,
        1,
        V1_SERVER_HEADER,
        &payload,
        V1_SERVER_PACKET,
    );
    check_open(
        &client.remote,
        1,
        V1_SERVER_HEADER,
        &payload,
        V1_SERVER_PACKET,
    );
}

// RFC 9369 §A.2 (test): v2's salt and labels protect the client Initial.
#[test]
fn v2_client_initial_matches_the_rfc_both_ways() {
    let client = Keys::initial(Version::V2, &dcid(), Side::Client);
    let server = Keys::initial(Version::V2, &dcid(), Side::Server);
    let payload = client_payload();
    check_seal(
        &client.local,
        2,
        V2_CLIENT_HEADER,
        &payload,
        V2_CLIENT_PACKET,
    );
    check_open(
        &server.remote,
        2,
        V2_CLIENT_HEADER,
        &payload,
        V2_CLIENT_PACKET,
    );
}

// RFC 9369 §A.3 (test): the v2 server Initial.
#[test]
fn v2_server_initial_matches_the_rfc_both_ways() {
    let server = Keys::initial(Version::V2, &dcid(), Side::Server);
    let client = Keys::initial(Version::V2, &dcid(), Side::Client);
    let payload = hex(SERVER_PAYLOAD);
    check_seal(
        &server.local,
        1,
        V2_SERVER_HEADER,
        &payload,
        V2_SERVER_PACKET,
    );
    check_open(
        &client.remote,
        1,
        V2_SERVER_HEADER,
        &payload,
        V2_SERVER_PACKET,
    );
}

// RFC 9001 §A.5 (test): ChaCha20-Poly1305 with the short header's five
// masked bits, in both directions.
#[test]
fn chacha20_short_header_matches_the_rfc_both_ways() {
    let plain = hex(CHACHA_PLAIN);
    let header = "4200bff4";
    for (version, expected) in [
        (Version::V1, V1_CHACHA_PACKET),
        (Version::V2, V2_CHACHA_PACKET),
    ] {
        let keys = chacha_keys(version);
        check_seal(&keys, CHACHA_PN, header, &plain[4..], expected);
        let mut packet = hex(expected);
        let opened = keys.open(&mut packet, 1, Some(CHACHA_PN - 1)).unwrap();
        assert_eq!(opened.pn, CHACHA_PN);
        assert_eq!(&packet[..opened.payload.end], &plain[..]);
    }
}

#[test]
fn a_parsed_initial_opens_through_partial_decode() {
    let server = Keys::initial(Version::V1, &dcid(), Side::Server);
    let mut datagram = BytesMut::from(&hex(V1_CLIENT_PACKET)[..]);
    let mut packet = PartialDecode::split_from(&mut datagram, DecodeOptions::default()).unwrap();
    let opened = server.remote.open_decoded(&mut packet, None).unwrap();
    assert_eq!(opened.pn, 2);
    let bits = packet.protected_bits(opened.first_byte).unwrap();
    assert_eq!(bits.pn_len, 4);
    assert!(bits.reserved_bits_are_zero());
}

fn retry_parts(retry: &str) -> (Vec<u8>, ConnectionId) {
    (hex(retry), ConnectionId::new(&dcid()).unwrap())
}

// RFC 9001 §A.4 (test): the Retry integrity tag over the pseudo-packet.
#[test]
fn retry_tag_matches_the_rfc() {
    for (version, retry) in [(Version::V1, V1_RETRY), (Version::V2, V2_RETRY)] {
        let (packet, odcid) = retry_parts(retry);
        let (covered, tag) = packet.split_at(packet.len() - RETRY_INTEGRITY_TAG_LEN);
        assert_eq!(retry_integrity_tag(version, &odcid, covered).unwrap(), tag);
        verify_retry_integrity(version, &odcid, &packet).unwrap();
    }
    assert_eq!(
        &hex(V1_RETRY)[hex(V1_RETRY).len() - 16..],
        &hex("04a265ba2eff4d829058fb3f0f2496ba")[..]
    );
}

// RFC 9001 §5.8 (test): a Retry with any bit flipped, a wrong ODCID or
// the other version's tag is rejected.
#[test]
fn a_tampered_retry_fails_verification() {
    let (packet, odcid) = retry_parts(V1_RETRY);
    for bit in 0..packet.len() * 8 {
        let mut tampered = packet.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            verify_retry_integrity(Version::V1, &odcid, &tampered),
            Err(CryptoError::RetryIntegrity)
        );
    }
    let other = ConnectionId::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert!(verify_retry_integrity(Version::V1, &other, &packet).is_err());
    assert!(verify_retry_integrity(Version::V2, &odcid, &packet).is_err());
    assert!(matches!(
        verify_retry_integrity(Version::V1, &odcid, &packet[..15]),
        Err(CryptoError::PacketTooShort { len: 15, .. })
    ));
}

#[test]
fn a_retry_with_a_long_token_still_verifies() {
    let odcid = ConnectionId::new(&dcid()).unwrap();
    let mut packet = hex(V1_RETRY);
    packet.truncate(packet.len() - RETRY_INTEGRITY_TAG_LEN);
    packet.resize(3000, 0xab);
    let tag = retry_integrity_tag(Version::V1, &odcid, &packet).unwrap();
    packet.extend_from_slice(&tag);
    verify_retry_integrity(Version::V1, &odcid, &packet).unwrap();
}

// RFC 9001 §5.4.2 (test): a packet too short to sample is a typed error
// and is left as it was.
#[test]
fn a_packet_too_short_to_sample_is_an_error_not_a_panic() {
    let server = Keys::initial(Version::V1, &dcid(), Side::Server);
    let full = hex(V1_SERVER_PACKET);
    for len in 0..full.len() {
        let mut packet = full[..len].to_vec();
        let result = server.remote.open(&mut packet, 18, None);
        if len < 18 + 4 + 16 {
            assert_eq!(result, Err(CryptoError::PacketTooShort { len, needed: 38 }));
            assert_eq!(packet, full[..len]);
        } else {
            assert!(result.is_err());
        }
    }
    let mut packet = full.clone();
    assert_eq!(
        server.remote.open(&mut packet, 0, None),
        Err(CryptoError::InvalidPnOffset(0))
    );
    assert_eq!(
        server.remote.open(&mut packet, usize::MAX, None),
        Err(CryptoError::PacketTooShort {
            len: full.len(),
            needed: usize::MAX
        })
    );
}

// RFC 9001 §5.4.2 (test): a sender whose packet is too short to sample
// gets a typed error before anything is encrypted.
#[test]
fn sealing_without_room_for_the_sample_changes_nothing() {
    let client = Keys::initial(Version::V1, &dcid(), Side::Client);
    // A 1-byte pn and a 2-byte payload: the tag ends 3 bytes short of the sample.
    let mut packet = plain_packet("40", &[0, 1, 2]);
    let before = packet.clone();
    assert_eq!(
        client.local.seal(0, &mut packet, 1),
        Err(CryptoError::PacketTooShort {
            len: 20,
            needed: 21
        })
    );
    assert_eq!(packet, before);
}

#[test]
fn a_retry_or_version_negotiation_packet_has_nothing_to_open() {
    let server = Keys::initial(Version::V1, &dcid(), Side::Server);
    let mut datagram = BytesMut::from(&hex(V1_RETRY)[..]);
    let mut packet = PartialDecode::split_from(&mut datagram, DecodeOptions::default()).unwrap();
    assert_eq!(
        server.remote.open_decoded(&mut packet, None),
        Err(CryptoError::NotProtected)
    );
}

#[test]
fn aes_gcm_limits_are_the_rfc_ones() {
    let keys = Keys::initial(Version::V1, &dcid(), Side::Client);
    // RFC 9001 §6.6 (test): AES-GCM's limits are 2^23 and 2^52 packets.
    assert_eq!(keys.local.packet.confidentiality_limit(), 1 << 23);
    assert_eq!(keys.local.packet.integrity_limit(), 1 << 52);
    assert_eq!(keys.local.packet.tag_len(), 16);
    assert_eq!(keys.local.header.sample_len(), 16);
}

#[test]
fn keys_are_send_and_sync_and_debug_shows_no_key_bytes() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Keys>();
    send_sync::<Secrets>();
    send_sync::<PacketKeyPair>();
    let keys = Keys::initial(Version::V1, &dcid(), Side::Client);
    assert_eq!(
        format!("{:?}", keys.local),
        "DirectionalKeys { header: HeaderKey { sample_len: 16, .. }, \
         packet: PacketKey { tag_len: 16, .. } }"
    );
}

/// A packet with a header of `header_len` bytes before the pn, pn in the
/// clear, then the payload and tag room.
fn build(long: bool, header_len: usize, pn: PacketNumber, payload: &[u8]) -> (Vec<u8>, usize) {
    let first = if long { 0xc0 } else { 0x40 } | pn.len_bits();
    let mut packet = vec![first];
    packet.resize(header_len.max(1), 0x5a);
    let pn_offset = packet.len();
    pn.encode(&mut packet);
    packet.extend_from_slice(payload);
    packet.extend_from_slice(&[0; 16]);
    (packet, pn_offset)
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(
        long: bool,
        header_len in 1_usize..40,
        pn in 0_u64..(1 << 62),
        behind in 0_u64..100_000,
        payload in proptest::collection::vec(any::<u8>(), 4..1300),
    ) {
        let client = Keys::initial(Version::V1, &dcid(), Side::Client);
        let server = Keys::initial(Version::V1, &dcid(), Side::Server);
        let largest = pn.checked_sub(behind.max(1));
        let truncated = PacketNumber::new(pn, largest);
        let (mut packet, pn_offset) = build(long, header_len, truncated, &payload);
        let plain = packet.clone();
        client.local.seal(pn, &mut packet, pn_offset).unwrap();
        prop_assert_ne!(&packet, &plain);
        let opened = server.remote.open(&mut packet, pn_offset, largest).unwrap();
        prop_assert_eq!(opened.pn, pn);
        prop_assert_eq!(opened.header_len, pn_offset + truncated.encoded_len());
        prop_assert_eq!(&packet[..opened.payload.end], &plain[..plain.len() - 16]);
    }

    #[test]
    fn a_flipped_bit_anywhere_makes_open_fail(
        long: bool,
        pn in 0_u64..1000,
        payload in proptest::collection::vec(any::<u8>(), 4..200),
        bit: prop::sample::Index,
    ) {
        let client = Keys::initial(Version::V1, &dcid(), Side::Client);
        let server = Keys::initial(Version::V1, &dcid(), Side::Server);
        let (mut packet, pn_offset) = build(long, 9, PacketNumber::new(pn, None), &payload);
        client.local.seal(pn, &mut packet, pn_offset).unwrap();
        let bit = bit.index(packet.len() * 8);
        packet[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(server.remote.open(&mut packet, pn_offset, None).is_err());
    }

    #[test]
    fn open_never_panics_on_arbitrary_bytes(
        mut packet in proptest::collection::vec(any::<u8>(), 0..100),
        pn_offset in 0_usize..120,
        largest in proptest::option::of(any::<u64>()),
    ) {
        let server = Keys::initial(Version::V1, &dcid(), Side::Server);
        prop_assert!(server.remote.open(&mut packet, pn_offset, largest).is_err());
    }
}

/// RFC 9001 §A.1: the client's and the server's Initial key, IV and header
/// protection key for the DCID of the vectors.
const INITIAL_KEY_MATERIAL: [&str; 6] = [
    "1f369613dd76d5467730efcbe3b1a22d",
    "fa044b2f42a3fd3b46fb255c",
    "9f50449e04a0e810283a1e9933adedd2",
    "cf3a5331653c364c88f0f379b6067e37",
    "0ac1493ca1905853b0bba03e",
    "c206b8d9b9f0f37644430b490eeaa314",
];

#[test]
fn key_debug_output_shows_no_key_bytes() {
    let keys = Keys::initial(Version::V1, &dcid(), Side::Client);
    let text = format!(
        "{keys:?} {keys:#?} {:?} {:?} {:?}",
        keys.local, keys.local.packet, keys.remote.header
    );
    for material in INITIAL_KEY_MATERIAL {
        assert_hides(&text, &hex(material));
    }
}
