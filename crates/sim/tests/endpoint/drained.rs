//! A connection that finished leaves a final record with the endpoint,
//! which drops the connection itself.

use std::time::Duration;

use bytes::Bytes;
use tern_proto::{
    TransportErrorCode, VarInt,
    config::{EndpointConfig, TransportConfig},
    connection::{Closer, ConnectionError},
};
use tern_sim::{
    LinkConfig,
    pair::{CLIENT, Pair, SERVER},
};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_finished_connection_leaves_its_final_record() {
    let mut pair = Pair::new(
        70,
        LinkConfig::default(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    let server_handle = pair.state.server_conn.expect("accepted");
    let client_handle = pair.state.client_conn;
    let now = pair.sim.now();
    pair.view().client_mut().expect("client").close(
        now,
        VarInt::from_u32(42),
        Bytes::from_static(b"bye"),
    );
    let outcome = pair.run_until(LIMIT, |view| {
        view.client().is_none() && view.server().is_none()
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");

    let server = pair.sim.node_mut(SERVER);
    let record = server.poll_drained().expect("the server's record");
    assert!(server.poll_drained().is_none(), "one record per connection");
    assert!(server.connection(server_handle).is_none(), "dropped");
    assert_eq!(record.handle, server_handle);
    assert_eq!(
        record.error,
        Some(ConnectionError::Application {
            code: VarInt::from_u32(42),
            reason: Bytes::from_static(b"bye"),
            closed_by: Closer::Peer,
        })
    );
    let info = record.handshake_info.expect("the handshake completed");
    assert_eq!(info.alpn(), Some(&b"hq-interop"[..]));
    assert!(record.stats.packets_received > 0);

    let client = pair.sim.node_mut(CLIENT);
    let record = client.poll_drained().expect("the client's record");
    assert_eq!(record.handle, client_handle);
    assert_eq!(record.error, Some(ConnectionError::LocallyClosed));
}

#[test]
fn a_refused_client_is_recorded_with_the_refusal() {
    let mut pair = Pair::new(
        71,
        LinkConfig::default(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    pair.state.auto_accept = false;
    let outcome = pair.run_until(LIMIT, |view| {
        let server = view.sim.node_mut(SERVER);
        while let Some(id) = server.poll_incoming() {
            server.refuse_incoming(id);
        }
        view.client().is_none()
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let record = pair
        .sim
        .node_mut(CLIENT)
        .poll_drained()
        .expect("the client's record");
    assert!(record.handshake_info.is_none());
    let Some(ConnectionError::Transport { error, closed_by }) = record.error else {
        panic!("expected the refusal: {:?}", record.error);
    };
    assert_eq!(error.code, TransportErrorCode::CONNECTION_REFUSED);
    assert_eq!(closed_by, Closer::Peer);
}
