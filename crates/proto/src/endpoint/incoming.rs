//! New clients: a client's first Initial is checked cheaply, its token
//! (if any) checked, and the admission limits and retry policy applied;
//! then it is held as an incoming, with no connection and no TLS session,
//! until the owner accepts, refuses, retries or ignores it.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use bytes::BytesMut;

use super::{
    Endpoint, InitialRefusal,
    stateless::Refused,
    token::{Invalid, Opened},
};
use crate::{
    ConnectionId, EcnCodepoint, EncryptionLevel, Frame, Frames, Side,
    connection::MIN_INITIAL_SIZE,
    crypto::{Keys, TlsConfigError},
    packet::{DecodeOptions, PacketType, PartialDecode, Version},
};

/// Datagrams held for one incoming at most (its first Initial, the rest of
/// a large ClientHello, retransmissions); later ones are dropped.
const MAX_HELD_DATAGRAMS: usize = 8;
/// Bytes held for one incoming at most.
pub(super) const MAX_HELD_BYTES: usize = 16 * 1024;

/// Names a client waiting for the owner's decision; see
/// [`Endpoint::poll_incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncomingId(u64);

/// What is known of a client before its connection exists: enough to
/// decide on it, from its first Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingInfo {
    pub(super) remote: SocketAddr,
    pub(super) local_ip: Option<IpAddr>,
    remote_address_validated: bool,
    pub(super) original_dcid: ConnectionId,
    pub(super) version: Version,
    received_at: Instant,
}

impl IncomingInfo {
    /// The address the client's Initial came from. It is not validated
    /// (see [`remote_address_validated`](Self::remote_address_validated)):
    /// anyone can send an Initial from a forged address.
    #[must_use]
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The address the client's Initial was sent to, when the socket
    /// reported it.
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.local_ip
    }

    /// Whether the client proved that it receives at
    /// [`remote`](Self::remote) (RFC 9000 §8.1): its Initial carried a
    /// valid token, from our Retry or from a NEW_TOKEN frame of an earlier
    /// connection.
    #[must_use]
    pub fn remote_address_validated(&self) -> bool {
        self.remote_address_validated
    }

    /// The Destination Connection ID of the client's first Initial (before
    /// any Retry): what the server's original_destination_connection_id
    /// transport parameter echoes (RFC 9000 §7.3).
    #[must_use]
    pub fn original_dcid(&self) -> ConnectionId {
        self.original_dcid
    }

    /// The QUIC version the client speaks.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// When the client's first Initial arrived.
    #[must_use]
    pub fn received_at(&self) -> Instant {
        self.received_at
    }
}

/// Why [`Endpoint::accept_incoming`] made no connection. In every case but
/// [`UnknownIncoming`](Self::UnknownIncoming) the client was refused with
/// CONNECTION_REFUSED, so it does not wait.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The incoming was already accepted, refused or ignored, or waited
    /// longer than `incoming_timeout`; nothing was sent. Decide on each
    /// incoming once.
    #[error("no such incoming: it was already decided on or timed out")]
    UnknownIncoming,
    /// The server already holds `max_connections` connections and pending
    /// incomings. Raise `ServerConfig::max_connections` if the machine can
    /// take more.
    #[error("the server holds max_connections connections and pending incomings")]
    ConnectionLimit,
    /// The server's TLS configuration cannot start a QUIC handshake; the
    /// source says what to change.
    #[error("the server's tls configuration cannot run quic")]
    TlsConfig(#[source] TlsConfigError),
    /// Neither the call nor the endpoint has a server configuration: pass
    /// one, or set the endpoint's with [`Endpoint::set_server_config`].
    #[error("no server configuration to accept the client with")]
    NoServerConfig,
}

/// Why [`Endpoint::retry_incoming`] sent no Retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError {
    /// The incoming was already accepted, refused or ignored, or timed
    /// out; nothing was sent.
    #[error("no such incoming: it was already decided on or timed out")]
    UnknownIncoming,
    /// The client's address is already validated (it came with a token), so
    /// a Retry would prove nothing; it is still pending: accept or refuse
    /// it.
    #[error("the client's address is already validated; accept or refuse it instead")]
    AddressValidated,
}

