//! Packet protection (RFC 9001 §5, §6; RFC 9369 §3.3) on rustls's QUIC API.
//!
//! TLS (rustls) produces the secrets; this module turns them into the
//! operations a connection performs on every packet, all in place and
//! without allocating:
//!
//! - [`Keys::initial`] derives the Initial keys from the client's first
//!   Destination Connection ID, for QUIC v1 and v2 (RFC 9001 §5.2,
//!   RFC 9369 §3.3.1).
//! - [`DirectionalKeys::seal`] encrypts a packet's payload with the header
//!   as associated data and then applies header protection;
//!   [`DirectionalKeys::open`] undoes both and recovers the full packet
//!   number. Each is also available in two steps ([`PacketKey`] and
//!   [`HeaderKey`]) for 1-RTT packets, whose packet key depends on the key
//!   phase bit that header protection hides.
//! - [`Secrets::next_packet_keys`] derives the next 1-RTT generation for a
//!   key update (RFC 9001 §6); header protection keys do not change.
//! - [`retry_integrity_tag`] and [`verify_retry_integrity`] compute and
//!   check a Retry packet's integrity tag (RFC 9001 §5.8, RFC 9369 §3.3.3).
//! - [`TlsSession`] runs the TLS 1.3 handshake over CRYPTO data and hands
//!   out each level's keys as a [`KeyChange`] (RFC 9001 §4).
//! - [`TlsSession::switch_version`] moves a client that started on one QUIC
//!   version to another chosen by the server in compatible version
//!   negotiation (RFC 9368 §2.2, RFC 9369 §4). rustls fixes a session's
//!   QUIC version, and so its HKDF labels, when the session is made, and
//!   does not let Tern build its keys from a secret. So a client that may
//!   switch is made with [`TlsSession::client_capturing`] on a
//!   configuration from [`CapturingClientTls`], whose key log (still
//!   forwarding to the application's) keeps the TLS traffic secrets; after
//!   the switch Tern derives the Handshake and 1-RTT packet and header
//!   keys, and the key update secrets, itself: HKDF-Expand-Label with the
//!   suite's HKDF and the version's labels, AEAD and header protection
//!   from aws-lc-rs or ring, for AES-128-GCM, AES-256-GCM and
//!   ChaCha20-Poly1305. Initial keys and 0-RTT keys stay as before.
//! - [`peek_client_hello`] reads the quic_transport_parameters out of a
//!   client's first CRYPTO bytes, so that a server can choose the version
//!   before it makes its session.
//! - [`default_provider`] is Tern's rustls crypto provider: aws-lc-rs with
//!   the post-quantum X25519MLKEM768 key exchange first, or ring with the
//!   `ring` feature ([`provider`] says how they are chosen).
//!
//! Nothing here logs or prints key material: the `Debug` output of every
//! key type shows only its sizes. Packet and header keys live in the
//! provider's cipher states (aws-lc-rs or ring, which Tern cannot
//! zeroize). The TLS secrets live in rustls, which zeroizes them on drop,
//! except on a capturing client: there Tern holds copies of the traffic
//! secrets until its 1-RTT keys are out, and after a version switch the
//! key update secrets, all zeroized on drop; the IVs of the packet keys it
//! derives are zeroized on drop too. The stateless reset key, which Tern does
//! hold, is a [`ResetKey`](crate::config::ResetKey), zeroized on drop.
//!
//! ```
//! use tern_proto::Side;
//! use tern_proto::crypto::Keys;
//! use tern_proto::packet::Version;
//!
//! let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
//! let client = Keys::initial(Version::V1, &dcid, Side::Client);
//! let server = Keys::initial(Version::V1, &dcid, Side::Server);
//!
//! // A short header with an empty DCID: the first byte (a 1-byte packet
//! // number), packet number 7 in the clear, the payload, room for the tag.
//! let mut packet = vec![0x40, 7, 1, 2, 3, 4, 5, 6, 7, 8];
//! packet.resize(packet.len() + client.local.packet.tag_len(), 0);
//! client.local.seal(7, &mut packet, 1).unwrap();
//!
//! let opened = server.remote.open(&mut packet, 1, None).unwrap();
//! assert_eq!(opened.pn, 7);
//! assert_eq!(&packet[opened.payload][..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
//! ```

