//! Packet types and the QUIC versions whose formats this crate knows
//! (RFC 9000 §17.2, RFC 9369 §3.2).

use crate::{EncryptionLevel, QUIC_V1, QUIC_V2};

/// A QUIC version whose long header types this crate can map.
///
/// Other versions are still recognised by their version-independent fields
/// ([`InvariantHeader`](super::InvariantHeader)), which is enough to answer
/// them with Version Negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// QUIC version 1 (RFC 9000), [`QUIC_V1`].
    V1,
    /// QUIC version 2 (RFC 9369), [`QUIC_V2`].
    V2,
}

impl Version {
    /// The version with this wire value, when it is one we know.
    #[must_use]
    pub const fn from_u32(version: u32) -> Option<Self> {
        match version {
            QUIC_V1 => Some(Self::V1),
            QUIC_V2 => Some(Self::V2),
            _ => None,
        }
    }

    /// The version's wire value.
    #[must_use]
    pub const fn to_u32(self) -> u32 {
        match self {
            Self::V1 => QUIC_V1,
            Self::V2 => QUIC_V2,
        }
    }
}

impl From<Version> for u32 {
    fn from(version: Version) -> Self {
        version.to_u32()
    }
}

/// The type of a long header packet of a known version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LongType {
    /// An Initial packet (RFC 9000 §17.2.2).
    Initial,
    /// A 0-RTT packet (RFC 9000 §17.2.3).
    ZeroRtt,
    /// A Handshake packet (RFC 9000 §17.2.4).
    Handshake,
    /// A Retry packet (RFC 9000 §17.2.5).
    Retry,
}

impl LongType {
    /// The type that the two type bits (already shifted down to `0..=3`)
    /// mean in `version`. Bits above the lowest two are ignored.
    #[must_use]
    pub const fn from_bits(version: Version, bits: u8) -> Self {
        match (version, bits & 0b11) {
            // RFC 9000 §17.2: in v1 the types are numbered Initial, 0-RTT, Handshake, Retry.
            (Version::V1, 0b00) | (Version::V2, 0b01) => Self::Initial,
            // RFC 9369 §3.2: v2 rotates them to Retry, Initial, 0-RTT, Handshake.
            (Version::V1, 0b01) | (Version::V2, 0b10) => Self::ZeroRtt,
            (Version::V1, 0b10) | (Version::V2, 0b11) => Self::Handshake,
            _ => Self::Retry,
        }
    }

    /// The two type bits (not yet shifted into place) for this type in `version`.
    #[must_use]
    pub const fn to_bits(self, version: Version) -> u8 {
        match (version, self) {
            (Version::V1, Self::Initial) | (Version::V2, Self::Retry) => 0b00,
            (Version::V1, Self::ZeroRtt) | (Version::V2, Self::Initial) => 0b01,
            (Version::V1, Self::Handshake) | (Version::V2, Self::ZeroRtt) => 0b10,
            (Version::V1, Self::Retry) | (Version::V2, Self::Handshake) => 0b11,
        }
    }
}

/// What kind of packet a header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// An Initial packet (long header).
    Initial,
    /// A 0-RTT packet (long header).
    ZeroRtt,
    /// A Handshake packet (long header).
    Handshake,
    /// A Retry packet (long header, no packet number, no protection).
    Retry,
    /// A Version Negotiation packet (long header with version 0).
    VersionNegotiation,
    /// A 1-RTT packet (short header).
    Short,
}

impl PacketType {
    /// The level whose keys protect this packet's frames; `None` for Retry
    /// and Version Negotiation, which carry no frames.
    #[must_use]
    pub const fn encryption_level(self) -> Option<EncryptionLevel> {
        match self {
            Self::Initial => Some(EncryptionLevel::Initial),
            Self::ZeroRtt => Some(EncryptionLevel::ZeroRtt),
            Self::Handshake => Some(EncryptionLevel::Handshake),
            Self::Short => Some(EncryptionLevel::OneRtt),
            Self::Retry | Self::VersionNegotiation => None,
        }
    }

    /// Whether the packet has a long header.
    #[must_use]
    pub const fn is_long_header(self) -> bool {
        !matches!(self, Self::Short)
    }
}

impl From<LongType> for PacketType {
    fn from(ty: LongType) -> Self {
        match ty {
            LongType::Initial => Self::Initial,
            LongType::ZeroRtt => Self::ZeroRtt,
            LongType::Handshake => Self::Handshake,
            LongType::Retry => Self::Retry,
        }
    }
}
