//! The configurations of the shards of one endpoint: several event loops
//! on one UDP port, each with its own connections.
//!
//! Each shard is an endpoint of its own, and the kernel spreads clients
//! over their sockets by address. What must hold across them:
//!
//! - every connection ID a shard issues carries the shard, so that a
//!   datagram that reached another shard (after a NAT rebinding or a
//!   migration changed its addresses) is handed to the right one
//!   ([`ConnectionIdGenerator::sharded`]);
//! - one stateless reset key (RFC 9000 §10.3.2): a shard that receives a
//!   datagram for a connection no shard holds answers with the reset token
//!   the connection's own shard gave out;
//! - one token key (RFC 9000 §8.1.3): a client's Initial that carries a
//!   Retry or NEW_TOKEN token may reach another shard than the one that
//!   sealed it;
//! - the endpoint's limits hold for the endpoint as a whole: each shard
//!   gets its share.

use std::time::Instant;

use rand::{SeedableRng, rngs::StdRng};

use super::{EndpointConfig, ResetKey, ServerConfig, TokenKey};
use crate::endpoint::os_random;

/// Why an endpoint cannot be split into shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// Zero shards were asked for.
    #[error("an endpoint needs at least one shard")]
    NoShards,
    /// The connection ID generator cannot write that many shards into its
    /// IDs (the random generator takes up to 256, with IDs of at least 4
    /// bytes).
    #[error(
        "the connection ID generator cannot carry {0} shards in its IDs: \
         use IDs of at least 4 bytes and at most 256 shards, or a generator \
         that supports sharding"
    )]
    Generator(usize),
}

/// `limit` shared among `shards`, each getting at least 1 of a nonzero
/// limit: rounded up, so the shards together may exceed it by less than
/// one per shard.
fn share(limit: usize, shards: usize) -> usize {
    if limit == 0 {
        0
    } else {
        limit.div_ceil(shards).max(1)
    }
}

impl EndpointConfig {
    /// The configurations of `shards` shards of this endpoint: the `i`th
    /// makes connection IDs that carry shard `i`; all share one stateless
    /// reset key and one token key, this configuration's or, where it has
    /// none, 32 bytes of the operating system's randomness (token periods
    /// then count from `now`); and each gets its share (rounded up) of
    /// the endpoint-wide limits: [`max_incoming`](Self::max_incoming),
    /// [`max_stateless_responses`](Self::max_stateless_responses), the
    /// stateless [rate](Self::stateless_rate) and
    /// [burst](Self::stateless_burst),
    /// [`max_undecryptable_bytes`](Self::max_undecryptable_bytes) and
    /// [`max_early_zero_rtt_bytes`](Self::max_early_zero_rtt_bytes).
    ///
    /// # Errors
    /// [`ShardError`] for zero shards, or when the connection ID generator
    /// cannot carry them.
    ///
    /// # Panics
    /// If the operating system has no secure random source, as
    /// [`Endpoint::with_os_seed`](crate::endpoint::Endpoint::with_os_seed).
    pub fn shards(&self, shards: usize, now: Instant) -> Result<Vec<Self>, ShardError> {
        if shards == 0 {
            return Err(ShardError::NoShards);
        }
        let mut seed = zeroize::Zeroizing::new([0; 32]);
        os_random(&mut *seed);
        let mut rng = StdRng::from_seed(*seed);
        let generators = self
            .cid_generator
            .sharded(shards, &mut rng)
            .filter(|generators| generators.len() == shards)
            .ok_or(ShardError::Generator(shards))?;
        let reset_key = self.reset_key.clone().unwrap_or_else(|| {
            let mut bytes = [0; 32];
            os_random(&mut bytes);
            ResetKey::new(bytes)
        });
        let token_key = self.token_key.clone().unwrap_or_else(|| {
            let mut bytes = [0; 32];
            os_random(&mut bytes);
            TokenKey::new(bytes, now)
        });
        let stateless_rate = u32::try_from(share(self.stateless_rate as usize, shards))
            .unwrap_or(self.stateless_rate);
        let stateless_burst = u32::try_from(share(self.stateless_burst as usize, shards))
            .unwrap_or(self.stateless_burst);
        Ok(generators
            .into_iter()
            .map(|cid_generator| Self {
                cid_generator,
                reset_key: Some(reset_key.clone()),
                token_key: Some(token_key.clone()),
                max_incoming: share(self.max_incoming, shards),
                max_stateless_responses: share(self.max_stateless_responses, shards),
                stateless_rate,
                stateless_burst,
                max_undecryptable_bytes: share(self.max_undecryptable_bytes, shards),
                max_early_zero_rtt_bytes: share(self.max_early_zero_rtt_bytes, shards),
                ..self.clone()
            })
            .collect())
    }
}

