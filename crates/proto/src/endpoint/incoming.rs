//! New clients: a client's first Initial is checked cheaply, then held
//! as an incoming, with no connection and no TLS session, until the owner
//! accepts, refuses or ignores it.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::BytesMut;

use super::{ConnectionHandle, Endpoint, InitialRefusal, local_params, stateless::Refused};
use crate::{
    ConnectionId, EcnCodepoint, Side,
    config::ServerConfig,
    connection::{Connection, ConnectionInit, MIN_INITIAL_SIZE},
    crypto::{Keys, TlsConfigError, TlsSession},
    packet::{DecodeOptions, PacketType, PartialDecode, Version},
};

/// Datagrams held for one incoming at most (its first Initial, the rest of
/// a large ClientHello, retransmissions); later ones are dropped.
const MAX_HELD_DATAGRAMS: usize = 8;
/// Bytes held for one incoming at most.
const MAX_HELD_BYTES: usize = 16 * 1024;

/// Names a client waiting for the owner's decision; see
/// [`Endpoint::poll_incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncomingId(u64);

/// What is known of a client before its connection exists: enough to
/// decide on it, from its first Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingInfo {
    remote: SocketAddr,
    local_ip: Option<IpAddr>,
    remote_address_validated: bool,
    original_dcid: ConnectionId,
    version: Version,
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
    /// [`remote`](Self::remote) (RFC 9000 §8.1, with a Retry token).
    /// Always false for now: Tern does not send Retry yet.
    #[must_use]
    pub fn remote_address_validated(&self) -> bool {
        self.remote_address_validated
    }

    /// The Destination Connection ID of the client's first Initial.
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

/// A client waiting for the owner's decision, and its datagrams.
#[derive(Debug)]
struct Incoming {
    info: IncomingInfo,
    client_scid: ConnectionId,
    datagrams: Vec<(Option<EcnCodepoint>, BytesMut)>,
    held_bytes: usize,
}

