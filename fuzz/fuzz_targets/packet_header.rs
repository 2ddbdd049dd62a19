//! Packet headers: splitting an arbitrary datagram into coalesced packets
//! never panics, every packet that parses describes itself consistently,
//! and the version-independent parse (RFC 8999) never panics either.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_proto::{
    CoalescedPackets, DecodeOptions,
    packet::{InvariantHeader, PacketNumber},
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the receiver's settings; the rest is the datagram.
    let Some((&settings, datagram)) = data.split_first() else {
        return;
    };
    let cid_len = usize::from(settings % 21);
    let Ok(options) = DecodeOptions::new(cid_len) else {
        return;
    };
    let options = options.allow_greased_fixed_bit(settings & 0x80 != 0);

    let _ = InvariantHeader::parse(datagram, cid_len);

    // Packet number recovery (RFC 9000 §A.3) on arbitrary inputs must not
    // panic or overflow, and the result stays near the expected number.
    if let Some(word) = datagram.get(..12) {
        let largest = u64::from_be_bytes(word[..8].try_into().expect("8 bytes")) >> 2;
        let truncated = u32::from_be_bytes(word[8..].try_into().expect("4 bytes"));
        let nbits = [8, 16, 24, 32][usize::from(settings >> 5 & 3)];
        let truncated = if nbits == 32 {
            truncated
        } else {
            truncated & ((1 << nbits) - 1)
        };
        let _ = tern_proto::packet::decode_packet_number(Some(largest), truncated, nbits);
    }

    let mut total = 0;
    let mut packets = CoalescedPackets::new(BytesMut::from(datagram), options);
    for packet in packets.by_ref() {
        let Ok(packet) = packet else { continue };
        let len = packet.data().len();
        total += len;
        if let Some(pn_offset) = packet.pn_offset() {
            assert!(
                pn_offset <= len,
                "pn offset {pn_offset} past packet end {len}"
            );
            // Reading a packet number of any length at the offset must not panic.
            let mut rest = &packet.data()[pn_offset..];
            let _ = PacketNumber::decode(4, &mut rest);
        }
        if let Some(range) = packet.token_range() {
            assert!(range.end <= len);
        }
        if let Some(versions) = packet.supported_versions() {
            assert!(versions.count() <= len / 4);
        }
    }
    assert!(total + packets.remainder().len() <= datagram.len());
});
