//! Packet and header protection keys that Tern derives itself from a TLS
//! traffic secret, for a QUIC version chosen after the rustls session was
//! made (RFC 9368 §2.2, RFC 9369 §4).
//!
//! rustls fixes a session's QUIC version, and so its HKDF labels, when the
//! session is created, and keeps the constructors of its own keys private.
//! A client that starts on QUIC v1 and is moved to v2 by the server needs
//! v2-labelled keys from its v1 session's secrets: this module expands
//! them (RFC 8446 §7.1 with the suite's HKDF) and builds the AEAD and header
//! protection from the backend (aws-lc-rs or ring) directly.

use std::fmt;

use rustls::{
    CipherSuite, Tls13CipherSuite,
    crypto::tls13::{HkdfExpander, OkmBlock},
    quic::{self as tls, Tag},
};

use super::{
    DirectionalKeys, Keys,
    provider::backend::aead::{
        self, AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce,
        UnboundKey,
    },
};
use crate::{Side, packet::Version};

/// The HKDF labels of one QUIC version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels {
    pub(crate) key: &'static [u8],
    pub(crate) iv: &'static [u8],
    pub(crate) hp: &'static [u8],
    pub(crate) ku: &'static [u8],
}

impl Labels {
    /// RFC 9001 §5.1, §6.1 for v1; RFC 9369 §3.3.2 for v2.
    pub(crate) const fn of(version: Version) -> Self {
        match version {
            Version::V1 => Self {
                key: b"quic key",
                iv: b"quic iv",
                hp: b"quic hp",
                ku: b"quic ku",
            },
            // RFC 9369 §3.3.2: v2 replaces "quic" with "quicv2" in all four.
            Version::V2 => Self {
                key: b"quicv2 key",
                iv: b"quicv2 iv",
                hp: b"quicv2 hp",
                ku: b"quicv2 ku",
            },
        }
    }
}

/// The packet protection of one TLS 1.3 cipher suite, built on the backend
/// Tern is compiled with.
#[derive(Clone, Copy)]
pub(crate) struct DerivingSuite {
    /// The suite's HKDF, for HKDF-Expand-Label.
    suite: &'static Tls13CipherSuite,
    /// The AEAD for packet protection (RFC 9001 §5.3).
    packet: &'static aead::Algorithm,
    /// The header protection algorithm (RFC 9001 §5.4.3, §5.4.4).
    header: &'static aead::quic::Algorithm,
    /// RFC 9001 §6.6: packets a key may seal.
    confidentiality_limit: u64,
    /// RFC 9001 §6.6: forgeries a key may see.
    integrity_limit: u64,
}

impl DerivingSuite {
    /// The derivation for `suite`, when it is one of the three TLS 1.3
    /// suites QUIC uses (RFC 9001 §5.3); `None` for any other.
    pub(crate) fn new(suite: &'static Tls13CipherSuite) -> Option<Self> {
        // RFC 9001 §6.6: AES-GCM may seal 2^23 packets and see 2^52
        // forgeries. ChaCha20-Poly1305's confidentiality limit exceeds the
        // 2^62 packet numbers, so rustls reports u64::MAX; its integrity
        // limit is 2^36. These are the figures rustls reports, so a key
        // does not change its limits when Tern derives it.
        let (packet, header, confidentiality_limit, integrity_limit) = match suite.common.suite {
            CipherSuite::TLS13_AES_128_GCM_SHA256 => {
                (&AES_128_GCM, &aead::quic::AES_128, 1 << 23, 1 << 52)
            }
            CipherSuite::TLS13_AES_256_GCM_SHA384 => {
                (&AES_256_GCM, &aead::quic::AES_256, 1 << 23, 1 << 52)
            }
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => {
                (&CHACHA20_POLY1305, &aead::quic::CHACHA20, u64::MAX, 1 << 36)
            }
            _ => return None,
        };
        Some(Self {
            suite,
            packet,
            header,
            confidentiality_limit,
            integrity_limit,
        })
    }

    /// The suite this derives for.
    pub(crate) fn suite(&self) -> CipherSuite {
        self.suite.common.suite
    }

