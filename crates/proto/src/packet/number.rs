//! Packet numbers on the wire (RFC 9000 §17.1, §A.2, §A.3).

use bytes::{Buf, BufMut};

use crate::coding::{BufExt, UnexpectedEnd};

#[cfg(test)]
mod tests;

/// The largest packet number, 2^62 - 1 (RFC 9000 §12.3).
pub(crate) const MAX_PN: u64 = (1 << 62) - 1;

/// A packet number truncated to the 1 to 4 bytes that go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketNumber {
    /// The low 8 bits.
    U8(u8),
    /// The low 16 bits.
    U16(u16),
    /// The low 24 bits (the top byte is zero).
    U24(u32),
    /// The low 32 bits.
    U32(u32),
}

impl PacketNumber {
    /// Truncates `full_pn` to the fewest bytes from which a receiver that has
    /// seen `largest_acked` (or nothing, when `None`) can recover it.
    ///
    /// A sender never has 2^31 packets in flight; if it did, four bytes are
    /// used anyway and the receiver may decode a different number.
    #[must_use]
    pub fn new(full_pn: u64, largest_acked: Option<u64>) -> Self {
        // RFC 9000 §A.2: with nothing acknowledged yet, every number from 0 is outstanding.
        let unacked = match largest_acked {
            Some(acked) => full_pn.saturating_sub(acked),
            None => full_pn.saturating_add(1),
        };
        let [.., b4, b5, b6, b7] = full_pn.to_be_bytes();
        // RFC 9000 §17.1: the encoding must span more than twice the
        // unacknowledged range, so `8 * len` bits must exceed log2(2 * unacked).
        if unacked < 1 << 7 {
            Self::U8(b7)
        } else if unacked < 1 << 15 {
            Self::U16(u16::from_be_bytes([b6, b7]))
        } else if unacked < 1 << 23 {
            Self::U24(u32::from_be_bytes([0, b5, b6, b7]))
        } else {
            Self::U32(u32::from_be_bytes([b4, b5, b6, b7]))
        }
    }

    /// Reads a truncated packet number of `len` bytes, the length taken from
    /// the first byte once header protection is off
    /// ([`ProtectedBits::pn_len`](super::ProtectedBits::pn_len)).
    ///
    /// # Errors
    /// [`UnexpectedEnd`] when `buf` holds fewer than `len` bytes, or when
    /// `len` is not 1 to 4 (nothing is read then).
    pub fn decode<B: Buf + ?Sized>(len: usize, buf: &mut B) -> Result<Self, UnexpectedEnd> {
        match len {
            1 => Ok(Self::U8(buf.read_u8()?)),
            2 => Ok(Self::U16(buf.read_u16()?)),
            3 => {
                let [a, b, c] = buf.read_array::<3>()?;
                Ok(Self::U24(u32::from_be_bytes([0, a, b, c])))
            }
            4 => Ok(Self::U32(buf.read_u32()?)),
            _ => Err(UnexpectedEnd),
        }
    }

    /// Writes the truncated number in [`encoded_len`](Self::encoded_len) bytes.
    ///
    /// # Panics
    /// When `buf` has too little room (as `BufMut` does).
    pub fn encode<B: BufMut + ?Sized>(self, buf: &mut B) {
        match self {
            Self::U8(pn) => buf.put_u8(pn),
            Self::U16(pn) => buf.put_u16(pn),
            Self::U24(pn) => {
                let [_, a, b, c] = pn.to_be_bytes();
                buf.put_slice(&[a, b, c]);
            }
            Self::U32(pn) => buf.put_u32(pn),
        }
    }

    /// Bytes on the wire: 1 to 4.
    #[must_use]
    pub const fn encoded_len(self) -> usize {
        match self {
            Self::U8(_) => 1,
            Self::U16(_) => 2,
            Self::U24(_) => 3,
            Self::U32(_) => 4,
        }
    }

    /// The truncated value as sent.
    #[must_use]
    pub const fn truncated(self) -> u32 {
        match self {
            Self::U8(pn) => pn as u32,
            Self::U16(pn) => pn as u32,
            Self::U24(pn) | Self::U32(pn) => pn,
        }
    }

    /// The first byte's two length bits: the length minus one.
    pub(crate) const fn len_bits(self) -> u8 {
        match self {
            Self::U8(_) => 0,
            Self::U16(_) => 1,
            Self::U24(_) => 2,
            Self::U32(_) => 3,
        }
    }

    /// Recovers the full packet number, given the largest one successfully
    /// processed in the same space (`None` before the first).
    ///
    /// See [`decode_packet_number`] for the edge near 2^62.
    #[must_use]
    pub fn expand(self, largest_pn: Option<u64>) -> u64 {
        let nbits = match self {
            Self::U8(_) => 8,
            Self::U16(_) => 16,
            Self::U24(_) => 24,
            Self::U32(_) => 32,
        };
        decode_packet_number(largest_pn, self.truncated(), nbits)
    }
}

/// Recovers a full packet number from its `pn_nbits` low bits
/// (RFC 9000 §A.3): the candidate closest to one past `largest_pn`, the
/// largest packet number successfully processed in this space (`None`
/// before the first packet, when 0 is expected).
///
/// `pn_nbits` is 8, 16, 24 or 32; other values are clamped to `1..=32`, and
/// bits of `truncated_pn` above `pn_nbits` are ignored. Never panics. The
/// result exceeds 2^62 - 1 only if the peer ran past the end of the packet
/// number space, which the caller must treat as an invalid packet.
#[must_use]
pub fn decode_packet_number(largest_pn: Option<u64>, truncated_pn: u32, pn_nbits: u32) -> u64 {
    let nbits = pn_nbits.clamp(1, 32);
    let expected = largest_pn.map_or(0, |pn| pn.saturating_add(1));
    let win = 1_u64 << nbits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | (u64::from(truncated_pn) & mask);
    // RFC 9000 §A.3: move the candidate one window up or down when that
    // lands closer to the expected number, without leaving 0..2^62.
    let too_low = expected
        .checked_sub(hwin)
        .is_some_and(|low| candidate <= low);
    if too_low && candidate < MAX_PN + 1 - win {
        return candidate + win;
    }
    if candidate > expected.saturating_add(hwin) && candidate >= win {
        return candidate - win;
    }
    candidate
}
