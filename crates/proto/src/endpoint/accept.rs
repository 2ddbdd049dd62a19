//! Accepting a client: the connection of a pending incoming is made, with
//! its transport parameters, its TLS session and its first tokens, and
//! the client's datagrams held so far are handed to it, at once or at the
//! owner's next [`Endpoint::handle_deferred`].

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Instant,
};

use bytes::BytesMut;
use rand::RngCore;

use super::{
    ConnectionHandle, Endpoint, InitialRefusal,
    incoming::{AcceptError, IncomingId, Validated},
    local_params,
    token::TokenKind,
};
use crate::{
    AddressValidation, ConnectionId, EcnCodepoint, Side,
    config::ServerConfig,
    connection::{Connection, ConnectionInit},
    crypto::TlsSession,
    packet::Version,
};

/// A datagram of an accepted client, waiting for
/// [`Endpoint::handle_deferred`].
#[derive(Debug)]
pub(super) struct Deferred {
    handle: ConnectionHandle,
    remote: SocketAddr,
    local_ip: Option<IpAddr>,
    ecn: Option<EcnCodepoint>,
    data: BytesMut,
}

impl Endpoint {
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
        self.accept(now, id, server, false)
    }

    /// As [`accept_incoming`](Self::accept_incoming), but the client's
    /// datagrams held so far reach the new connection only at the next
    /// [`handle_deferred`](Self::handle_deferred): the handshake's work
    /// (TLS, and the server's first flight with its certificate signature,
    /// which can take milliseconds) is done where the owner calls that,
    /// not where the client was accepted. An event loop that accepts on
    /// behalf of application tasks on other threads keeps the work on its
    /// own thread that way.
    ///
    /// # Errors
    /// As [`accept_incoming`](Self::accept_incoming).
    pub fn accept_incoming_deferred(
        &mut self,
        now: Instant,
        id: IncomingId,
        server: Option<Arc<ServerConfig>>,
    ) -> Result<ConnectionHandle, AcceptError> {
        self.accept(now, id, server, true)
    }

    /// Whether datagrams of accepted clients wait for
    /// [`handle_deferred`](Self::handle_deferred).
    #[must_use]
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Hands the datagrams held by
    /// [`accept_incoming_deferred`](Self::accept_incoming_deferred) of at
    /// most `clients` accepted clients to their connections, in order;
    /// whether there were any. Poll for transmits afterwards.
    pub fn handle_deferred(&mut self, now: Instant, clients: usize) -> bool {
        let mut any = false;
        let mut served = 0;
        let mut last = None;
        while let Some(next) = self.deferred.front() {
            if last != Some(next.handle) {
                if served == clients {
                    break;
                }
                served += 1;
                last = Some(next.handle);
            }
            let Some(deferred) = self.deferred.pop_front() else {
                break;
            };
            any = true;
            if let Some(conn) = self.connections.touch(deferred.handle) {
                super::deliver(
                    conn,
                    &mut self.undecryptable_bytes,
                    self.config.max_undecryptable_bytes,
                    (now, deferred.remote, deferred.local_ip, deferred.ecn),
                    deferred.data,
                );
                if conn.has_endpoint_events() {
                    self.serve(deferred.handle);
                }
            }
        }
        any
    }

    fn accept(
        &mut self,
        now: Instant,
        id: IncomingId,
        server: Option<Arc<ServerConfig>>,
        defer: bool,
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
        let initial_dcid = incoming.initial_dcid;
        let local_cid = self.new_cid();
        let mut params = local_params(&server.transport, &local_cid, Some(&info.original_dcid));
        // RFC 9000 §18.2: the server's token for the ID it chose.
        params.stateless_reset_token = Some(self.reset_token(&local_cid));
        // RFC 9000 §9.6, §5.1.1: the preferred address comes with an ID of
        // its own, sequence number 1, and its reset token; none with
        // zero-length IDs (§18.2).
        let preferred_cid = server
            .preferred_address
            .filter(|p| (p.ipv4.is_some() || p.ipv6.is_some()) && !local_cid.is_empty())
            .map(|p| {
                let cid = self.new_cid();
                params.preferred_address = Some(crate::transport_params::PreferredAddress {
                    ipv4: p.ipv4,
                    ipv6: p.ipv6,
                    connection_id: cid,
                    stateless_reset_token: self.reset_token(&cid),
                });
                cid
            });
        // RFC 9000 §7.3: after a Retry, the server names the Retry's SCID,
        // which the client's Initial used as its DCID.
        if incoming.validated == Validated::Retry {
            params.retry_source_connection_id = Some(initial_dcid);
        }
        let negotiation = self.server_negotiation(&server, info.version, &mut params);
        let tls =
            self.server_tls
                .for_server(&server, info.version, &self.config.supported_versions);
        let tls = match TlsSession::server(tls, info.version, &params) {
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
        let validation = match incoming.validated {
            Validated::No => AddressValidation::None,
            Validated::Retry => AddressValidation::Retry,
            Validated::Token => AddressValidation::Token,
        };
        let new_tokens = self.mint_new_tokens(now, &server, remote, info.version);
        let mut challenge_key = [0; 16];
        self.rng.fill_bytes(&mut challenge_key);
        let conn = Connection::new(
            now,
            ConnectionInit {
                side: Side::Server,
                version: info.version,
                config: server.transport.clone(),
                tls,
                retain_tls_state: server.retain_tls_state,
                local_cid,
                remote_cid: incoming.client_scid,
                original_dcid: initial_dcid,
                remote,
                local: self.local,
                local_ip,
                local_params: params,
                validation,
                new_tokens,
                token: bytes::Bytes::new(),
                token_store: None,
                challenge_key,
                negotiation,
            },
        );
        let routes = [local_cid, initial_dcid];
        let client = (now, remote, local_ip);
        let handle = self.install(
            conn,
            routes,
            preferred_cid,
            incoming.datagrams,
            client,
            defer,
        );
        tracing::debug!(%remote, handle = handle.0, "incoming accepted");
        Ok(handle)
    }

    /// Hands the connection of an accepted client the client's `datagrams`
    /// (or keeps them for [`handle_deferred`](Self::handle_deferred) when
    /// `defer`), gives it its preferred-address ID if any, and inserts it
    /// with its `routes`.
    fn install(
        &mut self,
        mut conn: Connection,
        routes: [ConnectionId; 2],
        preferred_cid: Option<ConnectionId>,
        datagrams: Vec<(Option<EcnCodepoint>, BytesMut)>,
        (now, remote, local_ip): (Instant, SocketAddr, Option<IpAddr>),
        defer: bool,
    ) -> ConnectionHandle {
        let mut kept = Vec::new();
        if defer {
            kept = datagrams;
        } else {
            let cap = self.config.max_undecryptable_bytes;
            for (ecn, data) in datagrams {
                super::deliver(
                    &mut conn,
                    &mut self.undecryptable_bytes,
                    cap,
                    (now, remote, local_ip, ecn),
                    data,
                );
            }
        }
        let mut routes = routes.to_vec();
        if let Some(cid) = preferred_cid {
            conn.issue_preferred_cid(cid);
            routes.push(cid);
        }
        let handle = self.insert(conn, &routes);
        self.deferred
            .extend(kept.into_iter().map(|(ecn, data)| Deferred {
                handle,
                remote,
                local_ip,
                ecn,
                data,
            }));
        handle
    }

    /// RFC 9368: a server's version_information in `params` (the
    /// version in use and every version this server supports, each server
    /// being its own deployment), and what it needs to move the client to
    /// another of them once the ClientHello is read (§2.2; v1 and v2 are
    /// compatible both ways, RFC 9369 §4); `None` when it speaks one.
    fn server_negotiation(
        &mut self,
        server: &Arc<ServerConfig>,
        version: Version,
        params: &mut crate::transport_params::TransportParameters,
    ) -> Option<Box<crate::connection::Negotiation>> {
        let supported = &self.config.supported_versions;
        params.version_information =
            Some(crate::connection::version_information(version, supported));
        let others: Vec<_> = supported
            .iter()
            .filter(|v| **v != version)
            .map(|v| (*v, self.server_tls.for_switch(server, *v)))
            .collect();
        (!others.is_empty()).then(|| {
            Box::new(crate::connection::Negotiation::server(
                version,
                supported.clone(),
                others,
                server.handshake_cipher_suites.clone(),
            ))
        })
    }

    /// RFC 9000 §8.1.3: the tokens a new connection sends its client in
    /// NEW_TOKEN frames once its handshake is confirmed, for the client's
    /// later connections: `new_tokens` of them, bound to its IP address,
    /// to `now` and to `version` (RFC 9369 §5).
    fn mint_new_tokens(
        &mut self,
        now: Instant,
        server: &ServerConfig,
        remote: SocketAddr,
        version: Version,
    ) -> Vec<bytes::Bytes> {
        let rotation = server.token_key_rotation();
        (0..server.new_tokens)
            .filter_map(|_| {
                self.tokens
                    .seal(now, rotation, TokenKind::NewToken, remote, None, version)
                    .map(bytes::Bytes::from)
            })
            .collect()
    }
}
