//! Random connection IDs that carry the shard of the endpoint that made
//! them, hidden from observers.
//!
//! The shard sits in the low bits of the first byte, XORed with a mask
//! that a keyed pseudo-random function draws from the other bytes: AES-128
//! applied to them as QUIC header protection applies it to a sample (RFC
//! 9001 §5.4.3), under a key the shards share and nobody else knows. The
//! rest of the ID is random, so the mask is too, and an observer learns
//! nothing from the first byte: RFC 9000 §5.1 forbids information that
//! links two IDs of one connection, and every ID of a connection carries
//! the same shard. The draft on QUIC-LB (draft-ietf-quic-load-balancers,
//! *Server Process Demultiplexing*) suggests the same construction.

use std::{fmt, sync::Arc};

use rand::RngCore;

use super::{ConnectionId, ConnectionIdGenerator};
use crate::crypto::provider::backend::aead::quic::{AES_128, HeaderProtectionKey};

/// Random connection IDs of a fixed length that carry a shard index (see
/// [`ConnectionIdGenerator::sharded`]); made by
/// [`RandomConnectionIdGenerator`](super::RandomConnectionIdGenerator)'s
/// `sharded`.
pub struct ShardedRandomConnectionIdGenerator {
    len: u8,
    shard: u8,
    /// How many shards there are, 1 to 256.
    shards: u16,
    /// The low bits of the first byte that hold the shard.
    bits: u8,
    /// Draws the mask; shared by the shards of one endpoint.
    key: Arc<HeaderProtectionKey>,
}

impl fmt::Debug for ShardedRandomConnectionIdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedRandomConnectionIdGenerator")
            .field("len", &self.len)
            .field("shard", &self.shard)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

impl ShardedRandomConnectionIdGenerator {
    /// The shortest ID that carries a shard: the first byte, and at least
    /// 3 random bytes to draw its mask from.
    pub const MIN_LEN: usize = 4;
    /// The most shards: the first byte's 8 bits.
    pub const MAX_SHARDS: usize = 256;

    /// The generators of `shards` shards making `len`-byte IDs, under a
    /// key drawn from `rng`; `None` when `len` is below
    /// [`MIN_LEN`](Self::MIN_LEN) or above 20, or `shards` is 0 or above
    /// [`MAX_SHARDS`](Self::MAX_SHARDS).
    #[must_use]
    pub fn all(
        len: usize,
        shards: usize,
        rng: &mut dyn RngCore,
    ) -> Option<Vec<Arc<dyn ConnectionIdGenerator>>> {
        if !(Self::MIN_LEN..=ConnectionId::MAX_LEN).contains(&len)
            || !(1..=Self::MAX_SHARDS).contains(&shards)
        {
            return None;
        }
        let mut bytes = zeroize::Zeroizing::new([0; 16]);
        rng.fill_bytes(&mut *bytes);
        let key = Arc::new(HeaderProtectionKey::new(&AES_128, &*bytes).ok()?);
        // The bits that count 0..shards: none for a single shard.
        let bits = u8::try_from(shards.next_power_of_two().trailing_zeros()).ok()?;
        let len = u8::try_from(len).ok()?;
        let shards16 = u16::try_from(shards).ok()?;
        (0..shards)
            .map(|shard| {
                let generator: Arc<dyn ConnectionIdGenerator> = Arc::new(Self {
                    len,
                    shard: u8::try_from(shard).ok()?,
                    shards: shards16,
                    bits,
                    key: key.clone(),
                });
                Some(generator)
            })
            .collect()
    }

    /// The shard this generator's IDs carry.
    #[must_use]
    pub fn shard(&self) -> usize {
        usize::from(self.shard)
    }

    /// The mask of the first byte's low bits for an ID whose other bytes
    /// are `rest`.
    fn mask(&self, rest: &[u8]) -> u8 {
        let mut sample = [0; 16];
        let n = rest.len().min(16);
        sample[..n].copy_from_slice(&rest[..n]);
        // AES-128 takes any 16-byte sample.
        let mask = self.key.new_mask(&sample).unwrap_or_default();
        mask[0] & self.low_bits()
    }

