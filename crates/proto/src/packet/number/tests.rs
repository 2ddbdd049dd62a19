use proptest::prelude::*;

use super::*;

// RFC 9000 §17.1 (test): with 0xabe8b3 acknowledged, 0xac5c02 needs 16 bits
// and 0xace8fe needs 24, the worked example of §17.1 and §A.2.
#[test]
fn rfc9000_example_picks_sixteen_then_twenty_four_bits() {
    let pn = PacketNumber::new(0xac5c02, Some(0xabe8b3));
    assert_eq!(pn, PacketNumber::U16(0x5c02));
    let mut out = Vec::new();
    pn.encode(&mut out);
    assert_eq!(out, [0x5c, 0x02]);

    let pn = PacketNumber::new(0xace8fe, Some(0xabe8b3));
    assert_eq!(pn, PacketNumber::U24(0xace8fe));
    let mut out = Vec::new();
    pn.encode(&mut out);
    assert_eq!(out, [0xac, 0xe8, 0xfe]);
}

// RFC 9000 §A.3 (test): 0x9b32 in 16 bits after 0xa82f30ea decodes to 0xa82f9b32.
#[test]
fn rfc9000_example_decodes_to_a82f9b32() {
    assert_eq!(
        decode_packet_number(Some(0xa82f30ea), 0x9b32, 16),
        0xa82f9b32
    );
    let mut wire: &[u8] = &[0x9b, 0x32];
    let pn = PacketNumber::decode(2, &mut wire).unwrap();
    assert_eq!(pn.expand(Some(0xa82f30ea)), 0xa82f9b32);
}

// RFC 9000 §17.1 (test): the range covered must be more than twice the
// unacknowledged distance, so a distance of exactly half a window needs the
// next size up.
#[test]
fn length_grows_at_half_a_window() {
    assert_eq!(PacketNumber::new(127, Some(0)).encoded_len(), 1);
    assert_eq!(PacketNumber::new(128, Some(0)).encoded_len(), 2);
    assert_eq!(PacketNumber::new(126, None).encoded_len(), 1);
    assert_eq!(PacketNumber::new(127, None).encoded_len(), 2);
    assert_eq!(PacketNumber::new((1 << 15) - 1, Some(0)).encoded_len(), 2);
    assert_eq!(PacketNumber::new(1 << 15, Some(0)).encoded_len(), 3);
    assert_eq!(PacketNumber::new(1 << 23, Some(0)).encoded_len(), 4);
    assert_eq!(PacketNumber::new(u64::MAX, None).encoded_len(), 4);
}

#[test]
fn every_length_round_trips_through_the_wire() {
    for pn in [
        PacketNumber::U8(0xab),
        PacketNumber::U16(0xabcd),
        PacketNumber::U24(0x00ab_cdef),
        PacketNumber::U32(0xabcd_ef01),
    ] {
        let mut out = Vec::new();
        pn.encode(&mut out);
        assert_eq!(out.len(), pn.encoded_len());
        assert_eq!(usize::from(pn.len_bits()) + 1, pn.encoded_len());
        let mut wire = &out[..];
        assert_eq!(PacketNumber::decode(pn.encoded_len(), &mut wire), Ok(pn));
        assert!(wire.is_empty());
    }
}

#[test]
fn short_input_and_bad_lengths_are_errors() {
    for len in 1..=4 {
        let mut wire: &[u8] = &[0; 3][..len - 1];
        assert_eq!(PacketNumber::decode(len, &mut wire), Err(UnexpectedEnd));
    }
    let mut wire: &[u8] = &[0; 8];
    assert_eq!(PacketNumber::decode(0, &mut wire), Err(UnexpectedEnd));
    assert_eq!(PacketNumber::decode(5, &mut wire), Err(UnexpectedEnd));
    assert_eq!(wire.len(), 8);
}

#[test]
fn the_first_packet_expands_from_zero() {
    assert_eq!(PacketNumber::U8(0).expand(None), 0);
    assert_eq!(PacketNumber::U8(5).expand(None), 5);
    assert_eq!(PacketNumber::U8(0xff).expand(Some(0xfe)), 0xff);
    assert_eq!(PacketNumber::U8(0x00).expand(Some(0xff)), 0x100);
}

#[test]
fn decoding_near_the_top_of_the_space_does_not_overflow() {
    let top = (1_u64 << 62) - 1;
    for largest in [top - 1, top, u64::MAX - 1, u64::MAX] {
        for nbits in [0, 8, 16, 24, 32, 33, u32::MAX] {
            for truncated in [0, 1, 0x7f, 0x80, 0xff, u32::MAX] {
                let _ = decode_packet_number(Some(largest), truncated, nbits);
            }
        }
    }
    // The last number of the space still decodes exactly.
    let pn = PacketNumber::new(top, Some(top - 1));
    assert_eq!(pn.expand(Some(top - 1)), top);
}

proptest! {
    #[test]
    fn any_number_with_a_legal_largest_acked_round_trips(
        pn in 0..(1_u64 << 62),
        gap in 1_u64..(1 << 31),
        received_ahead in 0_u64..(1 << 20),
    ) {
        let acked = pn.checked_sub(gap);
        let encoded = PacketNumber::new(pn, acked);
        // The receiver has processed at least what the sender saw acknowledged,
        // and at most the packets just before this one.
        let largest = acked.map(|a| a.saturating_add(received_ahead).min(pn.saturating_sub(1)));
        let largest = if pn == 0 { None } else { largest };
        let mut out = Vec::new();
        encoded.encode(&mut out);
        let mut wire = &out[..];
        let decoded = PacketNumber::decode(out.len(), &mut wire).unwrap();
        prop_assert_eq!(decoded.expand(largest), pn);
    }

    #[test]
    fn decoding_never_panics(largest in any::<Option<u64>>(), truncated: u32, nbits: u32) {
        let _ = decode_packet_number(largest, truncated, nbits);
    }
}
