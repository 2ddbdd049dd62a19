//! The connection IDs an endpoint issues for its connections (RFC 9000
//! §5.1): unique among its routes, routed before a NEW_CONNECTION_ID
//! announces them, unrouted once the peer retired them. `Net::settle`
//! checks the routes against the connections after every instant.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngCore;

use super::*;
use crate::cid::{ConnectionIdGenerator, RandomConnectionIdGenerator};

/// The server's connection for the client connection `client`, the
/// `n`-th the server accepted.
fn server_conn(net: &Net, n: usize) -> ConnectionHandle {
    let mut accepted: Vec<ConnectionHandle> = net
        .server_events
        .iter()
        .filter(|(_, event)| matches!(event, Event::Connected(_)))
        .map(|(handle, _)| *handle)
        .collect();
    accepted.sort_unstable();
    accepted[n]
}

/// Connects `n` clients and runs until each side of each connection holds
/// every ID the other issued, then 100 ms more (the clock jumps, so long
/// as nothing is due before the end).
fn connected_net(net: &mut Net, n: usize) -> Vec<ConnectionHandle> {
    let clients: Vec<ConnectionHandle> = (0..n).map(|_| net.connect(SERVER)).collect();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        clients.iter().all(|&c| connected(net, c)) && agreed(net, &clients)
    }));
    run_for(net, Duration::from_millis(100));
    clients
}

/// Whether each side holds exactly the IDs the other may use.
fn agreed(net: &Net, clients: &[ConnectionHandle]) -> bool {
    let accepted = net
        .server_events
        .iter()
        .filter(|(_, event)| matches!(event, Event::Connected(_)))
        .count();
    accepted == clients.len()
        && clients.iter().enumerate().all(|(n, &client)| {
            let server = server_conn(net, n);
            local_ids(&net.client, client) == remote_ids(&net.server, server)
                && local_ids(&net.server, server) == remote_ids(&net.client, client)
        })
}

/// Runs until `duration` has passed, without jumping beyond it.
fn run_for(net: &mut Net, duration: Duration) {
    let end = net.now + duration;
    loop {
        net.settle();
        let next = [
            net.in_flight.front().map(|d| d.at),
            net.client.poll_timeout(),
            net.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(next) if next <= end => net.now = net.now.max(next),
            _ => break,
        }
    }
    net.now = end;
    net.settle();
}

fn local_ids(endpoint: &Endpoint, handle: ConnectionHandle) -> Vec<ConnectionId> {
    endpoint.connection(handle).unwrap().local_cids().collect()
}

fn remote_ids(endpoint: &Endpoint, handle: ConnectionHandle) -> Vec<ConnectionId> {
    endpoint.connection(handle).unwrap().remote_cids().collect()
}

// RFC 9000 §5.1.1 (test): once the handshake is confirmed each side gives
// the other as many IDs as both limits allow (4, the handshake's
// included), each routed to its own connection.
#[test]
fn each_side_issues_ids_up_to_the_limit_each_routed_to_its_connection() {
    let mut net = Net::new(31);
    let clients = connected_net(&mut net, 2);
    let mut all = Vec::new();
    for (n, &client) in clients.iter().enumerate() {
        let server = server_conn(&net, n);
        for (endpoint, handle, peer, peer_handle) in [
            (&net.client, client, &net.server, server),
            (&net.server, server, &net.client, client),
        ] {
            let ids = local_ids(endpoint, handle);
            assert_eq!(ids.len(), 4, "{ids:?}");
            assert_eq!(remote_ids(peer, peer_handle), ids, "the peer holds them");
            for id in &ids {
                assert_eq!(endpoint.connections.route(id), Some(handle), "{id}");
            }
            all.extend(ids);
        }
    }
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "every id is unique");
}

// RFC 9000 §5.1.1 (test): the peer's active_connection_id_limit caps what
// we issue, below our own setting.
#[test]
fn the_peers_limit_caps_what_is_issued() {
    let mut net = Net::new(32);
    let (mut config, _) = configs();
    config.transport = Arc::new(TransportConfig {
        active_connection_id_limit: 2,
        issued_connection_ids: 8,
        ..TransportConfig::default()
    });
    let client = net
        .client
        .connect(net.now, &config, SERVER, "localhost")
        .unwrap();
    assert!(
        net.run_until(Duration::from_secs(5), |net| connected(net, client)
            && agreed(net, &[client]))
    );
    let server = server_conn(&net, 0);
    assert_eq!(
        local_ids(&net.server, server).len(),
        2,
        "the client's limit"
    );
    assert_eq!(
        local_ids(&net.client, client).len(),
        4,
        "the server's default"
    );
}

