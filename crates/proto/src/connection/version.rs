//! Version negotiation (RFC 9368) between the versions Tern speaks, QUIC
//! v1 and v2 (RFC 9369).
//!
//! - **Compatible** (RFC 9368 §2.2, RFC 9369 §4): the client starts on its
//!   configured version and lists what it would also take in the
//!   version_information transport parameter. A server that supports
//!   several versions reads that parameter from the ClientHello before it
//!   makes its TLS session, picks the first version of its own preference
//!   list that the client offered, and answers in it: no extra round trip.
//!   The client learns the outcome from the version of the server's first
//!   Initial that opens (RFC 9369 §4), and from then on both sides protect
//!   everything but 0-RTT in the negotiated version.
//! - **Incompatible** (RFC 9368 §2.1): a server that cannot read the
//!   client's version answers with a Version Negotiation packet; the client
//!   starts a new first flight in the version it prefers among those
//!   listed, once.
//! - **Downgrade prevention** (RFC 9368 §4): each side checks the other's
//!   version_information, which the handshake authenticates; a mismatch
//!   closes the connection with VERSION_NEGOTIATION_ERROR.
//!
//! The state lives in a box that only connections with a choice to make
//! have, and goes when the handshake completes.

use std::{sync::Arc, time::Instant};

use super::{Connection, ConnectionError, spaces::index};
use crate::{
    SpaceId, TransportError,
    crypto::{ClientHelloPeek, DirectionalKeys, TlsSession, peek_client_hello},
    packet::{PacketType, PartialDecode, Version},
    transport_params::{TransportParameters, VersionInformation},
};

/// RFC 9369 §4: QUIC v2 is compatible with v1 and v1 with v2; a version is
/// compatible with itself. Those are every version Tern knows.
const fn compatible(_from: Version, _to: Version) -> bool {
    true
}

/// What version negotiation still needs to know or keep, boxed: a
/// connection whose versions leave no choice has none.
pub(crate) struct Negotiation {
    /// RFC 9368 §2: the version of the client's first flight (after a
    /// Version Negotiation packet, of the new first flight).
    original: Version,
    /// Client: the versions it offers, most preferred first (its
    /// version_information's available versions). Server: the versions it
    /// supports, most preferred first.
    versions: Vec<Version>,
    /// Client: the negotiated version is known (RFC 9369 §4: a packet of
    /// another version opened, or CRYPTO data came in the original one).
    settled: bool,
    /// Client: this first flight follows a Version Negotiation packet.
    after_vn: bool,
    /// After a switch, the Initial keys of the original version: a server
    /// opens the client's Initials that are still in it (RFC 9369 §4).
    original_initial: Option<DirectionalKeys>,
    /// Server: the ClientHello read so far, until it is whole and the
    /// version chosen (`None` once chosen).
    hello: Option<Vec<u8>>,
    /// Server: the rustls configuration for each other version it may move
    /// a client to.
    server_tls: Vec<(Version, Arc<rustls::ServerConfig>)>,
    /// Client: the rustls configuration and server name a new first
    /// flight starts from.
    client_tls: Option<(Arc<rustls::ClientConfig>, Box<str>)>,
    /// The handshake cipher suites the TLS session was held to.
    handshake_suites: Option<Arc<[rustls::CipherSuite]>>,
}

impl std::fmt::Debug for Negotiation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Negotiation")
            .field("original", &self.original)
            .field("versions", &self.versions)
            .field("settled", &self.settled)
            .field("after_vn", &self.after_vn)
            .finish_non_exhaustive()
    }
}

impl Negotiation {
    /// Nothing chosen, held or kept yet.
    fn new(
        original: Version,
        versions: Vec<Version>,
        handshake_suites: Option<Arc<[rustls::CipherSuite]>>,
    ) -> Self {
        Self {
            original,
            versions,
            settled: false,
            after_vn: false,
            original_initial: None,
            hello: None,
            server_tls: Vec::new(),
            client_tls: None,
            handshake_suites,
        }
    }