impl ServerConfig {
    /// This configuration for one of `shards` shards of an endpoint (see
    /// [`EndpointConfig::shards`]): each shard gets its share, rounded up,
    /// of [`max_connections`](Self::max_connections) and
    /// [`max_handshakes`](Self::max_handshakes), and of the number of
    /// handshakes in progress past which [`retry`](Self::retry) asks
    /// clients to prove their address. The limit per client address,
    /// [`max_handshakes_per_address`](Self::max_handshakes_per_address),
    /// holds per shard: the kernel spreads one address's ports over the
    /// shards.
    #[must_use]
    pub fn shard(&self, shards: usize) -> Self {
        let shards = shards.max(1);
        let mut config = self.clone();
        config.max_connections = share(self.max_connections, shards);
        config.max_handshakes = share(self.max_handshakes, shards);
        config.retry = self.retry.shared(shards);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryPolicy;

    #[test]
    fn shards_share_keys_and_split_limits_and_each_generator_carries_its_shard() {
        let config = EndpointConfig::default();
        let now = crate::endpoint::tests::epoch();
        let shards = config.shards(3, now).unwrap();
        assert_eq!(shards.len(), 3);
        let mut rng = StdRng::seed_from_u64(5);
        for (i, shard) in shards.iter().enumerate() {
            let cid = shard.cid_generator.generate(&mut rng);
            for reader in &shards {
                assert_eq!(reader.cid_generator.shard_of(&cid), Some(i));
            }
            assert_eq!(
                shard.reset_key.as_ref().unwrap().as_bytes(),
                shards[0].reset_key.as_ref().unwrap().as_bytes()
            );
            let token_key = shard.token_key.as_ref().unwrap();
            assert_eq!(
                token_key.as_bytes(),
                shards[0].token_key.as_ref().unwrap().as_bytes()
            );
            assert_eq!(token_key.epoch(), now);
            assert_eq!(shard.max_incoming, 342);
            assert_eq!(shard.stateless_rate, 67);
            assert_eq!(shard.max_early_zero_rtt_bytes, 256 * 1024 / 3 + 1);
        }
        // Two splits of one configuration draw different keys.
        let again = config.shards(3, now).unwrap();
        assert_ne!(
            again[0].reset_key.as_ref().unwrap().as_bytes(),
            shards[0].reset_key.as_ref().unwrap().as_bytes()
        );
    }

    #[test]
    fn a_configured_key_is_kept_and_impossible_splits_are_refused() {
        let now = crate::endpoint::tests::epoch();
        let config = EndpointConfig {
            reset_key: Some(ResetKey::new([4; 32])),
            ..EndpointConfig::default()
        };
        let shards = config.shards(2, now).unwrap();
        assert_eq!(shards[1].reset_key.as_ref().unwrap().as_bytes(), &[4; 32]);
        assert_eq!(config.shards(0, now).unwrap_err(), ShardError::NoShards);
        assert_eq!(
            config.shards(257, now).unwrap_err(),
            ShardError::Generator(257)
        );
        let short = EndpointConfig {
            cid_generator: std::sync::Arc::new(crate::RandomConnectionIdGenerator::new(3).unwrap()),
            ..EndpointConfig::default()
        };
        assert_eq!(short.shards(2, now).unwrap_err(), ShardError::Generator(2));
    }

    #[test]
    fn server_limits_are_shared_among_shards() {
        let mut server = (*crate::endpoint::tests::server_config_with_early_data(false)).clone();
        server.max_connections = 1001;
        server.max_handshakes = 4096;
        server.retry = RetryPolicy::UnderLoad {
            handshakes_in_progress: 1000,
        };
        let shard = server.shard(2);
        assert_eq!(shard.max_connections, 501);
        assert_eq!(shard.max_handshakes, 2048);
        assert_eq!(
            shard.retry,
            RetryPolicy::UnderLoad {
                handshakes_in_progress: 500
            }
        );
        assert_eq!(
            shard.max_handshakes_per_address,
            server.max_handshakes_per_address
        );
    }
}
