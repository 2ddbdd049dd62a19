use super::*;
use crate::packet::{RetryHeader, tests::hex};

fn client_initial() -> LongHeader<'static> {
    LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::new(&hex("8394c8f03e515708")).unwrap(),
        scid: ConnectionId::EMPTY,
        pn: PacketNumber::U32(2),
        grease_fixed_bit: false,
    }
}

// RFC 9001 §A.2 (test): the client Initial's header, with Length filled in
// for a 1200-byte packet, is written byte for byte.
#[test]
fn rfc9001_client_initial_header_encodes_byte_for_byte() {
    let header = client_initial();
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    assert_eq!(
        layout,
        LongHeaderLayout {
            header_len: 22,
            length_offset: 16,
            pn_offset: 18
        }
    );
    packet.resize(1200, 0);
    layout.set_length(&mut packet).unwrap();
    assert_eq!(
        packet[..22],
        hex("c300000001088394c8f03e5157080000449e00000002")
    );

    // RFC 9369 §A.2 (test): the same header in version 2 starts 0xd3.
    let v2 = LongHeader {
        version: Version::V2,
        ..header
    };
    let mut packet = Vec::new();
    let layout = v2.encode(&mut packet);
    packet.resize(1200, 0);
    layout.set_length(&mut packet).unwrap();
    assert_eq!(
        packet[..22],
        hex("d36b3343cf088394c8f03e5157080000449e00000002")
    );
}

// RFC 9001 §A.3 (test): the server Initial's header is written byte for byte.
#[test]
fn rfc9001_server_initial_header_encodes_byte_for_byte() {
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::EMPTY,
        scid: ConnectionId::new(&hex("f067a5502a4262b5")).unwrap(),
        pn: PacketNumber::U16(1),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    packet.resize(layout.pn_offset + 0x75, 0);
    layout.set_length(&mut packet).unwrap();
    assert_eq!(
        packet[..20],
        hex("c1000000010008f067a5502a4262b50040750001")
    );
}

// RFC 9001 §A.4 (test): the Retry packet's bytes before the integrity tag
// are written byte for byte, and so are those of RFC 9369's version 2 Retry.
#[test]
fn rfc9001_and_rfc9369_retry_headers_encode_byte_for_byte() {
    for (version, expected) in [
        (Version::V1, "ff000000010008f067a5502a4262b5746f6b656e"),
        (Version::V2, "cf6b3343cf0008f067a5502a4262b5746f6b656e"),
    ] {
        let retry = RetryHeader {
            version,
            dcid: ConnectionId::EMPTY,
            scid: ConnectionId::new(&hex("f067a5502a4262b5")).unwrap(),
            token: b"token",
            unused_bits: 0xff,
            grease_fixed_bit: false,
        };
        let mut out = Vec::new();
        retry.encode(&mut out);
        assert_eq!(out, hex(expected));
    }
}

// RFC 9001 §A.5 (test): the ChaCha20 example's short header, three-byte
// packet number, is written byte for byte.
#[test]
fn rfc9001_short_header_encodes_byte_for_byte() {
    let full_pn = 654_360_564;
    let header = ShortHeader {
        dcid: ConnectionId::EMPTY,
        pn: PacketNumber::new(full_pn, Some(full_pn - 40_000)),
        spin: false,
        key_phase: false,
        grease_fixed_bit: false,
    };
    let mut out = Vec::new();
    assert_eq!(header.encode(&mut out), 1);
    assert_eq!(out, hex("4200bff4"));
}

#[test]
fn short_header_sets_spin_key_phase_and_clears_a_greased_fixed_bit() {
    let header = ShortHeader {
        dcid: ConnectionId::new(&[9; 4]).unwrap(),
        pn: PacketNumber::U8(0x11),
        spin: true,
        key_phase: true,
        grease_fixed_bit: true,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    assert_eq!(out, [0x24, 9, 9, 9, 9, 0x11]);
}

#[test]
fn a_greased_long_header_clears_only_the_fixed_bit() {
    let header = LongHeader {
        grease_fixed_bit: true,
        ..client_initial()
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    assert_eq!(out[0], 0x83);
}

#[test]
fn an_initial_token_goes_before_the_length() {
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[0xaa; 70] },
        ..client_initial()
    };
    let mut out = Vec::new();
    let layout = header.encode(&mut out);
    // Token length 70 takes a two-byte varint.
    assert_eq!(out[15..17], [0x40, 70]);
    assert_eq!(out[17..87], [0xaa; 70]);
    assert_eq!(layout.length_offset, 87);
    assert_eq!(layout.pn_offset, 89);
    assert_eq!(out.len(), header.encoded_len());
}

#[test]
fn set_length_refuses_packets_it_cannot_describe() {
    let header = client_initial();
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    assert_eq!(
        layout.set_length(&mut packet[..21]),
        Err(LengthFieldError::ShorterThanHeader {
            packet_len: 21,
            header_len: 22
        })
    );
    packet.resize(layout.pn_offset + LongHeader::MAX_LENGTH, 0);
    assert_eq!(layout.set_length(&mut packet), Ok(()));
    assert_eq!(packet[16..18], [0x7f, 0xff]);
    packet.push(0);
    let before = packet.clone();
    assert_eq!(
        layout.set_length(&mut packet),
        Err(LengthFieldError::TooLong {
            length: LongHeader::MAX_LENGTH + 1,
            max: LongHeader::MAX_LENGTH
        })
    );
    assert_eq!(packet, before);
}

#[test]
fn encoding_into_a_short_slice_writes_nothing() {
    let header = client_initial();
    let mut out = [0xee; 21];
    assert_eq!(
        header.encode_to_slice(&mut out),
        Err(BufferTooShort {
            needed: 22,
            available: 21
        })
    );
    assert_eq!(out, [0xee; 21]);
    let short = ShortHeader {
        dcid: ConnectionId::new(&[1; 8]).unwrap(),
        pn: PacketNumber::U8(0),
        spin: false,
        key_phase: false,
        grease_fixed_bit: false,
    };
    assert_eq!(
        short.encode_to_slice(&mut [0; 9]),
        Err(BufferTooShort {
            needed: 10,
            available: 9
        })
    );
    // A larger slice is written at its front only.
    let mut out = [0xee; 30];
    assert_eq!(short.encode_to_slice(&mut out), Ok(9));
    assert_eq!(out[10..], [0xee; 20]);
}