    /// A client's, offering `versions` (most preferred first, `original`
    /// among them).
    pub(crate) fn client(
        original: Version,
        versions: Vec<Version>,
        tls: Arc<rustls::ClientConfig>,
        server_name: &str,
        handshake_suites: Option<Arc<[rustls::CipherSuite]>>,
    ) -> Self {
        Self {
            client_tls: Some((tls, server_name.into())),
            ..Self::new(original, versions, handshake_suites)
        }
    }

    /// A server's, that supports `versions` (most preferred first) and may
    /// move a client to any of `server_tls`'s.
    pub(crate) fn server(
        original: Version,
        versions: Vec<Version>,
        server_tls: Vec<(Version, Arc<rustls::ServerConfig>)>,
        handshake_suites: Option<Arc<[rustls::CipherSuite]>>,
    ) -> Self {
        Self {
            hello: Some(Vec::new()),
            server_tls,
            ..Self::new(original, versions, handshake_suites)
        }
    }
}

/// The versions a client offers (RFC 9368 §3): the endpoint's supported
/// versions compatible with `original`, in its order of preference, with
/// `original` among them (at the end when the endpoint did not list it).
#[must_use]
pub(crate) fn client_offer(original: Version, supported: &[Version]) -> Vec<Version> {
    let mut offer: Vec<Version> = Vec::with_capacity(supported.len() + 1);
    for &v in supported {
        // A version listed twice is offered once, at its first place.
        if compatible(original, v) && !offer.contains(&v) {
            offer.push(v);
        }
    }
    if !offer.contains(&original) {
        offer.push(original);
    }
    offer
}

/// The version_information parameter (RFC 9368 §3) for `chosen` and
/// `versions`.
#[must_use]
pub(crate) fn information(chosen: Version, versions: &[Version]) -> VersionInformation {
    VersionInformation {
        chosen_version: chosen.to_u32(),
        available_versions: versions.iter().map(|v| v.to_u32()).collect(),
    }
}

/// RFC 9368 §2.2: the version a server answers a client in: the first of
/// its own, in its order of preference, that the client offered and that
/// the client's first flight converts to; the original when the client
/// offered nothing (or nothing it supports).
#[must_use]
pub(crate) fn server_choice(
    supported: &[Version],
    original: Version,
    client: Option<&VersionInformation>,
) -> Version {
    let Some(client) = client else {
        return original;
    };
    supported
        .iter()
        .copied()
        .find(|v| client.available_versions.contains(&v.to_u32()) && compatible(original, *v))
        .unwrap_or(original)
}

/// The version a client picks from a Version Negotiation packet's list
/// (RFC 9368 §2.1): its most preferred one that is listed.
fn client_pick(preferences: &[Version], listed: impl Fn(u32) -> bool) -> Option<Version> {
    preferences.iter().copied().find(|v| listed(v.to_u32()))
}

impl Connection {
    /// Whether a long-header packet of `version` (not the connection's) may
    /// be processed: a server's Initial in a version the client offered,
    /// which moves the client there if it opens (RFC 9369 §4), or a
    /// client's Initial still in the original version after a server moved.
    pub(super) fn accepts_other_version(&mut self, packet: &PartialDecode) -> bool {
        let Some(version) = packet.version().and_then(Version::from_u32) else {
            return false;
        };
        let Some(negotiation) = self.negotiation.as_deref() else {
            return false;
        };
        let initial = packet.packet_type() == PacketType::Initial;
        if self.side.is_server() {
            // RFC 9369 §4: the server keeps the original version's Initial
            // keys until a Handshake packet of the negotiated one arrives.
            return initial
                && version == negotiation.original
                && negotiation.original_initial.is_some();
        }
        if negotiation.settled || !initial || !negotiation.versions.contains(&version) {
            return false;
        }
        self.try_switch(version, packet)
    }

    /// The keys to open a client's Initial in the original version with,
    /// after the server moved to another.
    pub(super) fn original_initial_keys(&self, packet: &PartialDecode) -> Option<&DirectionalKeys> {
        let negotiation = self.negotiation.as_deref()?;
        (packet.version() == Some(negotiation.original.to_u32())
            && self.version != negotiation.original)
            .then_some(negotiation.original_initial.as_ref())
            .flatten()
    }