impl Incoming {
    fn refused(&self) -> Refused {
        Refused {
            version: self.info.version,
            original_dcid: self.info.original_dcid,
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
    next_id: u64,
    /// Ids below this were handed out by `poll_incoming`.
    next_unpolled: u64,
}

impl Pending {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn insert(&mut self, incoming: Incoming) -> IncomingId {
        let id = self.next_id;
        self.next_id += 1;
        self.by_dcid.insert(incoming.info.original_dcid, id);
        self.by_id.insert(id, incoming);
        IncomingId(id)
    }

    fn remove(&mut self, id: IncomingId) -> Option<Incoming> {
        let incoming = self.by_id.remove(&id.0)?;
        self.by_dcid.remove(&incoming.info.original_dcid);
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

    /// Makes the connection of a pending client, with `server` (`None`:
    /// the endpoint's configuration), and feeds it the client's datagrams
    /// held so far, in order. Poll for transmits afterwards: the server's
    /// first flight is ready.
    ///
    /// # Errors
    /// [`AcceptError::UnknownIncoming`] when `id` is not pending (nothing
    /// is sent then). Otherwise the client is refused with
    /// CONNECTION_REFUSED and the error says why:
    /// [`AcceptError::NoServerConfig`], [`AcceptError::ConnectionLimit`]
    /// (counted in [`EndpointStats`](super::EndpointStats) and reported),
    /// [`AcceptError::TlsConfig`] (counted and reported likewise).
    pub fn accept_incoming(
        &mut self,
        now: Instant,
        id: IncomingId,
        server: Option<Arc<ServerConfig>>,
    ) -> Result<ConnectionHandle, AcceptError> {
        let Some(incoming) = self.incoming.remove(id) else {
            return Err(AcceptError::UnknownIncoming);
        };
        let Some(server) = server.or_else(|| self.server.clone()) else {
            self.refuse_held(&incoming);
            return Err(AcceptError::NoServerConfig);
        };
        if self.connections.len() + self.incoming.len() >= server.max_connections {
            self.refuse_connection_limit(server.max_connections);
            self.refuse_held(&incoming);
            return Err(AcceptError::ConnectionLimit);
        }
        let info = &incoming.info;
        let original_dcid = info.original_dcid;
        let local_cid = self.config.cid_generator.generate(&mut self.rng);
        let mut params = local_params(&server.transport, &local_cid, Some(&original_dcid));
        // RFC 9000 §18.2: the server's token for the ID it chose.
        params.stateless_reset_token = Some(self.reset_token(&local_cid));
        let tls = match TlsSession::server(server.tls.clone(), info.version, &params) {
            Ok(tls) => tls.with_handshake_suites(server.handshake_cipher_suites.clone()),
            Err(error) => {
                self.refuse(InitialRefusal::TlsConfig, || {
                    format!("the server's tls configuration cannot run quic: {error}")
                });
                self.refuse_held(&incoming);
                return Err(AcceptError::TlsConfig(error));
            }
        };
        let (remote, local_ip) = (info.remote, info.local_ip);
        let mut conn = Connection::new(
            now,
            ConnectionInit {
                side: Side::Server,
                version: info.version,
                config: server.transport.clone(),
                tls,
                retain_tls_state: server.retain_tls_state,
                local_cid,
                remote_cid: incoming.client_scid,
                original_dcid,
                remote,
                local: self.local,
                local_ip,
                local_params: params,
            },
        );
        let cap = self.config.max_undecryptable_bytes;
        for (ecn, data) in incoming.datagrams {
            super::deliver(
                &mut conn,
                &mut self.undecryptable_bytes,
                cap,
                (now, remote, local_ip, ecn),
                data,
            );
        }
        let handle = self.insert(conn, &[local_cid, original_dcid]);
        tracing::debug!(%remote, handle = handle.0, "incoming accepted");
        Ok(handle)
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
        let Some((original_dcid, client_scid)) = open_first_initial(&data, cid_len, version) else {
            self.dropped_datagrams += 1;
            return;
        };
        let refused = Refused {
            version,
            original_dcid,
            client_scid,
            remote,
            local_ip,
        };
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
        let held_bytes = data.len();
        self.incoming.insert(Incoming {
            info: IncomingInfo {
                remote,
                local_ip,
                remote_address_validated: false,
                original_dcid,
                version,
                received_at: now,
            },
            client_scid,
            datagrams: vec![(ecn, data)],
            held_bytes,
        });
        tracing::debug!(%remote, "incoming client");
    }

    fn refuse_connection_limit(&mut self, max: usize) {
        self.refuse(InitialRefusal::ConnectionLimit, || {
            format!(
                "the server holds max_connections ({max}) connections and clients waiting for a \
                 decision; raise the limit if the machine can take more"
            )
        });
    }

    /// Answers a pending client with a refusal; its datagrams count as
    /// dropped.
    fn refuse_held(&mut self, incoming: &Incoming) {
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

/// RFC 9000 §7.2, §17.2.2; RFC 9001 §5.2: the first packet of a client's
/// first datagram must be an Initial whose DCID has at least 8 bytes and
/// which authenticates under the Initial keys of that DCID; returns the
/// DCID and the client's SCID. Anyone can derive those keys, so this
/// proves nothing of the sender, but noise and stray packets fail it for
/// the cost of a key derivation and one decryption, and no TLS work.
fn open_first_initial(
    data: &BytesMut,
    cid_len: usize,
    version: Version,
) -> Option<(ConnectionId, ConnectionId)> {
    let options = DecodeOptions::new(cid_len).ok()?;
    // Opened in a copy: the datagram is kept intact for the connection.
    let mut copy = data.clone();
    let mut first = PartialDecode::split_from(&mut copy, options).ok()?;
    if first.packet_type() != PacketType::Initial || first.dcid().len() < 8 {
        return None;
    }
    let dcid = *first.dcid();
    let scid = *first.scid()?;
    let keys = Keys::initial(version, &dcid, Side::Server);
    keys.remote.open_decoded(&mut first, None).ok()?;
    Some((dcid, scid))
}