/// How a pending client's address was validated before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Validated {
    /// Not: the handshake itself will.
    No,
    /// By a Retry token; the Initial's DCID is the Retry's SCID.
    Retry,
    /// By a NEW_TOKEN token.
    Token,
}

/// A client waiting for the owner's decision, and its datagrams.
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) info: IncomingInfo,
    /// The DCID of the Initial that made this incoming: the original DCID,
    /// or after a Retry the Retry's SCID. Initial keys derive from it
    /// (RFC 9001 §5.2), and the client's datagrams route by it.
    pub(super) initial_dcid: ConnectionId,
    pub(super) validated: Validated,
    pub(super) client_scid: ConnectionId,
    pub(super) datagrams: Vec<(Option<EcnCodepoint>, BytesMut)>,
    held_bytes: usize,
}

impl Incoming {
    fn refused(&self) -> Refused {
        Refused {
            version: self.info.version,
            original_dcid: self.initial_dcid,
            client_scid: self.client_scid,
            remote: self.info.remote,
            local_ip: self.info.local_ip,
        }
    }
}

/// What became of a datagram offered to the pending incomings.
pub(super) enum Hold {
    /// Kept for the incoming of its DCID.
    Held,
    /// For a pending incoming, but from elsewhere or beyond its bounds.
    Dropped,
    /// For no pending incoming: handed back.
    NotPending(BytesMut),
}

/// The incomings waiting for a decision, in arrival order, and the DCIDs
/// that route to them.
#[derive(Debug, Default)]
pub(super) struct Pending {
    by_id: BTreeMap<u64, Incoming>,
    by_dcid: HashMap<ConnectionId, u64>,
    /// How many are pending from each IP address.
    by_ip: HashMap<IpAddr, usize>,
    next_id: u64,
    /// Ids below this were handed out by `poll_incoming`.
    next_unpolled: u64,
}

impl Pending {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// How many are pending from `ip`.
    pub(super) fn from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    fn insert(&mut self, incoming: Incoming) -> IncomingId {
        let id = self.next_id;
        self.next_id += 1;
        self.by_dcid.insert(incoming.initial_dcid, id);
        *self.by_ip.entry(incoming.info.remote.ip()).or_default() += 1;
        self.by_id.insert(id, incoming);
        IncomingId(id)
    }

    pub(super) fn remove(&mut self, id: IncomingId) -> Option<Incoming> {
        let incoming = self.by_id.remove(&id.0)?;
        self.by_dcid.remove(&incoming.initial_dcid);
        let ip = incoming.info.remote.ip();
        if let Some(count) = self.by_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.by_ip.remove(&ip);
            }
        }
        Some(incoming)
    }

    /// Keeps a later datagram of a pending client, bounded, to feed it to
    /// the connection after the Initial.
    pub(super) fn hold(
        &mut self,
        dcid: &ConnectionId,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) -> Hold {
        let Some(incoming) = self.by_dcid.get(dcid).and_then(|id| self.by_id.get_mut(id)) else {
            return Hold::NotPending(data);
        };
        if incoming.info.remote != remote
            || incoming.datagrams.len() >= MAX_HELD_DATAGRAMS
            || incoming.held_bytes + data.len() > MAX_HELD_BYTES
        {
            return Hold::Dropped;
        }
        incoming.held_bytes += data.len();
        incoming.datagrams.push((ecn, data));
        Hold::Held
    }

    fn next_unpolled(&mut self) -> Option<IncomingId> {
        let (&id, _) = self.by_id.range(self.next_unpolled..).next()?;
        self.next_unpolled = id + 1;
        Some(IncomingId(id))
    }

    fn oldest(&self) -> Option<&Incoming> {
        self.by_id.first_key_value().map(|(_, incoming)| incoming)
    }

    /// The oldest incoming, if it arrived `timeout` or more before `now`.
    fn pop_expired(&mut self, now: Instant, timeout: Duration) -> Option<Incoming> {
        let (&id, oldest) = self.by_id.first_key_value()?;
        if oldest.info.received_at + timeout > now {
            return None;
        }
        self.remove(IncomingId(id))
    }
}

impl Endpoint {
    /// The next client waiting for a decision that was not handed out yet,
    /// in the order they arrived. Decide on each with
    /// [`accept_incoming`](Self::accept_incoming),
    /// [`refuse_incoming`](Self::refuse_incoming) or
    /// [`ignore_incoming`](Self::ignore_incoming); one left undecided is
    /// refused after
    /// [`incoming_timeout`](crate::config::EndpointConfig::incoming_timeout).
    pub fn poll_incoming(&mut self) -> Option<IncomingId> {
        self.incoming.next_unpolled()
    }

