use bytes::BytesMut;

use super::*;
use crate::{
    QUIC_V1, QUIC_V2,
    packet::{HeaderField, InvariantHeader, PacketNumber, tests::hex},
};

fn options() -> DecodeOptions {
    DecodeOptions::new(8).unwrap()
}

fn datagram(hex_text: &str) -> BytesMut {
    BytesMut::from(&hex(hex_text)[..])
}

/// A datagram holding `header` followed by zeros up to `total` bytes.
fn padded(header: &str, total: usize) -> BytesMut {
    let mut bytes = hex(header);
    bytes.resize(total, 0);
    BytesMut::from(&bytes[..])
}

// RFC 9001 §A.2 (test): the client Initial's unprotected header parses to
// its listed fields.
#[test]
fn rfc9001_client_initial_header_parses_field_by_field() {
    let mut dgram = padded("c300000001088394c8f03e5157080000449e00000002", 1200);
    let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
    assert!(dgram.is_empty());
    assert_eq!(packet.packet_type(), PacketType::Initial);
    assert_eq!(packet.first_byte(), 0xc3);
    assert_eq!(packet.version(), Some(QUIC_V1));
    assert_eq!(&packet.dcid()[..], hex("8394c8f03e515708"));
    assert_eq!(packet.scid(), Some(&ConnectionId::EMPTY));
    assert_eq!(packet.token(), Some(&[][..]));
    assert_eq!(packet.length(), Some(VarInt::from_u32(1182)));
    assert_eq!(packet.pn_offset(), Some(18));
    assert_eq!(packet.data().len(), 1200);
    assert_eq!(packet.encryption_level(), Some(EncryptionLevel::Initial));
    let protected = packet.protected_bits(0xc3).unwrap();
    assert_eq!(protected.pn_len, 4);
    assert!(protected.reserved_bits_are_zero());
    assert_eq!(protected.key_phase, None);
    let mut pn = &packet.data()[18..];
    let pn = PacketNumber::decode(protected.pn_len, &mut pn).unwrap();
    assert_eq!(pn.expand(None), 2);
}

// RFC 9001 §A.3 (test): the server Initial's header, with an SCID and a
// two-byte packet number.
#[test]
fn rfc9001_server_initial_header_parses_field_by_field() {
    let mut dgram = padded("c1000000010008f067a5502a4262b50040750001", 20 + 115);
    let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
    assert_eq!(packet.packet_type(), PacketType::Initial);
    assert!(packet.dcid().is_empty());
    assert_eq!(&packet.scid().unwrap()[..], hex("f067a5502a4262b5"));
    assert_eq!(packet.length(), Some(VarInt::from_u32(0x75)));
    assert_eq!(packet.pn_offset(), Some(18));
    assert_eq!(packet.protected_bits(0xc1).unwrap().pn_len, 2);
}

// RFC 9001 §A.4 (test): the Retry packet exposes its token and its tag.
#[test]
fn rfc9001_retry_exposes_token_and_integrity_tag() {
    let wire = "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";
    let mut dgram = datagram(wire);
    let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
    assert!(dgram.is_empty());
    assert_eq!(packet.packet_type(), PacketType::Retry);
    assert_eq!(packet.version(), Some(QUIC_V1));
    assert_eq!(packet.token(), Some(&b"token"[..]));
    assert_eq!(
        packet.retry_integrity_tag().unwrap()[..],
        hex("04a265ba2eff4d829058fb3f0f2496ba")
    );
    assert_eq!(
        packet.retry_tag_covered().unwrap(),
        hex("ff000000010008f067a5502a4262b5746f6b656e")
    );
    assert_eq!(packet.pn_offset(), None);
    assert_eq!(packet.length(), None);
    assert_eq!(packet.encryption_level(), None);
    assert_eq!(packet.protected_bits(0xff), None);
}

// RFC 9369 §3.2 (test): version 2 numbers the long header types differently;
// its Appendix A client Initial and Retry parse as Initial and Retry.
#[test]
fn rfc9369_version_2_type_bits_map_to_initial_and_retry() {
    let mut dgram = padded("d36b3343cf088394c8f03e5157080000449e00000002", 1200);
    let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
    assert_eq!(packet.packet_type(), PacketType::Initial);
    assert_eq!(packet.version(), Some(QUIC_V2));
    assert_eq!(packet.pn_offset(), Some(18));

    let wire = "cf6b3343cf0008f067a5502a4262b5746f6b656ec8646ce8bfe33952d955543665dcc7b6";
    let packet = PartialDecode::split_from(&mut datagram(wire), options()).unwrap();
    assert_eq!(packet.packet_type(), PacketType::Retry);
    assert_eq!(packet.token(), Some(&b"token"[..]));

    // The same bits mean Handshake in v2 and Retry in v1.
    for (version, bits, ty) in [
        (Version::V1, 0b00, LongType::Initial),
        (Version::V1, 0b01, LongType::ZeroRtt),
        (Version::V1, 0b10, LongType::Handshake),
        (Version::V1, 0b11, LongType::Retry),
        (Version::V2, 0b00, LongType::Retry),
        (Version::V2, 0b01, LongType::Initial),
        (Version::V2, 0b10, LongType::ZeroRtt),
        (Version::V2, 0b11, LongType::Handshake),
    ] {
        assert_eq!(LongType::from_bits(version, bits), ty);
        assert_eq!(ty.to_bits(version), bits);
    }
}

