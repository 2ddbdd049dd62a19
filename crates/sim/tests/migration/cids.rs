//! The connection IDs each side issues (RFC 9000 §5.1), between two real
//! endpoints: how many each side holds of the other's, which connection
//! each ID reaches, retirement and replacement, rotation with Retire Prior
//! To, zero-length IDs, and stateless resets for issued IDs.
//!
//! A peer that exceeds our active_connection_id_limit is in
//! `hostile::cids` (`a_new_connection_id_flood_is_connection_id_limit_error`).
//!
//! Whether an ID routes is seen from outside: a short-header datagram of
//! garbage addressed to it is handed to the connection it routes to (whose
//! `datagrams_received` counts it, and which cannot open it), or, routed
//! nowhere, is dropped by the endpoint (answered with a stateless reset).

use std::{net::SocketAddr, sync::Arc};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    ConnectionId, Frame, Side, TransportErrorCode, VarInt,
    cid::RandomConnectionIdGenerator,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Closer, Connection, ConnectionError, Event},
    endpoint::{ConnectionHandle, Endpoint},
    frame::NewConnectionId,
};
use tern_sim::{
    Seed, certs,
    pair::{CLIENT, Pair, PairView, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{LIMIT, link};

/// The endpoint node, its own address and its peer's, for `side`.
fn node(side: Side) -> (usize, SocketAddr, SocketAddr) {
    if side.is_client() {
        (CLIENT, CLIENT_ADDR, SERVER_ADDR)
    } else {
        (SERVER, SERVER_ADDR, CLIENT_ADDR)
    }
}

fn peer(side: Side) -> Side {
    if side.is_client() {
        Side::Server
    } else {
        Side::Client
    }
}

fn local_ids(conn: &Connection) -> Vec<ConnectionId> {
    conn.local_cids().collect()
}

fn remote_ids(conn: &Connection) -> Vec<ConnectionId> {
    conn.remote_cids().collect()
}

/// The IDs a connection issued, and those it holds of its peer's.
fn ids(conn: &Connection) -> (Vec<ConnectionId>, Vec<ConnectionId>) {
    (local_ids(conn), remote_ids(conn))
}

/// Whether each side holds exactly the IDs the other may use.
fn agreed(view: &PairView<'_>) -> bool {
    let (Some(client), Some(server)) = (view.client(), view.server()) else {
        return false;
    };
    local_ids(client) == remote_ids(server) && local_ids(server) == remote_ids(client)
}

/// A pair over `link()` with these settings, connected, each side holding
/// the IDs the other issued.
fn connected(seed: u64, client: TransportConfig, server: TransportConfig) -> Pair {
    connected_with(seed, client, server, EndpointConfig::default())
}

fn connected_with(
    seed: u64,
    client: TransportConfig,
    server: TransportConfig,
    endpoint: EndpointConfig,
) -> Pair {
    let (mut client_config, mut server_config) = configs();
    client_config.transport = Arc::new(client);
    server_config.transport = Arc::new(server);
    let mut pair = Pair::with_configs(seed, link(), client_config, server_config, endpoint);
    assert!(pair.connect(LIMIT), "seed {seed}: the handshake completes");
    settle(&mut pair);
    pair
}

/// A client configuration and a server configuration it trusts.
fn configs() -> (ClientConfig, ServerConfig) {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    (
        ClientConfig::new(client_tls).expect("the test tls config runs quic"),
        ServerConfig::new(server_tls).expect("the test tls config runs quic"),
    )
}

/// A pair over `link()` with default settings, not yet run, and the
/// client's configuration, to start more connections with.
fn unconnected(seed: u64) -> (Pair, ClientConfig) {
    let (client_config, server_config) = configs();
    let pair = Pair::with_configs(
        seed,
        link(),
        client_config.clone(),
        server_config,
        EndpointConfig::default(),
    );
    (pair, client_config)
}

/// Runs until each side holds the IDs the other may use, then 100 ms more.
fn settle(pair: &mut Pair) {
    assert!(pair.run_until(LIMIT, |view| agreed(view)).is_satisfied());
    let _ = pair.run_until(std::time::Duration::from_millis(100), |_| false);
}

/// Where a datagram addressed to an ID went.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// To the connection with this handle.
    To(ConnectionHandle),
    /// Nowhere: the endpoint dropped it.
    Dropped,
}

/// Hands the endpoint of `side` a short-header datagram of garbage
/// addressed to `id`, from its peer's address, and says where it went
/// among `conns` (the handles of that endpoint's connections).
fn probe(pair: &mut Pair, side: Side, conns: &[ConnectionHandle], id: ConnectionId) -> Delivery {
    let (index, local, remote) = node(side);
    let now = pair.sim.now();
    let endpoint = pair.sim.node_mut(index);
    let counts = |endpoint: &Endpoint| -> Vec<u64> {
        conns
            .iter()
            .map(|&h| {
                endpoint
                    .connection(h)
                    .map_or(0, |c| c.stats().datagrams_received)
            })
            .collect()
    };
    let before = counts(endpoint);
    let dropped = endpoint.dropped_datagrams();
    let mut datagram = vec![0x41];
    datagram.extend_from_slice(&id);
    datagram.extend_from_slice(&[0x5a; 40]);
    endpoint.handle(
        now,
        remote,
        Some(local.ip()),
        None,
        BytesMut::from(&datagram[..]),
    );
    let after = counts(endpoint);
    let reached: Vec<ConnectionHandle> = conns
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| a > b)
        .map(|(h, _)| *h)
        .collect();
    match reached[..] {
        [handle] => Delivery::To(handle),
        [] => {
            assert_eq!(
                endpoint.dropped_datagrams(),
                dropped + 1,
                "counted as dropped"
            );
            Delivery::Dropped
        }
        _ => panic!("one datagram reached {reached:?}"),
    }
}

