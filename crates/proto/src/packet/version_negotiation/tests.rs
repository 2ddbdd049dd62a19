use super::*;
use crate::{QUIC_V1, QUIC_V2};

// RFC 9000 §17.2.1 (test): the answer swaps the client's connection IDs,
// carries version 0, and sets 0x40 as the RFC asks.
#[test]
fn the_answer_to_a_long_cid_client_echoes_its_ids_swapped() {
    let mut client = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 30];
    client.extend_from_slice(&[0xdd; 30]);
    client.push(3);
    client.extend_from_slice(&[0x55; 3]);
    let received = InvariantHeader::parse(&client, 8).unwrap();
    let versions = [QUIC_V1, QUIC_V2];
    let vn = VersionNegotiationPacket::answering(&received, &versions, 0xff).unwrap();
    let mut out = Vec::new();
    vn.encode(&mut out);
    let mut expected = vec![0xff, 0, 0, 0, 0, 3, 0x55, 0x55, 0x55, 30];
    expected.extend_from_slice(&[0xdd; 30]);
    expected.extend_from_slice(&[0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf]);
    assert_eq!(out, expected);
    assert_eq!(out.len(), vn.encoded_len());

    let vn = VersionNegotiationPacket::answering(&received, &versions, 0).unwrap();
    let mut out = Vec::new();
    vn.encode(&mut out);
    assert_eq!(out[0], 0xc0);
}

#[test]
fn a_short_header_is_never_answered() {
    let short = [0x40, 1, 2, 3];
    let received = InvariantHeader::parse(&short, 2).unwrap();
    assert!(!received.is_long_header());
    assert_eq!(
        VersionNegotiationPacket::answering(&received, &[QUIC_V1], 0),
        None
    );
}

#[test]
fn connection_ids_over_255_bytes_are_refused() {
    let long = [0; 256];
    assert_eq!(
        VersionNegotiationPacket::new(&long, &[], &[QUIC_V1], 0),
        Err(InvariantCidTooLong(256))
    );
    assert!(VersionNegotiationPacket::new(&long[..255], &long[..255], &[], 0).is_ok());
}

#[test]
fn encoding_into_a_short_slice_writes_nothing() {
    let vn = VersionNegotiationPacket::new(&[1], &[2], &[QUIC_V1], 0).unwrap();
    let mut out = [0xee; 12];
    assert_eq!(
        vn.encode_to_slice(&mut out),
        Err(BufferTooShort {
            needed: 13,
            available: 12
        })
    );
    assert_eq!(out, [0xee; 12]);
}

#[test]
fn supported_versions_know_their_count_and_skip_a_partial_tail() {
    let list = [0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf, 9];
    let versions = SupportedVersions::new(&list);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions.collect::<Vec<_>>(), [QUIC_V1, QUIC_V2]);
}
