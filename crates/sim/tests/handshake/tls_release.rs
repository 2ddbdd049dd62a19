//! The server's TLS session is really freed after the handshake, and kept
//! with `retain_tls_state(true)`: counted by the references to shared
//! configuration that each live session holds.

use std::{sync::Arc, time::Duration};

use rustls::CipherSuite;
use tern_proto::{
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::cipher_suite::TLS13_AES_128_GCM_SHA256,
    endpoint::ConnectionHandle,
};
use tern_sim::{
    LinkConfig, certs,
    pair::{CLIENT, Pair, SERVER},
    quic::SERVER_ADDR,
};

/// Connections the client opens at once.
const CONNECTIONS: usize = 3;

struct Setup {
    pair: Pair,
    clients: Vec<ConnectionHandle>,
    /// The rustls server configuration, shared with the endpoint.
    rustls: Arc<rustls::ServerConfig>,
    /// The server's handshake cipher suites: every Tern server session holds
    /// a reference to them for as long as it lives.
    suites: Arc<[CipherSuite]>,
}

fn setup(seed: u64, retain: bool) -> Setup {
    let (client_tls, server_tls) =
        certs::test_configs_with_suite(&[b"hq-interop"], TLS13_AES_128_GCM_SHA256);
    let rustls = server_tls.clone();
    let server_config = ServerConfig::new(server_tls)
        .expect("server config")
        .handshake_cipher_suites(&[CipherSuite::TLS13_AES_128_GCM_SHA256])
        .expect("the test server prefers AES-128-GCM")
        .retain_tls_state(retain);
    let suites = server_config
        .handshake_cipher_suites
        .clone()
        .expect("suites set");
    let client_config = ClientConfig::new(client_tls).expect("client config");
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(
        seed,
        link,
        client_config.clone(),
        server_config,
        EndpointConfig::default(),
    );
    let now = pair.sim.now();
    let mut clients = vec![pair.state.client_conn];
    for _ in 1..CONNECTIONS {
        let handle = pair
            .sim
            .node_mut(CLIENT)
            .connect(now, &client_config, SERVER_ADDR, "localhost")
            .expect("connect");
        clients.push(handle);
    }
    Setup {
        pair,
        clients,
        rustls,
        suites,
    }
}

/// Runs until every client connection confirmed its handshake and the
/// server settled (tickets acknowledged).
fn settle(setup: &mut Setup) {
    let clients = setup.clients.clone();
    let outcome = setup.pair.run_until(Duration::from_secs(10), |view| {
        let client = view.sim.node(CLIENT);
        clients.iter().all(|&h| {
            client
                .connection(h)
                .is_some_and(tern_proto::connection::Connection::is_handshake_confirmed)
        })
    });
    assert!(outcome.is_satisfied());
    let _ = setup.pair.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(setup.pair.sim.node(SERVER).connection_count(), CONNECTIONS);
}

#[test]
fn each_server_tls_session_is_freed_after_the_handshake_and_the_snapshot_stays() {
    let mut setup = setup(41, false);
    // Ours, the Tern config's, and nothing else yet.
    let (rustls_base, suites_base) = (
        Arc::strong_count(&setup.rustls),
        Arc::strong_count(&setup.suites),
    );
    // The server accepts the three clients at once: one session each.
    let (rustls, suites) = (setup.rustls.clone(), setup.suites.clone());
    let outcome = setup.pair.run_until(Duration::from_millis(30), |_| {
        Arc::strong_count(&suites) == suites_base + 1 + CONNECTIONS
    });
    assert!(outcome.is_satisfied(), "three live sessions");
    assert_eq!(
        Arc::strong_count(&rustls),
        rustls_base + 1 + CONNECTIONS,
        "each rustls session holds its config while it handshakes"
    );
    drop((rustls, suites));
    settle(&mut setup);
    assert_eq!(
        Arc::strong_count(&setup.suites),
        suites_base,
        "every server session was freed"
    );
    assert_eq!(Arc::strong_count(&setup.rustls), rustls_base);
    let view = setup.pair.view();
    let server = view.server().expect("server connection");
    assert!(!server.tls_state_retained());
    let info = server.handshake_info().expect("the snapshot survives");
    assert_eq!(info.alpn(), Some(&b"hq-interop"[..]));
    assert_eq!(
        info.cipher_suite().map(|s| s.name),
        Some("TLS13_AES_128_GCM_SHA256")
    );
}

#[test]
fn retained_server_tls_sessions_stay_alive() {
    let mut setup = setup(42, true);
    let (rustls_base, suites_base) = (
        Arc::strong_count(&setup.rustls),
        Arc::strong_count(&setup.suites),
    );
    settle(&mut setup);
    assert_eq!(
        Arc::strong_count(&setup.suites),
        suites_base + CONNECTIONS,
        "every server session is still held"
    );
    // rustls itself lets go of its config once it has read the client's
    // Finished, retained or not: its count says nothing about retention.
    assert_eq!(Arc::strong_count(&setup.rustls), rustls_base);
    let view = setup.pair.view();
    let server = view.server().expect("server connection");
    assert!(server.tls_state_retained());
    let mut out = [0; 16];
    server
        .export_keying_material(&mut out, b"EXPORTER-test", None)
        .expect("a retained session exports");
}
