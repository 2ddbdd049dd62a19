//! Unit tests of the proxy's pieces: header walker, impairments, link
//! model, amplification check and pcap encoding.

use std::{net::SocketAddr, time::Duration};

use super::{
    Blackout, Impairment,
    amplification::AmplificationCheck,
    impair::{Fate, Impairer, Link, in_blackout},
    pcap::ip_packet,
    quic::{Datagram, LongType, VERSION_1, VERSION_2, hex},
    retry::RetryCheck,
};

/// A two-byte varint (RFC 9000 §16).
fn varint2(v: u16) -> [u8; 2] {
    (0x4000 | v).to_be_bytes()
}

/// A long-header packet: `type_bits` in bits 4-5, a token if Initial-shaped.
fn long_packet(
    type_bits: u8,
    version: u32,
    dcid: &[u8],
    scid: &[u8],
    token: Option<&[u8]>,
    payload: usize,
) -> Vec<u8> {
    let mut p = vec![0xc0 | (type_bits << 4)];
    p.extend_from_slice(&version.to_be_bytes());
    p.push(u8::try_from(dcid.len()).unwrap());
    p.extend_from_slice(dcid);
    p.push(u8::try_from(scid.len()).unwrap());
    p.extend_from_slice(scid);
    if let Some(token) = token {
        p.extend_from_slice(&varint2(u16::try_from(token.len()).unwrap()));
        p.extend_from_slice(token);
    }
    p.extend_from_slice(&varint2(u16::try_from(payload).unwrap()));
    p.extend(std::iter::repeat_n(0xaa, payload));
    p
}

fn initial_v1(scid: &[u8], payload: usize) -> Vec<u8> {
    long_packet(
        0b00,
        VERSION_1,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        scid,
        Some(&[9, 9]),
        payload,
    )
}

fn handshake_v1(scid: &[u8], payload: usize) -> Vec<u8> {
    long_packet(0b10, VERSION_1, &[1, 2, 3, 4], scid, None, payload)
}

