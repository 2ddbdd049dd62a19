//! Parsing the unprotected part of a packet header (RFC 9000 §17).

use std::{fmt, ops::Range};

use bytes::BytesMut;

use crate::{ConnectionId, EncryptionLevel, cid::ConnectionIdTooLong, varint::VarInt};

use super::{
    LongType, PacketDecodeError, PacketType, RETRY_INTEGRITY_TAG_LEN, SupportedVersions, Version,
    bits,
};

mod parse;
#[cfg(test)]
mod tests;

/// How to read headers: what the receiving endpoint has decided.
///
/// The default reads zero-length short-header DCIDs and requires the fixed bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    local_cid_len: u8,
    allow_greased_fixed_bit: bool,
}

impl DecodeOptions {
    /// Options for an endpoint whose own connection IDs are `local_cid_len`
    /// bytes long: the length of a short header's DCID, which is not on the
    /// wire. The fixed bit must be 1.
    ///
    /// # Errors
    /// [`ConnectionIdTooLong`] when `local_cid_len` exceeds 20.
    pub fn new(local_cid_len: usize) -> Result<Self, ConnectionIdTooLong> {
        match u8::try_from(local_cid_len) {
            Ok(len) if local_cid_len <= ConnectionId::MAX_LEN => Ok(Self {
                local_cid_len: len,
                allow_greased_fixed_bit: false,
            }),
            _ => Err(ConnectionIdTooLong(local_cid_len)),
        }
    }

    /// Accepts packets whose fixed bit is 0, as an endpoint that sent the
    /// grease_quic_bit transport parameter must (RFC 9287 §3).
    #[must_use]
    pub const fn allow_greased_fixed_bit(mut self, allow: bool) -> Self {
        self.allow_greased_fixed_bit = allow;
        self
    }

    /// The length of a short header's DCID.
    #[must_use]
    pub const fn local_cid_len(&self) -> usize {
        self.local_cid_len as usize
    }

    /// Whether a fixed bit of 0 is accepted.
    #[must_use]
    pub const fn greased_fixed_bit_allowed(&self) -> bool {
        self.allow_greased_fixed_bit
    }
}

/// The first-byte fields that header protection hides (RFC 9001 §5.4.1),
/// read once it has been removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtectedBits {
    /// The reserved bits, in place (0x0c in a long header, 0x18 in a short
    /// one). RFC 9000 §17.2 and §17.3.1 make a non-zero value a
    /// PROTOCOL_VIOLATION, but only once the payload has decrypted too.
    pub reserved: u8,
    /// The packet number's length in bytes, 1 to 4.
    pub pn_len: usize,
    /// The key phase of a short header; `None` for a long header.
    pub key_phase: Option<bool>,
}

impl ProtectedBits {
    /// Whether the reserved bits are zero, as they must be.
    #[must_use]
    pub const fn reserved_bits_are_zero(&self) -> bool {
        self.reserved == 0
    }
}

/// A packet whose cleartext header fields have been read, stopping before
/// the fields that header protection hides.
///
/// It owns the packet's bytes (header, packet number and payload), split off
/// the datagram without copying, so that header protection and the AEAD
/// can be removed in place through [`data_mut`](Self::data_mut).
///
/// Its `Debug` output shows the header fields and sizes, never the token or
/// payload bytes, so that it is safe to trace.
pub struct PartialDecode {
    buf: BytesMut,
    first: u8,
    dcid: ConnectionId,
    kind: Kind,
}

/// What follows the DCID, by packet kind. Offsets are into the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Short {
        pn_offset: usize,
    },
    /// Initial, 0-RTT and Handshake; `token` is empty unless Initial.
    Long {
        ty: LongType,
        version: Version,
        scid: ConnectionId,
        token: Range<usize>,
        length: VarInt,
        pn_offset: usize,
    },
    /// The integrity tag is the packet's last 16 bytes.
    Retry {
        version: Version,
        scid: ConnectionId,
        token: Range<usize>,
    },
    VersionNegotiation {
        scid: ConnectionId,
        versions: Range<usize>,
    },
}

