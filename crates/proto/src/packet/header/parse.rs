//! The parsing behind [`PartialDecode`](super::PartialDecode): reads a
//! packet's cleartext header fields without touching the datagram.

use crate::{ConnectionId, coding::wire_len};

use super::Kind;
use crate::packet::{
    DecodeOptions, HeaderField, InvariantHeader, LongType, PacketDecodeError,
    RETRY_INTEGRITY_TAG_LEN, Version, bits, invariant::Reader,
};

/// Parses without touching `data`: the first byte, DCID, the rest of the
/// header, and the packet's length.
pub(super) fn parse(
    data: &[u8],
    options: DecodeOptions,
) -> Result<(u8, ConnectionId, Kind, usize), PacketDecodeError> {
    let invariant = InvariantHeader::parse(data, options.local_cid_len())?;
    let first = invariant.first_byte();
    let Some(raw_version) = invariant.version() else {
        return parse_short(&invariant, data, options);
    };
    // RFC 9000 §17.2.1: version 0 marks Version Negotiation, whatever the other bits say.
    if raw_version == 0 {
        return parse_version_negotiation(&invariant, data);
    }
    // RFC 9000 §6.1: a version we cannot read is reported so a server can answer it.
    let version = Version::from_u32(raw_version).ok_or(PacketDecodeError::UnsupportedVersion {
        version: raw_version,
    })?;
    check_fixed_bit(first, options)?;
    let dcid = known_version_cid(invariant.dcid())?;
    let scid = known_version_cid(invariant.scid().unwrap_or_default())?;
    let ty = LongType::from_bits(version, (first & bits::LONG_TYPE) >> bits::LONG_TYPE_SHIFT);
    let mut reader = Reader::at(data, invariant.header_len(), HeaderField::Scid)?;
    if ty == LongType::Retry {
        return parse_retry(first, dcid, version, scid, reader);
    }
    let token = if ty == LongType::Initial {
        // RFC 9000 §17.2.2: an Initial carries a length-prefixed token before Length.
        let token_len = reader.var(HeaderField::TokenLength)?;
        let start = reader.offset();
        reader.take_var(token_len, HeaderField::Token)?;
        start..reader.offset()
    } else {
        0..0
    };
    let length = reader.var(HeaderField::Length)?;
    let pn_offset = reader.offset();
    // RFC 9000 §17.2: Length counts the packet number and payload, so it
    // cannot be zero, and the packet must fit in the datagram (§12.2).
    if length.into_inner() == 0 {
        return Err(PacketDecodeError::LengthTooSmall);
    }
    if wire_len(length) > reader.remaining() {
        return Err(PacketDecodeError::LengthBeyondDatagram {
            length: length.into_inner(),
            available: reader.remaining(),
        });
    }
    let kind = Kind::Long {
        ty,
        version,
        scid,
        token,
        length,
        pn_offset,
    };
    Ok((first, dcid, kind, pn_offset + wire_len(length)))
}

fn parse_short(
    invariant: &InvariantHeader<'_>,
    data: &[u8],
    options: DecodeOptions,
) -> Result<(u8, ConnectionId, Kind, usize), PacketDecodeError> {
    let first = invariant.first_byte();
    check_fixed_bit(first, options)?;
    let dcid = known_version_cid(invariant.dcid())?;
    let pn_offset = invariant.header_len();
    // RFC 9000 §17.3.1: a packet number of at least one byte follows the DCID.
    if data.len() <= pn_offset {
        return Err(PacketDecodeError::Truncated(HeaderField::PacketNumber));
    }
    Ok((first, dcid, Kind::Short { pn_offset }, data.len()))
}

fn parse_retry(
    first: u8,
    dcid: ConnectionId,
    version: Version,
    scid: ConnectionId,
    reader: Reader<'_>,
) -> Result<(u8, ConnectionId, Kind, usize), PacketDecodeError> {
    // RFC 9000 §17.2.5: the token runs from the SCID to the 16-byte
    // integrity tag at the datagram's end; there is no Length.
    let start = reader.offset();
    let end = reader.offset() + reader.remaining();
    let tag_start = end
        .checked_sub(RETRY_INTEGRITY_TAG_LEN)
        .filter(|&tag_start| tag_start >= start)
        .ok_or(PacketDecodeError::Truncated(HeaderField::RetryIntegrityTag))?;
    // RFC 9000 §17.2.5.2: a client drops a Retry whose token is empty.
    if tag_start == start {
        return Err(PacketDecodeError::EmptyRetryToken);
    }
    let kind = Kind::Retry {
        version,
        scid,
        token: start..tag_start,
    };
    Ok((first, dcid, kind, end))
}

fn parse_version_negotiation(
    invariant: &InvariantHeader<'_>,
    data: &[u8],
) -> Result<(u8, ConnectionId, Kind, usize), PacketDecodeError> {
    // A client only accepts Version Negotiation echoing its own IDs, which
    // are at most 20 bytes; longer ones cannot match and are dropped.
    let dcid = known_version_cid(invariant.dcid())?;
    let scid = known_version_cid(invariant.scid().unwrap_or_default())?;
    let start = invariant.header_len();
    // RFC 9000 §17.2.1: the rest of the datagram is a list of 32-bit versions.
    let list_len = data.len().saturating_sub(start);
    if !list_len.is_multiple_of(4) {
        return Err(PacketDecodeError::PartialVersion);
    }
    let kind = Kind::VersionNegotiation {
        scid,
        versions: start..data.len(),
    };
    Ok((invariant.first_byte(), dcid, kind, data.len()))
}

/// RFC 9000 §17.2: a version 1 long header with a connection ID over 20
/// bytes is dropped; RFC 9369 §3 keeps the rule for version 2.
fn known_version_cid(raw: &[u8]) -> Result<ConnectionId, PacketDecodeError> {
    ConnectionId::new(raw).map_err(|_| PacketDecodeError::ConnectionIdTooLong {
        len: u8::try_from(raw.len()).unwrap_or(u8::MAX),
    })
}

/// RFC 9000 §17.2, §17.3.1: the fixed bit is 1 unless the endpoint
/// advertised grease_quic_bit (RFC 9287 §3), when either value is accepted.
fn check_fixed_bit(first: u8, options: DecodeOptions) -> Result<(), PacketDecodeError> {
    if first & bits::FIXED == 0 && !options.greased_fixed_bit_allowed() {
        return Err(PacketDecodeError::FixedBitClear);
    }
    Ok(())
}
