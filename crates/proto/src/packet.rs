//! Packets (RFC 9000 §17): headers, packet numbers, coalescing.
//!
//! Receiving is split in two, because most of a packet's first byte and its
//! packet number sit under header protection (RFC 9001 §5.4):
//!
//! 1. [`PartialDecode`] reads everything that is sent in the clear (form,
//!    type, version, connection IDs, token, Length) and stops at the packet
//!    number. It splits the packet off the front of the datagram without
//!    copying, leaving any coalesced packets (RFC 9000 §12.2) behind;
//!    [`CoalescedPackets`] repeats that over a whole datagram.
//! 2. Once the crypto layer has removed header protection in place,
//!    [`PartialDecode::protected_bits`] reads the packet number length, key
//!    phase and reserved bits, and [`PacketNumber::decode`] with
//!    [`PacketNumber::expand`] recovers the full packet number (RFC 9000 §A.3).
//!
//! A packet that fails to parse is dropped, never answered with a connection
//! error: see [`PacketDecodeError`]. Headers are written with [`LongHeader`],
//! [`ShortHeader`], [`RetryHeader`] and [`VersionNegotiationPacket`].
//!
//! ```
//! use bytes::BytesMut;
//! use tern_proto::ConnectionId;
//! use tern_proto::packet::{
//!     DecodeOptions, LongHeader, LongHeaderType, PacketNumber, PacketType, PartialDecode, Version,
//! };
//!
//! let header = LongHeader {
//!     ty: LongHeaderType::Handshake,
//!     version: Version::V1,
//!     dcid: ConnectionId::new(&[1, 2, 3, 4]).unwrap(),
//!     scid: ConnectionId::EMPTY,
//!     pn: PacketNumber::new(7, Some(5)),
//!     grease_fixed_bit: false,
//! };
//! let mut packet = Vec::new();
//! let layout = header.encode(&mut packet);
//! packet.extend_from_slice(&[0; 20]); // the payload and AEAD tag go here
//! layout.set_length(&mut packet).unwrap();
//!
//! let mut datagram = BytesMut::from(&packet[..]);
//! let options = DecodeOptions::new(8).unwrap();
//! let decoded = PartialDecode::split_from(&mut datagram, options).unwrap();
//! assert_eq!(decoded.packet_type(), PacketType::Handshake);
//! assert_eq!(decoded.pn_offset(), Some(layout.pn_offset));
//! assert!(datagram.is_empty());
//! ```

mod coalesce;
mod encode;
mod error;
mod header;
mod invariant;
mod number;
mod retry;
mod ty;
mod version_negotiation;

#[cfg(test)]
mod tests;

pub use coalesce::CoalescedPackets;
pub use encode::{LengthFieldError, LongHeader, LongHeaderLayout, LongHeaderType, ShortHeader};
pub use error::{HeaderField, PacketDecodeError};
pub use header::{DecodeOptions, PartialDecode, ProtectedBits};
pub use invariant::InvariantHeader;
pub(crate) use number::MAX_PN;
pub use number::{PacketNumber, decode_packet_number};
pub use retry::RetryHeader;
pub use ty::{LongType, PacketType, Version};
pub use version_negotiation::{InvariantCidTooLong, SupportedVersions, VersionNegotiationPacket};

/// The first-byte bits, by the RFC section that defines them.
mod bits {
    /// RFC 9000 §17.2: set for a long header, clear for a short one.
    pub(super) const FORM: u8 = 0x80;
    /// RFC 9000 §17.2: the fixed bit, 1 unless greased (RFC 9287).
    pub(super) const FIXED: u8 = 0x40;
    /// RFC 9000 §17.2: where a long header's two type bits start.
    pub(super) const LONG_TYPE_SHIFT: u8 = 4;
    /// RFC 9000 §17.2: a long header's two type bits.
    pub(super) const LONG_TYPE: u8 = 0x30;
    /// RFC 9000 §17.2: a long header's reserved bits (protected).
    pub(super) const LONG_RESERVED: u8 = 0x0c;
    /// RFC 9000 §17.2.5: the four unused bits of a Retry packet.
    pub(super) const RETRY_UNUSED: u8 = 0x0f;
    /// RFC 9000 §17.3.1: the latency spin bit (not protected).
    pub(super) const SPIN: u8 = 0x20;
    /// RFC 9000 §17.3.1: a short header's reserved bits (protected).
    pub(super) const SHORT_RESERVED: u8 = 0x18;
    /// RFC 9000 §17.3.1: the key phase bit (protected).
    pub(super) const KEY_PHASE: u8 = 0x04;
    /// RFC 9000 §17.2, §17.3.1: the packet number length minus one (protected).
    pub(super) const PN_LEN: u8 = 0x03;
}

/// RFC 9001 §5.8: a Retry packet ends with a 16-byte integrity tag.
pub const RETRY_INTEGRITY_TAG_LEN: usize = 16;