impl PartialDecode {
    /// Parses the packet at the front of `datagram` and splits it off,
    /// leaving the coalesced packets behind it (RFC 9000 §12.2) in
    /// `datagram`; nothing is copied. A short header, Retry or Version
    /// Negotiation packet takes the rest of the datagram.
    ///
    /// # Errors
    /// A [`PacketDecodeError`] saying why the packet must be dropped; the
    /// datagram is then left untouched, so the caller can still read its
    /// invariant fields or check it for a stateless reset.
    pub fn split_from(
        datagram: &mut BytesMut,
        options: DecodeOptions,
    ) -> Result<Self, PacketDecodeError> {
        let (first, dcid, kind, len) = parse::parse(datagram, options)?;
        Ok(Self {
            buf: datagram.split_to(len),
            first,
            dcid,
            kind,
        })
    }

    /// Parses the packet at the front of `datagram`, returning it and, when
    /// packets are coalesced behind it, the rest of the datagram.
    ///
    /// # Errors
    /// As [`split_from`](Self::split_from); the datagram is dropped then.
    pub fn new(
        mut datagram: BytesMut,
        options: DecodeOptions,
    ) -> Result<(Self, Option<BytesMut>), PacketDecodeError> {
        let packet = Self::split_from(&mut datagram, options)?;
        let rest = (!datagram.is_empty()).then_some(datagram);
        Ok((packet, rest))
    }

    /// The kind of packet.
    #[must_use]
    pub fn packet_type(&self) -> PacketType {
        match &self.kind {
            Kind::Short { .. } => PacketType::Short,
            Kind::Long { ty, .. } => PacketType::from(*ty),
            Kind::Retry { .. } => PacketType::Retry,
            Kind::VersionNegotiation { .. } => PacketType::VersionNegotiation,
        }
    }

    /// The first byte as received, with its protected bits still protected.
    #[must_use]
    pub const fn first_byte(&self) -> u8 {
        self.first
    }

    /// The version of a long header (0 for Version Negotiation); `None` for
    /// a short header.
    #[must_use]
    pub const fn version(&self) -> Option<u32> {
        match &self.kind {
            Kind::Short { .. } => None,
            Kind::Long { version, .. } | Kind::Retry { version, .. } => Some(version.to_u32()),
            Kind::VersionNegotiation { .. } => Some(0),
        }
    }

    /// The destination connection ID.
    #[must_use]
    pub const fn dcid(&self) -> &ConnectionId {
        &self.dcid
    }

    /// The source connection ID of a long header; `None` for a short header.
    #[must_use]
    pub const fn scid(&self) -> Option<&ConnectionId> {
        match &self.kind {
            Kind::Short { .. } => None,
            Kind::Long { scid, .. }
            | Kind::Retry { scid, .. }
            | Kind::VersionNegotiation { scid, .. } => Some(scid),
        }
    }

    /// Where the token of an Initial (possibly empty) or Retry packet sits
    /// in [`data`](Self::data); `None` for other packets.
    #[must_use]
    pub fn token_range(&self) -> Option<Range<usize>> {
        match &self.kind {
            Kind::Long {
                ty: LongType::Initial,
                token,
                ..
            }
            | Kind::Retry { token, .. } => Some(token.clone()),
            _ => None,
        }
    }

    /// The token of an Initial (possibly empty) or Retry packet, borrowed
    /// from the packet; `None` for other packets.
    #[must_use]
    pub fn token(&self) -> Option<&[u8]> {
        self.token_range().and_then(|range| self.buf.get(range))
    }

    /// The Length field of an Initial, 0-RTT or Handshake packet: the bytes
    /// from [`pn_offset`](Self::pn_offset) to the packet's end.
    #[must_use]
    pub const fn length(&self) -> Option<VarInt> {
        match &self.kind {
            Kind::Long { length, .. } => Some(*length),
            _ => None,
        }
    }