#[test]
fn walker_finds_coalesced_initial_and_handshake() {
    let mut datagram = initial_v1(&[0xab, 0xcd], 40);
    datagram.extend(handshake_v1(&[0xab, 0xcd], 30));
    datagram.extend_from_slice(&[0x40, 1, 2, 3, 4, 5]); // a short header packet
    let parsed = Datagram::parse(&datagram);
    assert_eq!(parsed.packets.len(), 2);
    assert!(parsed.holds(LongType::Initial));
    assert!(parsed.holds(LongType::Handshake));
    assert!(!parsed.holds(LongType::ZeroRtt));
    assert_eq!(hex(&parsed.packets[0].scid), "abcd");
    assert_eq!(parsed.packets[0].dcid, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(parsed.packets[1].version, VERSION_1);
}

#[test]
fn walker_knows_the_version_2_type_bits() {
    let mut datagram = long_packet(0b01, VERSION_2, &[1], &[2], Some(&[]), 20);
    datagram.extend(long_packet(0b11, VERSION_2, &[1], &[2], None, 20));
    let parsed = Datagram::parse(&datagram);
    assert_eq!(
        parsed.packets.iter().map(|p| p.ty).collect::<Vec<_>>(),
        [Some(LongType::Initial), Some(LongType::Handshake)]
    );
    let retry = long_packet(0b00, VERSION_2, &[1], &[2], None, 20);
    assert!(Datagram::parse(&retry).holds(LongType::Retry));
    let retry_v1 = long_packet(0b11, VERSION_1, &[1], &[2], None, 20);
    assert!(Datagram::parse(&retry_v1).holds(LongType::Retry));
}

/// RFC 9001 §A.4: the server's Retry, integrity tag included.
const RFC9001_RETRY: &str =
    "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// RFC 9000 §17.2.5 (test): the Retry Token is what lies between the
// Source Connection ID and the 16-byte integrity tag.
#[test]
fn walker_reads_the_token_of_the_rfc_9001_retry() {
    let parsed = Datagram::parse(&unhex(RFC9001_RETRY));
    assert_eq!(parsed.packets.len(), 1);
    let retry = &parsed.packets[0];
    assert_eq!(retry.ty, Some(LongType::Retry));
    assert_eq!(retry.version, VERSION_1);
    assert!(retry.dcid.is_empty());
    assert_eq!(hex(&retry.scid), "f067a5502a4262b5");
    assert_eq!(retry.token, b"token");
}

#[test]
fn a_retry_too_short_for_its_tag_has_an_empty_token() {
    let mut short = unhex(RFC9001_RETRY);
    short.truncate(short.len() - 17);
    let parsed = Datagram::parse(&short);
    assert!(parsed.holds(LongType::Retry));
    assert!(parsed.packets[0].token.is_empty());
}

// RFC 9000 §17.2.2 (test): an Initial's token follows its varint length;
// the packets coalesced behind it still parse.
#[test]
fn walker_reads_the_token_of_an_initial() {
    let mut datagram = long_packet(0b00, VERSION_1, &[7; 8], &[1], Some(b"token"), 30);
    datagram.extend(handshake_v1(&[1], 20));
    let parsed = Datagram::parse(&datagram);
    assert_eq!(parsed.packets[0].token, b"token");
    assert!(parsed.packets[1].token.is_empty());
    assert!(parsed.holds(LongType::Handshake));
    let empty = long_packet(0b00, VERSION_1, &[7; 8], &[1], Some(&[]), 30);
    assert!(Datagram::parse(&empty).packets[0].token.is_empty());
    // A token length past the end: the Initial counts, without a token.
    let mut cut = long_packet(0b00, VERSION_1, &[7; 8], &[1], Some(b"token"), 30);
    cut.truncate(18);
    let parsed = Datagram::parse(&cut);
    assert!(parsed.holds(LongType::Initial));
    assert!(parsed.packets[0].token.is_empty());
}

// RFC 9000 §8.1.2, §7.2 (test): the client's next Initial carries the
// Retry's token and goes to the Retry's Source Connection ID.
#[test]
fn the_retry_check_matches_the_clients_token_to_the_retry() {
    let retry = Datagram::parse(&unhex(RFC9001_RETRY)).packets.remove(0);
    let scid = retry.scid.clone();
    let initial = |dcid: &[u8], token: &[u8]| {
        Datagram::parse(&long_packet(0b00, VERSION_1, dcid, &[1], Some(token), 30))
            .packets
            .remove(0)
    };
    let mut check = RetryCheck::default();
    // Before any Retry, nothing counts, not even the same token.
    check.client_packet(&initial(&[9; 8], b"token"));
    assert_eq!(check.report().initials_with_retry_token, 0);
    check.server_packet(&retry);
    check.client_packet(&initial(&[9; 8], b""));
    check.client_packet(&initial(&[9; 8], b"other"));
    check.client_packet(&initial(&[9; 8], b"token"));
    check.client_packet(&initial(&scid, b"token"));
    let report = check.report();
    assert_eq!(report.retries, 1);
    assert_eq!(report.tokens, [hex(b"token")]);
    assert_eq!(report.initials_after_retry, 4);
    assert_eq!(report.initials_with_other_token, 1);
    assert_eq!(report.initials_with_retry_token, 2);
    assert_eq!(report.initials_with_retry_token_to_retry_scid, 1);
}

#[test]
fn walker_sees_version_negotiation() {
    let mut vn = vec![0x80, 0, 0, 0, 0, 1, 7, 1, 8];
    vn.extend_from_slice(&VERSION_1.to_be_bytes());
    let parsed = Datagram::parse(&vn);
    assert!(parsed.version_negotiation);
    assert!(parsed.packets.is_empty());
}

#[test]
fn walker_survives_every_truncation_of_a_coalesced_datagram() {
    let mut datagram = initial_v1(&[1, 2, 3], 50);
    datagram.extend(handshake_v1(&[1, 2, 3], 50));
    for end in 0..datagram.len() {
        let parsed = Datagram::parse(&datagram[..end]);
        assert!(parsed.packets.len() <= 2);
    }
    // Cut inside the Initial's payload: the header still counts.
    assert!(Datagram::parse(&datagram[..30]).holds(LongType::Initial));
    assert!(!Datagram::parse(&datagram[..30]).holds(LongType::Handshake));
}

#[test]
fn walker_survives_garbage_and_bit_flips() {
    let base = {
        let mut d = initial_v1(&[1, 2, 3], 60);
        d.extend(handshake_v1(&[4], 20));
        d
    };
    // Every single-bit corruption of a valid datagram.
    for i in 0..base.len() * 8 {
        let mut d = base.clone();
        d[i / 8] ^= 1 << (i % 8);
        let _ = Datagram::parse(&d);
    }
    // Pseudo-random garbage with the long-header bit set.
    let mut x: u64 = 0x1234_5678;
    for len in 0..300 {
        let d: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_be_bytes()[0] | 0x80
            })
            .collect();
        let _ = Datagram::parse(&d);
    }
    // Huge lengths that must not overflow.
    let huge = [
        0xc0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert!(Datagram::parse(&huge).holds(LongType::Initial));
    assert_eq!(Datagram::parse(&[]), Datagram::default());
}