    /// The DCID the client's Initial keys derive from: the one of its
    /// first Initial, or the Retry's SCID after a Retry (RFC 9001 §5.2).
    fn initial_key_dcid(&self) -> crate::ConnectionId {
        self.tokens.retry_scid.unwrap_or(self.original_dcid)
    }

    /// Client: moves to `version` if the server's Initial `packet` opens
    /// with its Initial keys (RFC 9369 §4: the first long header Version
    /// that differs tells the negotiated version). The packet is opened on
    /// a copy, so that it can be read again with the keys installed.
    fn try_switch(&mut self, version: Version, packet: &PartialDecode) -> bool {
        let dcid = self.initial_key_dcid();
        let Some(tls) = self.tls.as_deref_mut() else {
            return false;
        };
        let keys = tls.initial_keys(version, &dcid);
        let Some(pn_offset) = packet.pn_offset() else {
            return false;
        };
        let mut copy = packet.data().to_vec();
        if keys.remote.open(&mut copy, pn_offset, None).is_err() {
            return false;
        }
        if let Err(error) = tls.switch_version(version) {
            tracing::debug!(%error, "cannot follow the server to another version");
            return false;
        }
        tracing::debug!(
            ?version,
            "the server moved the connection to another version"
        );
        self.version = version;
        self.spaces[index(SpaceId::Initial)].keys = Some(keys);
        if let Some(negotiation) = self.negotiation.as_deref_mut() {
            negotiation.settled = true;
        }
        true
    }

    /// Client: CRYPTO data from the server in the original version settles
    /// the negotiated version on it (RFC 9369 §4).
    pub(super) fn settle_version(&mut self) {
        if let Some(negotiation) = self.negotiation.as_deref_mut() {
            negotiation.settled = true;
        }
    }

    /// The version a client's 0-RTT packets carry: the original, even after
    /// the server moved the connection (RFC 9369 §4).
    pub(super) fn zero_rtt_version(&self) -> Version {
        self.negotiation
            .as_deref()
            .map_or(self.version, |n| n.original)
    }

    /// Server: takes in-order Initial CRYPTO data while the version is not
    /// chosen yet (RFC 9369 §4: the server cannot answer before it has read
    /// the client's transport parameters), and chooses it once the
    /// ClientHello is whole.
    pub(super) fn hold_client_hello(&mut self, chunk: &[u8]) -> Hello {
        let Some(negotiation) = self.negotiation.as_deref_mut() else {
            return Hello::Pass;
        };
        let Some(hello) = negotiation.hello.as_mut() else {
            return Hello::Pass;
        };
        hello.extend_from_slice(chunk);
        let params = match peek_client_hello(hello) {
            ClientHelloPeek::Incomplete => return Hello::Wait,
            // TLS reads it and fails the handshake as it should.
            ClientHelloPeek::Malformed => None,
            ClientHelloPeek::Complete {
                transport_parameters,
                ..
            } => transport_parameters.and_then(|raw| {
                // One that does not decode fails the handshake later, when
                // TLS hands it over; the version stays.
                TransportParameters::decode(crate::Side::Client, raw).ok()
            }),
        };
        let hello = negotiation.hello.take().unwrap_or_default();
        let original = negotiation.original;
        let chosen = server_choice(
            &negotiation.versions,
            original,
            params.as_ref().and_then(|p| p.version_information.as_ref()),
        );
        if chosen != original {
            self.move_server_to(chosen);
        }
        Hello::Feed(hello)
    }

