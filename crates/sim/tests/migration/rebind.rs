//! `Endpoint::rebind` (RFC 9000 §9.2): the client's endpoint moves to a
//! new socket, and its connection moves with it.

use std::{net::SocketAddr, time::Duration};

use tern_proto::config::{EndpointConfig, TransportConfig};
use tern_sim::{
    LinkConfig,
    pair::{CLIENT, Pair},
    quic::CLIENT_ADDR,
};

use crate::upload;

/// The client's new socket.
const NEW_SOCKET: SocketAddr = SocketAddr::new(CLIENT_ADDR.ip(), 51_000);

fn pair(seed: u64) -> Pair {
    Pair::new(
        seed,
        LinkConfig::default().delay(Duration::from_millis(20)),
        TransportConfig::default(),
        EndpointConfig::default(),
    )
}

/// Moves the client's endpoint, and its address on the network, to `to`.
fn rebind_client(pair: &mut Pair, to: SocketAddr) {
    let now = pair.sim.now();
    pair.sim.node_mut(CLIENT).rebind(now, Some(to));
    pair.sim.rebind(CLIENT, to);
}

// RFC 9000 §9.2, §9.5 (test): after a rebinding the client's packets come
// from the new socket, to a connection ID of the server's it had not used;
// the server follows.
#[test]
fn a_rebound_client_moves_to_a_fresh_connection_id_and_the_server_follows() {
    let mut pair = pair(61);
    assert!(pair.connect(Duration::from_secs(5)));
    // Let the server's NEW_CONNECTION_ID frames arrive.
    assert!(upload(&mut pair, 10_000));
    let before = pair
        .view()
        .client()
        .map(|c| c.remote_cid())
        .expect("client");
    rebind_client(&mut pair, NEW_SOCKET);
    assert!(upload(&mut pair, 100_000), "the transfer goes on");
    let view = pair.view();
    let client = view.client().expect("client");
    assert_ne!(client.remote_cid(), before, "a fresh connection id (§9.5)");
    assert_eq!(client.stats().migrations, 1);
    let server = view.server().expect("server");
    assert_eq!(server.remote_address(), NEW_SOCKET);
    assert_eq!(server.stats().paths_validated, 1);
}

// RFC 9000 §9 (test): a quiet client whose socket moves after its
// handshake completed but before HANDSHAKE_DONE arrived still reaches the
// server, which follows once it is confirmed, with no application data to
// carry it there: no wait for the idle timeout.
#[test]
fn a_quiet_client_rebinding_before_handshake_done_arrives_still_moves() {
    let mut pair = pair(62);
    let outcome = pair.run_until(Duration::from_secs(5), |view| {
        view.client()
            .is_some_and(|c| c.handshake_info().is_some() && !c.is_handshake_confirmed())
    });
    assert!(
        outcome.is_satisfied(),
        "the client completed, not confirmed"
    );
    rebind_client(&mut pair, NEW_SOCKET);
    let outcome = pair.run_until(Duration::from_secs(5), |view| {
        view.client().is_some_and(|c| c.is_handshake_confirmed())
            && view
                .server()
                .is_some_and(|s| s.remote_address() == NEW_SOCKET)
    });
    assert!(outcome.is_satisfied(), "confirmed, and the server followed");
}
