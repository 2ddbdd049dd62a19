//! `Connection::migrate` (RFC 9000 §9.2): a client on a wildcard socket
//! opens a path from another of its addresses, validates it, and moves;
//! the server validates the client's new address in turn.

use std::{net::SocketAddr, time::Duration};

use tern_proto::{
    config::{EndpointConfig, ServerConfig, TransportConfig},
    connection::MigrateError,
};
use tern_sim::{
    LinkConfig, certs,
    pair::{CLIENT, Pair},
    quic::CLIENT_ADDR,
};

/// The client host's second address.
const SECOND: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 6)),
    CLIENT_ADDR.port(),
);

fn wildcard_pair(seed: u64, server_transport: TransportConfig) -> Pair {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut server = ServerConfig::new(server_tls).expect("runs quic");
    server.transport = std::sync::Arc::new(server_transport);
    let client = tern_proto::config::ClientConfig::new(client_tls).expect("runs quic");
    let mut pair = Pair::with_wildcard_sockets(
        seed,
        LinkConfig::default(),
        client,
        server,
        EndpointConfig::default(),
    );
    pair.sim.add_address(CLIENT, SECOND);
    pair
}

// RFC 9000 §9.2, §8.2, §9.3 (test): the client validates its new path
// before moving; the server follows and validates the client's new
// address; both count one move.
#[test]
fn a_client_validates_a_path_from_its_second_address_then_moves() {
    let mut pair = wildcard_pair(51, TransportConfig::default());
    assert!(pair.connect(Duration::from_secs(5)));
    let now = pair.sim.now();
    pair.view()
        .client_mut()
        .expect("client")
        .migrate(now, SECOND.ip())
        .expect("a new path opens");
    let outcome = pair.run_until(Duration::from_secs(5), |view| {
        view.client().is_some_and(|c| c.stats().migrations == 1)
            && view
                .server()
                .is_some_and(|s| s.remote_address() == SECOND && s.stats().paths_validated == 1)
    });
    assert!(outcome.is_satisfied(), "both moved");
    let view = pair.view();
    let client = view.client().expect("client");
    assert_eq!(client.local_ip(), Some(SECOND.ip()));
    assert_eq!(client.stats().paths_validated, 1);
}

// RFC 9000 §9 (test): a client does not migrate before the handshake is
// confirmed, nor when the server asked it not to.
#[test]
fn migrate_is_refused_before_confirmation_and_when_the_server_disables_it() {
    let mut pair = wildcard_pair(52, TransportConfig::default());
    let now = pair.sim.now();
    assert_eq!(
        pair.view()
            .client_mut()
            .expect("client")
            .migrate(now, SECOND.ip()),
        Err(MigrateError::HandshakeNotConfirmed)
    );
    let disabled = TransportConfig {
        disable_active_migration: true,
        ..TransportConfig::default()
    };
    let mut pair = wildcard_pair(53, disabled);
    assert!(pair.connect(Duration::from_secs(5)));
    let now = pair.sim.now();
    assert_eq!(
        pair.view()
            .client_mut()
            .expect("client")
            .migrate(now, SECOND.ip()),
        Err(MigrateError::DisabledByPeer)
    );
}
