//! Writing Initial, 0-RTT, Handshake and 1-RTT headers (RFC 9000 §17.2,
//! §17.3), ready for the payload and header protection.

use std::fmt;

use bytes::BufMut;

use crate::{ConnectionId, coding::BufferTooShort, varint::VarInt};

use super::{LongType, PacketNumber, Version, bits};

#[cfg(test)]
mod tests;

/// The type of a long header packet that carries frames, with the token an
/// Initial carries. `Debug` shows the token's length, never its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LongHeaderType<'a> {
    /// An Initial packet with its token (empty from a server, and from a
    /// client without a Retry or NEW_TOKEN token; RFC 9000 §17.2.2).
    Initial {
        /// The token.
        token: &'a [u8],
    },
    /// A 0-RTT packet.
    ZeroRtt,
    /// A Handshake packet.
    Handshake,
}

impl fmt::Debug for LongHeaderType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initial { token } => f
                .debug_struct("Initial")
                .field("token_len", &token.len())
                .finish(),
            Self::ZeroRtt => f.write_str("ZeroRtt"),
            Self::Handshake => f.write_str("Handshake"),
        }
    }
}

impl LongHeaderType<'_> {
    /// The type this is.
    #[must_use]
    pub const fn long_type(&self) -> LongType {
        match self {
            Self::Initial { .. } => LongType::Initial,
            Self::ZeroRtt => LongType::ZeroRtt,
            Self::Handshake => LongType::Handshake,
        }
    }
}

/// An Initial, 0-RTT or Handshake header to send.
///
/// The Length field is written in [`LENGTH_SIZE`](Self::LENGTH_SIZE) bytes
/// and filled in later with [`LongHeaderLayout::set_length`], once the
/// payload is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// The packet type, with an Initial's token.
    pub ty: LongHeaderType<'a>,
    /// The version (decides the type bits).
    pub version: Version,
    /// The destination connection ID.
    pub dcid: ConnectionId,
    /// The source connection ID.
    pub scid: ConnectionId,
    /// The truncated packet number.
    pub pn: PacketNumber,
    /// Sends the fixed bit as 0 (RFC 9287), only to a peer that advertised
    /// grease_quic_bit; the caller decides with its own randomness.
    pub grease_fixed_bit: bool,
}

/// Where the fields filled in after the payload sit in an encoded long header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongHeaderLayout {
    /// Bytes of the header, packet number included.
    pub header_len: usize,
    /// Where the [`LongHeader::LENGTH_SIZE`]-byte Length field starts.
    pub length_offset: usize,
    /// Where the packet number starts, for header protection.
    pub pn_offset: usize,
}

/// The Length field cannot describe the packet given to
/// [`LongHeaderLayout::set_length`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthFieldError {
    /// The packet ends before its header does. Pass the whole packet.
    #[error("packet of {packet_len} bytes is shorter than its {header_len}-byte header")]
    ShorterThanHeader {
        /// Bytes passed.
        packet_len: usize,
        /// Bytes of the header.
        header_len: usize,
    },
    /// The packet is too large for the two-byte Length field. Send less.
    #[error("length of {length} bytes exceeds the {max} a two-byte length field holds")]
    TooLong {
        /// The length the packet needs.
        length: usize,
        /// The largest length the field holds.
        max: usize,
    },
}

impl LongHeaderLayout {
    /// Writes the Length field (RFC 9000 §17.2): the bytes from the packet
    /// number to the end of `packet`, which runs from the header's first
    /// byte to the end of the payload, AEAD tag included.
    ///
    /// # Errors
    /// [`LengthFieldError`] when `packet` is shorter than the header, or the
    /// length exceeds what [`LongHeader::LENGTH_SIZE`] bytes hold; `packet`
    /// is unchanged then.
    pub fn set_length(&self, packet: &mut [u8]) -> Result<(), LengthFieldError> {
        let packet_len = packet.len();
        let short = LengthFieldError::ShorterThanHeader {
            packet_len,
            header_len: self.header_len,
        };
        if packet_len < self.header_len {
            return Err(short);
        }
        let length = packet_len.checked_sub(self.pn_offset).ok_or(short)?;
        let too_long = LengthFieldError::TooLong {
            length,
            max: LongHeader::MAX_LENGTH,
        };
        if length > LongHeader::MAX_LENGTH {
            return Err(too_long);
        }
        let value = VarInt::try_from(length).map_err(|_| too_long)?;
        let end = self
            .length_offset
            .checked_add(LongHeader::LENGTH_SIZE)
            .ok_or(short)?;
        let mut field = packet.get_mut(self.length_offset..end).ok_or(short)?;
        value.encode_with_size(LongHeader::LENGTH_SIZE, &mut field);
        Ok(())
    }
}