// RFC 9001 §A.5 (test): the ChaCha20 example's short header, empty DCID.
#[test]
fn rfc9001_short_header_parses_with_an_empty_dcid() {
    let mut dgram = datagram("4200bff4aabbcc");
    let options = DecodeOptions::new(0).unwrap();
    let packet = PartialDecode::split_from(&mut dgram, options).unwrap();
    assert_eq!(packet.packet_type(), PacketType::Short);
    assert_eq!(packet.version(), None);
    assert_eq!(packet.scid(), None);
    assert_eq!(packet.pn_offset(), Some(1));
    assert_eq!(packet.spin(), Some(false));
    let bits = packet.protected_bits(0x42).unwrap();
    assert_eq!((bits.pn_len, bits.key_phase), (3, Some(false)));
    assert_eq!(packet.encryption_level(), Some(EncryptionLevel::OneRtt));
}

#[test]
fn short_header_reads_local_cid_len_bytes_of_dcid() {
    let mut dgram = datagram("6401020304050607080900");
    let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
    assert_eq!(&packet.dcid()[..], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(packet.pn_offset(), Some(9));
    assert_eq!(packet.spin(), Some(true));
    let bits = packet.protected_bits(0x7c).unwrap();
    assert_eq!(bits.reserved, 0x18);
    assert_eq!(bits.key_phase, Some(true));
    assert!(!bits.reserved_bits_are_zero());
}

#[test]
fn short_header_with_nothing_after_the_dcid_is_truncated() {
    let mut dgram = datagram("400102030405060708");
    assert_eq!(
        PartialDecode::split_from(&mut dgram, options()).unwrap_err(),
        PacketDecodeError::Truncated(HeaderField::PacketNumber)
    );
    assert_eq!(dgram.len(), 9, "the datagram is untouched on error");
}

// RFC 9000 §17.2 (test): the fixed bit must be 1 in long and short headers.
#[test]
fn a_clear_fixed_bit_is_dropped_unless_greasing_was_negotiated() {
    let long = "8300000001088394c8f03e5157080000050000000200";
    let short = "0001020304050607080900";
    for wire in [long, short] {
        assert_eq!(
            PartialDecode::split_from(&mut datagram(wire), options()).unwrap_err(),
            PacketDecodeError::FixedBitClear
        );
        // RFC 9287 §3 (test): an endpoint that advertised grease_quic_bit accepts a 0.
        let greased = options().allow_greased_fixed_bit(true);
        assert!(PartialDecode::split_from(&mut datagram(wire), greased).is_ok());
    }
}

// RFC 9000 §17.2 (test): a version 1 long header with a connection ID over
// 20 bytes is dropped, for either ID; v2 keeps the rule.
#[test]
fn a_connection_id_over_twenty_bytes_is_dropped_in_v1_and_v2() {
    // The first bytes are Initial in each version.
    for (first, version) in [("c3", "00000001"), ("d3", "6b3343cf")] {
        let long_dcid = format!("{first}{version}15{}0000050000000200", "ab".repeat(21));
        let long_scid = format!("{first}{version}0015{}00050000000200", "ab".repeat(21));
        for wire in [long_dcid, long_scid] {
            assert_eq!(
                PartialDecode::split_from(&mut datagram(&wire), options()).unwrap_err(),
                PacketDecodeError::ConnectionIdTooLong { len: 21 }
            );
        }
        let twenty = format!("{first}{version}14{}0000050000000200", "ab".repeat(20));
        assert!(PartialDecode::split_from(&mut datagram(&twenty), options()).is_ok());
    }
}

// RFC 9000 §17.2 (test): Length must fit in the datagram and cover a packet number.
#[test]
fn a_length_beyond_the_datagram_or_of_zero_is_dropped() {
    // Handshake, Length 6 with only 5 bytes left.
    let mut dgram = datagram("e30000000100000600000000ff");
    assert_eq!(
        PartialDecode::split_from(&mut dgram, options()).unwrap_err(),
        PacketDecodeError::LengthBeyondDatagram {
            length: 6,
            available: 5
        }
    );
    assert_eq!(dgram.len(), 13);
    let mut dgram = datagram("e300000001000000");
    assert_eq!(
        PartialDecode::split_from(&mut dgram, options()).unwrap_err(),
        PacketDecodeError::LengthTooSmall
    );
    // Length 5 with 5 bytes left is exactly right.
    let packet = PartialDecode::split_from(&mut datagram("e30000000100000500000000ff"), options());
    assert_eq!(packet.unwrap().length(), Some(VarInt::from_u32(5)));
}

// RFC 9000 §12.2 (test): bytes beyond Length are the next coalesced packet.
#[test]
fn bytes_beyond_the_length_stay_in_the_datagram() {
    let (packet, rest) =
        PartialDecode::new(datagram("e300000001000002aabbccddee"), options()).unwrap();
    assert_eq!(packet.data(), hex("e300000001000002aabb"));
    assert_eq!(rest.as_deref(), Some(&hex("ccddee")[..]));
    let (_, rest) = PartialDecode::new(datagram("e300000001000002aabb"), options()).unwrap();
    assert_eq!(rest, None);
}

// RFC 9000 §17.2.1 (test): version 0 is Version Negotiation whatever the
// fixed bit and type bits say, and the rest of the packet is versions.
#[test]
fn version_negotiation_ignores_the_first_byte_and_lists_versions() {
    for first in ["80", "bf", "ff", "c0"] {
        let wire = format!("{first}0000000004a1a2a3a40401020304000000016b3343cf1a2a3a4a");
        let mut dgram = datagram(&wire);
        let packet = PartialDecode::split_from(&mut dgram, options()).unwrap();
        assert!(dgram.is_empty());
        assert_eq!(packet.packet_type(), PacketType::VersionNegotiation);
        assert_eq!(packet.version(), Some(0));
        assert_eq!(&packet.dcid()[..], hex("a1a2a3a4"));
        assert_eq!(&packet.scid().unwrap()[..], hex("01020304"));
        let versions: Vec<u32> = packet.supported_versions().unwrap().collect();
        assert_eq!(versions, [QUIC_V1, QUIC_V2, 0x1a2a_3a4a]);
        assert_eq!(packet.pn_offset(), None);
        assert_eq!(packet.protected_bits(0x80), None);
    }
    let partial = "80000000000000000000010203";
    assert_eq!(
        PartialDecode::split_from(&mut datagram(partial), options()).unwrap_err(),
        PacketDecodeError::PartialVersion
    );
    let empty = PartialDecode::split_from(&mut datagram("80000000000000"), options()).unwrap();
    assert_eq!(empty.supported_versions().unwrap().len(), 0);
}

// RFC 9000 §6.1 (test): an unknown version is reported with the datagram
// intact, and its connection IDs stay readable even past 20 bytes (RFC 8999 §5.1).
#[test]
fn an_unknown_version_is_reported_with_its_connection_ids_readable() {
    let wire = format!("c0ff00001d20{}05{}0000", "aa".repeat(32), "bb".repeat(5));
    let mut dgram = datagram(&wire);
    assert_eq!(
        PartialDecode::split_from(&mut dgram, options()).unwrap_err(),
        PacketDecodeError::UnsupportedVersion {
            version: 0xff00_001d
        }
    );
    let invariant = InvariantHeader::parse(&dgram, 8).unwrap();
    assert_eq!(invariant.version(), Some(0xff00_001d));
    assert_eq!(invariant.dcid(), &[0xaa; 32][..]);
    assert_eq!(invariant.scid(), Some(&[0xbb; 5][..]));
    assert_eq!(invariant.header_len(), 1 + 4 + 1 + 32 + 1 + 5);
    // The fixed bit is version-specific: an unknown version is reported even with it clear.
    let cleared = "80ff00001d00000000";
    assert!(matches!(
        PartialDecode::split_from(&mut datagram(cleared), options()),
        Err(PacketDecodeError::UnsupportedVersion { .. })
    ));
}

// RFC 9000 §17.2.5.2 (test): a Retry with an empty token is dropped, and
// one too short for its tag is truncated.
#[test]
fn a_retry_needs_a_token_and_a_whole_tag() {
    let empty_token = format!("f0000000010000{}", "11".repeat(16));
    assert_eq!(
        PartialDecode::split_from(&mut datagram(&empty_token), options()).unwrap_err(),
        PacketDecodeError::EmptyRetryToken
    );
    let short_tag = format!("f0000000010000{}", "11".repeat(15));
    assert_eq!(
        PartialDecode::split_from(&mut datagram(&short_tag), options()).unwrap_err(),
        PacketDecodeError::Truncated(HeaderField::RetryIntegrityTag)
    );
}

#[test]
fn decode_options_refuse_a_local_cid_over_twenty_bytes() {
    assert!(DecodeOptions::new(20).is_ok());
    assert_eq!(DecodeOptions::new(21), Err(ConnectionIdTooLong(21)));
    assert_eq!(DecodeOptions::new(256), Err(ConnectionIdTooLong(256)));
    assert!(!options().greased_fixed_bit_allowed());
    assert_eq!(options().local_cid_len(), 8);
}

#[test]
fn an_empty_datagram_is_truncated_at_the_first_byte() {
    assert_eq!(
        PartialDecode::split_from(&mut BytesMut::new(), options()).unwrap_err(),
        PacketDecodeError::Truncated(HeaderField::FirstByte)
    );
}

#[test]
fn debug_output_shows_the_token_length_but_not_its_bytes() {
    let wire = "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";
    let packet = PartialDecode::split_from(&mut datagram(wire), options()).unwrap();
    let shown = format!("{packet:?}");
    assert!(shown.contains("token_len: Some(5)"), "{shown}");
    assert!(!shown.contains("116"), "{shown}"); // b't'
}
