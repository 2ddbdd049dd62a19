//! Why a packet header could not be parsed.

use std::fmt;

/// Why a packet was dropped before it reached decryption.
///
/// None of these is a connection error: RFC 9000 has an endpoint discard
/// a packet whose header it cannot parse (§17.2, §12.2) and carry on; only
/// a packet that decrypts can close a connection. The receiver should drop the
/// packet (and, when framing was lost, the rest of the datagram), count it,
/// and at most `trace!` it: a peer or an attacker controls every case.
///
/// [`UnsupportedVersion`](Self::UnsupportedVersion) is the one case a server
/// answers, with Version Negotiation (RFC 9000 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PacketDecodeError {
    /// The datagram ended inside a header field. Drop the datagram.
    #[error("packet truncated in its {0}")]
    Truncated(HeaderField),
    /// A version 1 or 2 long header (or a Version Negotiation packet, which
    /// can only echo our own IDs) carried a connection ID longer than 20
    /// bytes. Drop the packet.
    #[error("connection id of {len} bytes is longer than the 20 this version allows")]
    ConnectionIdTooLong {
        /// The length byte from the header.
        len: u8,
    },
    /// The fixed bit was 0 and greasing it (RFC 9287) was not negotiated.
    /// Drop the packet.
    #[error("fixed bit is zero and greasing it was not negotiated")]
    FixedBitClear,
    /// A long header named a version whose packet format we do not know. A
    /// server answers with Version Negotiation, reading the connection IDs
    /// (up to 255 bytes) with [`InvariantHeader`](super::InvariantHeader)
    /// from the datagram, which the decoder left untouched.
    #[error("unsupported version {version:#010x}")]
    UnsupportedVersion {
        /// The version the packet carried.
        version: u32,
    },
    /// An Initial, 0-RTT or Handshake packet's Length was zero, leaving no
    /// room for a packet number. Drop the datagram.
    #[error("length field is zero, leaving no room for a packet number")]
    LengthTooSmall,
    /// An Initial, 0-RTT or Handshake packet's Length ran past the end of
    /// the datagram. Drop the datagram.
    #[error("length field of {length} bytes runs past the {available} bytes left in the datagram")]
    LengthBeyondDatagram {
        /// The Length field's value.
        length: u64,
        /// Bytes left in the datagram after the Length field.
        available: usize,
    },
    /// A Retry packet carried an empty token. Drop the packet.
    #[error("retry packet carries an empty token")]
    EmptyRetryToken,
    /// A Version Negotiation packet's version list was not a whole number
    /// of 4-byte versions. Drop the packet.
    #[error("version negotiation list is not a whole number of versions")]
    PartialVersion,
    /// A packet coalesced behind the first one in a datagram had a different
    /// destination connection ID. Drop that packet; the ones after it in the
    /// datagram are still delimited and may be processed.
    #[error("coalesced packet has a different destination connection id from the first")]
    DestinationMismatch,
}

/// A header field, to say where a truncated header ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderField {
    /// The first byte.
    FirstByte,
    /// The version of a long header.
    Version,
    /// The destination connection ID's length byte.
    DcidLength,
    /// The destination connection ID.
    Dcid,
    /// The source connection ID's length byte.
    ScidLength,
    /// The source connection ID.
    Scid,
    /// An Initial packet's Token Length.
    TokenLength,
    /// An Initial packet's token.
    Token,
    /// A long header's Length.
    Length,
    /// The packet number (a short header with nothing after the DCID).
    PacketNumber,
    /// A Retry packet's integrity tag.
    RetryIntegrityTag,
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FirstByte => "first byte",
            Self::Version => "version",
            Self::DcidLength => "destination connection id length",
            Self::Dcid => "destination connection id",
            Self::ScidLength => "source connection id length",
            Self::Scid => "source connection id",
            Self::TokenLength => "token length",
            Self::Token => "token",
            Self::Length => "length field",
            Self::PacketNumber => "packet number",
            Self::RetryIntegrityTag => "retry integrity tag",
        })
    }
}
