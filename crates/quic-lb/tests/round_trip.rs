//! Encoding then decoding gives back the server ID and nonce, for every
//! server ID and nonce length the draft allows, with and without a key;
//! decoding takes any bytes without panicking.
#![expect(clippy::unwrap_used, reason = "tests")]

use proptest::prelude::*;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use tern_quic_lb::{Codec, Config, DecodeError};

/// Every (server ID length, nonce length) the draft allows.
fn lengths() -> impl Iterator<Item = (usize, usize)> {
    (1..=Config::MAX_SERVER_ID_LEN).flat_map(|sid| {
        (Config::MIN_NONCE_LEN..=Config::MAX_NONCE_LEN)
            .filter(move |nonce| sid + nonce <= Config::MAX_PLAINTEXT_LEN)
            .map(move |nonce| (sid, nonce))
    })
}

#[test]
fn every_length_combination_round_trips_with_and_without_a_key() {
    let mut rng = StdRng::seed_from_u64(0x9b);
    let mut combinations = 0;
    for (sid_len, nonce_len) in lengths() {
        for keyed in [false, true] {
            combinations += 1;
            let mut sid = vec![0; sid_len];
            rng.fill_bytes(&mut sid);
            let mut key = [0; 16];
            rng.fill_bytes(&mut key);
            let key = keyed.then_some(key);
            let config_id = u8::try_from(combinations % 7).unwrap();
            let codec = Codec::new(Config::new(config_id, &sid, nonce_len, key).unwrap());
            for _ in 0..8 {
                let mut nonce = vec![0; nonce_len];
                rng.fill_bytes(&mut nonce);
                let cid = codec.encode(&nonce, 0x15).unwrap();
                assert_eq!(cid.len(), 1 + sid_len + nonce_len);
                assert_eq!(cid[0], (config_id << 5) | 0x15);
                // Without a key the plaintext block is on the wire; with
                // one it is not (the chance that a block encrypts to
                // itself is negligible).
                assert_eq!(cid[1..] == [&sid[..], &nonce[..]].concat(), !keyed);
                let decoded = codec.decode(&cid).unwrap();
                assert_eq!(decoded.server_id(), sid);
                assert_eq!(decoded.nonce(), nonce);
                assert_eq!(*codec.server_id(&cid).unwrap(), sid[..]);
            }
        }
    }
    // A server ID of s bytes takes nonces of 4 to 19 - s bytes (18 at
    // most): 16 - s lengths, 120 pairs in all.
    assert_eq!(combinations, 2 * 120);
}

#[test]
fn a_self_encoded_length_is_the_length_after_the_first_octet() {
    for (sid_len, nonce_len) in lengths() {
        let config = Config::new(5, &vec![1; sid_len], nonce_len, None).unwrap();
        let codec = Codec::new(config.encode_length(true));
        let cid = codec.encode(&vec![2; nonce_len], 0x1f).unwrap();
        assert_eq!(
            cid[0],
            (5 << 5) | u8::try_from(sid_len + nonce_len).unwrap()
        );
    }
}

#[test]
fn encode_refuses_a_nonce_of_another_length() {
    let codec = Codec::new(Config::new(0, &[1, 2], 6, None).unwrap());
    let error = codec.encode(&[0; 5], 0).unwrap_err();
    assert_eq!((error.expected, error.actual), (6, 5));
}

#[test]
fn decode_refuses_other_lengths_and_config_ids() {
    let codec = Codec::new(Config::new(2, &[1, 2, 3], 4, Some([9; 16])).unwrap());
    let cid = codec.encode(&[4; 4], 0).unwrap();
    for len in [0, 1, 7, 9, 20] {
        let mut other = cid.to_vec();
        other.resize(len, 0x40);
        assert_eq!(
            codec.decode(&other),
            Err(DecodeError::Length {
                expected: 8,
                actual: len
            })
        );
        assert!(codec.server_id(&other).is_err());
    }
    let mut other = cid.to_vec();
    other[0] ^= 0xe0;
    assert_eq!(
        codec.decode(&other),
        Err(DecodeError::ConfigId {
            expected: 2,
            actual: 5
        })
    );
}

/// A configuration of the lengths proptest picked.
fn config() -> impl Strategy<Value = (Config, bool)> {
    (
        1..=15_usize,
        4..=18_usize,
        0..=6_u8,
        any::<Option<[u8; 16]>>(),
        any::<bool>(),
    )
        .prop_filter("sid + nonce <= 19", |(sid, nonce, ..)| sid + nonce <= 19)
        .prop_flat_map(|(sid_len, nonce_len, id, key, encode)| {
            (
                proptest::collection::vec(any::<u8>(), sid_len),
                Just((nonce_len, id, key, encode)),
            )
        })
        .prop_map(|(sid, (nonce_len, id, key, encode))| {
            let config = Config::new(id, &sid, nonce_len, key).unwrap();
            (config.encode_length(encode), encode)
        })
}

proptest! {
    #[test]
    fn decoding_inverts_encoding(
        (config, _) in config(),
        seed in any::<u64>(),
        random_bits in any::<u8>(),
    ) {
        let mut nonce = vec![0; config.nonce_len()];
        StdRng::seed_from_u64(seed).fill_bytes(&mut nonce);
        let codec = Codec::new(config.clone());
        let cid = codec.encode(&nonce, random_bits).unwrap();
        let decoded = codec.decode(&cid).unwrap();
        prop_assert_eq!(decoded.server_id(), config.server_id());
        prop_assert_eq!(decoded.nonce(), &nonce[..]);
        prop_assert_eq!(&*codec.server_id(&cid).unwrap(), config.server_id());
    }

    /// Any bytes decode or are refused, and whatever decodes encodes back
    /// to the same bytes: encoding is a bijection on IDs of the right
    /// length and codepoint (with random low bits in the first octet).
    #[test]
    fn any_bytes_decode_without_panic_and_encode_back(
        (config, encode_length) in config(),
        bytes in proptest::collection::vec(any::<u8>(), 0..=21),
    ) {
        let codec = Codec::new(config.clone());
        let full = codec.decode(&bytes);
        let sid = codec.server_id(&bytes);
        prop_assert_eq!(full.is_ok(), sid.is_ok());
        if let (Ok(decoded), Ok(sid)) = (full, sid) {
            prop_assert_eq!(decoded.server_id(), &*sid);
            let again = codec.encode(decoded.nonce(), bytes[0]).unwrap();
            if decoded.server_id() == config.server_id() {
                if encode_length {
                    prop_assert_eq!(&again[1..], &bytes[1..]);
                } else {
                    prop_assert_eq!(&again[..], &bytes[..]);
                }
            }
        }
    }
}