// RFC 9000 §5.1.2 (test): a rotation the owner asks for through
// `connection_mut` gets new IDs routed and announced; the peer moves to
// them and retires the old ones, which stop routing.
#[test]
fn a_rotation_through_connection_mut_replaces_every_route() {
    let mut net = Net::new(33);
    net.echo = true;
    let client = connected_net(&mut net, 1)[0];
    let server = server_conn(&net, 0);
    let old = local_ids(&net.server, server);
    let original = net.server.connection(server).unwrap().original_dcid();
    assert!(net.server.connection_mut(server).unwrap().rotate_cids());
    assert!(
        !net.server.connection_mut(server).unwrap().rotate_cids(),
        "one rotation at a time"
    );
    run_for(&mut net, Duration::from_millis(500));
    let new = local_ids(&net.server, server);
    assert_eq!(new.len(), 4);
    assert!(new.iter().all(|id| !old.contains(id)), "{old:?} {new:?}");
    assert_eq!(remote_ids(&net.client, client), new);
    let in_use = net.client.connection(client).unwrap().remote_cid();
    assert!(new.contains(&in_use));
    for id in &old {
        assert_eq!(net.server.connections.route(id), None, "{id} retired");
    }
    for id in &new {
        assert_eq!(net.server.connections.route(id), Some(server));
    }
    assert_eq!(net.server.connections.route(&original), Some(server));
    // The connection goes on over the new IDs.
    let conn = net.client.connection_mut(client).unwrap();
    let id = conn.open_stream(Dir::Bi).unwrap();
    conn.write_stream(id, Bytes::from_static(b"after the rotation"))
        .unwrap();
    conn.finish_stream(id).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.client_events.iter().any(|(h, event)| {
            *h == client
                && matches!(event, Event::Stream(StreamEvent::Readable { id: r }) if *r == id)
        })
    }));
    assert!(
        net.server.connection_mut(server).unwrap().rotate_cids(),
        "again"
    );
}

/// Makes each ID twice in a row: every other draw collides.
#[derive(Debug, Default)]
struct Stutter(AtomicU64);

impl ConnectionIdGenerator for Stutter {
    fn generate(&self, _rng: &mut dyn RngCore) -> ConnectionId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) / 2;
        ConnectionId::new(&n.to_be_bytes()).unwrap()
    }

    fn cid_len(&self) -> usize {
        8
    }
}

#[test]
fn an_id_already_routed_is_drawn_again() {
    let generator = Arc::new(Stutter::default());
    let mut net = Net::with_config(
        34,
        EndpointConfig {
            cid_generator: generator.clone(),
            ..EndpointConfig::default()
        },
    );
    let clients = connected_net(&mut net, 2);
    let mut ids = Vec::new();
    for (n, &client) in clients.iter().enumerate() {
        let server = server_conn(&net, n);
        assert_eq!(local_ids(&net.client, client).len(), 4);
        assert_eq!(local_ids(&net.server, server).len(), 4);
        ids.extend(local_ids(&net.server, server));
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "unique at the server");
    // 16 IDs were kept, 8 per endpoint; the collisions were drawn again.
    let draws = generator.0.load(Ordering::Relaxed);
    assert!(draws > 16, "{draws} draws");
}

/// Makes the same ID every time.
#[derive(Debug)]
struct Constant;

impl ConnectionIdGenerator for Constant {
    fn generate(&self, _rng: &mut dyn RngCore) -> ConnectionId {
        ConnectionId::new(&[0x42; 8]).unwrap()
    }

    fn cid_len(&self) -> usize {
        8
    }
}

#[test]
fn a_generator_that_runs_out_leaves_the_connection_short_not_stuck() {
    let mut net = Net::with_config(
        35,
        EndpointConfig {
            cid_generator: Arc::new(Constant),
            ..EndpointConfig::default()
        },
    );
    net.echo = true;
    let client = connected_net(&mut net, 1)[0];
    let server = server_conn(&net, 0);
    assert_eq!(local_ids(&net.server, server).len(), 1);
    assert_eq!(remote_ids(&net.client, client).len(), 1);
    let conn = net.client.connection_mut(client).unwrap();
    let id = conn.open_stream(Dir::Bi).unwrap();
    conn.write_stream(id, Bytes::from_static(b"still works"))
        .unwrap();
    conn.finish_stream(id).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.client_events.iter().any(|(h, event)| {
            *h == client && matches!(event, Event::Stream(StreamEvent::Readable { .. }))
        })
    }));
}

// RFC 9000 §5.1.1 (test): endpoints using zero-length IDs issue none, and
// send no NEW_CONNECTION_ID.
#[test]
fn zero_length_ids_issue_none() {
    let mut net = Net::with_config(
        36,
        EndpointConfig {
            cid_generator: Arc::new(RandomConnectionIdGenerator::new(0).unwrap()),
            ..EndpointConfig::default()
        },
    );
    let client = connected_net(&mut net, 1)[0];
    let server = server_conn(&net, 0);
    for (endpoint, handle) in [(&net.client, client), (&net.server, server)] {
        assert_eq!(local_ids(endpoint, handle), [ConnectionId::EMPTY]);
        assert_eq!(remote_ids(endpoint, handle), [ConnectionId::EMPTY]);
        assert!(!endpoint.connection(handle).unwrap().is_closed());
    }
}
