//! 1-RTT key updates (RFC 9001 §6).

use std::fmt;

use rustls::crypto::tls13::OkmBlock;

use super::{PacketKey, derive::DerivingSuite};
use crate::{Side, packet::Version};

/// The 1-RTT secrets of both directions, from which each next generation
/// of packet keys is derived. Header protection keys do not change on a
/// key update, so only packet keys come out of here.
///
/// Usually these are rustls's secrets from the 1-RTT key change, which
/// rustls zeroizes when they are dropped or replaced by the next
/// generation. A client whose session moved to another QUIC version
/// ([`TlsSession::switch_version`](super::TlsSession::switch_version))
/// holds secrets Tern derived for that version instead, with the same
/// behaviour; they too are zeroized on drop. `Debug` shows nothing of
/// either.
pub struct Secrets(Inner);

enum Inner {
    /// rustls's own, for the version its session was made with.
    Rustls(rustls::quic::Secrets),
    /// Tern's, for a version chosen later (boxed: rare, and larger).
    Derived(Box<DerivedSecrets>),
}

/// 1-RTT secrets that Tern updates itself, with `version`'s "ku" label.
pub(crate) struct DerivedSecrets {
    suite: DerivingSuite,
    version: Version,
    side: Side,
    /// The client's and the server's secrets of the next key phase.
    client: OkmBlock,
    server: OkmBlock,
}

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
        match &mut self.0 {
            Inner::Rustls(secrets) => {
                let keys = secrets.next_packet_keys();
                PacketKeyPair {
                    local: keys.local.into(),
                    remote: keys.remote.into(),
                }
            }
            Inner::Derived(secrets) => secrets.next_packet_keys(),
        }
    }
}

impl DerivedSecrets {
    /// The secrets that follow the 1-RTT traffic secrets `client` and
    /// `server` (the generation after the 1-RTT keys, as rustls hands
    /// over).
    pub(crate) fn after(
        suite: DerivingSuite,
        version: Version,
        side: Side,
        client: &OkmBlock,
        server: &OkmBlock,
    ) -> Self {
        Self {
            suite,
            version,
            side,
            client: suite.next_secret(client, version),
            server: suite.next_secret(server, version),
        }
    }

    fn next_packet_keys(&mut self) -> PacketKeyPair {
        let (local, remote) = match self.side {
            Side::Client => (&self.client, &self.server),
            Side::Server => (&self.server, &self.client),
        };
        let keys = PacketKeyPair {
            local: self.suite.packet_key_from(local, self.version).into(),
            remote: self.suite.packet_key_from(remote, self.version).into(),
        };
        // RFC 9001 §6.1, RFC 9369 §3.3.2: each secret is updated with the
        // version's "ku" label; the old ones are zeroized as they drop.
        self.client = self.suite.next_secret(&self.client, self.version);
        self.server = self.suite.next_secret(&self.server, self.version);
        keys
    }
}

impl From<rustls::quic::Secrets> for Secrets {
    fn from(secrets: rustls::quic::Secrets) -> Self {
        Self(Inner::Rustls(secrets))
    }
}

impl From<DerivedSecrets> for Secrets {
    fn from(secrets: DerivedSecrets) -> Self {
        Self(Inner::Derived(Box::new(secrets)))
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let derived = matches!(self.0, Inner::Derived(_));
        f.debug_struct("Secrets")
            .field("derived", &derived)
            .finish_non_exhaustive()
    }
}