    /// What is known of a pending client; `None` once it was decided on or
    /// timed out.
    #[must_use]
    pub fn incoming(&self, id: IncomingId) -> Option<&IncomingInfo> {
        self.incoming
            .by_id
            .get(&id.0)
            .map(|incoming| &incoming.info)
    }

    /// Refuses a pending client: RFC 9000 §10.2.3, it is answered without
    /// state with CONNECTION_REFUSED in an Initial packet (bounded like
    /// the other stateless answers), so it stops at once. Does nothing if
    /// `id` is not pending.
    pub fn refuse_incoming(&mut self, id: IncomingId) {
        if let Some(incoming) = self.incoming.remove(id) {
            self.refuse_held(&incoming);
        }
    }

    /// Answers a pending client with a Retry packet (RFC 9000 §8.1.2),
    /// whatever the [`RetryPolicy`](crate::config::RetryPolicy): it comes
    /// back with a token that proves its address, and arrives again as a
    /// new incoming whose
    /// [`remote_address_validated`](IncomingInfo::remote_address_validated)
    /// is true. Nothing is kept meanwhile.
    ///
    /// # Errors
    /// [`RetryError::UnknownIncoming`] when `id` is not pending;
    /// [`RetryError::AddressValidated`] when the client already proved its
    /// address (it stays pending then).
    pub fn retry_incoming(&mut self, now: Instant, id: IncomingId) -> Result<(), RetryError> {
        let Some(pending) = self.incoming.by_id.get(&id.0) else {
            return Err(RetryError::UnknownIncoming);
        };
        if pending.validated != Validated::No {
            return Err(RetryError::AddressValidated);
        }
        let Some(incoming) = self.incoming.remove(id) else {
            return Err(RetryError::UnknownIncoming);
        };
        self.dropped_datagrams += incoming.datagrams.len() as u64;
        self.send_retry(now, &incoming.refused());
        Ok(())
    }

    /// Forgets a pending client without answering: it retransmits until
    /// its handshake times out, and a retransmission arrives as a new
    /// incoming. Does nothing if `id` is not pending.
    pub fn ignore_incoming(&mut self, id: IncomingId) {
        if let Some(incoming) = self.incoming.remove(id) {
            self.dropped_datagrams += incoming.datagrams.len() as u64;
        }
    }

