//! Packet and header protection keys, and sealing and opening in place
//! (RFC 9001 §5.3, §5.4).

use std::{fmt, ops::Range};

use rustls::quic::{self as tls};

use crate::{
    Side,
    packet::{MAX_PN, PacketNumber, Version},
};

use super::{CryptoError, SAMPLE_OFFSET, rustls_side, rustls_version};

/// RFC 9000 §17.2, §17.3.1: the first byte's packet number length bits.
const PN_LEN_BITS: u8 = 0x03;

/// A header protection key (RFC 9001 §5.4): masks the protected bits of the
/// first byte and the packet number with a mask made from a sample of the
/// ciphertext. It does not change on a key update.
///
/// `Debug` shows only the sample length. The key itself lives inside the
/// crypto provider's cipher state (rustls over aws-lc-rs or ring), which
/// Tern cannot zeroize; it never holds a copy of the bytes.
pub struct HeaderKey(Box<dyn tls::HeaderProtectionKey>);

/// A packet protection key (RFC 9001 §5.3): the AEAD key and IV that
/// encrypt a payload with the header as associated data.
///
/// `Debug` shows only the tag length. As with [`HeaderKey`], the key lives
/// inside the crypto provider's AEAD state, which Tern cannot zeroize.
pub struct PacketKey(Box<dyn tls::PacketKey>);

/// The keys that protect packets in one direction.
pub struct DirectionalKeys {
    /// Header protection.
    pub header: HeaderKey,
    /// Payload protection.
    pub packet: PacketKey,
}

/// The keys of one encryption level: ours to seal, the peer's to open.
pub struct Keys {
    /// Seals the packets we send.
    pub local: DirectionalKeys,
    /// Opens the packets we receive.
    pub remote: DirectionalKeys,
}

/// What removing header protection revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnprotectedHeader {
    /// The first byte in the clear: reserved bits, key phase, pn length.
    pub first_byte: u8,
    /// The truncated packet number.
    pub pn: PacketNumber,
    /// Bytes of the header, packet number included: where the payload starts.
    pub header_len: usize,
}

/// A packet opened in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpenedPacket {
    /// The full packet number.
    pub pn: u64,
    /// The first byte in the clear; read its fields with
    /// [`PartialDecode::protected_bits`](crate::PartialDecode::protected_bits).
    pub first_byte: u8,
    /// Bytes of the header, packet number included.
    pub header_len: usize,
    /// Where the plaintext payload sits in the packet (the tag excluded).
    pub payload: Range<usize>,
}

impl HeaderKey {
    /// Bytes of ciphertext sampled to make the mask (16 for every suite).
    #[must_use]
    pub fn sample_len(&self) -> usize {
        self.0.sample_len()
    }

    /// The bytes a packet needs for the sample when its packet number starts
    /// at `pn_offset`.
    fn needed(&self, pn_offset: usize) -> usize {
        pn_offset
            .saturating_add(SAMPLE_OFFSET)
            .saturating_add(self.sample_len())
    }

    /// Checks that `packet` is long enough to be sampled, before anything
    /// is changed.
    fn check_room(&self, packet_len: usize, pn_offset: usize) -> Result<(), CryptoError> {
        if pn_offset == 0 {
            return Err(CryptoError::InvalidPnOffset(pn_offset));
        }
        let needed = self.needed(pn_offset);
        if packet_len < needed {
            return Err(CryptoError::PacketTooShort {
                len: packet_len,
                needed,
            });
        }
        Ok(())
    }

    /// Applies header protection to a packet whose payload is already
    /// encrypted; the packet number length is read from the clear first
    /// byte.
    ///
    /// # Errors
    /// [`CryptoError::PacketTooShort`] when the packet holds no full sample
    /// after `pn_offset`, [`CryptoError::InvalidPnOffset`] when `pn_offset`
    /// is 0; the packet is unchanged then.
    pub fn protect(&self, packet: &mut [u8], pn_offset: usize) -> Result<(), CryptoError> {
        self.apply(packet, pn_offset, Direction::Protect)
    }

    /// Removes header protection in place and reads the packet number.
    ///
    /// # Errors
    /// [`CryptoError::PacketTooShort`] when the packet holds no full sample
    /// after `pn_offset` (RFC 9001 §5.4.2), [`CryptoError::InvalidPnOffset`]
    /// when `pn_offset` is 0; the packet is unchanged then.
    pub fn unprotect(
        &self,
        packet: &mut [u8],
        pn_offset: usize,
    ) -> Result<UnprotectedHeader, CryptoError> {
        self.apply(packet, pn_offset, Direction::Unprotect)?;
        let first_byte = packet.first().copied().unwrap_or_default();
        let pn_len = usize::from(first_byte & PN_LEN_BITS) + 1;
        let header_len = pn_offset + pn_len;
        let too_short = CryptoError::PacketTooShort {
            len: packet.len(),
            needed: header_len,
        };
        let mut pn_bytes = packet.get(pn_offset..header_len).ok_or(too_short)?;
        let pn = PacketNumber::decode(pn_len, &mut pn_bytes).map_err(|_| too_short)?;
        Ok(UnprotectedHeader {
            first_byte,
            pn,
            header_len,
        })
    }