#[test]
fn loss_keeps_its_rate_and_never_exceeds_the_burst_cap() {
    let config = Impairment {
        loss_percent: 30.0,
        loss_burst: 2,
        ..Impairment::default()
    };
    let mut impairer = Impairer::new(config, 7);
    let (mut lost, mut run, mut longest) = (0u32, 0u32, 0u32);
    for _ in 0..10_000 {
        let mut data = [0u8; 10];
        if impairer.decide(&mut data) == Fate::DroppedLoss {
            lost += 1;
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    // The cap removes a few percent of the losses (runs of three or more).
    assert!((2_600..=3_000).contains(&lost), "lost {lost} of 10000");
    assert_eq!(longest, 2);
}

#[test]
fn loss_decisions_repeat_for_a_seed() {
    let config = Impairment {
        loss_percent: 50.0,
        corrupt_percent: 10.0,
        ..Impairment::default()
    };
    let fates = |seed| {
        let mut i = Impairer::new(config.clone(), seed);
        (0..200)
            .map(|_| i.decide(&mut [0u8; 4]))
            .collect::<Vec<_>>()
    };
    assert_eq!(fates(3), fates(3));
    assert_ne!(fates(3), fates(4));
}

#[test]
fn droplist_drops_exactly_the_listed_datagrams() {
    let config = Impairment {
        drop_list: vec![1, 3, 7],
        ..Impairment::default()
    };
    let mut impairer = Impairer::new(config, 0);
    let dropped: Vec<u64> = (1..=10)
        .filter(|_| impairer.decide(&mut [0u8; 8]) == Fate::DroppedList)
        .collect();
    assert_eq!(dropped, [1, 3, 7]);
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let config = Impairment {
        corrupt_percent: 100.0,
        corrupt_burst: 3,
        ..Impairment::default()
    };
    let mut impairer = Impairer::new(config, 1);
    let mut corrupted = 0;
    for _ in 0..100 {
        let mut data = [0u8; 32];
        if impairer.decide(&mut data) == (Fate::Pass { corrupted: true }) {
            corrupted += 1;
            assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        } else {
            assert_eq!(data, [0u8; 32]);
        }
    }
    // Every fourth datagram breaks the run of three.
    assert_eq!(corrupted, 75);
    // Nothing to flip in an empty datagram.
    assert_eq!(impairer.decide(&mut []), Fate::Pass { corrupted: false });
}

#[test]
fn link_serializes_at_its_rate_and_drops_when_the_queue_is_full() {
    let t0 = super::now();
    let delay = Duration::from_millis(10);
    // 1 Mbit/s: 1250 bytes take 10 ms.
    let mut link = Link::new(1_000_000, 2, delay);
    assert_eq!(link.admit(t0, 1250), Some(t0 + Duration::from_millis(20)));
    assert_eq!(link.admit(t0, 1250), Some(t0 + Duration::from_millis(30)));
    assert_eq!(link.admit(t0, 1250), Some(t0 + Duration::from_millis(40)));
    assert_eq!(link.admit(t0, 1250), None, "one on the wire, two queued");
    let later = t0 + Duration::from_millis(10);
    assert_eq!(
        link.admit(later, 1250),
        Some(t0 + Duration::from_millis(50))
    );
    let idle = t0 + Duration::from_secs(1);
    assert_eq!(
        link.admit(idle, 1250),
        Some(idle + Duration::from_millis(20))
    );
    let mut unlimited = Link::new(0, 0, delay);
    for _ in 0..100 {
        assert_eq!(unlimited.admit(t0, 1500), Some(t0 + delay));
    }
}

#[test]
fn blackout_alternates_up_and_down() {
    let b = Some(Blackout {
        on: Duration::from_millis(100),
        off: Duration::from_millis(50),
    });
    let down = |ms| in_blackout(b, Duration::from_millis(ms));
    assert!(!down(0) && !down(99) && down(100) && down(149) && !down(150) && down(260));
    assert!(!in_blackout(None, Duration::from_millis(120)));
}

// RFC 9000 §8.1 (test): three times what was received is allowed, four is a violation.
#[test]
fn amplification_passes_within_the_limit() {
    let mut check = AmplificationCheck::default();
    check.client_datagram(1200, true, false);
    check.server_datagram(1200);
    check.server_datagram(1200);
    check.server_datagram(1200);
    check.client_datagram(1200, true, true);
    check.server_datagram(100_000); // after validation: not checked
    let report = check.report();
    assert_eq!(report.verdict, Some(true));
    assert_eq!(report.server_bytes, 3600);
    assert_eq!(report.client_bytes, 2400);
}

#[test]
fn amplification_logs_the_tolerance_band() {
    let mut check = AmplificationCheck::default();
    check.client_datagram(1000, true, false);
    check.server_datagram(3500); // above 3x, below 4x
    check.client_datagram(1000, false, true);
    let report = check.report();
    assert_eq!(report.verdict, Some(true));
    assert!(
        report
            .log
            .iter()
            .any(|l| l.contains("within 3-4x tolerance"))
    );
}

#[test]
fn amplification_violation_is_reported() {
    let mut check = AmplificationCheck::default();
    check.client_datagram(1200, true, false);
    check.server_datagram(1200);
    check.server_datagram(1200);
    check.server_datagram(1200);
    check.server_datagram(1200); // 4800 of a 4800 tolerance
    check.client_datagram(1200, false, true);
    let report = check.report();
    assert_eq!(report.verdict, Some(false));
    assert!(report.log.iter().any(|l| l.contains("violated")));
}

#[test]
fn amplification_without_handshake_has_no_verdict() {
    let mut check = AmplificationCheck::default();
    check.client_datagram(1200, true, false);
    check.server_datagram(1200);
    check.client_datagram(300, false, false); // neither Initial nor Handshake
    assert_eq!(check.report().verdict, None);
}

/// Verifies an Internet checksum by summing with the checksum in place.
fn sums_to_zero(parts: &[&[u8]]) -> bool {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            sum += hi | pair.get(1).map_or(0, |&b| u32::from(b));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn pcap_ipv4_headers_carry_ecn_and_valid_checksums() {
    let src: SocketAddr = "127.0.0.2:5000".parse().unwrap();
    let dst: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let payload = [1, 2, 3, 4, 5];
    let p = ip_packet(src, dst, 0b10, &payload).unwrap();
    assert_eq!(p.len(), 20 + 8 + 5);
    assert_eq!(p[0], 0x45);
    assert_eq!(p[1], 0b10, "ECT(0) in the TOS byte");
    assert_eq!(&p[12..16], &[127, 0, 0, 2]);
    assert!(sums_to_zero(&[&p[..20]]), "IPv4 header checksum");
    let mut pseudo = p[12..20].to_vec();
    pseudo.extend_from_slice(&[0, 17, 0, 13]);
    assert!(sums_to_zero(&[&pseudo, &p[20..]]), "UDP checksum");
    assert_eq!(&p[20..22], &5000u16.to_be_bytes());
}

#[test]
fn pcap_ipv6_headers_carry_ecn_and_valid_checksums() {
    let src: SocketAddr = "[::1]:5000".parse().unwrap();
    let dst: SocketAddr = "[::1]:4433".parse().unwrap();
    let payload = [9u8; 7];
    let p = ip_packet(src, dst, 0b11, &payload).unwrap();
    assert_eq!(p.len(), 40 + 8 + 7);
    assert_eq!(p[0] >> 4, 6);
    let traffic_class = ((p[0] & 0x0f) << 4) | (p[1] >> 4);
    assert_eq!(traffic_class, 0b11, "CE in the traffic class");
    let mut pseudo = p[8..40].to_vec();
    pseudo.extend_from_slice(&[0, 0, 0, 15, 0, 0, 0, 17]);
    assert!(sums_to_zero(&[&pseudo, &p[40..]]), "UDP checksum");
    assert!(ip_packet(src, "127.0.0.1:1".parse().unwrap(), 0, &payload).is_none());
}
