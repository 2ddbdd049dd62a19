//! Round trips across the encoders and the decoder, and hostile input.

use bytes::BytesMut;
use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{ConnectionId, EncryptionLevel, varint::VarInt};

/// Decodes a hex literal; test input only.
pub(super) fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn cid() -> impl Strategy<Value = ConnectionId> {
    vec(any::<u8>(), 0..=ConnectionId::MAX_LEN).prop_map(|bytes| ConnectionId::new(&bytes).unwrap())
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2)]
}

fn packet_number() -> impl Strategy<Value = PacketNumber> {
    (0..(1_u64 << 62), any::<Option<u32>>()).prop_map(|(pn, gap)| {
        let acked = gap.and_then(|gap| pn.checked_sub(u64::from(gap)));
        PacketNumber::new(pn, acked)
    })
}

fn options(local_cid_len: usize, grease: bool) -> DecodeOptions {
    DecodeOptions::new(local_cid_len)
        .unwrap()
        .allow_greased_fixed_bit(grease)
}

/// Encodes `header` both ways, appends `payload` and fills in Length.
fn encode_long(header: &LongHeader<'_>, payload: &[u8]) -> (Vec<u8>, LongHeaderLayout) {
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    assert_eq!(packet.len(), header.encoded_len());
    assert_eq!(layout.header_len, packet.len());
    let mut slice = vec![0; header.encoded_len()];
    assert_eq!(header.encode_to_slice(&mut slice), Ok(layout));
    assert_eq!(slice, packet);
    packet.extend_from_slice(payload);
    layout.set_length(&mut packet).unwrap();
    (packet, layout)
}

/// Reads the packet number the way the receive path will, with no header
/// protection applied.
fn read_pn(packet: &PartialDecode) -> PacketNumber {
    let bits = packet.protected_bits(packet.first_byte()).unwrap();
    assert!(bits.reserved_bits_are_zero());
    let mut wire = &packet.data()[packet.pn_offset().unwrap()..];
    PacketNumber::decode(bits.pn_len, &mut wire).unwrap()
}

/// Every strict prefix of `wire` fails to parse, and none panics.
fn every_truncation_fails(wire: &[u8], options: DecodeOptions) {
    for len in 0..wire.len() {
        let mut dgram = BytesMut::from(&wire[..len]);
        assert!(
            PartialDecode::split_from(&mut dgram, options).is_err(),
            "prefix of {len} bytes parsed"
        );
        assert_eq!(dgram.len(), len);
    }
}

/// Touches every accessor of a packet that parsed; none may panic.
fn read_everything(packet: &PartialDecode) {
    let len = packet.data().len();
    if let Some(offset) = packet.pn_offset() {
        assert!(offset < len);
    }
    if let Some(length) = packet.length() {
        assert_eq!(
            packet.pn_offset().unwrap() + usize::try_from(length.into_inner()).unwrap(),
            len
        );
    }
    let _ = (
        packet.packet_type(),
        packet.version(),
        packet.dcid(),
        packet.scid(),
    );
    let _ = (packet.token(), packet.encryption_level(), packet.spin());
    let _ = (packet.retry_integrity_tag(), packet.retry_tag_covered());
    let _ = packet.supported_versions().map(Iterator::count);
    for byte in [0, 0xff, packet.first_byte()] {
        let _ = packet.protected_bits(byte);
    }
}