    fn apply(
        &self,
        packet: &mut [u8],
        pn_offset: usize,
        dir: Direction,
    ) -> Result<(), CryptoError> {
        self.check_room(packet.len(), pn_offset)?;
        let sample_len = self.sample_len();
        // RFC 9001 §5.4.2: sample 4 bytes past the packet number's start,
        // whatever its real length.
        let (head, tail) = packet.split_at_mut(pn_offset + SAMPLE_OFFSET);
        let sample = tail.get(..sample_len).ok_or(CryptoError::PacketTooShort {
            len: pn_offset + SAMPLE_OFFSET + tail.len(),
            needed: pn_offset + SAMPLE_OFFSET + sample_len,
        })?;
        let Some((first, rest)) = head.split_first_mut() else {
            return Err(CryptoError::InvalidPnOffset(pn_offset));
        };
        // The up to four bytes the packet number may take; the key masks
        // only as many as the first byte says (RFC 9001 §5.4.1).
        let pn_field = rest
            .get_mut(pn_offset - 1..)
            .ok_or(CryptoError::InvalidPnOffset(pn_offset))?;
        // RFC 9001 §5.4.1: the low 4 bits of a long header's first byte and
        // the low 5 of a short header's are masked, then the pn bytes.
        let result = match dir {
            Direction::Protect => self.0.encrypt_in_place(sample, first, pn_field),
            Direction::Unprotect => self.0.decrypt_in_place(sample, first, pn_field),
        };
        // The sample and pn lengths were checked above, so rustls does not fail.
        result.map_err(|_| CryptoError::PacketTooShort {
            len: pn_offset + SAMPLE_OFFSET + tail.len(),
            needed: self.needed(pn_offset),
        })
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Protect,
    Unprotect,
}

impl PacketKey {
    /// Bytes of the AEAD tag that follows the payload.
    #[must_use]
    pub fn tag_len(&self) -> usize {
        self.0.tag_len()
    }

    /// RFC 9001 §6.6: how many packets this key may seal before the
    /// endpoint must update keys (or close the connection).
    #[must_use]
    pub fn confidentiality_limit(&self) -> u64 {
        self.0.confidentiality_limit()
    }

    /// RFC 9001 §6.6: how many packets may fail to open under this key
    /// before the connection must close with AEAD_LIMIT_REACHED.
    #[must_use]
    pub fn integrity_limit(&self) -> u64 {
        self.0.integrity_limit()
    }

    /// Encrypts in place the payload of `packet`, which holds the header
    /// (`header_len` bytes, packet number in the clear), the payload and
    /// [`tag_len`](Self::tag_len) bytes of room for the tag, which is
    /// written there.
    ///
    /// # Errors
    /// [`CryptoError::PacketTooShort`] when `packet` cannot hold the header
    /// and the tag (it is unchanged then); [`CryptoError::SealFailed`] when
    /// the AEAD refuses the payload.
    pub fn encrypt(
        &self,
        pn: u64,
        packet: &mut [u8],
        header_len: usize,
    ) -> Result<(), CryptoError> {
        let tag_len = self.tag_len();
        let needed = header_len.saturating_add(tag_len);
        let len = packet.len();
        if len < needed {
            return Err(CryptoError::PacketTooShort { len, needed });
        }
        let (header, rest) = packet.split_at_mut(header_len);
        let (payload, tag_room) = rest.split_at_mut(rest.len() - tag_len);
        // RFC 9001 §5.3: the nonce comes from the full packet number and
        // the associated data is the header, up to the end of the pn.
        let tag = self
            .0
            .encrypt_in_place(pn, header, payload)
            .map_err(|_| CryptoError::SealFailed)?;
        tag_room.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts in place the payload of `packet`, whose first `header_len`
    /// bytes are the header with protection removed, returning where the
    /// plaintext sits. On failure the payload bytes are unspecified.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] when the payload does not
    /// authenticate; [`CryptoError::PacketTooShort`] when there is no room
    /// for a tag after the header.
    pub fn decrypt(
        &self,
        pn: u64,
        packet: &mut [u8],
        header_len: usize,
    ) -> Result<Range<usize>, CryptoError> {
        let needed = header_len.saturating_add(self.tag_len());
        let len = packet.len();
        if len < needed {
            return Err(CryptoError::PacketTooShort { len, needed });
        }
        let (header, payload) = packet.split_at_mut(header_len);
        let plain_len = self
            .0
            .decrypt_in_place(pn, header, payload)
            .map_err(|_| CryptoError::AuthenticationFailed)?
            .len();
        Ok(header_len..header_len + plain_len)
    }
}

impl DirectionalKeys {
    /// Seals `packet` in place: it holds the header with the truncated
    /// packet number in the clear at `pn_offset` (its length in the first
    /// byte's low two bits), then the payload, then
    /// [`PacketKey::tag_len`] bytes of room for the tag. The payload is
    /// encrypted with the full packet number `pn`, then header protection
    /// is applied.
    ///
    /// # Errors
    /// [`CryptoError::PacketTooShort`] when the packet holds no room for the
    /// tag or no full header protection sample (pad the payload, RFC 9001
    /// §5.4.2); [`CryptoError::InvalidPnOffset`] for an offset of 0. The
    /// packet is unchanged then. [`CryptoError::SealFailed`] when the AEAD
    /// refuses the payload.
    pub fn seal(&self, pn: u64, packet: &mut [u8], pn_offset: usize) -> Result<(), CryptoError> {
        self.header.check_room(packet.len(), pn_offset)?;
        let first = packet.first().copied().unwrap_or_default();
        let header_len = pn_offset + usize::from(first & PN_LEN_BITS) + 1;
        self.packet.encrypt(pn, packet, header_len)?;
        self.header.protect(packet, pn_offset)
    }

