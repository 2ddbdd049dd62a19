//! Checked reading and writing helpers shared by every codec.
//!
//! `bytes::Buf` panics when asked for more than it holds; everything that
//! reads peer input goes through [`BufExt`] instead, which reports
//! [`UnexpectedEnd`] and never panics.

use bytes::{Buf, BufMut, Bytes};

use crate::varint::VarInt;

/// The input ended before the value being decoded was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unexpected end of input")]
pub struct UnexpectedEnd;

/// The caller's output buffer is too small for the value being encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("output buffer too short: {needed} bytes needed, {available} available")]
pub struct BufferTooShort {
    /// Bytes the encoding needs.
    pub needed: usize,
    /// Bytes the buffer had.
    pub available: usize,
}

impl BufferTooShort {
    /// The first `needed` bytes of `out`, or this error when it is shorter:
    /// the check every `encode_to_slice` / `write_to` makes before writing.
    ///
    /// # Errors
    /// [`BufferTooShort`] when `out.len() < needed`.
    pub fn prefix(out: &mut [u8], needed: usize) -> Result<&mut [u8], Self> {
        let available = out.len();
        out.get_mut(..needed).ok_or(Self { needed, available })
    }
}

/// Checked, non-panicking reads from a buffer of peer input.
pub trait BufExt: Buf {
    /// Reads one byte.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when the buffer is empty.
    fn read_u8(&mut self) -> Result<u8, UnexpectedEnd> {
        if self.remaining() < 1 {
            return Err(UnexpectedEnd);
        }
        Ok(self.get_u8())
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when fewer than 2 bytes remain.
    fn read_u16(&mut self) -> Result<u16, UnexpectedEnd> {
        if self.remaining() < 2 {
            return Err(UnexpectedEnd);
        }
        Ok(self.get_u16())
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when fewer than 4 bytes remain.
    fn read_u32(&mut self) -> Result<u32, UnexpectedEnd> {
        if self.remaining() < 4 {
            return Err(UnexpectedEnd);
        }
        Ok(self.get_u32())
    }

    /// Reads a variable-length integer (RFC 9000 §16).
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when the encoding is cut short.
    fn read_var(&mut self) -> Result<VarInt, UnexpectedEnd>
    where
        Self: Sized,
    {
        VarInt::decode(self)
    }

    /// Copies exactly `N` bytes into an array.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when fewer than `N` bytes remain.
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], UnexpectedEnd> {
        if self.remaining() < N {
            return Err(UnexpectedEnd);
        }
        let mut out = [0; N];
        self.copy_to_slice(&mut out);
        Ok(out)
    }

    /// Takes `len` bytes as `Bytes`; zero-copy when `Self` is `Bytes`.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when fewer than `len` bytes remain.
    fn read_bytes(&mut self, len: usize) -> Result<Bytes, UnexpectedEnd> {
        if self.remaining() < len {
            return Err(UnexpectedEnd);
        }
        Ok(self.copy_to_bytes(len))
    }

    /// Skips `len` bytes.
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when fewer than `len` bytes remain.
    fn skip(&mut self, len: usize) -> Result<(), UnexpectedEnd> {
        if self.remaining() < len {
            return Err(UnexpectedEnd);
        }
        self.advance(len);
        Ok(())
    }
}

impl<B: Buf + ?Sized> BufExt for B {}

/// Writes of QUIC primitives. The caller ensures there is room: every
/// encoder in this crate offers an `encoded_len` to check against first.
pub trait BufMutExt: BufMut {
    /// Writes a variable-length integer (RFC 9000 §16) in its shortest form.
    fn write_var(&mut self, value: VarInt)
    where
        Self: Sized,
    {
        value.encode(self);
    }
}

impl<B: BufMut + ?Sized> BufMutExt for B {}

/// Converts a wire length to `usize`, saturating on 32-bit targets so that
/// the following bounds check fails instead of truncating.
pub(crate) fn wire_len(value: VarInt) -> usize {
    usize::try_from(value.into_inner()).unwrap_or(usize::MAX)
}
