use bytes::Bytes;
use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{
    error::TransportErrorCode,
    frame::{Datagram, Stream, strategy::any_frame, tests::hex},
    varint::VarInt,
};

const LEVELS: [EncryptionLevel; 4] = [
    EncryptionLevel::Initial,
    EncryptionLevel::ZeroRtt,
    EncryptionLevel::Handshake,
    EncryptionLevel::OneRtt,
];

fn collect(payload: &str, level: EncryptionLevel) -> Vec<Result<Frame, TransportError>> {
    Frames::new(hex(payload), level).collect()
}

/// One valid encoding of a frame of each known type, with the levels that
/// Table 3 of RFC 9000 §12.4 (and RFC 9221 §4 for DATAGRAM) allows it in:
/// I(nitial), 0(-RTT), H(andshake), 1(-RTT).
const TABLE_3: &[(&str, &str)] = &[
    ("00", "I0H1"),
    ("01", "I0H1"),
    ("02 00 00 00 00", "IH1"),
    ("03 00 00 00 00 00 00 00", "IH1"),
    ("04 00 00 00", "01"),
    ("05 00 00", "01"),
    ("06 00 00", "IH1"),
    ("07 01 aa", "1"),
    ("08 00", "01"),
    ("0a 00 00", "01"),
    ("0f 00 01 00", "01"),
    ("10 00", "01"),
    ("11 00 00", "01"),
    ("12 00", "01"),
    ("13 00", "01"),
    ("14 00", "01"),
    ("15 00 00", "01"),
    ("16 00", "01"),
    ("17 00", "01"),
    ("18 01 00 01 aa 00112233445566778899aabbccddeeff", "01"),
    // RFC 9000 §17.2.3 (test): we reject RETIRE_CONNECTION_ID in 0-RTT.
    ("19 00", "1"),
    ("1a 0011223344556677", "01"),
    ("1b 0011223344556677", "1"),
    ("1c 00 00 00", "I0H1"),
    ("1d 00 00", "01"),
    ("1e", "1"),
    ("30", "01"),
    ("31 00", "01"),
];

#[test]
fn each_level_allows_exactly_the_frames_of_table_3() {
    // RFC 9000 §12.4 (test): a frame not permitted at the packet's level is
    // PROTOCOL_VIOLATION.
    for (wire, allowed) in TABLE_3 {
        for (level, mark) in LEVELS.into_iter().zip(['I', '0', 'H', '1']) {
            let results = collect(wire, level);
            assert_eq!(results.len(), 1, "{wire} at {level:?}");
            match &results[0] {
                Ok(_) => assert!(allowed.contains(mark), "{wire} allowed at {level:?}"),
                Err(err) => {
                    assert!(
                        !allowed.contains(mark),
                        "{wire} refused at {level:?}: {err}"
                    );
                    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
                    let ty = hex(wire)[0];
                    assert_eq!(
                        err.frame_type.map(FrameType::into_inner),
                        Some(u64::from(ty))
                    );
                }
            }
        }
    }
}

#[test]
fn an_empty_payload_is_a_protocol_violation() {
    // RFC 9000 §12.4 (test): a packet with no frames is PROTOCOL_VIOLATION.
    for level in LEVELS {
        let results = collect("", level);
        assert_eq!(results.len(), 1);
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    }
}

#[test]
fn a_run_of_padding_is_one_item() {
    let frames = collect("00000000 01 0000", EncryptionLevel::Initial);
    let frames: Vec<Frame> = frames.into_iter().map(Result::unwrap).collect();
    assert_eq!(frames, [Frame::Padding(4), Frame::Ping, Frame::Padding(2)]);
}

#[test]
fn a_large_padding_run_is_cheap() {
    let payload = Bytes::from(vec![0; 1 << 20]);
    let mut frames = Frames::new(payload, EncryptionLevel::Initial);
    assert_eq!(frames.next().unwrap().unwrap(), Frame::Padding(1 << 20));
    assert!(frames.next().is_none());
}

#[test]
fn iteration_stops_after_the_first_error() {
    let results = collect("01 21 01 01", EncryptionLevel::OneRtt);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Ok(Frame::Ping));
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert_eq!(
        err.frame_type,
        Some(FrameType::from_wire(VarInt::from_u32(0x21)))
    );
}

#[test]
fn a_non_minimal_frame_type_is_a_protocol_violation_in_the_iterator() {
    // RFC 9000 §12.4 (test): a frame type in a longer encoding is PROTOCOL_VIOLATION.
    let results = collect("4001", EncryptionLevel::OneRtt);
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(err.frame_type, Some(FrameType::PING));
}

#[test]
fn an_unknown_type_is_an_encoding_error_at_every_level() {
    for level in LEVELS {
        let err = collect("21", level).remove(0).unwrap_err();
        assert_eq!(
            err.code,
            TransportErrorCode::FRAME_ENCODING_ERROR,
            "{level:?}"
        );
    }
}

/// Makes a frame safe to place before others: data runs get a Length field
/// and PADDING (which would merge with a neighbour) becomes PING.
fn self_delimiting(frame: Frame) -> Frame {
    match frame {
        Frame::Padding(_) => Frame::Ping,
        Frame::Stream(stream) => Frame::Stream(Stream {
            has_length: true,
            ..stream
        }),
        Frame::Datagram(datagram) => Frame::Datagram(Datagram {
            has_length: true,
            ..datagram
        }),
        other => other,
    }
}

proptest! {
    #[test]
    fn a_payload_of_many_frames_decodes_to_the_same_frames(
        frames in vec(any_frame().prop_map(self_delimiting), 1..12),
        last in any_frame(),
    ) {
        let mut frames = frames;
        if !matches!(last, Frame::Padding(_)) {
            frames.push(last);
        }
        let mut payload = Vec::new();
        for frame in &frames {
            frame.encode(&mut payload);
        }
        let decoded: Vec<Frame> = Frames::new(Bytes::from(payload), EncryptionLevel::OneRtt)
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frames_iterator(
        payload in vec(any::<u8>(), 0..512),
        level in proptest::sample::select(LEVELS.to_vec()),
    ) {
        let results: Vec<_> = Frames::new(Bytes::from(payload), level).collect();
        let errors = results.iter().filter(|result| result.is_err()).count();
        prop_assert!(errors <= 1);
        if errors == 1 {
            prop_assert!(results.last().unwrap().is_err());
        }
    }
}
