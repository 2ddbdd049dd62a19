use super::*;
use crate::packet::{
    HeaderField, LongHeader, LongHeaderType, PacketNumber, PacketType, ShortHeader, Version,
};

fn dcid() -> ConnectionId {
    ConnectionId::new(&[0xd1; 8]).unwrap()
}

fn long(ty: LongHeaderType<'_>, dcid: ConnectionId, payload_len: usize) -> Vec<u8> {
    let header = LongHeader {
        ty,
        version: Version::V1,
        dcid,
        scid: ConnectionId::new(&[0x5c; 4]).unwrap(),
        pn: PacketNumber::U8(1),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    packet.resize(packet.len() + payload_len, 0xab);
    layout.set_length(&mut packet).unwrap();
    packet
}

fn short(payload_len: usize) -> Vec<u8> {
    let header = ShortHeader {
        dcid: dcid(),
        pn: PacketNumber::U16(9),
        spin: false,
        key_phase: false,
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    header.encode(&mut packet);
    packet.resize(packet.len() + payload_len, 0xcd);
    packet
}

fn options() -> DecodeOptions {
    DecodeOptions::new(8).unwrap()
}

// RFC 9000 §12.2 (test): an Initial, a Handshake and a short header packet
// coalesced in one datagram come apart at their Length fields.
#[test]
fn initial_handshake_and_short_packets_split_apart() {
    let initial = long(LongHeaderType::Initial { token: b"tok" }, dcid(), 40);
    let handshake = long(LongHeaderType::Handshake, dcid(), 30);
    let one_rtt = short(25);
    let datagram = [&initial[..], &handshake[..], &one_rtt[..]].concat();
    let mut packets = CoalescedPackets::new(BytesMut::from(&datagram[..]), options());
    let parts: Vec<_> = packets.by_ref().map(Result::unwrap).collect();
    let kinds: Vec<_> = parts.iter().map(PartialDecode::packet_type).collect();
    assert_eq!(
        kinds,
        [
            PacketType::Initial,
            PacketType::Handshake,
            PacketType::Short
        ]
    );
    assert_eq!(parts[0].data(), initial);
    assert_eq!(parts[0].token(), Some(&b"tok"[..]));
    assert_eq!(parts[1].data(), handshake);
    assert_eq!(parts[2].data(), one_rtt);
    assert!(packets.remainder().is_empty());
    assert!(packets.next().is_none());
}

#[test]
fn trailing_junk_after_a_packet_is_reported_and_kept() {
    let handshake = long(LongHeaderType::Handshake, dcid(), 30);
    // Zero padding after the packet looks like a short header with a clear fixed bit.
    let datagram = [&handshake[..], &[0; 12][..]].concat();
    let mut packets = CoalescedPackets::new(BytesMut::from(&datagram[..]), options());
    assert_eq!(packets.next().unwrap().unwrap().data(), handshake);
    assert_eq!(
        packets.next().unwrap().unwrap_err(),
        PacketDecodeError::FixedBitClear
    );
    assert!(
        packets.next().is_none(),
        "iteration stops after a lost frame"
    );
    assert_eq!(packets.into_remainder(), &[0; 12][..]);
}

#[test]
fn a_truncated_second_packet_is_reported_not_panicked() {
    let first = long(LongHeaderType::Initial { token: &[] }, dcid(), 30);
    let second = long(LongHeaderType::Handshake, dcid(), 30);
    let datagram = [&first[..], &second[..second.len() - 1]].concat();
    let results: Vec<_> = CoalescedPackets::new(BytesMut::from(&datagram[..]), options()).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1],
        Err(PacketDecodeError::LengthBeyondDatagram { .. })
    ));
    let cut = [&first[..], &second[..3]].concat();
    let last = CoalescedPackets::new(BytesMut::from(&cut[..]), options()).last();
    assert_eq!(
        last.unwrap().unwrap_err(),
        PacketDecodeError::Truncated(HeaderField::Version)
    );
}

// RFC 9000 §12.2 (test): a coalesced packet with another DCID is set aside,
// and the packets after it are still read.
#[test]
fn a_packet_for_another_connection_is_skipped_but_framing_continues() {
    let other = ConnectionId::new(&[0xee; 8]).unwrap();
    let datagram = [
        long(LongHeaderType::Initial { token: &[] }, dcid(), 20),
        long(LongHeaderType::ZeroRtt, other, 20),
        long(LongHeaderType::Handshake, dcid(), 20),
    ]
    .concat();
    let results: Vec<_> = CoalescedPackets::new(BytesMut::from(&datagram[..]), options()).collect();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1].as_ref().unwrap_err(),
        &PacketDecodeError::DestinationMismatch
    );
    assert_eq!(
        results[2].as_ref().unwrap().packet_type(),
        PacketType::Handshake
    );
}

#[test]
fn an_empty_datagram_has_no_packets() {
    assert!(
        CoalescedPackets::new(BytesMut::new(), options())
            .next()
            .is_none()
    );
}