mod capture;
mod cert_verify;
mod client_hello;
mod derive;
mod key_update;
mod keys;
pub mod provider;
mod retry;
mod session;
mod tls_config;

#[cfg(test)]
mod tests;

/// Fails the test when `text` (some `Debug` output) shows any 4 bytes of
/// `secret` in a row, as `Debug` prints a byte array (`[1, 2, 3, 4`) or as
/// hex of either case.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_hides(text: &str, secret: &[u8]) {
    for window in secret.windows(4) {
        let decimal = window
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        for shown in [decimal, hex.clone(), hex.to_uppercase()] {
            assert!(!text.contains(&shown), "{shown} of a secret in {text}");
        }
    }
}

pub use capture::CapturingClientTls;
pub use client_hello::{
    ClientHelloPeek, MAX_CLIENT_HELLO_LEN, peek_client_hello, peek_client_hello_within,
};
pub use key_update::{PacketKeyPair, Secrets};
pub use keys::{DirectionalKeys, HeaderKey, Keys, OpenedPacket, PacketKey, UnprotectedHeader};
pub use provider::{cipher_suite, default_provider, with_cipher_suites};
pub use retry::{retry_integrity_tag, verify_retry_integrity};
pub use session::{KeyChange, TLS_SESSION_HEAP_ESTIMATE, TlsSession, VersionSwitchError};
pub use tls_config::{TlsConfigError, check_client_config, check_server_config};

use crate::packet::Version;

/// RFC 9001 §5.4.2: the header protection sample starts this many bytes
/// after the start of the packet number field, as if it were 4 bytes long.
pub const SAMPLE_OFFSET: usize = 4;

/// Why a packet could not be protected or unprotected.
///
/// Every variant on the receive path means the packet is dropped (and,
/// for [`AuthenticationFailed`](Self::AuthenticationFailed), counted
/// towards the integrity limit); none is a connection error by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CryptoError {
    /// The packet is too short for its header, the header protection
    /// sample or the AEAD tag. A received packet is dropped; a sender must
    /// pad the payload (RFC 9001 §5.4.2).
    #[error("packet of {len} bytes is too short: {needed} bytes needed")]
    PacketTooShort {
        /// Bytes in the packet.
        len: usize,
        /// Bytes the operation needs.
        needed: usize,
    },
    /// The packet number offset is 0, which leaves no room for the first
    /// byte. Pass the offset the header parser or encoder reported.
    #[error("packet number offset {0} is inside the first byte")]
    InvalidPnOffset(usize),
    /// The payload did not authenticate under this key: drop the packet and
    /// count it against the integrity limit.
    #[error("packet failed authentication")]
    AuthenticationFailed,
    /// The AEAD refused to seal, because the payload is longer than the
    /// algorithm allows. Send smaller packets.
    #[error("packet payload could not be sealed")]
    SealFailed,
    /// The recovered packet number lies past 2^62 - 1, so the packet is
    /// invalid and dropped.
    #[error("packet number beyond the end of the packet number space")]
    PacketNumberOverflow,
    /// The packet has no packet protection (Retry or Version Negotiation).
    #[error("packet type carries no packet protection")]
    NotProtected,
    /// A Retry packet's integrity tag did not match: the client drops the
    /// packet (RFC 9001 §5.8).
    #[error("retry integrity tag mismatch")]
    RetryIntegrity,
}

/// The rustls version for one of ours.
const fn rustls_version(version: Version) -> rustls::quic::Version {
    match version {
        Version::V1 => rustls::quic::Version::V1,
        Version::V2 => rustls::quic::Version::V2,
    }
}

/// The rustls side for one of ours.
const fn rustls_side(side: crate::Side) -> rustls::Side {
    match side {
        crate::Side::Client => rustls::Side::Client,
        crate::Side::Server => rustls::Side::Server,
    }
}
