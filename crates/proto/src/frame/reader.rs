//! A checked reader over one frame's fields that attributes every failure to
//! the frame type being decoded.

use bytes::{Buf, Bytes};

use crate::{
    coding::{BufExt, wire_len},
    frame::{FrameDecodeError, FrameType},
    varint::VarInt,
};

/// Reads the fields of one frame from the front of a payload.
pub(super) struct Reader<'a> {
    buf: &'a mut Bytes,
    ty: FrameType,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose frame type `ty` was already read.
    pub(super) fn new(buf: &'a mut Bytes, ty: FrameType) -> Self {
        Self { buf, ty }
    }

    /// The frame type being decoded.
    pub(super) const fn ty(&self) -> FrameType {
        self.ty
    }

    /// A `FRAME_ENCODING_ERROR` in this frame.
    pub(super) const fn encoding_error(&self, reason: &'static str) -> FrameDecodeError {
        FrameDecodeError::encoding(self.ty, reason)
    }

    /// The bytes not yet read, without consuming them.
    pub(super) fn peek(&self) -> &[u8] {
        self.buf
    }

    /// Reads a variable-length integer.
    pub(super) fn var(&mut self) -> Result<VarInt, FrameDecodeError> {
        self.buf.read_var().map_err(|_| self.truncated())
    }

    /// Reads a variable-length integer used as a byte count. Counts beyond
    /// `usize` saturate, so the following read fails instead of truncating.
    pub(super) fn len(&mut self) -> Result<usize, FrameDecodeError> {
        self.var().map(wire_len)
    }

    /// Reads one byte.
    pub(super) fn u8(&mut self) -> Result<u8, FrameDecodeError> {
        self.buf.read_u8().map_err(|_| self.truncated())
    }

    /// Reads a fixed-size array.
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameDecodeError> {
        self.buf.read_array().map_err(|_| self.truncated())
    }

    /// Takes `len` bytes without copying.
    pub(super) fn bytes(&mut self, len: usize) -> Result<Bytes, FrameDecodeError> {
        self.buf.read_bytes(len).map_err(|_| self.truncated())
    }

    /// Takes a length-prefixed field without copying.
    pub(super) fn prefixed_bytes(&mut self) -> Result<Bytes, FrameDecodeError> {
        let len = self.len()?;
        self.bytes(len)
    }

    /// Takes everything left in the payload without copying.
    pub(super) fn rest(&mut self) -> Bytes {
        std::mem::take(self.buf)
    }

    /// Skips the zero bytes at the front, returning how many there were.
    pub(super) fn zero_run(&mut self) -> usize {
        let run = self.buf.iter().take_while(|&&byte| byte == 0).count();
        self.buf.advance(run);
        run
    }

    const fn truncated(&self) -> FrameDecodeError {
        FrameDecodeError::truncated(self.ty)
    }
}
