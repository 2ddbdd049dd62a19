//! Packet protection: removing header protection and decrypting arbitrary
//! datagrams with Initial keys never panics, and a payload the client seals
//! opens on the server to the same bytes and packet number.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_proto::{
    CoalescedPackets, ConnectionId, DecodeOptions, PacketNumber, Side,
    crypto::Keys,
    packet::{LongHeader, LongHeaderType, Version},
};

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

fuzz_target!(|data: &[u8]| {
    let server = Keys::initial(Version::V1, &DCID, Side::Server);
    let client = Keys::initial(Version::V1, &DCID, Side::Client);

    // Hostile input: whatever parses is opened; failures must be errors.
    let options = DecodeOptions::new(8).expect("8-byte CIDs are valid");
    for packet in CoalescedPackets::new(BytesMut::from(data), options) {
        if let Ok(mut packet) = packet {
            let _ = server.remote.open_decoded(&mut packet, Some(7));
        }
    }

    // Round trip: seal the input as an Initial payload, then open it.
    let Some((&pn_byte, payload)) = data.split_first() else {
        return;
    };
    let pn = u64::from(pn_byte);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::new(&DCID).expect("8 bytes"),
        scid: ConnectionId::EMPTY,
        pn: PacketNumber::new(pn, None),
        grease_fixed_bit: false,
    };
    let tag = 16;
    let mut packet = vec![0; header.encoded_len() + payload.len().max(4) + tag];
    let Ok(layout) = header.encode_to_slice(&mut packet) else {
        return;
    };
    let body = layout.header_len;
    packet[body..body + payload.len()].copy_from_slice(payload);
    if layout.set_length(&mut packet).is_err() {
        return;
    }
    client
        .local
        .seal(pn, &mut packet, layout.pn_offset)
        .expect("room was reserved");
    let opened = server
        .remote
        .open(&mut packet, layout.pn_offset, None)
        .expect("sealed packet opens");
    assert_eq!(opened.pn, pn);
    assert_eq!(&packet[opened.payload.clone()][..payload.len()], payload);
});
