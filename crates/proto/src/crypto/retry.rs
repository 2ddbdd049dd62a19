//! Retry packet integrity (RFC 9001 §5.8, RFC 9369 §3.3.3).

use super::provider::backend::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::{
    ConnectionId,
    packet::{RETRY_INTEGRITY_TAG_LEN, Version},
};

use super::CryptoError;

/// RFC 9001 §5.8: the fixed AES-128-GCM key of QUIC v1 Retry tags.
const V1_KEY: [u8; 16] = [
    0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e,
];
/// RFC 9001 §5.8: the fixed nonce of QUIC v1 Retry tags.
const V1_NONCE: [u8; NONCE_LEN] = [
    0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
];
/// RFC 9369 §3.3.3: the fixed key of QUIC v2 Retry tags.
const V2_KEY: [u8; 16] = [
    0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92,
];
/// RFC 9369 §3.3.3: the fixed nonce of QUIC v2 Retry tags.
const V2_NONCE: [u8; NONCE_LEN] = [
    0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
];

/// Pseudo-packets up to this size are built on the stack; a larger Retry
/// (a token of over a kilobyte) costs one allocation.
const STACK_PSEUDO_PACKET: usize = 1500;

/// Computes the integrity tag of a Retry packet: `packet` holds its header
/// and token, without the tag (as [`RetryHeader`](crate::packet::RetryHeader)
/// writes them), and `odcid` is the Destination Connection ID of the
/// client's Initial that the Retry answers.
///
/// # Errors
/// [`CryptoError::SealFailed`] only if the AEAD rejects its fixed key,
/// which it does not.
pub fn retry_integrity_tag(
    version: Version,
    odcid: &ConnectionId,
    packet: &[u8],
) -> Result<[u8; RETRY_INTEGRITY_TAG_LEN], CryptoError> {
    with_pseudo_packet(odcid, packet, |pseudo| {
        let (key, nonce) = key_and_nonce(version).ok_or(CryptoError::SealFailed)?;
        // RFC 9001 §5.8: the tag is AEAD output over an empty plaintext,
        // with the pseudo-packet as associated data.
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(pseudo), &mut [])
            .map_err(|_| CryptoError::SealFailed)?;
        let mut out = [0; RETRY_INTEGRITY_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    })
}

/// Checks the integrity tag of a received Retry packet (`packet` is the
/// whole packet, tag included) against `odcid`, the Destination Connection
/// ID the client sent in its first Initial. The comparison takes constant
/// time.
///
/// # Errors
/// [`CryptoError::RetryIntegrity`] when the tag does not match, and
/// [`CryptoError::PacketTooShort`] when the packet is shorter than a tag:
/// the client drops the packet either way.
pub fn verify_retry_integrity(
    version: Version,
    odcid: &ConnectionId,
    packet: &[u8],
) -> Result<(), CryptoError> {
    let len = packet.len();
    let covered_len =
        len.checked_sub(RETRY_INTEGRITY_TAG_LEN)
            .ok_or(CryptoError::PacketTooShort {
                len,
                needed: RETRY_INTEGRITY_TAG_LEN,
            })?;
    let (covered, tag) = packet.split_at(covered_len);
    let mut received = [0; RETRY_INTEGRITY_TAG_LEN];
    received.copy_from_slice(tag);
    with_pseudo_packet(odcid, covered, |pseudo| {
        let (key, nonce) = key_and_nonce(version).ok_or(CryptoError::RetryIntegrity)?;
        // Opening an empty ciphertext checks the tag in constant time.
        key.open_in_place(nonce, Aad::from(pseudo), &mut received)
            .map(|_| ())
            .map_err(|_| CryptoError::RetryIntegrity)
    })
}

/// The version's fixed key and nonce; `None` only if the crypto backend
/// (aws-lc-rs or ring, see [`super::provider`]) rejected a 16-byte AES-128
/// key.
fn key_and_nonce(version: Version) -> Option<(LessSafeKey, Nonce)> {
    let (key, nonce) = match version {
        Version::V1 => (&V1_KEY, V1_NONCE),
        Version::V2 => (&V2_KEY, V2_NONCE),
    };
    let key = UnboundKey::new(&AES_128_GCM, key).ok()?;
    Some((LessSafeKey::new(key), Nonce::assume_unique_for_key(nonce)))
}

/// Calls `f` with the Retry pseudo-packet: the ODCID's length and bytes,
/// then the Retry packet without its tag (RFC 9001 §5.8).
fn with_pseudo_packet<T>(
    odcid: &ConnectionId,
    packet: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T, CryptoError>,
) -> Result<T, CryptoError> {
    // A connection ID is at most 20 bytes, so its length fits a byte.
    let odcid_len = u8::try_from(odcid.len()).map_err(|_| CryptoError::RetryIntegrity)?;
    let total = 1 + odcid.len() + packet.len();
    let mut stack = [0; STACK_PSEUDO_PACKET];
    let mut heap = Vec::new();
    let pseudo: &mut [u8] = if let Some(pseudo) = stack.get_mut(..total) {
        pseudo
    } else {
        heap.resize(total, 0);
        &mut heap
    };
    let (len_byte, rest) = pseudo.split_at_mut(1);
    let (cid, retry) = rest.split_at_mut(odcid.len());
    len_byte.copy_from_slice(&[odcid_len]);
    cid.copy_from_slice(odcid);
    retry.copy_from_slice(packet);
    f(pseudo)
}