    /// The header and packet keys of one direction, from its traffic
    /// secret (RFC 9001 §5.1).
    pub(crate) fn directional_keys(&self, secret: &OkmBlock, version: Version) -> DirectionalKeys {
        let expander = self.suite.hkdf_provider.expander_for_okm(secret);
        let labels = Labels::of(version);
        DirectionalKeys {
            header: self.header_key(&*expander, labels).into(),
            packet: self.packet_key(&*expander, labels).into(),
        }
    }

    /// Both directions' keys from the client's and the server's secrets.
    pub(crate) fn keys(
        &self,
        client: &OkmBlock,
        server: &OkmBlock,
        side: Side,
        version: Version,
    ) -> Keys {
        let (local, remote) = match side {
            Side::Client => (client, server),
            Side::Server => (server, client),
        };
        Keys {
            local: self.directional_keys(local, version),
            remote: self.directional_keys(remote, version),
        }
    }

    /// The packet key alone (a key update keeps the header key).
    pub(crate) fn packet_key_from(
        &self,
        secret: &OkmBlock,
        version: Version,
    ) -> Box<dyn tls::PacketKey> {
        let expander = self.suite.hkdf_provider.expander_for_okm(secret);
        self.packet_key(&*expander, Labels::of(version))
    }

    /// RFC 9001 §6.1: the secret of the next key phase, expanded from the
    /// current one with the version's "ku" label.
    pub(crate) fn next_secret(&self, secret: &OkmBlock, version: Version) -> OkmBlock {
        let expander = self.suite.hkdf_provider.expander_for_okm(secret);
        let mut next = [0; OkmBlock::MAX_LEN];
        let len = expander.hash_len().min(OkmBlock::MAX_LEN);
        let out = &mut next[..len];
        expand_label(&*expander, Labels::of(version).ku, out);
        let block = OkmBlock::new(out);
        zeroize::Zeroize::zeroize(&mut next);
        block
    }

    fn packet_key(&self, expander: &dyn HkdfExpander, labels: Labels) -> Box<dyn tls::PacketKey> {
        // RFC 9001 §5.1: the key is as long as the AEAD's, the IV 12 bytes.
        let mut key = [0; MAX_KEY_LEN];
        let key = &mut key[..self.packet.key_len()];
        expand_label(expander, labels.key, key);
        let mut iv = [0; NONCE_LEN];
        expand_label(expander, labels.iv, &mut iv);
        let packet = DerivedPacketKey {
            key: LessSafeKey::new(unbound(self.packet, key)),
            iv,
            confidentiality_limit: self.confidentiality_limit,
            integrity_limit: self.integrity_limit,
        };
        zeroize::Zeroize::zeroize(key);
        zeroize::Zeroize::zeroize(&mut iv);
        Box::new(packet)
    }

    fn header_key(
        &self,
        expander: &dyn HkdfExpander,
        labels: Labels,
    ) -> Box<dyn tls::HeaderProtectionKey> {
        // RFC 9001 §5.4: the header protection key is as long as the
        // packet protection key.
        let mut key = [0; MAX_KEY_LEN];
        let key = &mut key[..self.header.key_len()];
        expand_label(expander, labels.hp, key);
        // The backends refuse a key only for a wrong length, and this one
        // is expanded to exactly the algorithm's.
        let header = aead::quic::HeaderProtectionKey::new(self.header, key)
            .expect("a header protection key of the algorithm's own length");
        zeroize::Zeroize::zeroize(key);
        Box::new(DerivedHeaderKey(header))
    }
}

impl fmt::Debug for DerivingSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DerivingSuite")
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

/// The longest AEAD key of the three suites (AES-256, ChaCha20).
const MAX_KEY_LEN: usize = 32;

/// RFC 8446 §7.1: HKDF-Expand-Label(secret, label, "", out.len()), the
/// label prefixed with "tls13 ".
pub(crate) fn expand_label(expander: &dyn HkdfExpander, label: &[u8], out: &mut [u8]) {
    // The lengths fit by construction: outputs of at most 64 bytes and
    // labels of at most 10 bytes plus the prefix.
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    let label_len = [u8::try_from(b"tls13 ".len() + label.len()).unwrap_or(u8::MAX)];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    // The output is far below HKDF's limit of 255 hash lengths.
    if expander.expand_slice(&info, out).is_err() {
        out.fill(0);
    }
}