/// The handle of the connection of `side`.
fn handle(pair: &Pair, side: Side) -> ConnectionHandle {
    if side.is_client() {
        pair.state.client_conn
    } else {
        pair.state.server_conn.expect("accepted")
    }
}

fn conn(pair: &Pair, side: Side) -> &Connection {
    let index = node(side).0;
    let handle = handle(pair, side);
    pair.sim.node(index).connection(handle).expect("exists")
}

// RFC 9000 §5.1.1 (test): after the handshake each side holds
// min(its active_connection_id_limit, the issuer's issued_connection_ids)
// of the other's IDs, the handshake's included.
#[test]
fn each_side_holds_as_many_ids_as_both_limits_allow() {
    let settings = |limit: u8, issued: u8| TransportConfig {
        active_connection_id_limit: limit,
        issued_connection_ids: issued,
        ..TransportConfig::default()
    };
    // (client's limit, client's issued, server's limit, server's issued)
    for (seed, (cl, ci, sl, si)) in [(4, 4, 4, 4), (2, 8, 8, 3), (3, 2, 5, 6), (8, 8, 8, 8)]
        .into_iter()
        .enumerate()
    {
        let pair = connected(seed as u64, settings(cl, ci), settings(sl, si));
        let client = ids(conn(&pair, Side::Client));
        let server = ids(conn(&pair, Side::Server));
        assert_eq!(client.0.len(), usize::from(ci.min(sl)), "client issues");
        assert_eq!(server.0.len(), usize::from(si.min(cl)), "server issues");
        assert_eq!(client.1, server.0, "the client holds the server's");
        assert_eq!(server.1, client.0, "the server holds the client's");
    }
}

// RFC 9000 §5.1 (test): every ID either side issued routes to the
// connection that issued it, among two connections between the same
// endpoints.
#[test]
fn every_issued_id_routes_to_the_connection_that_issued_it() {
    Seed::range(0..4).run(|seed| {
        let (mut pair, client_config) = unconnected(seed);
        pair.state.auto_accept = false;
        let now = pair.sim.now();
        let second = pair
            .sim
            .node_mut(CLIENT)
            .connect(now, &client_config, SERVER_ADDR, "localhost")
            .expect("connects");
        let clients = [pair.state.client_conn, second];
        let mut servers = Vec::new();
        let outcome = pair.run_until(LIMIT, |view| {
            let now = view.sim.now();
            let server = view.sim.node_mut(SERVER);
            while let Some(id) = server.poll_incoming() {
                servers.push(server.accept_incoming(now, id, None).expect("accepted"));
            }
            servers.len() == 2
                && clients.iter().all(|&c| {
                    let conn = view.sim.node(CLIENT).connection(c).expect("client");
                    servers.iter().any(|&s| {
                        let server = view.sim.node(SERVER).connection(s).expect("server");
                        remote_ids(conn) == local_ids(server)
                            && local_ids(conn) == remote_ids(server)
                            && local_ids(server).len() == 4
                            && local_ids(conn).len() == 4
                    })
                })
        });
        assert!(outcome.is_satisfied(), "{outcome:?}");
        for &client in &clients {
            let client_ids = local_ids(pair.sim.node(CLIENT).connection(client).expect("client"));
            let server_ids = remote_ids(pair.sim.node(CLIENT).connection(client).expect("client"));
            let server = *servers
                .iter()
                .find(|&&s| {
                    local_ids(pair.sim.node(SERVER).connection(s).expect("server")) == server_ids
                })
                .expect("the client's server connection");
            for id in server_ids {
                assert_eq!(
                    probe(&mut pair, Side::Server, &servers, id),
                    Delivery::To(server),
                    "{id}"
                );
            }
            for id in client_ids {
                assert_eq!(
                    probe(&mut pair, Side::Client, &clients, id),
                    Delivery::To(client),
                    "{id}"
                );
            }
        }
    });
}

