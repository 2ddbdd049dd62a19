//! [`QuicLbGenerator`]: QUIC-LB connection IDs for a Tern endpoint, and
//! for each shard of a multi-core one.

use std::{fmt, sync::Arc};

use aes::{
    Aes128,
    cipher::{Array, BlockCipherEncrypt, KeyInit},
};
use rand::RngCore;
use tern_proto::{ConnectionId, ConnectionIdGenerator};

use crate::{Codec, Config};

/// Makes QUIC-LB connection IDs with random nonces; set it as
/// `EndpointConfig::cid_generator`.
///
/// Every ID carries the configured server ID, so a QUIC-LB load balancer
/// routes it to this server. The nonce is drawn from the RNG `generate` is
/// given, so a seeded run repeats its IDs.
///
/// # Shards
///
/// [`sharded`](ConnectionIdGenerator::sharded) makes one generator per
/// event loop of a multi-core endpoint. Shard `i` writes `i` into the low
/// `ceil(log2(shards))` bits of the nonce's first byte, XORed with a mask
/// that AES-128 draws from the nonce's other bytes under a key that only
/// the shards share (as the draft's *Server Process Demultiplexing*
/// section suggests, like QUIC header protection). Those bits then look
/// random to anyone without the key, even in a configuration without
/// encryption, so they do not link the IDs of one connection (RFC 9000
/// §5.1). The cost is entropy: those bits are no longer random, so a
/// shard's nonces have `8 * nonce_len - ceil(log2(shards))` random bits
/// (at least 24 with the smallest nonce, 4 bytes, and 256 shards), and
/// repeat after about the square root of that many IDs (draft §9.6).
pub struct QuicLbGenerator {
    codec: Arc<Codec>,
    shard: Option<Shard>,
}

/// What a shard's generator knows of the shards.
struct Shard {
    index: u8,
    /// How many shards there are, 1 to 256.
    count: u16,
    /// The low bits of the nonce's first byte that hold the shard.
    bits: u8,
    /// Draws the mask; shared by the shards.
    key: Arc<Aes128>,
}

impl QuicLbGenerator {
    /// The most shards [`sharded`](ConnectionIdGenerator::sharded) makes:
    /// the 8 bits of the nonce's first byte.
    pub const MAX_SHARDS: usize = 256;
    /// The fewest random bits a shard's nonce keeps; sharding is refused
    /// below it. With nonces of at least 4 bytes and at most 256 shards it
    /// always holds.
    pub const MIN_RANDOM_BITS: usize = 24;

    /// A generator of `config`'s connection IDs.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            codec: Arc::new(Codec::new(config)),
            shard: None,
        }
    }

    /// The codec that encodes this generator's IDs, and decodes them.
    #[must_use]
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The shard this generator's IDs carry, for one of
    /// [`sharded`](ConnectionIdGenerator::sharded)'s generators.
    #[must_use]
    pub fn shard(&self) -> Option<usize> {
        self.shard.as_ref().map(|shard| usize::from(shard.index))
    }
}

impl Shard {
    /// The mask of the shard bits for a nonce whose other bytes are
    /// `rest` (at least 3; the first 16 are used, which leaves the mask
    /// unpredictable as long as they are random).
    fn mask(&self, rest: &[u8]) -> u8 {
        let mut block = [0; 16];
        let n = rest.len().min(16);
        block[..n].copy_from_slice(&rest[..n]);
        let mut block = Array::from(block);
        self.key.encrypt_block(&mut block);
        block[0] & self.low_bits()
    }

    fn low_bits(&self) -> u8 {
        // `bits` is at most 8.
        u8::try_from((1_u16 << self.bits) - 1).unwrap_or(u8::MAX)
    }
}

impl ConnectionIdGenerator for QuicLbGenerator {
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId {
        let config = self.codec.config();
        let mut nonce = [0; Config::MAX_NONCE_LEN];
        let nonce = &mut nonce[..config.nonce_len()];
        // draft-ietf-quic-load-balancers §5.4: without a key the nonce
        // MUST have no observable relation to earlier ones; random nonces
        // serve both cases (§9.6).
        rng.fill_bytes(nonce);
        if let Some(shard) = &self.shard {
            let low = shard.low_bits();
            let mask = shard.mask(&nonce[1..]);
            nonce[0] = (nonce[0] & !low) | ((shard.index ^ mask) & low);
        }
        // draft-ietf-quic-load-balancers §3.3: when the first octet does
        // not encode the length, its low bits are random.
        let random_bits = if config.encodes_length() {
            0
        } else {
            rng.next_u32().to_le_bytes()[0]
        };
        // The nonce has the configured length, so `encode` succeeds.
        self.codec
            .encode(nonce, random_bits)
            .unwrap_or(ConnectionId::EMPTY)
    }

    fn cid_len(&self) -> usize {
        self.codec.config().cid_len()
    }

    /// Up to [`MAX_SHARDS`](QuicLbGenerator::MAX_SHARDS) shards, as the
    /// type's documentation describes; the mask key is drawn from `rng`.
    fn sharded(
        &self,
        shards: usize,
        rng: &mut dyn RngCore,
    ) -> Option<Vec<Arc<dyn ConnectionIdGenerator>>> {
        if !(1..=Self::MAX_SHARDS).contains(&shards) {
            return None;
        }
        // The bits that count 0..shards: none for a single shard.
        let bits = u8::try_from(shards.next_power_of_two().trailing_zeros()).ok()?;
        let random = 8 * self.codec.config().nonce_len() - usize::from(bits);
        if random < Self::MIN_RANDOM_BITS {
            return None;
        }
        let mut key = zeroize::Zeroizing::new([0; 16]);
        rng.fill_bytes(&mut *key);
        let key = Arc::new(Aes128::new(&Array::from(*key)));
        let count = u16::try_from(shards).ok()?;
        (0..shards)
            .map(|index| {
                let generator: Arc<dyn ConnectionIdGenerator> = Arc::new(Self {
                    codec: self.codec.clone(),
                    shard: Some(Shard {
                        index: u8::try_from(index).ok()?,
                        count,
                        bits,
                        key: key.clone(),
                    }),
                });
                Some(generator)
            })
            .collect()
    }

    /// The shard `cid` carries when it is an ID of this configuration and
    /// server ID; decrypts it first if the configuration has a key.
    fn shard_of(&self, cid: &[u8]) -> Option<usize> {
        let shard = self.shard.as_ref()?;
        let decoded = self.codec.decode(cid).ok()?;
        if decoded.server_id() != self.codec.config().server_id() {
            return None;
        }
        let nonce = decoded.nonce();
        let index = (nonce.first()? ^ shard.mask(nonce.get(1..)?)) & shard.low_bits();
        (u16::from(index) < shard.count).then_some(usize::from(index))
    }
}

impl fmt::Debug for QuicLbGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("QuicLbGenerator");
        debug.field("config", self.codec.config());
        if let Some(shard) = &self.shard {
            debug
                .field("shard", &shard.index)
                .field("shards", &shard.count);
        }
        debug.finish_non_exhaustive()
    }
}
