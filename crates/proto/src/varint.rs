//! Variable-length integers (RFC 9000 §16).

use std::fmt;

use bytes::{Buf, BufMut};

use crate::coding::UnexpectedEnd;

#[cfg(test)]
mod tests;

/// An integer in `0..2^62`, the range a QUIC variable-length integer holds.
///
/// Constructing one checks the range, so every `VarInt` can be encoded.
#[derive(Default, Copy, Clone, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub struct VarInt(u64);

/// The value does not fit in a variable-length integer (it is 2^62 or more).
#[derive(Debug, Copy, Clone, Eq, PartialEq, thiserror::Error)]
#[error("value too large for a variable-length integer")]
pub struct VarIntBoundsExceeded;

impl VarInt {
    /// The largest value, 2^62 - 1.
    pub const MAX: Self = Self((1 << 62) - 1);
    /// The largest encoded size, in bytes.
    pub const MAX_SIZE: usize = 8;

    /// Makes a `VarInt` from a `u32`, which always fits.
    #[must_use]
    pub const fn from_u32(value: u32) -> Self {
        Self(value as u64)
    }

    /// Makes a `VarInt` from a `u64`.
    ///
    /// # Errors
    /// [`VarIntBoundsExceeded`] when `value >= 2^62`.
    pub const fn from_u64(value: u64) -> Result<Self, VarIntBoundsExceeded> {
        if value <= Self::MAX.0 {
            Ok(Self(value))
        } else {
            Err(VarIntBoundsExceeded)
        }
    }

    /// Makes a `VarInt` from a `u64` known to be in range.
    ///
    /// # Panics
    /// In debug builds, when `value >= 2^62`; release builds clamp to
    /// [`VarInt::MAX`]. Use only on values the code itself bounded.
    #[must_use]
    pub const fn from_u64_bounded(value: u64) -> Self {
        debug_assert!(value <= Self::MAX.0, "value out of varint range");
        if value <= Self::MAX.0 {
            Self(value)
        } else {
            Self::MAX
        }
    }

    /// The value as a `u64`.
    #[must_use]
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Bytes needed to encode this value in its shortest form: 1, 2, 4 or 8.
    #[must_use]
    pub const fn size(self) -> usize {
        // RFC 9000 §16: the two high bits of the first byte give the length.
        if self.0 < (1 << 6) {
            1
        } else if self.0 < (1 << 14) {
            2
        } else if self.0 < (1 << 30) {
            4
        } else {
            8
        }
    }

    /// Bytes a value with this first byte occupies, from its two high bits.
    #[must_use]
    pub const fn encoded_size_from_first_byte(first: u8) -> usize {
        1 << (first >> 6)
    }

    /// Decodes one variable-length integer from the front of `buf`.
    ///
    /// Non-minimal encodings are accepted, as RFC 9000 §16 allows; the
    /// frame-type check that needs minimal form lives with the frame decoder.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when `buf` ends inside the encoding.
    pub fn decode<B: Buf + ?Sized>(buf: &mut B) -> Result<Self, UnexpectedEnd> {
        if !buf.has_remaining() {
            return Err(UnexpectedEnd);
        }
        let first = buf.chunk()[0];
        let len = Self::encoded_size_from_first_byte(first);
        if buf.remaining() < len {
            return Err(UnexpectedEnd);
        }
        let value = match len {
            1 => u64::from(buf.get_u8()),
            2 => u64::from(buf.get_u16() & 0x3fff),
            4 => u64::from(buf.get_u32() & 0x3fff_ffff),
            _ => buf.get_u64() & 0x3fff_ffff_ffff_ffff,
        };
        Ok(Self(value))
    }

    /// Decodes from the front of a slice, returning the value and the bytes
    /// it took.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when `bytes` ends inside the encoding.
    pub fn decode_slice(mut bytes: &[u8]) -> Result<(Self, usize), UnexpectedEnd> {
        let before = bytes.len();
        let value = Self::decode(&mut bytes)?;
        Ok((value, before - bytes.len()))
    }

    /// Writes this value in its shortest form.
    ///
    /// # Panics
    /// When `buf` has less than [`VarInt::size`] bytes of room (as `BufMut` does).
    pub fn encode<B: BufMut + ?Sized>(self, buf: &mut B) {
        self.encode_with_size(self.size(), buf);
    }

    /// Writes this value using exactly `size` bytes (1, 2, 4 or 8), for
    /// fields such as a long header's Length that are filled in later.
    ///
    /// # Panics
    /// When `size` is not 1, 2, 4 or 8, or is too small for the value.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the assert above proves the value fits the chosen width"
    )]
    pub fn encode_with_size<B: BufMut + ?Sized>(self, size: usize, buf: &mut B) {
        assert!(size >= self.size(), "varint size too small for value");
        let x = self.0;
        match size {
            1 => buf.put_u8(x as u8),
            2 => buf.put_u16((0b01 << 14) | x as u16),
            4 => buf.put_u32((0b10 << 30) | x as u32),
            8 => buf.put_u64((0b11 << 62) | x),
            _ => panic!("invalid varint size {size}"),
        }
    }
}

impl From<u8> for VarInt {
    fn from(value: u8) -> Self {
        Self(value.into())
    }
}

impl From<u16> for VarInt {
    fn from(value: u16) -> Self {
        Self(value.into())
    }
}

impl From<u32> for VarInt {
    fn from(value: u32) -> Self {
        Self(value.into())
    }
}

impl From<VarInt> for u64 {
    fn from(value: VarInt) -> Self {
        value.0
    }
}

impl TryFrom<u64> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::from_u64(value)
    }
}

impl TryFrom<usize> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(value: usize) -> Result<Self, Self::Error> {
        u64::try_from(value)
            .map_err(|_| VarIntBoundsExceeded)
            .and_then(Self::from_u64)
    }
}

impl fmt::Debug for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
