//! `QuicLbGenerator` as a `ConnectionIdGenerator`: IDs that decode to the
//! server ID, repeatable from a seed, and shards that read back.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashSet;

use rand::{SeedableRng, rngs::StdRng};
use tern_proto::ConnectionIdGenerator;
use tern_quic_lb::{Codec, Config, QuicLbGenerator};

const SID: [u8; 3] = [0xc4, 0x60, 0x5e];

fn generator(key: Option<[u8; 16]>, nonce_len: usize) -> QuicLbGenerator {
    QuicLbGenerator::new(Config::new(3, &SID, nonce_len, key).unwrap())
}

#[test]
fn ids_carry_the_server_id_and_repeat_from_a_seed() {
    for key in [None, Some([0x42; 16])] {
        let generator = generator(key, 5);
        assert_eq!(generator.cid_len(), 1 + 3 + 5);
        let (mut a, mut b) = (StdRng::seed_from_u64(1), StdRng::seed_from_u64(1));
        let mut seen = HashSet::new();
        let mut low_bits = HashSet::new();
        for _ in 0..200 {
            let cid = generator.generate(&mut a);
            assert_eq!(cid, generator.generate(&mut b));
            assert_eq!(cid.len(), generator.cid_len());
            assert_eq!(cid[0] >> 5, 3);
            low_bits.insert(cid[0] & 0x1f);
            assert_eq!(generator.codec().decode(&cid).unwrap().server_id(), SID);
            assert!(seen.insert(cid), "a repeated ID");
        }
        // draft-ietf-quic-load-balancers §3.3: without length encoding the
        // first octet's low bits are random.
        assert!(low_bits.len() > 16, "{low_bits:?}");
        // Not sharded: no shard to read.
        assert_eq!(generator.shard(), None);
        assert_eq!(generator.shard_of(&generator.generate(&mut a)), None);
    }
}

#[test]
fn a_self_encoding_generator_writes_the_length() {
    let config = Config::new(1, &SID, 8, None).unwrap().encode_length(true);
    let generator = QuicLbGenerator::new(config);
    let cid = generator.generate(&mut StdRng::seed_from_u64(2));
    assert_eq!(cid[0], (1 << 5) | 11);
}

#[test]
fn every_shards_ids_read_back_as_its_shard() {
    let mut rng = StdRng::seed_from_u64(3);
    for key in [None, Some([7; 16])] {
        for nonce_len in [4, 5, 16] {
            for shards in [1, 2, 3, 7, 8, 200, 256] {
                let generators = generator(key, nonce_len).sharded(shards, &mut rng).unwrap();
                assert_eq!(generators.len(), shards);
                for (index, shard) in generators.iter().enumerate().step_by(7) {
                    assert_eq!(shard.cid_len(), 1 + 3 + nonce_len);
                    for _ in 0..20 {
                        let cid = shard.generate(&mut rng);
                        assert_eq!(shard.shard_of(&cid), Some(index));
                        // Any shard reads any other's IDs.
                        assert_eq!(generators[0].shard_of(&cid), Some(index));
                        let codec = Codec::new(Config::new(3, &SID, nonce_len, key).unwrap());
                        assert_eq!(codec.decode(&cid).unwrap().server_id(), SID);
                    }
                }
            }
        }
    }
}

#[test]
fn sharding_refuses_zero_and_more_than_256_shards() {
    let mut rng = StdRng::seed_from_u64(4);
    let generator = generator(None, 4);
    assert!(generator.sharded(0, &mut rng).is_none());
    assert!(generator.sharded(257, &mut rng).is_none());
    assert!(generator.sharded(256, &mut rng).is_some());
}

/// RFC 9000 §5.1: the IDs of one connection, all from one shard, must not
/// be linkable; in plaintext the shard bits are masked, so they vary.
#[test]
fn the_shard_bits_of_a_plaintext_id_look_random() {
    let mut rng = StdRng::seed_from_u64(5);
    let generators = generator(None, 4).sharded(2, &mut rng).unwrap();
    let mut low_bits = HashSet::new();
    for _ in 0..64 {
        let cid = generators[1].generate(&mut rng);
        // The nonce follows the first octet and the 3-byte server ID.
        low_bits.insert(cid[4] & 1);
    }
    assert_eq!(low_bits.len(), 2);
}

#[test]
fn shard_of_is_none_for_ids_not_ours() {
    let mut rng = StdRng::seed_from_u64(6);
    let key = Some([1; 16]);
    let ours = generator(key, 6).sharded(4, &mut rng).unwrap();
    let cid = ours[2].generate(&mut rng);
    assert_eq!(ours[0].shard_of(&cid), Some(2));

    // Another server ID under the same config and key.
    let other_sid = Config::new(3, &[0xc4, 0x60, 0x5f], 6, key).unwrap();
    let theirs = QuicLbGenerator::new(other_sid).generate(&mut rng);
    assert_eq!(ours[0].shard_of(&theirs), None);
    // Another config rotation codepoint.
    let mut other_config = cid.to_vec();
    other_config[0] ^= 0x20;
    assert_eq!(ours[0].shard_of(&other_config), None);
    // Other lengths.
    assert_eq!(ours[0].shard_of(&cid[..cid.len() - 1]), None);
    assert_eq!(ours[0].shard_of(&[&cid[..], &[0]].concat()), None);
    assert_eq!(ours[0].shard_of(&[]), None);
}

/// With 3 shards the 2 shard bits can also say 3: such IDs (here, random
/// nonces under our server ID) are refused, the others give a shard.
#[test]
fn shard_of_refuses_a_shard_beyond_the_count() {
    let mut rng = StdRng::seed_from_u64(7);
    let config = Config::new(3, &SID, 4, None).unwrap();
    let shards = QuicLbGenerator::new(config.clone())
        .sharded(3, &mut rng)
        .unwrap();
    let codec = Codec::new(config);
    let mut outcomes = HashSet::new();
    for n in 0_u32..256 {
        let cid = codec.encode(&n.to_be_bytes(), 0).unwrap();
        outcomes.insert(shards[0].shard_of(&cid));
    }
    assert_eq!(outcomes, HashSet::from([None, Some(0), Some(1), Some(2)]));
}
