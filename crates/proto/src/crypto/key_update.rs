//! 1-RTT key updates (RFC 9001 §6).

use std::fmt;

use super::PacketKey;

/// The 1-RTT secrets of both directions, from which each next generation
/// of packet keys is derived. Header protection keys do not change on a
/// key update, so only packet keys come out of here.
///
/// It wraps rustls's secrets from the 1-RTT key change; `Debug` shows
/// nothing of them, and rustls zeroizes them when they are dropped or
/// replaced by the next generation. Tern never copies them out.
pub struct Secrets(rustls::quic::Secrets);

/// One generation of 1-RTT packet keys.
#[derive(Debug)]
pub struct PacketKeyPair {
    /// Seals the packets we send.
    pub local: PacketKey,
    /// Opens the packets we receive.
    pub remote: PacketKey,
}

impl Secrets {
    /// RFC 9001 §6.1: derives the packet keys of the next key phase, from
    /// secrets updated with the version's key update label, and moves the
    /// secrets on a generation. The first call gives the generation after
    /// the one rustls handed over with the 1-RTT keys.
    #[must_use]
    pub fn next_packet_keys(&mut self) -> PacketKeyPair {
        let keys = self.0.next_packet_keys();
        PacketKeyPair {
            local: keys.local.into(),
            remote: keys.remote.into(),
        }
    }
}

impl From<rustls::quic::Secrets> for Secrets {
    fn from(secrets: rustls::quic::Secrets) -> Self {
        Self(secrets)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}