impl LongHeader<'_> {
    /// Bytes the Length field is written in.
    pub const LENGTH_SIZE: usize = 2;
    /// The largest Length a [`LENGTH_SIZE`](Self::LENGTH_SIZE)-byte field holds.
    pub const MAX_LENGTH: usize = (1 << 14) - 1;

    /// Bytes the header takes, packet number included.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let token = match self.ty {
            LongHeaderType::Initial { token } => token_len_varint(token).size() + token.len(),
            LongHeaderType::ZeroRtt | LongHeaderType::Handshake => 0,
        };
        1 + 4
            + 1
            + self.dcid.len()
            + 1
            + self.scid.len()
            + token
            + Self::LENGTH_SIZE
            + self.pn.encoded_len()
    }

    /// Writes the header with a placeholder Length (covering the packet
    /// number alone) and the packet number in the clear.
    ///
    /// # Panics
    /// When `buf` has less room than [`encoded_len`](Self::encoded_len).
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) -> LongHeaderLayout {
        let header_len = self.encoded_len();
        let pn_offset = header_len - self.pn.encoded_len();
        let length_offset = pn_offset - Self::LENGTH_SIZE;
        // RFC 9000 §17.2: reserved bits are sent as 0, then the packet number length.
        let first = long_prefix(self.ty.long_type(), self.version, self.grease_fixed_bit)
            | self.pn.len_bits();
        buf.put_u8(first);
        buf.put_u32(self.version.to_u32());
        self.dcid.encode_with_len(buf);
        self.scid.encode_with_len(buf);
        if let LongHeaderType::Initial { token } = self.ty {
            token_len_varint(token).encode(buf);
            buf.put_slice(token);
        }
        let placeholder = VarInt::from_u32(u32::from(self.pn.len_bits()) + 1);
        placeholder.encode_with_size(Self::LENGTH_SIZE, buf);
        self.pn.encode(buf);
        LongHeaderLayout {
            header_len,
            length_offset,
            pn_offset,
        }
    }

    /// Writes the header to the front of `out`.
    ///
    /// # Errors
    /// [`BufferTooShort`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len); nothing is written then.
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<LongHeaderLayout, BufferTooShort> {
        let needed = self.encoded_len();
        let mut room = BufferTooShort::prefix(out, needed)?;
        Ok(self.encode(&mut room))
    }
}

/// A 1-RTT (short) header to send (RFC 9000 §17.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortHeader {
    /// The destination connection ID.
    pub dcid: ConnectionId,
    /// The truncated packet number.
    pub pn: PacketNumber,
    /// The latency spin bit (RFC 9000 §17.4).
    pub spin: bool,
    /// The key phase (RFC 9001 §6).
    pub key_phase: bool,
    /// Sends the fixed bit as 0 (RFC 9287), only to a peer that advertised
    /// grease_quic_bit; the caller decides with its own randomness.
    pub grease_fixed_bit: bool,
}

impl ShortHeader {
    /// Bytes the header takes, packet number included.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + self.dcid.len() + self.pn.encoded_len()
    }

    /// Writes the header with the packet number in the clear, returning the
    /// packet number's offset.
    ///
    /// # Panics
    /// When `buf` has less room than [`encoded_len`](Self::encoded_len).
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) -> usize {
        let mut first = fixed_bit(self.grease_fixed_bit) | self.pn.len_bits();
        if self.spin {
            first |= bits::SPIN;
        }
        if self.key_phase {
            first |= bits::KEY_PHASE;
        }
        // RFC 9000 §17.3.1: the form bit and reserved bits are 0.
        buf.put_u8(first);
        buf.put_slice(&self.dcid);
        self.pn.encode(buf);
        1 + self.dcid.len()
    }

    /// Writes the header to the front of `out`, returning the packet
    /// number's offset.
    ///
    /// # Errors
    /// [`BufferTooShort`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len); nothing is written then.
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, BufferTooShort> {
        let needed = self.encoded_len();
        let mut room = BufferTooShort::prefix(out, needed)?;
        Ok(self.encode(&mut room))
    }
}

/// A long header's first byte up to the type bits: form, fixed bit, type.
pub(super) const fn long_prefix(ty: LongType, version: Version, grease_fixed_bit: bool) -> u8 {
    bits::FORM | fixed_bit(grease_fixed_bit) | (ty.to_bits(version) << bits::LONG_TYPE_SHIFT)
}

/// RFC 9287 §3: the fixed bit is 0 when greased, else 1 (RFC 9000 §17.2).
const fn fixed_bit(grease: bool) -> u8 {
    if grease { 0 } else { bits::FIXED }
}

/// A token's length as a varint; no slice in memory reaches 2^62 bytes.
fn token_len_varint(token: &[u8]) -> VarInt {
    VarInt::try_from(token.len()).unwrap_or(VarInt::MAX)
}
