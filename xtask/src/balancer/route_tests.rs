//! Routing decisions: short and long headers, the fallback's consistency,
//! and the 4-tuple control mode.

use std::{collections::BTreeSet, net::SocketAddr};

use proptest::prelude::*;

use super::*;
use crate::balancer::decode::{LbConfig, parse_hex};

/// The encrypted test vector of the draft's Appendix B with a 3-octet
/// server ID: config 0, server ID ed793a, 8-octet CID.
const KEYED_CID: &str = "0720b1d07b359d3c";
const KEY: &str = "8f95f09245765f80256934e50c66207f";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bytes(text: &str) -> Vec<u8> {
    parse_hex(text).expect("test hex")
}

/// Three backends on ports 1001..=1003; server ID ed793a is the second,
/// 000001 the first and 000003 the third.
fn router(mode: Mode) -> Router {
    let key = <[u8; 16]>::try_from(bytes(KEY).as_slice()).expect("key");
    let mut config = LbConfig::new(0, 3, 4, Some(key)).expect("config");
    config.add_server(&[0, 0, 1], addr(1001)).expect("sid");
    config
        .add_server(&bytes("ed793a"), addr(1002))
        .expect("sid");
    config.add_server(&[0, 0, 3], addr(1003)).expect("sid");
    let mut decoder = Decoder::default();
    decoder.insert(config);
    Router::new(
        decoder,
        vec![addr(1001), addr(1002), addr(1003)],
        8,
        mode,
        7,
    )
    .expect("router")
}

/// A long header packet (an Initial of QUIC v1) to `dcid` from `scid`.
fn long_header(dcid: &[u8], scid: &[u8]) -> Vec<u8> {
    let mut packet = vec![0xc0, 0, 0, 0, 1];
    packet.push(u8::try_from(dcid.len()).expect("short"));
    packet.extend_from_slice(dcid);
    packet.push(u8::try_from(scid.len()).expect("short"));
    packet.extend_from_slice(scid);
    packet.extend_from_slice(&[0u8; 40]);
    packet
}

/// A short header packet to `dcid`.
fn short_header(dcid: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x40];
    packet.extend_from_slice(dcid);
    packet.extend_from_slice(&[0xaa; 30]);
    packet
}

#[test]
fn a_routable_cid_routes_short_and_long_headers_to_its_server() {
    let router = router(Mode::Cid);
    let cid = bytes(KEYED_CID);
    for packet in [short_header(&cid), long_header(&cid, &[1, 2, 3, 4])] {
        let decision = router.route(&packet, addr(5000)).expect("routed");
        assert_eq!(decision.backend, 1);
        let How::Cid(sid) = decision.how else {
            panic!("not routed by CID: {decision:?}");
        };
        assert_eq!(sid.as_slice(), bytes("ed793a").as_slice());
    }
}

#[test]
fn a_short_header_cid_has_its_configurations_length() {
    let router = router(Mode::Cid);
    // Config 0 CIDs are 8 octets: the header reads exactly those.
    let packet = short_header(&bytes(KEYED_CID));
    let header = router.header(&packet).expect("header");
    assert!(!header.long);
    assert_eq!(header.dcid, bytes(KEYED_CID).as_slice());
    // An unknown config (0b010) takes the default length, 8 here too;
    // a packet shorter than that is cut short.
    assert_eq!(router.header(&[0x40, 0x40, 1, 2]), Err(Discard::Truncated));
    assert_eq!(router.header(&[]), Err(Discard::Empty));
    assert_eq!(router.header(&[0xc0, 0, 0, 0]), Err(Discard::Truncated));
    assert_eq!(
        router.header(&[0xc0, 0, 0, 0, 1, 9, 1, 2]),
        Err(Discard::Truncated)
    );
}