// RFC 9000 §5.1.2, §19.16 (test): the peer retiring one of our IDs (as it
// does when it moves to a fresh one, §9.5) stops its route and gets a
// replacement; packets to each new ID reach the connection.
#[test]
fn a_retired_id_stops_routing_and_is_replaced() {
    Seed::range(0..4).run(|seed| {
        let mut pair = connected(seed, TransportConfig::default(), TransportConfig::default());
        let server = handle(&pair, Side::Server);
        let mut retired = Vec::new();
        for round in 0..6 {
            let old = conn(&pair, Side::Client).remote_cid();
            let received = conn(&pair, Side::Server).stats().packets_received;
            let mut view = pair.view();
            let client = view.client_mut().expect("client");
            assert!(client.switch_remote_cid(), "round {round}: a spare id");
            let new = client.remote_cid();
            client.queue_raw_frames(Bytes::from_static(&[0x01])); // PING
            retired.push(old);
            let outcome = pair.run_until(LIMIT, |view| {
                let server = view.server().expect("server");
                server.stats().packets_received > received
                    && !local_ids(server).contains(&old)
                    && agreed(view)
            });
            assert!(outcome.is_satisfied(), "round {round}: {outcome:?}");
            let server_conn = conn(&pair, Side::Server);
            assert_eq!(local_ids(server_conn).len(), 4, "round {round}: replaced");
            assert!(local_ids(server_conn).contains(&new));
            assert!(!server_conn.is_closed());
            for id in &retired {
                assert_eq!(
                    probe(&mut pair, Side::Server, &[server], *id),
                    Delivery::Dropped
                );
            }
            assert_eq!(
                probe(&mut pair, Side::Server, &[server], new),
                Delivery::To(server)
            );
        }
    });
}

// RFC 9000 §5.1.2 (test): a rotation with Retire Prior To moves the peer
// to a whole new set of IDs; the old ones stop routing once it retired
// them, and the connection goes on, whichever side rotates.
#[test]
fn a_rotation_moves_the_peer_to_new_ids_and_the_old_ones_stop_routing() {
    for (seed, side) in [(10, Side::Server), (11, Side::Client)] {
        let mut pair = connected(seed, TransportConfig::default(), TransportConfig::default());
        let this = handle(&pair, side);
        let old = local_ids(conn(&pair, side));
        assert!(
            pair.view()
                .connection_mut(side)
                .expect("exists")
                .rotate_cids()
        );
        let outcome = pair.run_until(LIMIT, |view| {
            agreed(view)
                && view.connection(side).is_some_and(|c| {
                    let ids = local_ids(c);
                    ids.len() == 4 && ids.iter().all(|id| !old.contains(id))
                })
        });
        assert!(outcome.is_satisfied(), "{side:?}: {outcome:?}");
        let _ = pair.run_until(std::time::Duration::from_millis(200), |_| false);
        let new = local_ids(conn(&pair, side));
        let in_use = conn(&pair, peer(side)).remote_cid();
        assert!(new.contains(&in_use), "the peer sends to a new id");
        for id in old {
            assert_eq!(
                probe(&mut pair, side, &[this], id),
                Delivery::Dropped,
                "{side:?} {id}"
            );
        }
        for id in new {
            assert_eq!(probe(&mut pair, side, &[this], id), Delivery::To(this));
        }
        // The connection goes on.
        let received = conn(&pair, side).stats().packets_received;
        pair.view()
            .connection_mut(peer(side))
            .expect("exists")
            .queue_raw_frames(Bytes::from_static(&[0x01]));
        let outcome = pair.run_until(LIMIT, |view| {
            view.connection(side)
                .is_some_and(|c| c.stats().packets_received > received)
        });
        assert!(outcome.is_satisfied());
        assert!(
            pair.view()
                .connection_mut(side)
                .expect("exists")
                .rotate_cids(),
            "again"
        );
    }
}

