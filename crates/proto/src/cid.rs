//! Connection IDs (RFC 9000 §5.1) and how new ones are made.

use std::fmt;

use bytes::{Buf, BufMut};
use rand::RngCore;

use crate::coding::UnexpectedEnd;

mod sharded;

pub use sharded::ShardedRandomConnectionIdGenerator;

#[cfg(test)]
mod tests;

/// A connection ID of 0 to 20 bytes, stored inline (no heap).
#[derive(Clone, Copy, Eq)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; ConnectionId::MAX_LEN],
}

/// A connection ID longer than 20 bytes was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection id of {0} bytes is longer than the 20 QUIC v1 allows")]
pub struct ConnectionIdTooLong(pub usize);

impl ConnectionId {
    /// RFC 9000 §17.2: connection IDs in QUIC v1 are at most 20 bytes.
    pub const MAX_LEN: usize = 20;

    /// The zero-length connection ID.
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; Self::MAX_LEN],
    };

    /// Copies a connection ID from a slice.
    ///
    /// # Errors
    /// [`ConnectionIdTooLong`] when `bytes` is longer than 20.
    pub fn new(bytes: &[u8]) -> Result<Self, ConnectionIdTooLong> {
        let len = u8::try_from(bytes.len()).map_err(|_| ConnectionIdTooLong(bytes.len()))?;
        if bytes.len() > Self::MAX_LEN {
            return Err(ConnectionIdTooLong(bytes.len()));
        }
        let mut cid = Self {
            len,
            bytes: [0; Self::MAX_LEN],
        };
        cid.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(cid)
    }

    /// Reads a connection ID of `len` bytes from the front of `buf`.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when `buf` is shorter than `len`. A `len` above 20
    /// must be rejected by the caller first (it is a version-specific rule).
    pub fn decode<B: Buf + ?Sized>(buf: &mut B, len: usize) -> Result<Self, UnexpectedEnd> {
        debug_assert!(len <= Self::MAX_LEN);
        if buf.remaining() < len || len > Self::MAX_LEN {
            return Err(UnexpectedEnd);
        }
        let mut cid = Self::EMPTY;
        buf.copy_to_slice(&mut cid.bytes[..len]);
        cid.len = u8::try_from(len).map_err(|_| UnexpectedEnd)?;
        Ok(cid)
    }

    /// Writes the length byte, then the ID, as in long headers and
    /// NEW_CONNECTION_ID frames.
    pub fn encode_with_len<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_u8(self.len);
        buf.put_slice(self);
    }

    /// The ID's length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether this is the zero-length ID.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::ops::Deref for ConnectionId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl PartialEq for ConnectionId {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::hash::Hash for ConnectionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl PartialOrd for ConnectionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConnectionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.iter() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Makes the connection IDs an endpoint hands out for itself.
///
/// Pluggable so that a deployment can embed routing information (for
/// example a QUIC-LB server id) in its IDs. Randomness comes from the RNG
/// the caller passes, so a seeded run stays repeatable.
pub trait ConnectionIdGenerator: Send + Sync + fmt::Debug {
    /// Makes a new connection ID of [`cid_len`](Self::cid_len) bytes.
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId;

    /// The length of every ID this generator makes. Short headers carry no
    /// length, so an endpoint's IDs must all have the same one.
    fn cid_len(&self) -> usize;

    /// Generators for the `shards` shards of one endpoint (several event
    /// loops on one port): the `i`th makes IDs that carry shard `i`, and
    /// every one of them reads it back with
    /// [`shard_of`](Self::shard_of), so that a datagram that reached the
    /// wrong shard can be handed to the right one. `rng` draws whatever
    /// secret the generators share. `None` (the default) when this
    /// generator cannot carry a shard, or not that many.
    fn sharded(
        &self,
        shards: usize,
        rng: &mut dyn RngCore,
    ) -> Option<Vec<std::sync::Arc<dyn ConnectionIdGenerator>>> {
        let _ = (shards, rng);
        None
    }

    /// The shard an ID of [`sharded`](Self::sharded)'s generators carries.
    /// `None` when this generator is not one of them, or when `cid` is not
    /// one of its IDs (a wrong length, a shard out of range). Any other
    /// `cid` gives some shard, always the same one for the same bytes.
    fn shard_of(&self, cid: &[u8]) -> Option<usize> {
        let _ = cid;
        None
    }
}

/// Makes uniformly random connection IDs of a fixed length.
#[derive(Debug, Clone, Copy)]
pub struct RandomConnectionIdGenerator {
    len: u8,
}

impl RandomConnectionIdGenerator {
    /// The default length: 8 bytes, enough to make collisions negligible.
    pub const DEFAULT_LEN: usize = 8;

    /// A generator of `len`-byte IDs.
    ///
    /// # Errors
    /// [`ConnectionIdTooLong`] when `len` exceeds 20.
    pub fn new(len: usize) -> Result<Self, ConnectionIdTooLong> {
        match u8::try_from(len) {
            Ok(short) if len <= ConnectionId::MAX_LEN => Ok(Self { len: short }),
            _ => Err(ConnectionIdTooLong(len)),
        }
    }
}

impl Default for RandomConnectionIdGenerator {
    fn default() -> Self {
        Self { len: 8 }
    }
}

impl ConnectionIdGenerator for RandomConnectionIdGenerator {
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId {
        let mut cid = ConnectionId::EMPTY;
        cid.len = self.len;
        rng.fill_bytes(&mut cid.bytes[..usize::from(self.len)]);
        cid
    }

    fn cid_len(&self) -> usize {
        usize::from(self.len)
    }

    /// Up to 256 shards, for IDs of at least
    /// [`ShardedRandomConnectionIdGenerator::MIN_LEN`] bytes.
    fn sharded(
        &self,
        shards: usize,
        rng: &mut dyn RngCore,
    ) -> Option<Vec<std::sync::Arc<dyn ConnectionIdGenerator>>> {
        ShardedRandomConnectionIdGenerator::all(usize::from(self.len), shards, rng)
    }
}
