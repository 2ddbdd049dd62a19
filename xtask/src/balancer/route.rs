//! The balancer's routing decision for one datagram from a client: pure,
//! so that it is tested without sockets.
//!
//! The header is read as the QUIC invariants (RFC 8999) allow, whatever
//! the version: a long header states its Destination Connection ID's
//! length; a short header does not, and the CID's length is the one of the
//! configuration its first octet names (or the balancer's default).

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    net::SocketAddr,
};

use super::decode::{Decoder, ServerId, Unroutable};

/// How the balancer chooses a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// By the server ID in the Destination Connection ID (QUIC-LB), with a
    /// fallback for CIDs that carry none.
    Cid,
    /// By a hash of the client's address and port, as a load balancer that
    /// knows nothing of QUIC does: the control of the experiment.
    #[value(name = "4tuple")]
    FourTuple,
}

/// How a datagram's backend was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// The DCID decoded to a known server ID.
    Cid(ServerId),
    /// The DCID was unroutable: the fallback chose (see
    /// [`Router::fallback`]).
    Fallback(Unroutable),
    /// [`Mode::FourTuple`]: a hash of the client's address.
    FourTuple,
}

/// Where one datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Index of the backend in [`Router::backends`].
    pub(crate) backend: usize,
    /// Why that one.
    pub(crate) how: How,
}

/// Why a datagram goes nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Discard {
    /// An empty datagram.
    Empty,
    /// A header cut short before the end of its DCID.
    Truncated,
    /// The DCID decoded to a backend address the balancer does not have.
    NoBackend,
}

/// The DCID of a datagram, and whether it had a long header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    /// Long (true) or short header.
    pub(crate) long: bool,
    /// The Destination Connection ID.
    pub(crate) dcid: &'a [u8],
}

/// The routing of a balancer: its decoder, its backends and its mode.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    decoder: Decoder,
    backends: Vec<SocketAddr>,
    short_cid_len: usize,
    mode: Mode,
    seed: u64,
}

impl Router {
    /// A router over `backends` (at least one). `short_cid_len` is the DCID
    /// length of short headers whose first octet names no configuration;
    /// `seed` keys the fallback's and the 4-tuple mode's hash.
    ///
    /// # Errors
    /// When there is no backend.
    pub(crate) fn new(
        decoder: Decoder,
        backends: Vec<SocketAddr>,
        short_cid_len: usize,
        mode: Mode,
        seed: u64,
    ) -> Result<Self, String> {
        if backends.is_empty() {
            return Err("a balancer needs at least one backend".into());
        }
        Ok(Self {
            decoder,
            backends,
            short_cid_len,
            mode,
            seed,
        })
    }

    /// The backends, in the order decisions index them.
    pub(crate) fn backends(&self) -> &[SocketAddr] {
        &self.backends
    }

    /// Reads the header of `datagram` as RFC 8999 lays it out.
    ///
    /// # Errors
    /// [`Discard::Empty`] or [`Discard::Truncated`].
    pub(crate) fn header<'a>(&self, datagram: &'a [u8]) -> Result<Header<'a>, Discard> {
        let first = *datagram.first().ok_or(Discard::Empty)?;
        if first & 0x80 != 0 {
            // RFC 8999 §5.1: the first octet, a 4-octet version, then the
            // DCID's length in one octet and the DCID.
            let len = usize::from(*datagram.get(5).ok_or(Discard::Truncated)?);
            let dcid = datagram.get(6..6 + len).ok_or(Discard::Truncated)?;
            return Ok(Header { long: true, dcid });
        }
        // RFC 8999 §5.2: the DCID follows the first octet; its length is
        // not in the packet, the receiver knows it. The CIDs our servers
        // issue have their configuration's length (draft-ietf-quic-load-balancers
        // §5.4: all servers of a configuration add the same length).
        let len = datagram
            .get(1)
            .and_then(|&octet| self.decoder.config(octet).ok())
            .map_or(self.short_cid_len, |config| config.cid_len());
        let dcid = datagram.get(1..1 + len).ok_or(Discard::Truncated)?;
        Ok(Header { long: false, dcid })
    }

    /// Where `datagram`, received from `client`, goes.
    ///
    /// # Errors
    /// When it goes nowhere ([`Discard`]).
    pub(crate) fn route(&self, datagram: &[u8], client: SocketAddr) -> Result<Decision, Discard> {
        if self.mode == Mode::FourTuple {
            if datagram.is_empty() {
                return Err(Discard::Empty);
            }
            return Ok(Decision {
                backend: self.pick(&client),
                how: How::FourTuple,
            });
        }
        let header = self.header(datagram)?;
        match self.decoder.route(header.dcid) {
            // draft-ietf-quic-load-balancers §4.2 step 1: a routable CID
            // decides.
            Ok((sid, address)) => {
                let backend = self
                    .backends
                    .iter()
                    .position(|&b| b == address)
                    .ok_or(Discard::NoBackend)?;
                Ok(Decision {
                    backend,
                    how: How::Cid(sid),
                })
            }
            Err(why) => Ok(Decision {
                backend: self.fallback(header.dcid, client),
                how: How::Fallback(why),
            }),
        }
    }

    /// The backend of a datagram whose DCID is unroutable: a keyed hash of
    /// the DCID, or of the client's address when the DCID is empty.
    ///
    /// draft-ietf-quic-load-balancers §4.3: the fallback is the balancer's
    /// choice, as long as it is consistent. A pure function of the DCID is:
    /// every packet of a handshake that carries the client's chosen DCID
    /// (its Initials, 0-RTT, and their retransmissions) reaches the same
    /// backend, from any address, as the table of unroutable DCIDs of
    /// §4.3.1 would make it, without the table (the backends do not change
    /// while the balancer runs). Hashing the DCID rather than only the
    /// 4-tuple (§4.3.1's baseline) also spreads the connections of one
    /// client address over the backends.
    pub(crate) fn fallback(&self, dcid: &[u8], client: SocketAddr) -> usize {
        if dcid.is_empty() {
            self.pick(&client)
        } else {
            self.pick(&dcid)
        }
    }

    /// The backend a keyed hash of `value` falls on.
    fn pick(&self, value: &impl Hash) -> usize {
        let mut hasher = DefaultHasher::new();
        self.seed.hash(&mut hasher);
        value.hash(&mut hasher);
        let n = u64::try_from(self.backends.len()).unwrap_or(u64::MAX);
        usize::try_from(hasher.finish() % n).unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
