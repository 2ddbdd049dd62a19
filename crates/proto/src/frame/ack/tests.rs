use std::{ops::RangeInclusive, time::Duration};

use bytes::Bytes;
use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{
    error::TransportErrorCode,
    frame::{Frame, strategy, tests::hex},
};

fn decode_ack(wire: &str) -> Result<Ack, FrameDecodeError> {
    let mut buf = hex(wire);
    match Frame::decode(&mut buf)? {
        Frame::Ack(ack) => {
            assert!(buf.is_empty());
            Ok(ack)
        }
        other => panic!("not an ack: {other:?}"),
    }
}

fn ranges(ack: &Ack) -> Vec<RangeInclusive<u64>> {
    ack.iter().collect()
}

#[test]
fn ranges_are_yielded_largest_first() {
    // Largest 100, delay 5, two more ranges: 95..=100, gap 2 (92 to 94
    // missing), 89..=91 (length 2), gap 0 (88 missing), 87..=87.
    let ack = decode_ack("02 4064 05 02 05 02 02 00 00").unwrap();
    assert_eq!(ack.largest().into_inner(), 100);
    assert_eq!(ack.ack_delay().into_inner(), 5);
    assert_eq!(ack.ecn(), None);
    assert_eq!(ranges(&ack), [95..=100, 89..=91, 87..=87]);
    assert_eq!(ack.iter().len(), 3);
}

#[test]
fn ack_ecn_carries_the_three_counts() {
    let ack = decode_ack("03 0a 00 00 00 01 02 03").unwrap();
    assert_eq!(ack.ty(), FrameType::ACK_ECN);
    let ecn = ack.ecn().unwrap();
    assert_eq!(
        (
            ecn.ect0.into_inner(),
            ecn.ect1.into_inner(),
            ecn.ce.into_inner()
        ),
        (1, 2, 3)
    );
    // Truncated ECN counts are an error.
    let err = decode_ack("03 0a 00 00 00 01 02").unwrap_err();
    assert_eq!(err.frame_type, FrameType::ACK_ECN);
}

#[test]
fn a_first_range_below_packet_zero_is_a_frame_encoding_error() {
    // RFC 9000 §19.3.1 (test): a range reaching below packet number 0 is FRAME_ENCODING_ERROR.
    let err = decode_ack("02 05 00 00 06").unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert_eq!(err.frame_type, FrameType::ACK);
    assert_eq!(err.reason, "ack range below packet number 0");
    // Acknowledging packets 0..=5 exactly is fine.
    assert_eq!(ranges(&decode_ack("02 05 00 00 05").unwrap()), [0..=5]);
}

#[test]
fn a_gap_or_length_below_packet_zero_is_a_frame_encoding_error() {
    // RFC 9000 §19.3.1 (test): later ranges below packet number 0 are FRAME_ENCODING_ERROR.
    // 4..=5, then a gap of 3 would put the next largest at -1.
    let err = decode_ack("02 05 00 01 01 03 00").unwrap_err();
    assert_eq!(err.reason, "ack range below packet number 0");
    // 4..=5, gap 0 gives largest 2, then a length of 3 reaches -1.
    let err = decode_ack("02 05 00 01 01 00 03").unwrap_err();
    assert_eq!(err.reason, "ack range below packet number 0");
    assert_eq!(
        ranges(&decode_ack("02 05 00 01 01 00 02").unwrap()),
        [4..=5, 0..=2]
    );
}

#[test]
fn a_huge_range_count_with_little_data_fails_fast_without_allocating() {
    // RFC 9000 §20.1 (test): more ranges than the packet holds is FRAME_ENCODING_ERROR.
    // ACK Range Count 2^62-1, then three bytes of ranges.
    let err = decode_ack("02 3f 00 ffffffffffffffff 01 00 00").unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert_eq!(err.frame_type, FrameType::ACK);
}

