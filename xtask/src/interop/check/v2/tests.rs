use std::collections::BTreeSet;

use super::*;
use crate::interop::{
    check::fixture::{CLIENT, SERVER, addr, from_client, from_server},
    tshark::ZERO_RTT,
};

fn long(ty: u8, version: u32) -> Packet {
    Packet {
        long_type: Some(ty),
        version: Some(version),
        ..Packet::default()
    }
}

fn datagram(src: &str, dst: &str, packets: Vec<Packet>) -> Datagram {
    Datagram {
        src: addr(src),
        dst: addr(dst),
        packets,
    }
}

/// A handshake as compatible negotiation leaves it in the client's
/// capture: the client's Initial on v1, the server's Initial and
/// Handshake coalesced on v2, the client's Initial ACK and Handshake on
/// v2, then a short header.
fn negotiated_capture() -> Vec<Datagram> {
    vec![
        datagram(CLIENT, SERVER, vec![long(INITIAL, QUIC_V1)]),
        datagram(
            SERVER,
            CLIENT,
            vec![long(INITIAL, QUIC_V2), long(HANDSHAKE, QUIC_V2)],
        ),
        datagram(
            CLIENT,
            SERVER,
            vec![long(INITIAL, QUIC_V2), long(HANDSHAKE, QUIC_V2)],
        ),
        datagram(SERVER, CLIENT, vec![long(HANDSHAKE, QUIC_V2)]),
        datagram(CLIENT, SERVER, vec![Packet::default()]),
    ]
}

// RFC 9368 §2.2 (test): started on v1, the handshake on v2 both ways
// passes.
#[test]
fn a_v1_start_and_v2_handshakes_pass() {
    let found = negotiated(&negotiated_capture(), &from_client, &from_server).unwrap();
    assert!(found.contains("first Initial carried v1"), "{found}");
    assert!(
        found.contains("the server's 2 Handshake packet(s) v2"),
        "{found}"
    );
    assert!(
        found.contains("the client's 1 Handshake packet(s) v2"),
        "{found}"
    );
}

/// A client that starts on v2 (`tern get --quic-version v2`) negotiated
/// nothing: its first Initial is not v1, though every later packet is v2.
#[test]
fn a_client_that_starts_on_v2_fails() {
    let mut capture = negotiated_capture();
    capture[0].packets[0].version = Some(QUIC_V2);
    let error = negotiated(&capture, &from_client, &from_server).unwrap_err();
    assert!(
        error.contains("the client's first Initial is not v1: it carried 0x6b3343cf"),
        "{error}"
    );
    // Only the first Initial counts: v1 in a later one is no start on v1.
    capture[2].packets[0].version = Some(QUIC_V1);
    assert!(negotiated(&capture, &from_client, &from_server).is_err());
}

/// A server that kept the connection on v1, and handshakes of mixed
/// versions, fail; so does a side with no Handshake packet at all.
#[test]
fn handshakes_on_v1_or_mixed_or_missing_fail() {
    let mut capture = negotiated_capture();
    capture[3].packets[0].version = Some(QUIC_V1);
    let error = negotiated(&capture, &from_client, &from_server).unwrap_err();
    assert!(
        error.contains("the server's Handshake packets carried 0x00000001 and 0x6b3343cf"),
        "{error}"
    );
    let mut capture = negotiated_capture();
    capture[2].packets[1].version = None;
    let error = negotiated(&capture, &from_client, &from_server).unwrap_err();
    assert!(error.contains("the client's Handshake packets"), "{error}");
    let capture: Vec<Datagram> = negotiated_capture()
        .into_iter()
        .filter(|d| !from_server(d))
        .collect();
    let error = negotiated(&capture, &from_client, &from_server).unwrap_err();
    assert_eq!(error, "the server sent no Handshake packet");
    let error = negotiated(&[], &from_client, &from_server).unwrap_err();
    assert_eq!(error, "the client sent no Initial packet");
}

/// Packets of other types do not count as Initials or Handshakes.
#[test]
fn only_initial_and_handshake_packets_count() {
    let mut capture = negotiated_capture();
    capture.insert(0, datagram(CLIENT, SERVER, vec![long(ZERO_RTT, QUIC_V2)]));
    assert!(negotiated(&capture, &from_client, &from_server).is_ok());
}

// RFC 9368 §2.2 (test): the server's Initials carry v2, perhaps after v1,
// and no other version.
#[test]
fn the_servers_initials_must_carry_v2() {
    assert!(server_initial_versions(&BTreeSet::from([QUIC_V2])).is_ok());
    assert!(server_initial_versions(&BTreeSet::from([QUIC_V1, QUIC_V2])).is_ok());
    let error = server_initial_versions(&BTreeSet::from([QUIC_V1])).unwrap_err();
    assert!(error.ends_with("saw 0x00000001"), "{error}");
    assert!(server_initial_versions(&BTreeSet::new()).is_err());
    assert!(server_initial_versions(&BTreeSet::from([QUIC_V2, 0xff00_001d])).is_err());
}

/// The case serves the runner's 1 KiB file, one handshake, and reads the
/// versions from the decrypted capture, failing without it.
#[test]
fn the_v2_case_reads_the_decrypted_captures() {
    use crate::interop::{
        cases::{self, Check},
        check::needs_decoding,
    };
    let all = cases::all();
    let case = all.iter().find(|c| c.name == "v2").unwrap();
    assert_eq!(case.endpoint_case, "v2");
    assert_eq!(case.server_endpoint_case, None);
    assert_eq!((case.files, case.handshakes), (&[(1, 1 << 10)][..], 1));
    assert_eq!(case.checks, [Check::V2Negotiated]);
    assert!(needs_decoding(Check::V2Negotiated));
}