/// A pair whose client uses zero-length connection IDs and whose server
/// uses the default 8-byte ones.
fn zero_length_client(seed: u64) -> Pair {
    let (mut pair, client_config) = unconnected(seed);
    let endpoint = EndpointConfig {
        cid_generator: Arc::new(RandomConnectionIdGenerator::new(0).expect("a valid length")),
        ..EndpointConfig::default()
    };
    let now = pair.sim.now();
    *pair.sim.node_mut(CLIENT) = Endpoint::new(Arc::new(endpoint), None, Some(CLIENT_ADDR), seed);
    pair.state.client_conn = pair
        .sim
        .node_mut(CLIENT)
        .connect(now, &client_config, SERVER_ADDR, "localhost")
        .expect("connects");
    assert!(pair.connect(LIMIT));
    settle(&mut pair);
    pair
}

// RFC 9000 §5.1.1 (test): an endpoint using zero-length IDs issues none;
// its peer still issues it a full set.
#[test]
fn a_side_with_zero_length_ids_issues_none() {
    let pair = zero_length_client(20);
    let (client_ids, servers_held) = ids(conn(&pair, Side::Client));
    assert_eq!(client_ids, [ConnectionId::EMPTY]);
    assert_eq!(servers_held.len(), 4);
    assert_eq!(remote_ids(conn(&pair, Side::Server)), [ConnectionId::EMPTY]);
    assert!(!conn(&pair, Side::Server).is_closed());
    assert!(!conn(&pair, Side::Client).is_closed());
}

// RFC 9000 §19.15 (test): NEW_CONNECTION_ID from a peer whose ID is
// zero-length (we send it packets with an empty DCID) is
// PROTOCOL_VIOLATION.
#[test]
fn new_connection_id_from_a_zero_length_peer_is_protocol_violation() {
    let mut pair = zero_length_client(21);
    let mut frame = Vec::new();
    Frame::NewConnectionId(NewConnectionId {
        sequence: VarInt::from_u32(1),
        retire_prior_to: VarInt::from_u32(0),
        id: ConnectionId::new(&[7; 8]).expect("8 bytes"),
        reset_token: [7; 16],
    })
    .encode(&mut frame);
    pair.view()
        .client_mut()
        .expect("client")
        .queue_raw_frames(Bytes::from(frame));
    let outcome = pair.run_until(LIMIT, |view| {
        view.server().is_some_and(Connection::is_closed)
    });
    assert!(outcome.is_satisfied());
    match conn(&pair, Side::Server).close_reason() {
        Some(ConnectionError::Transport { error, closed_by }) => {
            assert_eq!(
                error.code,
                TransportErrorCode::PROTOCOL_VIOLATION,
                "{error:?}"
            );
            assert_eq!(*closed_by, Closer::Local);
        }
        other => panic!("expected PROTOCOL_VIOLATION, got {other:?}"),
    }
}

// RFC 9000 §10.3 (test): a server that lost its state answers a packet to
// one of the IDs it issued with NEW_CONNECTION_ID (not the handshake's)
// with a stateless reset, which the client recognises by the token that
// came with that ID.
#[test]
fn a_stateless_reset_for_an_issued_id_is_recognised() {
    let endpoint = EndpointConfig {
        reset_key: Some([11; 32].into()),
        ..EndpointConfig::default()
    };
    let mut pair = connected_with(
        30,
        TransportConfig::default(),
        TransportConfig::default(),
        endpoint.clone(),
    );
    let handshake_id = conn(&pair, Side::Server).local_cid();
    assert!(pair.view().server_mut().expect("server").rotate_cids());
    let outcome = pair.run_until(LIMIT, |view| {
        view.client()
            .is_some_and(|c| c.remote_cid() != handshake_id)
            && agreed(view)
    });
    assert!(outcome.is_satisfied());
    pair.restart_server(endpoint, 99);
    pair.view()
        .client_mut()
        .expect("client")
        .queue_raw_frames(Bytes::from_static(&[0x01]));
    let outcome = pair.run_until(LIMIT, |view| {
        view.state
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Closed(_)))
    });
    assert!(outcome.is_satisfied());
    let closed = pair.state.client_events.iter().find_map(|e| match e {
        Event::Closed(error) => Some(error),
        _ => None,
    });
    assert_eq!(closed, Some(&ConnectionError::Reset));
}
