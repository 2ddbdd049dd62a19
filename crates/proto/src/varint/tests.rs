use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// RFC 9000 §A.1 (test): the sample encodings decode to the listed values and
// re-encode (shortest form aside) byte for byte.
#[test]
fn rfc9000_appendix_a1_examples_decode_byte_for_byte() {
    let cases = [
        ("c2197c5eff14e88c", 151_288_809_941_952_652_u64, 8),
        ("9d7f3e7d", 494_878_333, 4),
        ("7bbd", 15_293, 2),
        ("25", 37, 1),
    ];
    for (encoded, value, size) in cases {
        let bytes = hex(encoded);
        let (decoded, used) = VarInt::decode_slice(&bytes).unwrap();
        assert_eq!(decoded.into_inner(), value);
        assert_eq!(used, size);
        let mut out = Vec::new();
        decoded.encode(&mut out);
        assert_eq!(out, bytes, "shortest encoding of {value}");
    }
    // The two-byte encoding of 37 is a valid, non-minimal encoding.
    let (decoded, used) = VarInt::decode_slice(&hex("4025")).unwrap();
    assert_eq!((decoded.into_inner(), used), (37, 2));
}

#[test]
fn values_at_the_size_boundaries_take_the_right_size() {
    for (value, size) in [
        (0, 1),
        (63, 1),
        (64, 2),
        (16_383, 2),
        (16_384, 4),
        ((1 << 30) - 1, 4),
        (1 << 30, 8),
    ] {
        assert_eq!(VarInt::from_u64(value).unwrap().size(), size, "{value}");
    }
    assert_eq!(VarInt::MAX.size(), 8);
    assert_eq!(VarInt::from_u64(1 << 62), Err(VarIntBoundsExceeded));
}

#[test]
fn truncated_encodings_are_errors() {
    assert_eq!(VarInt::decode_slice(&[]), Err(UnexpectedEnd));
    for len in 0..8 {
        let bytes = hex("c2197c5eff14e88c");
        assert_eq!(
            VarInt::decode_slice(&bytes[..len]),
            Err(UnexpectedEnd),
            "len {len}"
        );
    }
}

#[test]
fn encode_with_size_pads_to_the_requested_width() {
    let mut out = Vec::new();
    VarInt::from_u32(5).encode_with_size(4, &mut out);
    assert_eq!(out, [0x80, 0, 0, 5]);
    assert_eq!(
        VarInt::decode_slice(&out).unwrap(),
        (VarInt::from_u32(5), 4)
    );
}

proptest! {
    #[test]
    fn every_value_round_trips(value in 0..=VarInt::MAX.into_inner()) {
        let v = VarInt::from_u64(value).unwrap();
        let mut out = Vec::new();
        v.encode(&mut out);
        prop_assert_eq!(out.len(), v.size());
        prop_assert_eq!(VarInt::decode_slice(&out).unwrap(), (v, v.size()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..10)) {
        if let Ok((v, used)) = VarInt::decode_slice(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert!(v <= VarInt::MAX);
        }
    }
}
