//! The version-independent header fields (RFC 8999 §5) and a checked reader
//! over a packet's bytes.

use crate::{
    coding::{BufExt, wire_len},
    varint::VarInt,
};

use super::{HeaderField, PacketDecodeError, bits};

/// The header fields every QUIC version shares (RFC 8999 §5), borrowed from
/// a datagram: enough to route a packet by connection ID or answer an
/// unknown version with Version Negotiation.
///
/// Connection IDs here are raw bytes because RFC 8999 §5.1 lets versions
/// other than 1 and 2 use up to 255 bytes, more than
/// [`ConnectionId`](crate::ConnectionId) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvariantHeader<'a> {
    first: u8,
    version: Option<u32>,
    dcid: &'a [u8],
    scid: Option<&'a [u8]>,
    len: usize,
}

impl<'a> InvariantHeader<'a> {
    /// Reads the invariant fields from the front of `datagram`. A short
    /// header's DCID has no length on the wire; it is `local_cid_len` bytes.
    ///
    /// Nothing version-specific is checked: not the fixed bit, not the
    /// 20-byte limit on connection IDs.
    ///
    /// # Errors
    /// [`PacketDecodeError::Truncated`] when the datagram ends inside a field.
    pub fn parse(datagram: &'a [u8], local_cid_len: usize) -> Result<Self, PacketDecodeError> {
        let mut reader = Reader::new(datagram);
        let first = reader.u8(HeaderField::FirstByte)?;
        // RFC 8999 §5.1: the form bit is the only invariant of the first byte.
        if first & bits::FORM == 0 {
            let dcid = reader.take(local_cid_len, HeaderField::Dcid)?;
            return Ok(Self {
                first,
                version: None,
                dcid,
                scid: None,
                len: reader.offset(),
            });
        }
        let version = reader.u32(HeaderField::Version)?;
        // RFC 8999 §5.1: each connection ID has a one-byte length, so up to 255 bytes.
        let dcid_len = reader.u8(HeaderField::DcidLength)?;
        let dcid = reader.take(usize::from(dcid_len), HeaderField::Dcid)?;
        let scid_len = reader.u8(HeaderField::ScidLength)?;
        let scid = reader.take(usize::from(scid_len), HeaderField::Scid)?;
        Ok(Self {
            first,
            version: Some(version),
            dcid,
            scid: Some(scid),
            len: reader.offset(),
        })
    }

    /// The first byte as received (mostly protected, and version-specific).
    #[must_use]
    pub const fn first_byte(&self) -> u8 {
        self.first
    }

    /// Whether this is a long header.
    #[must_use]
    pub const fn is_long_header(&self) -> bool {
        self.version.is_some()
    }

    /// The version of a long header; `None` for a short header.
    #[must_use]
    pub const fn version(&self) -> Option<u32> {
        self.version
    }

    /// The destination connection ID.
    #[must_use]
    pub const fn dcid(&self) -> &'a [u8] {
        self.dcid
    }

    /// The source connection ID of a long header; `None` for a short header.
    #[must_use]
    pub const fn scid(&self) -> Option<&'a [u8]> {
        self.scid
    }

    /// Bytes the invariant fields took, where the version-specific ones start.
    #[must_use]
    pub const fn header_len(&self) -> usize {
        self.len
    }
}

/// Checked reads over a packet that remember how far they got. Every read
/// fails with [`PacketDecodeError::Truncated`] naming the field, never panics.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader<'a> {
    len: usize,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) const fn new(data: &'a [u8]) -> Self {
        Self {
            len: data.len(),
            rest: data,
        }
    }

    /// A reader over `data` that has already consumed `offset` bytes.
    pub(super) fn at(
        data: &'a [u8],
        offset: usize,
        field: HeaderField,
    ) -> Result<Self, PacketDecodeError> {
        let mut reader = Self::new(data);
        reader.take(offset, field)?;
        Ok(reader)
    }

    /// Bytes consumed so far.
    pub(super) const fn offset(&self) -> usize {
        self.len - self.rest.len()
    }

    /// Bytes left.
    pub(super) const fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(super) fn u8(&mut self, field: HeaderField) -> Result<u8, PacketDecodeError> {
        self.rest
            .read_u8()
            .map_err(|_| PacketDecodeError::Truncated(field))
    }

    pub(super) fn u32(&mut self, field: HeaderField) -> Result<u32, PacketDecodeError> {
        self.rest
            .read_u32()
            .map_err(|_| PacketDecodeError::Truncated(field))
    }

    pub(super) fn var(&mut self, field: HeaderField) -> Result<VarInt, PacketDecodeError> {
        self.rest
            .read_var()
            .map_err(|_| PacketDecodeError::Truncated(field))
    }

    /// Takes `len` bytes, a length read from the wire.
    pub(super) fn take_var(
        &mut self,
        len: VarInt,
        field: HeaderField,
    ) -> Result<&'a [u8], PacketDecodeError> {
        self.take(wire_len(len), field)
    }

    pub(super) fn take(
        &mut self,
        len: usize,
        field: HeaderField,
    ) -> Result<&'a [u8], PacketDecodeError> {
        let (taken, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(PacketDecodeError::Truncated(field))?;
        self.rest = rest;
        Ok(taken)
    }
}