    /// A client's first Initial, for no connection or incoming we know:
    /// checked cheaply, then held as an incoming or refused.
    pub(super) fn handle_first_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        version: Version,
        data: BytesMut,
    ) {
        let Some(max_connections) = self.server.as_ref().map(|s| s.max_connections) else {
            self.dropped_datagrams += 1;
            return;
        };
        // RFC 9000 §14.1: a client's Initial arrives in a datagram of at
        // least 1200 bytes; smaller ones are dropped.
        if data.len() < MIN_INITIAL_SIZE {
            self.dropped_datagrams += 1;
            return;
        }
        let cid_len = self.config.cid_generator.cid_len();
        let Some(first) = open_first_initial(&data, cid_len, version) else {
            self.dropped_datagrams += 1;
            return;
        };
        let refused = Refused {
            version,
            original_dcid: first.dcid,
            client_scid: first.scid,
            remote,
            local_ip,
        };
        let Some((validated, original_dcid)) = self.check_token(now, &first, &refused) else {
            self.dropped_datagrams += 1;
            return;
        };
        if !self.admit(now, validated, first.starts_hello, &refused) {
            self.dropped_datagrams += 1;
            return;
        }
        if self.incoming.len() >= self.config.max_incoming {
            let max = self.config.max_incoming;
            self.refuse(InitialRefusal::IncomingLimit, || {
                format!(
                    "max_incoming ({max}) clients already wait for the owner's decision; decide \
                     on each incoming sooner, or raise the limit"
                )
            });
            self.dropped_datagrams += 1;
            self.send_refusal(&refused);
            return;
        }
        if self.connections.len() + self.incoming.len() >= max_connections {
            self.refuse_connection_limit(max_connections);
            self.dropped_datagrams += 1;
            self.send_refusal(&refused);
            return;
        }
        match validated {
            Validated::Retry => self.validated_by_retry += 1,
            Validated::Token => self.validated_by_token += 1,
            Validated::No => {}
        }
        // RFC 9000 §5.2.2: the 0-RTT that overtook this Initial follows it.
        let room = MAX_HELD_BYTES.saturating_sub(data.len());
        let mut datagrams = vec![(ecn, data)];
        datagrams.extend(self.early_zero_rtt_for(&first.dcid, remote, room));
        let held_bytes = datagrams.iter().map(|(_, data)| data.len()).sum();
        self.incoming.insert(Incoming {
            info: IncomingInfo {
                remote,
                local_ip,
                remote_address_validated: validated != Validated::No,
                original_dcid,
                version,
                received_at: now,
            },
            initial_dcid: first.dcid,
            validated,
            client_scid: first.scid,
            datagrams,
            held_bytes,
        });
        tracing::debug!(%remote, ?validated, "incoming client");
    }

    /// RFC 9000 §8.1.3: what the token of a client's first Initial proves,
    /// and the client's original DCID: a valid Retry token validates the
    /// address and names the DCID before the Retry; a valid NEW_TOKEN token
    /// validates the address; no token, or a NEW_TOKEN token that does not
    /// validate (it may be another server's), proves nothing. `None` when
    /// a Retry token did not validate: the client is closed with
    /// INVALID_TOKEN.
    fn check_token(
        &mut self,
        now: Instant,
        first: &FirstInitial,
        refused: &Refused,
    ) -> Option<(Validated, ConnectionId)> {
        let server = self.server.as_ref()?;
        if first.token.is_empty() {
            return Some((Validated::No, first.dcid));
        }
        let rotation = server.token_key_rotation();
        let opened = self.tokens.open(
            now,
            rotation,
            &first.token,
            (refused.remote, refused.version),
            server.retry_token_lifetime,
            server.new_token_lifetime,
        );
        match opened {
            // The Retry's SCID must be the DCID this Initial used.
            Ok(Opened::Retry {
                original_dcid,
                retry_scid,
            }) if retry_scid == first.dcid => Some((Validated::Retry, original_dcid)),
            Ok(Opened::NewToken) => Some((Validated::Token, first.dcid)),
            Ok(Opened::Retry { .. }) | Err(Invalid::Retry) => {
                // RFC 9000 §8.1.3: a Retry token that fails validation
                // closes the connection with INVALID_TOKEN, since the
                // client cannot have a better one.
                let remote = refused.remote;
                self.refuse(InitialRefusal::InvalidToken, || {
                    format!(
                        "a client at {remote} sent a Retry token that did not validate \
                         (forged, expired, or for another address); it was closed with \
                         INVALID_TOKEN"
                    )
                });
                self.send_close(refused, crate::TransportErrorCode::INVALID_TOKEN);
                None
            }
            Err(Invalid::Other) => Some((Validated::No, first.dcid)),
        }
    }

    /// Applies the admission limits and the retry policy to a client:
    /// `true` to go on and hold it as an incoming. Otherwise it was sent a
    /// Retry, refused with CONNECTION_REFUSED, or (when no stateless answer
    /// could be queued) dropped, and counted.
    fn admit(
        &mut self,
        now: Instant,
        validated: Validated,
        starts_hello: bool,
        refused: &Refused,
    ) -> bool {
        let Some(server) = self.server.clone() else {
            return false;
        };
        // The counts include handshakes that ended since the last refresh
        // until it runs: refresh first.
        self.connections.refresh();
        let ip = refused.remote.ip();
        let in_progress = self.connections.handshakes().total() + self.incoming.len();
        let from_ip = self.connections.handshakes().from(ip) + self.incoming.from(ip);
        let over_total = in_progress >= server.max_handshakes;
        let over_ip = from_ip >= server.max_handshakes_per_address;
        if validated == Validated::No
            && server.retry.wants_retry(in_progress, over_total || over_ip)
        {
            // RFC 9000 §8.1.2: the Retry answers the datagram that starts
            // the ClientHello; the client sends the rest again after it,
            // so a second datagram of the same flight is dropped rather
            // than retried twice.
            if starts_hello {
                self.send_retry(now, refused);
            }
            return false;
        }
        if over_total {
            let max = server.max_handshakes;
            self.refuse(InitialRefusal::HandshakeLimit, || {
                format!(
                    "max_handshakes ({max}) handshakes were in progress; a Retry policy other \
                     than Never makes unvalidated clients prove their address instead"
                )
            });
            self.send_refusal(refused);
            return false;
        }
        if over_ip {
            let max = server.max_handshakes_per_address;
            self.refuse(InitialRefusal::AddressLimit, || {
                format!("max_handshakes_per_address ({max}) handshakes from {ip} were in progress")
            });
            self.send_refusal(refused);
            return false;
        }
        true
    }

    pub(super) fn refuse_connection_limit(&mut self, max: usize) {
        self.refuse(InitialRefusal::ConnectionLimit, || {
            format!(
                "the server holds max_connections ({max}) connections and clients waiting for a \
                 decision; raise the limit if the machine can take more"
            )
        });
    }

    /// Answers a pending client with a refusal; its datagrams count as
    /// dropped.
    pub(super) fn refuse_held(&mut self, incoming: &Incoming) {
        self.dropped_datagrams += incoming.datagrams.len() as u64;
        self.send_refusal(&incoming.refused());
    }

    /// When the oldest pending incoming times out.
    pub(super) fn incoming_deadline(&self) -> Option<Instant> {
        let timeout = self.config.incoming_timeout?;
        Some(self.incoming.oldest()?.info.received_at + timeout)
    }

    /// Refuses the incomings the owner left undecided too long.
    pub(super) fn expire_incoming(&mut self, now: Instant) {
        let Some(timeout) = self.config.incoming_timeout else {
            return;
        };
        while let Some(incoming) = self.incoming.pop_expired(now, timeout) {
            self.refuse(InitialRefusal::IncomingTimeout, || {
                format!(
                    "a client waited incoming_timeout ({timeout:?}) for a decision; call \
                     accept_incoming, refuse_incoming or ignore_incoming for every incoming"
                )
            });
            self.refuse_held(&incoming);
        }
    }
}