    /// Where the (protected) packet number starts, for header protection
    /// removal (RFC 9001 §5.4.2); `None` for Retry and Version Negotiation.
    #[must_use]
    pub const fn pn_offset(&self) -> Option<usize> {
        match &self.kind {
            Kind::Short { pn_offset } | Kind::Long { pn_offset, .. } => Some(*pn_offset),
            Kind::Retry { .. } | Kind::VersionNegotiation { .. } => None,
        }
    }

    /// The protection level of the packet's frames; `None` for Retry and
    /// Version Negotiation.
    #[must_use]
    pub fn encryption_level(&self) -> Option<EncryptionLevel> {
        self.packet_type().encryption_level()
    }

    /// The latency spin bit of a short header (RFC 9000 §17.4), which is
    /// not under header protection; `None` for a long header.
    #[must_use]
    pub const fn spin(&self) -> Option<bool> {
        match self.kind {
            Kind::Short { .. } => Some(self.first & bits::SPIN != 0),
            _ => None,
        }
    }

    /// Reads the protected first-byte fields from `unprotected_first_byte`,
    /// the first byte after the caller removed header protection. `None`
    /// for Retry and Version Negotiation, which have none.
    #[must_use]
    pub const fn protected_bits(&self, unprotected_first_byte: u8) -> Option<ProtectedBits> {
        let pn_len = (unprotected_first_byte & bits::PN_LEN) as usize + 1;
        match self.kind {
            Kind::Short { .. } => Some(ProtectedBits {
                reserved: unprotected_first_byte & bits::SHORT_RESERVED,
                pn_len,
                key_phase: Some(unprotected_first_byte & bits::KEY_PHASE != 0),
            }),
            Kind::Long { .. } => Some(ProtectedBits {
                reserved: unprotected_first_byte & bits::LONG_RESERVED,
                pn_len,
                key_phase: None,
            }),
            Kind::Retry { .. } | Kind::VersionNegotiation { .. } => None,
        }
    }

    /// A Retry packet's integrity tag, its last 16 bytes (RFC 9001 §5.8).
    #[must_use]
    pub fn retry_integrity_tag(&self) -> Option<&[u8; RETRY_INTEGRITY_TAG_LEN]> {
        let Kind::Retry { token, .. } = &self.kind else {
            return None;
        };
        self.buf.get(token.end..)?.try_into().ok()
    }

    /// The bytes of a Retry packet that its integrity tag covers (all but
    /// the tag); the crypto layer prefixes the original DCID (RFC 9001 §5.8).
    #[must_use]
    pub fn retry_tag_covered(&self) -> Option<&[u8]> {
        let Kind::Retry { token, .. } = &self.kind else {
            return None;
        };
        self.buf.get(..token.end)
    }

    /// The versions a Version Negotiation packet lists, read in place.
    #[must_use]
    pub fn supported_versions(&self) -> Option<SupportedVersions<'_>> {
        let Kind::VersionNegotiation { versions, .. } = &self.kind else {
            return None;
        };
        self.buf.get(versions.clone()).map(SupportedVersions::new)
    }

    /// The whole packet: header, packet number and payload.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// The whole packet, to remove header protection and decrypt in place.
    /// The fields read so far are not re-read; change only protected bytes.
    #[must_use]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Gives the packet's bytes back.
    #[must_use]
    pub fn into_data(self) -> BytesMut {
        self.buf
    }
}

impl fmt::Debug for PartialDecode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialDecode")
            .field("type", &self.packet_type())
            .field("version", &self.version())
            .field("dcid", &self.dcid)
            .field("scid", &self.scid())
            .field("token_len", &self.token_range().map(|range| range.len()))
            .field("length", &self.length())
            .field("pn_offset", &self.pn_offset())
            .field("packet_len", &self.buf.len())
            .finish()
    }
}