/// An AEAD key from bytes of the algorithm's key length. The backends
/// refuse a key only for a wrong length, and every key here is expanded to
/// exactly the algorithm's.
fn unbound(alg: &'static aead::Algorithm, key: &[u8]) -> UnboundKey {
    UnboundKey::new(alg, key).expect("an AEAD key of the algorithm's own length")
}

/// A packet protection key derived by Tern (RFC 9001 §5.3).
struct DerivedPacketKey {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    confidentiality_limit: u64,
    integrity_limit: u64,
}

impl DerivedPacketKey {
    /// RFC 9001 §5.3: the nonce is the IV XORed with the packet number,
    /// left-padded to the IV's length.
    fn nonce(&self, pn: u64) -> Nonce {
        let mut nonce = self.iv;
        for (byte, pn_byte) in nonce[NONCE_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
            *byte ^= pn_byte;
        }
        Nonce::assume_unique_for_key(nonce)
    }
}

impl Drop for DerivedPacketKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.iv);
    }
}

impl tls::PacketKey for DerivedPacketKey {
    fn encrypt_in_place(
        &self,
        packet_number: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<Tag, rustls::Error> {
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(packet_number), Aad::from(header), payload)
            .map_err(|_| rustls::Error::EncryptError)?;
        Ok(Tag::from(tag.as_ref()))
    }

    fn decrypt_in_place<'a>(
        &self,
        packet_number: u64,
        header: &[u8],
        payload: &'a mut [u8],
    ) -> Result<&'a [u8], rustls::Error> {
        let plain = self
            .key
            .open_in_place(self.nonce(packet_number), Aad::from(header), payload)
            .map_err(|_| rustls::Error::DecryptError)?;
        Ok(plain)
    }

    fn tag_len(&self) -> usize {
        self.key.algorithm().tag_len()
    }

    fn confidentiality_limit(&self) -> u64 {
        self.confidentiality_limit
    }

    fn integrity_limit(&self) -> u64 {
        self.integrity_limit
    }
}

/// A header protection key derived by Tern (RFC 9001 §5.4).
struct DerivedHeaderKey(aead::quic::HeaderProtectionKey);

/// RFC 9000 §17.2: the header form bit; set on long headers.
const LONG_HEADER: u8 = 0x80;

impl DerivedHeaderKey {
    fn apply(
        &self,
        sample: &[u8],
        first: &mut u8,
        packet_number: &mut [u8],
        unmask: bool,
    ) -> Result<(), rustls::Error> {
        let mask = self.0.new_mask(sample).map_err(|_| {
            rustls::Error::General("header protection sample of wrong length".into())
        })?;
        let [first_mask, pn_mask @ ..] = mask;
        if packet_number.len() > pn_mask.len() {
            return Err(rustls::Error::General(
                "packet number longer than 4 bytes".into(),
            ));
        }
        // RFC 9001 §5.4.1: 4 bits of a long header's first byte are masked,
        // 5 of a short header's.
        let bits = if *first & LONG_HEADER == LONG_HEADER {
            0x0f
        } else {
            0x1f
        };
        // The packet number length is read from the first byte in the
        // clear: before masking, or after unmasking.
        let clear = if unmask {
            *first ^ (first_mask & bits)
        } else {
            *first
        };
        let pn_len = usize::from(clear & 0x03) + 1;
        *first ^= first_mask & bits;
        for (byte, mask) in packet_number.iter_mut().zip(pn_mask).take(pn_len) {
            *byte ^= mask;
        }
        Ok(())
    }
}

impl tls::HeaderProtectionKey for DerivedHeaderKey {
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        packet_number: &mut [u8],
    ) -> Result<(), rustls::Error> {
        self.apply(sample, first, packet_number, false)
    }

    fn decrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        packet_number: &mut [u8],
    ) -> Result<(), rustls::Error> {
        self.apply(sample, first, packet_number, true)
    }

    fn sample_len(&self) -> usize {
        self.0.algorithm().sample_len()
    }
}