proptest! {
    #[test]
    fn long_headers_round_trip(
        kind in 0..3_u8,
        version in version(),
        dcid in cid(),
        scid in cid(),
        token in vec(any::<u8>(), 0..80),
        pn in packet_number(),
        grease: bool,
        payload in vec(any::<u8>(), 0..100),
    ) {
        let ty = match kind {
            0 => LongHeaderType::Initial { token: &token },
            1 => LongHeaderType::ZeroRtt,
            _ => LongHeaderType::Handshake,
        };
        let header = LongHeader { ty, version, dcid, scid, pn, grease_fixed_bit: grease };
        let (wire, layout) = encode_long(&header, &payload);
        let options = options(8, grease);
        let mut dgram = BytesMut::from(&wire[..]);
        let packet = PartialDecode::split_from(&mut dgram, options).unwrap();
        prop_assert!(dgram.is_empty());
        prop_assert_eq!(packet.packet_type(), PacketType::from(ty.long_type()));
        prop_assert_eq!(packet.version(), Some(version.to_u32()));
        prop_assert_eq!(packet.dcid(), &dcid);
        prop_assert_eq!(packet.scid(), Some(&scid));
        let expected_token = match ty {
            LongHeaderType::Initial { token } => Some(token),
            _ => None,
        };
        prop_assert_eq!(packet.token(), expected_token);
        prop_assert_eq!(packet.pn_offset(), Some(layout.pn_offset));
        let length = wire.len() - layout.pn_offset;
        prop_assert_eq!(packet.length(), Some(VarInt::try_from(length).unwrap()));
        prop_assert_eq!(read_pn(&packet), pn);
        prop_assert_eq!(packet.first_byte() & bits::FIXED == 0, grease);
        prop_assert_eq!(&packet.data()[layout.header_len..], &payload[..]);
        every_truncation_fails(&wire, options);
    }

    #[test]
    fn short_headers_round_trip(
        dcid in cid(),
        pn in packet_number(),
        spin: bool,
        key_phase: bool,
        grease: bool,
        payload in vec(any::<u8>(), 0..100),
    ) {
        let header = ShortHeader { dcid, pn, spin, key_phase, grease_fixed_bit: grease };
        let mut wire = Vec::new();
        let pn_offset = header.encode(&mut wire);
        prop_assert_eq!(wire.len(), header.encoded_len());
        let mut slice = vec![0; header.encoded_len()];
        prop_assert_eq!(header.encode_to_slice(&mut slice), Ok(pn_offset));
        prop_assert_eq!(&slice, &wire);
        wire.extend_from_slice(&payload);
        let options = options(dcid.len(), grease);
        let packet = PartialDecode::split_from(&mut BytesMut::from(&wire[..]), options).unwrap();
        prop_assert_eq!(packet.packet_type(), PacketType::Short);
        prop_assert_eq!(packet.dcid(), &dcid);
        prop_assert_eq!(packet.pn_offset(), Some(pn_offset));
        prop_assert_eq!(packet.spin(), Some(spin));
        prop_assert_eq!(packet.protected_bits(packet.first_byte()).unwrap().key_phase, Some(key_phase));
        prop_assert_eq!(read_pn(&packet), pn);
        prop_assert_eq!(packet.encryption_level(), Some(EncryptionLevel::OneRtt));
        // Cut inside the DCID or before the packet number, it cannot parse.
        every_truncation_fails(&wire[..=pn_offset], options);
    }

    #[test]
    fn retry_packets_round_trip(
        version in version(),
        dcid in cid(),
        scid in cid(),
        token in vec(any::<u8>(), 1..80),
        tag: [u8; RETRY_INTEGRITY_TAG_LEN],
        unused_bits: u8,
        grease: bool,
    ) {
        let header = RetryHeader { version, dcid, scid, token: &token, unused_bits, grease_fixed_bit: grease };
        let mut wire = Vec::new();
        header.encode(&mut wire);
        prop_assert_eq!(wire.len(), header.encoded_len());
        let mut slice = vec![0; header.encoded_len()];
        prop_assert_eq!(header.encode_to_slice(&mut slice), Ok(wire.len()));
        prop_assert_eq!(&slice, &wire);
        let covered = wire.clone();
        wire.extend_from_slice(&tag);
        prop_assert_eq!(wire.len(), header.packet_len());
        let options = options(8, grease);
        let packet = PartialDecode::split_from(&mut BytesMut::from(&wire[..]), options).unwrap();
        prop_assert_eq!(packet.packet_type(), PacketType::Retry);
        prop_assert_eq!(packet.version(), Some(version.to_u32()));
        prop_assert_eq!(packet.dcid(), &dcid);
        prop_assert_eq!(packet.scid(), Some(&scid));
        prop_assert_eq!(packet.token(), Some(&token[..]));
        prop_assert_eq!(packet.retry_integrity_tag(), Some(&tag));
        prop_assert_eq!(packet.retry_tag_covered(), Some(&covered[..]));
        prop_assert_eq!(packet.first_byte() & bits::RETRY_UNUSED, unused_bits & 0x0f);
        // Without a byte of token and the whole tag, it cannot parse.
        every_truncation_fails(&wire[..covered.len() - token.len() + RETRY_INTEGRITY_TAG_LEN], options);
    }

    #[test]
    fn version_negotiation_round_trips(
        dcid in cid(),
        scid in cid(),
        versions in vec(any::<u32>(), 0..10),
        random: u8,
    ) {
        let vn = VersionNegotiationPacket::new(&dcid, &scid, &versions, random).unwrap();
        let mut wire = Vec::new();
        vn.encode(&mut wire);
        prop_assert_eq!(wire.len(), vn.encoded_len());
        let mut slice = vec![0; vn.encoded_len()];
        prop_assert_eq!(vn.encode_to_slice(&mut slice), Ok(wire.len()));
        prop_assert_eq!(&slice, &wire);
        // Greasing is never needed: RFC 9000 §17.2.1 leaves the bits free.
        let packet = PartialDecode::split_from(&mut BytesMut::from(&wire[..]), options(8, false)).unwrap();
        prop_assert_eq!(packet.packet_type(), PacketType::VersionNegotiation);
        prop_assert_eq!(packet.dcid(), &dcid);
        prop_assert_eq!(packet.scid(), Some(&scid));
        prop_assert_eq!(packet.supported_versions().unwrap().collect::<Vec<_>>(), versions);
        prop_assert_eq!(packet.first_byte() & 0xc0, 0xc0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..300),
        local_cid_len in 0..=ConnectionId::MAX_LEN,
        grease: bool,
    ) {
        let options = options(local_cid_len, grease);
        let _ = InvariantHeader::parse(&bytes, local_cid_len);
        let mut parsed = 0;
        let mut packets = CoalescedPackets::new(BytesMut::from(&bytes[..]), options);
        for packet in packets.by_ref().flatten() {
            read_everything(&packet);
            parsed += packet.data().len();
        }
        prop_assert!(parsed + packets.remainder().len() <= bytes.len());
    }

    #[test]
    fn corrupted_headers_never_panic(
        kind in 0..3_u8,
        version in version(),
        dcid in cid(),
        token in vec(any::<u8>(), 0..20),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let ty = match kind {
            0 => LongHeaderType::Initial { token: &token },
            1 => LongHeaderType::ZeroRtt,
            _ => LongHeaderType::Handshake,
        };
        let header = LongHeader {
            ty, version, dcid, scid: dcid, pn: PacketNumber::U16(7), grease_fixed_bit: false,
        };
        let (mut wire, _) = encode_long(&header, &[0; 24]);
        for (index, value) in flips {
            let at = index.index(wire.len());
            wire[at] ^= value;
        }
        for packet in CoalescedPackets::new(BytesMut::from(&wire[..]), options(8, true)).flatten() {
            read_everything(&packet);
        }
    }
}
