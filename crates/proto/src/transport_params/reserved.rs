//! Reserved transport parameters (RFC 9000 §18.1), sent to keep peers honest
//! about ignoring parameters they do not know.

use bytes::{BufMut, Bytes};
use rand::RngCore;

use super::encode::value_len;
use crate::{coding::BufMutExt, varint::VarInt};

/// A reserved transport parameter: an id of the form `31 * N + 27` with an
/// arbitrary value, which a peer must skip (RFC 9000 §18.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReservedParameter {
    id: VarInt,
    value: Bytes,
}

impl ReservedParameter {
    /// The longest value [`random`](Self::random) makes.
    pub const MAX_RANDOM_LEN: usize = 16;

    /// The reserved parameter with id `31 * n + 27` and the given value.
    #[must_use]
    pub fn new(n: u32, value: Bytes) -> Self {
        // RFC 9000 §18.1: reserved ids are 31 * N + 27; for a u32 N this is
        // below 2^37, well inside the varint range.
        let id = VarInt::from_u64_bounded(31 * u64::from(n) + 27);
        Self { id, value }
    }

    /// A reserved parameter with a random id and a random value of up to
    /// [`MAX_RANDOM_LEN`](Self::MAX_RANDOM_LEN) bytes, from the caller's RNG.
    pub fn random(rng: &mut dyn RngCore) -> Self {
        let mut value = [0; Self::MAX_RANDOM_LEN];
        rng.fill_bytes(&mut value);
        let len = usize::from(value[0]) % (Self::MAX_RANDOM_LEN + 1);
        let n = rng.next_u32();
        Self::new(n, Bytes::copy_from_slice(&value[..len]))
    }

    /// The parameter id.
    #[must_use]
    pub const fn id(&self) -> VarInt {
        self.id
    }

    /// The value bytes.
    #[must_use]
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Bytes the encoded parameter takes: id, length and value.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let len = value_len(self.value.len());
        self.id.size() + len.size() + self.value.len()
    }

    /// Writes the id, length and value.
    pub(super) fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.write_var(self.id);
        buf.write_var(value_len(self.value.len()));
        buf.put_slice(&self.value);
    }
}