    fn low_bits(&self) -> u8 {
        // `bits` is at most 8.
        u8::try_from((1u16 << self.bits) - 1).unwrap_or(u8::MAX)
    }
}

impl ConnectionIdGenerator for ShardedRandomConnectionIdGenerator {
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId {
        let mut cid = ConnectionId::EMPTY;
        cid.len = self.len;
        let bytes = &mut cid.bytes[..usize::from(self.len)];
        rng.fill_bytes(bytes);
        let mask = self.mask(&bytes[1..]);
        bytes[0] = (bytes[0] & !self.low_bits()) | ((self.shard ^ mask) & self.low_bits());
        cid
    }

    fn cid_len(&self) -> usize {
        usize::from(self.len)
    }

    fn shard_of(&self, cid: &[u8]) -> Option<usize> {
        if cid.len() != usize::from(self.len) {
            return None;
        }
        let shard = (cid[0] ^ self.mask(&cid[1..])) & self.low_bits();
        (u16::from(shard) < self.shards).then_some(usize::from(shard))
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn every_id_reads_back_as_the_shard_that_made_it() {
        let mut rng = StdRng::seed_from_u64(1);
        for shards in [1, 2, 3, 4, 7, 256] {
            let generators = ShardedRandomConnectionIdGenerator::all(8, shards, &mut rng).unwrap();
            assert_eq!(generators.len(), shards);
            for (shard, generator) in generators.iter().enumerate() {
                for _ in 0..50 {
                    let cid = generator.generate(&mut rng);
                    assert_eq!(cid.len(), 8);
                    for reader in &generators {
                        assert_eq!(reader.shard_of(&cid), Some(shard));
                    }
                }
            }
        }
    }

    #[test]
    fn the_shard_bits_look_random_to_an_observer() {
        // Two shards, one bit: in IDs of shard 0 the bit is the mask, so
        // about half of them show 1.
        let mut rng = StdRng::seed_from_u64(2);
        let generators = ShardedRandomConnectionIdGenerator::all(8, 2, &mut rng).unwrap();
        let ones = (0..1000)
            .filter(|_| generators[0].generate(&mut rng)[0] & 1 == 1)
            .count();
        assert!(
            (400..600).contains(&ones),
            "{ones} of 1000 IDs had the bit set"
        );
    }

    #[test]
    fn ids_of_other_lengths_or_shards_out_of_range_carry_none() {
        let mut rng = StdRng::seed_from_u64(3);
        let generators = ShardedRandomConnectionIdGenerator::all(8, 3, &mut rng).unwrap();
        assert_eq!(generators[0].shard_of(&[0; 7]), None);
        assert_eq!(generators[0].shard_of(&[]), None);
        // 3 shards use two bits; the fourth value is no shard. Over many
        // random IDs about a quarter decode to it.
        let out_of_range = (0..400)
            .filter(|_| {
                let mut cid = [0; 8];
                rng.fill_bytes(&mut cid);
                generators[1].shard_of(&cid).is_none()
            })
            .count();
        assert!((50..150).contains(&out_of_range), "{out_of_range}");
    }

    #[test]
    fn short_ids_and_too_many_shards_are_refused() {
        let mut rng = StdRng::seed_from_u64(4);
        assert!(ShardedRandomConnectionIdGenerator::all(3, 2, &mut rng).is_none());
        assert!(ShardedRandomConnectionIdGenerator::all(21, 2, &mut rng).is_none());
        assert!(ShardedRandomConnectionIdGenerator::all(8, 0, &mut rng).is_none());
        assert!(ShardedRandomConnectionIdGenerator::all(8, 257, &mut rng).is_none());
        let random = super::super::RandomConnectionIdGenerator::default();
        assert_eq!(random.sharded(2, &mut rng).map(|g| g.len()), Some(2));
        assert_eq!(random.shard_of(&[0; 8]), None);
    }
}