/// What the endpoint reads from a client's first Initial.
pub(super) struct FirstInitial {
    pub(super) dcid: ConnectionId,
    pub(super) scid: ConnectionId,
    /// Its token, empty when it has none; a token longer than any we make
    /// is cut to one byte more than the longest, which is enough for it to
    /// fail validation.
    pub(super) token: Vec<u8>,
    /// Whether it carries the start of the ClientHello (CRYPTO data at
    /// offset 0). A ClientHello too large for one datagram (a post-quantum
    /// key share) comes in two; only the first is worth a Retry.
    pub(super) starts_hello: bool,
}

/// RFC 9000 §7.2, §17.2.2; RFC 9001 §5.2: the first packet of a client's
/// first datagram must be an Initial whose DCID has at least 8 bytes and
/// which authenticates under the Initial keys of that DCID; returns its
/// DCID, the client's SCID and the token. Anyone can derive those keys, so
/// this proves nothing of the sender, but noise and stray packets fail it
/// for the cost of a key derivation and one decryption, and no TLS work.
fn open_first_initial(data: &BytesMut, cid_len: usize, version: Version) -> Option<FirstInitial> {
    let options = DecodeOptions::new(cid_len).ok()?;
    // Opened in a copy: the datagram is kept intact for the connection.
    let mut copy = data.clone();
    let mut first = PartialDecode::split_from(&mut copy, options).ok()?;
    if first.packet_type() != PacketType::Initial || first.dcid().len() < 8 {
        return None;
    }
    let dcid = *first.dcid();
    let scid = *first.scid()?;
    let token = first.token().unwrap_or_default();
    let token = token
        .get(..token.len().min(super::token::MAX_TOKEN_LEN + 1))
        .unwrap_or_default()
        .to_vec();
    let keys = Keys::initial(version, &dcid, Side::Server);
    let opened = keys.remote.open_decoded(&mut first, None).ok()?;
    let payload = first.into_data().freeze().slice(opened.payload);
    let starts_hello = Frames::new(payload, EncryptionLevel::Initial)
        .map_while(Result::ok)
        .any(|frame| matches!(frame, Frame::Crypto(crypto) if crypto.offset.into_inner() == 0));
    Some(FirstInitial {
        dcid,
        scid,
        token,
        starts_hello,
    })
}
