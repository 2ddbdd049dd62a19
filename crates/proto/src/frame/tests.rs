use bytes::Bytes;
use proptest::prelude::*;

use super::{strategy::any_frame, strategy::takes_the_rest, *};
use crate::{
    cid::ConnectionId,
    coding::BufferTooShort,
    error::{TransportError, TransportErrorCode},
};

pub(super) fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out);
    out
}

/// Decodes `wire` as one frame that must use every byte.
fn decode_all(wire: &str) -> Result<Frame, FrameDecodeError> {
    let mut buf = hex(wire);
    let frame = Frame::decode(&mut buf)?;
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(frame)
}

fn assert_encoding_error(wire: &str, ty: FrameType) {
    let err = decode_all(wire).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR, "{err}");
    assert_eq!(err.frame_type, ty, "{err}");
}

proptest! {
    #[test]
    fn every_frame_survives_an_encode_decode_round_trip(frame in any_frame()) {
        let wire = encode(&frame);
        prop_assert_eq!(wire.len(), frame.encoded_len());
        let mut buf = Bytes::from(wire);
        let decoded = Frame::decode(&mut buf).unwrap();
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(decoded.ty(), frame.ty());
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn write_to_fills_an_exact_buffer_and_refuses_a_short_one(frame in any_frame()) {
        let len = frame.encoded_len();
        let mut exact = vec![0xff; len];
        prop_assert_eq!(frame.write_to(&mut exact), Ok(len));
        prop_assert_eq!(&exact, &encode(&frame));
        let mut short = vec![0; len - 1];
        prop_assert_eq!(
            frame.write_to(&mut short),
            Err(BufferTooShort { needed: len, available: len - 1 })
        );
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_frame_of_the_same_type(frame in any_frame()) {
        let wire = Bytes::from(encode(&frame));
        for cut in 0..wire.len() {
            let mut prefix = wire.slice(..cut);
            match Frame::decode(&mut prefix) {
                Err(err) => prop_assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR),
                Ok(shorter) => {
                    prop_assert!(takes_the_rest(&frame), "{:?} decoded from {} bytes", frame, cut);
                    prop_assert!(shorter != frame);
                    prop_assert_eq!(shorter.ty().is_stream(), frame.ty().is_stream());
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_single_frame_decoder(wire in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = Bytes::from(wire);
        let _ = Frame::decode(&mut buf);
    }
}

#[test]
fn header_helpers_agree_with_the_full_encodings() {
    let id = StreamId::new(VarInt::from_u32(4));
    let offset = VarInt::from_u32(70_000);
    let data = Bytes::from(vec![7; 300]);
    let stream = Stream {
        id,
        offset,
        fin: true,
        has_length: true,
        data: data.clone(),
    };
    let mut header = Vec::new();
    stream.header().encode(&mut header);
    assert_eq!(header.len(), stream.header().encoded_len());
    assert_eq!(
        [&header[..], &data[..]].concat(),
        encode(&Frame::Stream(stream))
    );

    let crypto = Crypto {
        offset,
        data: data.clone(),
    };
    let mut header = Vec::new();
    Crypto::encode_header(offset, data.len(), &mut header);
    assert_eq!(header.len(), Crypto::header_len(offset, data.len()));
    assert_eq!(
        [&header[..], &data[..]].concat(),
        encode(&Frame::Crypto(crypto))
    );

    for has_length in [false, true] {
        let datagram = Datagram {
            has_length,
            data: data.clone(),
        };
        let len = has_length.then_some(data.len());
        let mut header = Vec::new();
        Datagram::encode_header(len, &mut header);
        assert_eq!(header.len(), Datagram::header_len(len));
        assert_eq!(
            [&header[..], &data[..]].concat(),
            encode(&Frame::Datagram(datagram))
        );
    }
}

#[test]
fn max_data_len_fills_the_budget_without_overflowing_it() {
    let id = StreamId::new(VarInt::from_u32(1_000));
    let offset = VarInt::from_u32(1 << 20);
    for budget in (0..20_000).chain([(1 << 30) + 20, 1 << 31]) {
        for with_length in [false, true] {
            let fit = Stream::max_data_len(id, offset, budget, with_length);
            let header = |len| StreamHeader {
                id,
                offset,
                fin: true,
                len: with_length.then_some(len),
            };
            match fit {
                None => assert!(header(0).encoded_len() > budget),
                Some(len) => {
                    assert!(header(len).encoded_len() + len <= budget, "{budget}");
                    assert!(header(len + 1).encoded_len() + len + 1 > budget, "{budget}");
                }
            }
            let fit = Datagram::max_data_len(budget, with_length);
            let len_field = |len| with_length.then_some(len);
            if let Some(len) = fit {
                assert!(Datagram::header_len(len_field(len)) + len <= budget);
                assert!(Datagram::header_len(len_field(len + 1)) + len + 1 > budget);
            }
        }
        if let Some(len) = Crypto::max_data_len(offset, budget) {
            assert!(Crypto::header_len(offset, len) + len <= budget);
            assert!(Crypto::header_len(offset, len + 1) + len + 1 > budget);
        }
    }
}

#[test]
fn max_data_len_stops_at_the_largest_stream_offset() {
    let id = StreamId::new(VarInt::from_u32(0));
    let offset = VarInt::from_u64(VarInt::MAX.into_inner() - 10).unwrap();
    assert_eq!(Stream::max_data_len(id, offset, 1_000, true), Some(10));
    assert_eq!(Crypto::max_data_len(offset, 1_000), Some(10));
}

#[test]
fn stream_ids_give_their_initiator_direction_and_index() {
    let id = StreamId::new(VarInt::from_u32(0b1011));
    assert_eq!(id.initiator(), crate::Side::Server);
    assert_eq!(id.dir(), Dir::Uni);
    assert_eq!(id.index(), 2);
    assert_eq!(StreamId::new(VarInt::from_u32(4)).dir(), Dir::Bi);
}

#[test]
fn stream_types_set_the_off_len_and_fin_bits() {
    // Type 0x0f: OFF, LEN, FIN; id 4, offset 1, length 2.
    let frame = decode_all("0f 04 01 02 aabb").unwrap();
    let expected = Stream {
        id: StreamId::new(VarInt::from_u32(4)),
        offset: VarInt::from_u32(1),
        fin: true,
        has_length: true,
        data: hex("aabb"),
    };
    assert_eq!(frame, Frame::Stream(expected));
    // Type 0x08: no offset, no length, no FIN.
    let Frame::Stream(stream) = decode_all("08 04 aabbcc").unwrap() else {
        panic!()
    };
    assert_eq!(
        (stream.offset.into_inner(), stream.fin, stream.has_length),
        (0, false, false)
    );
    assert_eq!(stream.data, hex("aabbcc"));
}

#[test]
fn stream_without_len_bit_takes_the_rest_of_the_payload() {
    // RFC 9000 §19.8 (test): without the LEN bit the data runs to the packet's end.
    let mut buf = hex("0c 00 05 01 02 03 04");
    let Frame::Stream(stream) = Frame::decode(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(stream.data, hex("01020304"));
    assert!(buf.is_empty());
}

#[test]
fn stream_data_ending_beyond_two_to_the_62_is_a_frame_encoding_error() {
    // RFC 9000 §19.8 (test): offset + length above 2^62-1 is FRAME_ENCODING_ERROR.
    let ty = FrameType::from_wire(VarInt::from_u32(0x0e));
    assert_encoding_error("0e 00 ffffffffffffffff 01 aa", ty);
    let ty = FrameType::from_wire(VarInt::from_u32(0x0c));
    assert_encoding_error("0c 00 ffffffffffffffff aa", ty);
    // Ending exactly at 2^62-1 is fine.
    decode_all("0e 00 fffffffffffffffe 01 aa").unwrap();
}

#[test]
fn crypto_data_ending_beyond_two_to_the_62_is_a_frame_encoding_error() {
    // RFC 9000 §19.6 (test): CRYPTO data ending above 2^62-1 is rejected,
    // as FRAME_ENCODING_ERROR.
    assert_encoding_error("06 ffffffffffffffff 01 aa", FrameType::CRYPTO);
    decode_all("06 fffffffffffffffe 01 aa").unwrap();
}

#[test]
fn stream_counts_above_two_to_the_60_are_frame_encoding_errors() {
    // RFC 9000 §19.11 (test): MAX_STREAMS above 2^60 is FRAME_ENCODING_ERROR.
    // RFC 9000 §19.14 (test): so is STREAMS_BLOCKED above 2^60.
    let types = [
        FrameType::MAX_STREAMS_BIDI,
        FrameType::MAX_STREAMS_UNI,
        FrameType::STREAMS_BLOCKED_BIDI,
        FrameType::STREAMS_BLOCKED_UNI,
    ];
    for ty in types {
        let code = ty.into_inner();
        assert_encoding_error(&format!("{code:02x} d000000000000001"), ty);
        decode_all(&format!("{code:02x} d000000000000000")).unwrap();
    }
}

#[test]
fn new_connection_id_lengths_outside_1_to_20_are_frame_encoding_errors() {
    // RFC 9000 §19.15 (test): a length of 0 or above 20 is FRAME_ENCODING_ERROR.
    let token = "00112233445566778899aabbccddeeff";
    assert_encoding_error(
        &format!("18 01 00 00 {token}"),
        FrameType::NEW_CONNECTION_ID,
    );
    let long = "ab".repeat(21);
    assert_encoding_error(
        &format!("18 01 00 15 {long} {token}"),
        FrameType::NEW_CONNECTION_ID,
    );
    let longest = "ab".repeat(20);
    let Frame::NewConnectionId(frame) =
        decode_all(&format!("18 01 00 14 {longest} {token}")).unwrap()
    else {
        panic!()
    };
    assert_eq!(frame.id, ConnectionId::new(&[0xab; 20]).unwrap());
    assert_eq!(frame.reset_token, *hex(token));
}

#[test]
fn retire_prior_to_above_the_sequence_number_is_a_frame_encoding_error() {
    // RFC 9000 §19.15 (test): Retire Prior To above Sequence Number is FRAME_ENCODING_ERROR.
    let token = "00112233445566778899aabbccddeeff";
    assert_encoding_error(
        &format!("18 01 02 04 abcdef01 {token}"),
        FrameType::NEW_CONNECTION_ID,
    );
    decode_all(&format!("18 02 02 04 abcdef01 {token}")).unwrap();
}

#[test]
fn new_connection_id_debug_hides_the_reset_token() {
    let token = "5ec7e75ec7e75ec7e75ec7e75ec7e75e";
    let frame = decode_all(&format!("18 01 00 04 abcdef01 {token}")).unwrap();
    let debug = format!("{frame:?}");
    assert!(debug.contains("abcdef01"), "{debug}");
    assert!(
        !debug.contains("5ec7") && !debug.contains("token"),
        "{debug}"
    );
}

#[test]
fn an_empty_new_token_is_a_frame_encoding_error() {
    // RFC 9000 §19.7 (test): an empty token is FRAME_ENCODING_ERROR.
    assert_encoding_error("07 00", FrameType::NEW_TOKEN);
    let frame = decode_all("07 02 abcd").unwrap();
    assert_eq!(frame, Frame::NewToken(NewToken { token: hex("abcd") }));
    // Tokens are credentials: Debug shows the length only.
    assert_eq!(
        format!("{frame:?}"),
        "NewToken(NewToken { token_len: 2, .. })"
    );
}

#[test]
fn a_close_reason_longer_than_the_payload_is_a_frame_encoding_error() {
    // RFC 9000 §20.1 (test): a reason running past the frame is FRAME_ENCODING_ERROR.
    assert_encoding_error("1c 0a 06 05 6869", FrameType::CONNECTION_CLOSE);
    assert_encoding_error("1d 00 05 6869", FrameType::APPLICATION_CLOSE);
}

#[test]
fn close_reasons_are_kept_as_bytes_even_when_not_utf8() {
    let frame = decode_all("1c 0a 06 02 fffe").unwrap();
    let expected = ConnectionClose {
        error_code: TransportErrorCode::PROTOCOL_VIOLATION,
        frame_type: FrameType::CRYPTO,
        reason: hex("fffe"),
    };
    assert_eq!(frame, Frame::ConnectionClose(expected));
}

#[test]
fn a_transport_error_becomes_a_connection_close_naming_its_frame() {
    let err = TransportError::frame_encoding_error("bad").in_frame(FrameType::ACK);
    let close = ConnectionClose::from_error(&err);
    assert_eq!(
        encode(&Frame::ConnectionClose(close)),
        *hex("1c 07 02 03 626164")
    );
}

#[test]
fn datagram_without_length_takes_the_rest_of_the_payload() {
    // RFC 9221 §4 (test): type 0x30 runs to the end of the packet.
    let mut buf = hex("30 0102 0304");
    let frame = Frame::decode(&mut buf).unwrap();
    assert_eq!(
        frame,
        Frame::Datagram(Datagram {
            has_length: false,
            data: hex("01020304")
        })
    );
    assert!(buf.is_empty());
    let mut buf = hex("31 02 0102 0304");
    let frame = Frame::decode(&mut buf).unwrap();
    assert_eq!(
        frame,
        Frame::Datagram(Datagram {
            has_length: true,
            data: hex("0102")
        })
    );
    assert_eq!(buf, hex("0304"));
}

#[test]
fn decoded_data_shares_the_payload_buffer() {
    let payload = hex("0a 00 04 01020304");
    let start = payload.as_ptr();
    let mut buf = payload.clone();
    let Frame::Stream(stream) = Frame::decode(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(stream.data.as_ptr(), start.wrapping_add(3));
}

#[test]
fn a_frame_type_in_a_longer_encoding_is_a_protocol_violation() {
    // RFC 9000 §12.4 (test): a non-minimal frame type may be PROTOCOL_VIOLATION; it is.
    for wire in ["4001", "80000001", "c000000000000001", "4000"] {
        let err = Frame::decode(&mut hex(wire)).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION, "{wire}");
    }
    let err = Frame::decode(&mut hex("401e")).unwrap_err();
    assert_eq!(err.frame_type, FrameType::HANDSHAKE_DONE);
}

#[test]
fn an_unknown_frame_type_is_a_frame_encoding_error() {
    // RFC 9000 §12.4 (test): an unknown frame type is FRAME_ENCODING_ERROR.
    for (wire, ty) in [("21", 0x21), ("1f", 0x1f), ("32", 0x32), ("4021", 0x21)] {
        let err = Frame::decode(&mut hex(wire)).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR, "{wire}");
        assert_eq!(err.frame_type.into_inner(), ty);
    }
}

#[test]
fn a_truncated_frame_type_is_reported_against_type_zero() {
    // RFC 9000 §19.19 (test): an unknown triggering frame type is reported as 0.
    let err = Frame::decode(&mut hex("40")).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert_eq!(err.frame_type, FrameType::PADDING);
}

#[test]
fn decode_errors_become_transport_errors_that_name_the_frame() {
    let err = Frame::decode(&mut hex("07 00")).unwrap_err();
    let err = TransportError::from(err);
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert_eq!(err.frame_type, Some(FrameType::NEW_TOKEN));
    assert_eq!(
        err.to_string(),
        "frame encoding error in frame NEW_TOKEN: empty token"
    );
}