    /// Server: answers in `version` from now on (RFC 9369 §4): a TLS
    /// session made for it, its version_information naming it, Initial
    /// keys of it, and the original version's Initial keys kept to open
    /// what the client sends before it follows.
    fn move_server_to(&mut self, version: Version) {
        let Some(negotiation) = self.negotiation.as_deref_mut() else {
            return;
        };
        let Some(config) = negotiation
            .server_tls
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, config)| config.clone())
        else {
            return;
        };
        let mut params = (*self.local_params).clone();
        params.version_information = Some(information(version, &negotiation.versions));
        let suites = negotiation.handshake_suites.clone();
        let tls = match TlsSession::server(config, version, &params) {
            Ok(tls) => tls.with_handshake_suites(suites),
            Err(error) => {
                tracing::debug!(%error, "no tls session for the version chosen; staying");
                return;
            }
        };
        let dcid = self.original_dcid;
        let keys = tls.initial_keys(version, &dcid);
        let old = self.spaces[index(SpaceId::Initial)].keys.replace(keys);
        negotiation.original_initial = old.map(|keys| keys.remote);
        self.tls = Some(Box::new(tls));
        self.local_params = Arc::new(params);
        // RFC 9369 §5: tokens a moved connection issues originate from the
        // negotiated version; the endpoint minted these for the original
        // one, so none is sent.
        self.tokens.forget_new_tokens();
        tracing::debug!(?version, "moving the client to another version");
        self.version = version;
    }

    /// RFC 9368 §4: checks the peer's version_information once its
    /// transport parameters are read.
    pub(super) fn check_version_information(
        &self,
        peer: Option<&VersionInformation>,
    ) -> Result<(), TransportError> {
        if self.side.is_server() {
            return Ok(());
        }
        let after_vn = self.negotiation.as_deref().is_some_and(|n| n.after_vn);
        let Some(info) = peer else {
            // RFC 9368 §4: without it the handshake may complete, unless the
            // client acted on a Version Negotiation packet.
            return if after_vn {
                Err(TransportError::version_negotiation_error(
                    "the server sent no version_information after a version negotiation",
                ))
            } else {
                Ok(())
            };
        };
        // RFC 9368 §4: the server's chosen version must be the one in use,
        // so that a forged long header Version cannot steer the outcome.
        if info.chosen_version != self.version.to_u32() {
            return Err(TransportError::version_negotiation_error(
                "the server's chosen version is not the one in use",
            ));
        }
        if let Some(negotiation) = self.negotiation.as_deref().filter(|n| n.after_vn) {
            // RFC 9368 §4: after a Version Negotiation packet, the client
            // must have picked the same version from the server's list (and
            // the version in use); otherwise the packet was forged to force
            // a downgrade.
            let listed = |v: u32| info.available_versions.contains(&v) || v == info.chosen_version;
            let would = client_pick(&negotiation.versions, listed);
            if info.available_versions.is_empty() || would != Some(negotiation.original) {
                return Err(TransportError::version_negotiation_error(
                    "the version negotiation packet does not match the server's versions: a downgrade",
                ));
            }
        }
        Ok(())
    }

    /// Client: a Version Negotiation packet (RFC 9000 §6.2, RFC 9368
    /// §2.1, §4). Ignored unless it answers our first flight (its IDs
    /// mirror ours), nothing else came from the server, we did not follow
    /// one already, and it does not list the version we used; otherwise the
    /// client starts a new first flight in its most preferred listed
    /// version, or gives up when none is.
    pub(super) fn on_version_negotiation(&mut self, now: Instant, packet: &PartialDecode) {
        let answers_us = self.side.is_client()
            && self.is_handshaking()
            && !self.remote_cid_set
            && self.tokens.retry_scid.is_none()
            && packet.dcid() == &self.local_cid
            && packet.scid() == Some(&self.remote_cid);
        let Some(negotiation) = self.negotiation.as_deref().filter(|n| !n.after_vn) else {
            self.stats.packets_dropped += 1;
            return;
        };
        let Some(listed) = packet.supported_versions().filter(|_| answers_us) else {
            self.stats.packets_dropped += 1;
            return;
        };
        let listed: Vec<u32> = listed.take(MAX_LISTED).collect();
        if listed.contains(&self.version.to_u32()) {
            // RFC 9368 §4: one listing the version we tried is ignored.
            self.stats.packets_dropped += 1;
            return;
        }
        let Some(version) = client_pick(&negotiation.versions, |v| listed.contains(&v)) else {
            // RFC 9000 §6.2: no version in common: the attempt is abandoned.
            tracing::debug!(?listed, "the server supports none of our versions");
            self.state = super::State::Drained;
            self.emit_closed(ConnectionError::VersionMismatch);
            return;
        };
        self.stats.packets_received += 1;
        if let Err(error) = self.restart_in(now, version) {
            self.fail(now, error);
        }
    }

    /// Client: a new first flight in `version`, after a Version
    /// Negotiation packet: a new TLS session (a new ClientHello naming
    /// `version`), Initial keys of it, and everything sent before dropped
    /// from recovery without a congestion signal (the server kept no
    /// state), 0-RTT included.
    fn restart_in(&mut self, now: Instant, version: Version) -> Result<(), TransportError> {
        let Some(negotiation) = self.negotiation.as_deref_mut() else {
            return Ok(());
        };
        let Some((config, server_name)) = negotiation.client_tls.clone() else {
            return Ok(());
        };
        let mut params = (*self.local_params).clone();
        params.version_information = Some(information(version, &negotiation.versions));
        // The offer stands: a client that offers several versions may still
        // be moved (RFC 9368 §2.2 after §2.1), so it captures again.
        let tls = if negotiation.versions.len() > 1 {
            TlsSession::client_capturing(config, version, &server_name, &params)
        } else {
            TlsSession::client(config, version, &server_name, &params)
        };
        let tls = tls
            .map_err(|error| TransportError {
                code: crate::TransportErrorCode::INTERNAL_ERROR,
                frame_type: None,
                reason: format!("no tls session for a new first flight: {error}").into(),
            })?
            .with_handshake_suites(negotiation.handshake_suites.clone());
        negotiation.original = version;
        negotiation.after_vn = true;
        tracing::debug!(
            ?version,
            "starting again after a version negotiation packet"
        );
        // A new connection attempt (RFC 9368 §2.3) with a new random DCID
        // (RFC 9000 §7.2), so that answers to the old first flight, keyed
        // from the old one, do not open.
        let mut dcid = [0; 16];
        dcid[..8].copy_from_slice(&self.next_challenge());
        dcid[8..].copy_from_slice(&self.next_challenge());
        let dcid = crate::ConnectionId::new(&dcid).unwrap_or(self.original_dcid);
        self.original_dcid = dcid;
        self.remote_cid = dcid;
        let keys = tls.initial_keys(version, &dcid);
        self.tls = Some(Box::new(tls));
        self.local_params = Arc::new(params);
        self.version = version;
        let mut dropped = std::mem::take(&mut self.discarded_buf);
        self.recovery.discard_space(SpaceId::Initial, &mut dropped);
        dropped.clear();
        self.discarded_buf = dropped;
        let sp = &mut self.spaces[index(SpaceId::Initial)];
        sp.keys = Some(keys);
        sp.probes = 0;
        sp.crypto_send = super::spaces::CryptoSend::default();
        // The 0-RTT packets went to a server that dropped them; their data
        // waits for 1-RTT (the old session's 0-RTT keys are gone).
        self.requeue_zero_rtt();
        self.zero_rtt = None;
        self.idle_since = now;
        self.drive_tls(now);
        Ok(())
    }

    /// The handshake completed: negotiation has nothing left to do.
    pub(super) fn end_negotiation(&mut self) {
        self.negotiation = None;
    }
}

/// What to do with in-order Initial CRYPTO data at a server.
pub(super) enum Hello {
    /// The version is chosen: hand the data to TLS.
    Pass,
    /// The ClientHello is not whole yet: wait for more.
    Wait,
    /// The ClientHello is whole and the version chosen: hand TLS these
    /// bytes, all of it.
    Feed(Vec<u8>),
}

/// Versions read from one Version Negotiation packet at most: more is no
/// use to a client that knows two.
const MAX_LISTED: usize = 64;

#[cfg(test)]
mod tests;