    /// Opens `packet` in place: removes header protection, recovers the
    /// full packet number from `largest_pn` (the largest one successfully
    /// processed in this space, RFC 9000 §A.3), then decrypts the payload.
    ///
    /// The first byte's reserved bits are not checked here; they must be
    /// zero only once the payload has authenticated (RFC 9000 §17.2).
    ///
    /// # Errors
    /// A [`CryptoError`] when the packet must be dropped: too short to
    /// sample, a packet number past 2^62 - 1, or a payload that does not
    /// authenticate.
    pub fn open(
        &self,
        packet: &mut [u8],
        pn_offset: usize,
        largest_pn: Option<u64>,
    ) -> Result<OpenedPacket, CryptoError> {
        let header = self.header.unprotect(packet, pn_offset)?;
        let pn = header.pn.expand(largest_pn);
        if pn > MAX_PN {
            return Err(CryptoError::PacketNumberOverflow);
        }
        let payload = self.packet.decrypt(pn, packet, header.header_len)?;
        Ok(OpenedPacket {
            pn,
            first_byte: header.first_byte,
            header_len: header.header_len,
            payload,
        })
    }

    /// [`open`](Self::open) for a packet parsed with
    /// [`PartialDecode`](crate::PartialDecode).
    ///
    /// # Errors
    /// [`CryptoError::NotProtected`] for Retry and Version Negotiation
    /// packets; otherwise as [`open`](Self::open).
    pub fn open_decoded(
        &self,
        packet: &mut crate::PartialDecode,
        largest_pn: Option<u64>,
    ) -> Result<OpenedPacket, CryptoError> {
        let pn_offset = packet.pn_offset().ok_or(CryptoError::NotProtected)?;
        self.open(packet.data_mut(), pn_offset, largest_pn)
    }
}

impl Keys {
    /// RFC 9001 §5.2, RFC 9369 §3.3.1: the Initial keys, derived from the
    /// Destination Connection ID of the client's first Initial packet with
    /// the version's salt and labels.
    ///
    /// The AES-128-GCM here is the built-in crypto provider's (see
    /// [`crate::crypto::provider`]); a connection uses
    /// [`initial_with`](Self::initial_with) and the suite of its own
    /// configuration's provider.
    #[must_use]
    pub fn initial(version: Version, client_dcid: &[u8], side: Side) -> Self {
        Self::initial_with(
            &super::provider::BUILTIN_INITIAL_SUITE,
            version,
            client_dcid,
            side,
        )
    }

    /// [`initial`](Self::initial) with the AES-128-GCM QUIC suite of a
    /// given provider, as rustls's `ClientConfig::check_quic` and
    /// `ServerConfig::quic_initial_suite` return it.
    #[must_use]
    pub fn initial_with(
        suite: &tls::Suite,
        version: Version,
        client_dcid: &[u8],
        side: Side,
    ) -> Self {
        suite
            .keys(client_dcid, rustls_side(side), rustls_version(version))
            .into()
    }
}

impl From<Box<dyn tls::HeaderProtectionKey>> for HeaderKey {
    fn from(key: Box<dyn tls::HeaderProtectionKey>) -> Self {
        Self(key)
    }
}

impl From<Box<dyn tls::PacketKey>> for PacketKey {
    fn from(key: Box<dyn tls::PacketKey>) -> Self {
        Self(key)
    }
}

impl From<tls::DirectionalKeys> for DirectionalKeys {
    fn from(keys: tls::DirectionalKeys) -> Self {
        Self {
            header: keys.header.into(),
            packet: keys.packet.into(),
        }
    }
}

impl From<tls::Keys> for Keys {
    fn from(keys: tls::Keys) -> Self {
        Self {
            local: keys.local.into(),
            remote: keys.remote.into(),
        }
    }
}

impl fmt::Debug for HeaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderKey")
            .field("sample_len", &self.sample_len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketKey")
            .field("tag_len", &self.tag_len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DirectionalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionalKeys")
            .field("header", &self.header)
            .field("packet", &self.packet)
            .finish()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish()
    }
}