#[test]
fn ranges_stay_a_slice_of_the_payload() {
    let payload = hex("02 4064 05 02 05 02 02 00 00");
    let mut buf = payload.clone();
    let Frame::Ack(ack) = Frame::decode(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(ack.wire_ranges.as_ptr(), payload.as_ptr().wrapping_add(5));
}

#[test]
fn from_ranges_encodes_byte_for_byte() {
    let ack = Ack::from_ranges([95..=100, 89..=91, 87..=87], VarInt::from_u32(5), None).unwrap();
    let mut wire = Vec::new();
    ack.encode(&mut wire);
    assert_eq!(Bytes::from(wire), hex("02 4064 05 02 05 02 02 00 00"));
}

#[test]
fn from_ranges_merges_adjacent_ranges() {
    let ack = Ack::from_ranges([10..=12, 7..=9, 3..=5], VarInt::default(), None).unwrap();
    assert_eq!(ranges(&ack), [7..=12, 3..=5]);
}

#[test]
fn from_ranges_rejects_empty_unordered_and_out_of_range_input() {
    let delay = VarInt::default();
    let none = std::iter::empty::<RangeInclusive<u64>>();
    assert_eq!(
        Ack::from_ranges(none, delay, None),
        Err(InvalidAckRanges::Empty)
    );
    assert_eq!(
        Ack::from_ranges([1..=2, 5..=6], delay, None),
        Err(InvalidAckRanges::NotDescending)
    );
    assert_eq!(
        Ack::from_ranges([5..=8, 3..=5], delay, None),
        Err(InvalidAckRanges::NotDescending)
    );
    #[expect(clippy::reversed_empty_ranges, reason = "the case under test")]
    let inverted = [5..=3];
    assert_eq!(
        Ack::from_ranges(inverted, delay, None),
        Err(InvalidAckRanges::Inverted)
    );
    assert_eq!(
        Ack::from_ranges([0..=(1 << 62)], delay, None),
        Err(InvalidAckRanges::TooLarge)
    );
}

#[test]
fn equality_ignores_how_the_integers_were_encoded() {
    let minimal = decode_ack("02 05 00 00 01").unwrap();
    let padded = decode_ack("02 05 00 00 4001").unwrap();
    assert_eq!(minimal, padded);
    assert_ne!(minimal, decode_ack("02 05 00 00 02").unwrap());
}

#[test]
fn ack_delay_is_kept_raw() {
    let ack = Ack::from_ranges([0..=0], VarInt::from_u32(1_000), None).unwrap();
    // Scaling by the peer's ack_delay_exponent is the caller's job.
    let delay = Duration::from_micros(ack.ack_delay().into_inner() << 3);
    assert_eq!(delay, Duration::from_millis(8));
}

proptest! {
    #[test]
    fn from_ranges_and_iter_agree_on_arbitrary_ranges(ack in strategy::ack()) {
        let again = Ack::from_ranges(ack.iter(), ack.ack_delay(), ack.ecn()).unwrap();
        prop_assert_eq!(&again, &ack);
        let list = ranges(&ack);
        prop_assert_eq!(list.len(), ack.iter().len());
        for pair in list.windows(2) {
            prop_assert!(pair[1].end() + 1 < *pair[0].start());
        }
    }

    #[test]
    fn arbitrary_range_bytes_decode_or_fail_without_panicking(
        head in vec(any::<u8>(), 0..24),
        count in any::<u64>(),
    ) {
        // A valid largest and count, then arbitrary range bytes.
        let mut wire = vec![0x02, 0xbf, 0xff, 0xff, 0xff, 0x00];
        VarInt::from_u64_bounded(count >> 2).encode(&mut wire);
        wire.extend(head);
        let mut buf = Bytes::from(wire);
        if let Ok(Frame::Ack(ack)) = Frame::decode(&mut buf) {
            prop_assert_eq!(ack.iter().count(), ack.iter().len());
        }
    }
}

#[test]
fn write_ranges_writes_what_from_ranges_encodes_and_respects_the_limit() {
    let ranges = [95..=100, 89..=91, 87..=87];
    let mut buf = vec![0xff];
    let written = Ack::write_ranges(
        ranges.iter().cloned(),
        VarInt::from_u32(5),
        None,
        &mut buf,
        100,
    );
    assert_eq!(written, Ok(true));
    assert_eq!(
        Bytes::from(buf[1..].to_vec()),
        hex("02 4064 05 02 05 02 02 00 00")
    );
    // One byte short of the room it needs: nothing is written.
    let mut short = vec![0xff];
    let fits = Ack::write_ranges(
        ranges.iter().cloned(),
        VarInt::from_u32(5),
        None,
        &mut short,
        10,
    );
    assert_eq!((fits, short.len()), (Ok(false), 1));
    let mut bad = Vec::new();
    assert_eq!(
        Ack::write_ranges(
            [1..=2, 5..=6].iter().cloned(),
            VarInt::default(),
            None,
            &mut bad,
            100
        ),
        Err(InvalidAckRanges::NotDescending)
    );
    assert!(bad.is_empty(), "nothing written for invalid ranges");
}

proptest! {
    // Any valid set of ranges: writing in place and building then encoding
    // give the same bytes, with and without ECN counts.
    #[test]
    fn write_ranges_matches_from_ranges(
        gaps in vec((0_u64..5, 0_u64..5), 1..40),
        ecn in proptest::option::of((0_u32..1000, 0_u32..1000, 0_u32..1000)),
    ) {
        let mut ranges = Vec::new();
        let mut top = 10_000_u64;
        for (gap, len) in gaps {
            ranges.push(top - len..=top);
            top = top - len - gap - 1;
        }
        let ecn = ecn.map(|(a, b, c)| EcnCounts {
            ect0: VarInt::from_u32(a),
            ect1: VarInt::from_u32(b),
            ce: VarInt::from_u32(c),
        });
        let ack = Ack::from_ranges(ranges.iter().cloned(), VarInt::from_u32(3), ecn).unwrap();
        let mut built = Vec::new();
        ack.encode(&mut built);
        let mut written = Vec::new();
        let fit = Ack::write_ranges(ranges.iter().cloned(), VarInt::from_u32(3), ecn, &mut written, usize::MAX);
        prop_assert_eq!(fit, Ok(true));
        prop_assert_eq!(written, built);
    }
}