#[test]
fn unroutable_initials_follow_their_dcid_wherever_they_come_from() {
    let router = router(Mode::Cid);
    let mut backends = BTreeSet::new();
    for i in 0..64u8 {
        // A client's random Initial DCID: config bits 0b101, unconfigured.
        let dcid = [0xa0 | (i & 0x1f), i, 0x5a, i.wrapping_mul(7), 1, 2, 3, 4];
        let first = router
            .route(&long_header(&dcid, &[9; 8]), addr(5000))
            .expect("routed");
        assert_eq!(first.how, How::Fallback(Unroutable::UnknownConfig));
        // The same DCID again, from a new address and with another SCID
        // (a retransmission after a NAT rebinding): same backend.
        let again = router
            .route(&long_header(&dcid, &[8; 4]), addr(6000 + u16::from(i)))
            .expect("routed");
        assert_eq!(again.backend, first.backend);
        backends.insert(first.backend);
    }
    // One client address, many DCIDs: every backend gets some.
    assert_eq!(backends.len(), 3);
}

#[test]
fn each_unroutable_reason_falls_back() {
    let router = router(Mode::Cid);
    let cases = [
        ("e7c4605e4504cc4f", Unroutable::ReservedConfig),
        ("47c4605e4504cc4f", Unroutable::UnknownConfig),
        ("07c4605e4504cc", Unroutable::TooShort),
        // Decrypts, but to a server ID nobody has.
        ("07c4605e4504cc4f", Unroutable::UnknownServer),
    ];
    for (dcid, why) in cases {
        let decision = router
            .route(&long_header(&bytes(dcid), &[]), addr(5000))
            .expect("routed");
        assert_eq!(decision.how, How::Fallback(why), "{dcid}");
    }
    // An empty DCID falls back on the client's address.
    let a = router.route(&long_header(&[], &[1]), addr(5000));
    let b = router.route(&long_header(&[], &[2]), addr(5000));
    assert_eq!(a, b);
    assert_eq!(a.map(|d| d.how), Ok(How::Fallback(Unroutable::Empty)));
}

#[test]
fn the_4tuple_mode_ignores_the_cid() {
    let router = router(Mode::FourTuple);
    let cid = bytes(KEYED_CID);
    let mut backends = BTreeSet::new();
    for port in 5000..5064 {
        let client = addr(port);
        let by_cid = router.route(&short_header(&cid), client).expect("routed");
        let other = router
            .route(&long_header(&[1, 2, 3, 4, 5, 6, 7, 8], &[]), client)
            .expect("routed");
        assert_eq!(by_cid.how, How::FourTuple);
        // The CID names backend 1; the address alone decides.
        assert_eq!(by_cid.backend, other.backend);
        backends.insert(by_cid.backend);
    }
    // Another address may land elsewhere: a rebinding moves the flow.
    assert_eq!(backends.len(), 3);
    assert_eq!(router.route(&[], addr(5000)), Err(Discard::Empty));
}

#[test]
fn a_server_id_mapped_to_an_address_without_backend_is_dropped() {
    let key = <[u8; 16]>::try_from(bytes(KEY).as_slice()).expect("key");
    let mut config = LbConfig::new(0, 3, 4, Some(key)).expect("config");
    config
        .add_server(&bytes("ed793a"), addr(9999))
        .expect("sid");
    let mut decoder = Decoder::default();
    decoder.insert(config);
    let router = Router::new(decoder, vec![addr(1001)], 8, Mode::Cid, 0).expect("router");
    assert_eq!(
        router.route(&short_header(&bytes(KEYED_CID)), addr(5000)),
        Err(Discard::NoBackend)
    );
    assert!(Router::new(Decoder::default(), Vec::new(), 8, Mode::Cid, 0).is_err());
}

proptest! {
    #[test]
    fn any_datagram_is_routed_or_dropped_without_panicking(
        datagram in proptest::collection::vec(any::<u8>(), 0..64),
        port in any::<u16>(),
        four_tuple in any::<bool>(),
    ) {
        let router = router(if four_tuple { Mode::FourTuple } else { Mode::Cid });
        if let Ok(decision) = router.route(&datagram, addr(port)) {
            prop_assert!(decision.backend < router.backends().len());
        }
    }
}
