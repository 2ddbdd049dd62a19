//! The server's preferred address (RFC 9000 §9.6): a server on a wildcard
//! socket offers a second address of its host; the client validates it
//! once the handshake is confirmed and moves there, and the server's first
//! address can go silent.

use std::{
    net::{SocketAddr, SocketAddrV4},
    sync::Arc,
    time::Duration,
};

use tern_proto::config::{
    ClientConfig, EndpointConfig, PreferredAddresses, ServerConfig, TransportConfig,
};
use tern_sim::{
    LinkConfig, TraceEvent, certs,
    pair::{Pair, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::upload;

/// The server host's second address, on the same port.
const PREFERRED: SocketAddrV4 = SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 5), 4433);

/// A pair whose server, on a wildcard socket answering at [`SERVER_ADDR`]
/// and [`PREFERRED`], offers [`PREFERRED`]; the client follows preferred
/// addresses when `follow`.
fn pair_with_preferred_address(seed: u64, follow: bool) -> Pair {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let server_config = ServerConfig::new(server_tls)
        .expect("the test tls config runs quic")
        .preferred_addresses(PreferredAddresses {
            ipv4: Some(PREFERRED),
            ipv6: None,
        });
    let mut client_config = ClientConfig::new(client_tls).expect("the test tls config runs quic");
    client_config.transport = Arc::new(TransportConfig {
        follow_preferred_address: follow,
        ..TransportConfig::default()
    });
    let mut pair = Pair::with_wildcard_sockets(
        seed,
        LinkConfig::default(),
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    pair.sim.add_address(SERVER, SocketAddr::V4(PREFERRED));
    pair
}

/// Datagrams the client sent to `to` in the trace.
fn client_datagrams_to(trace: &[TraceEvent], to: SocketAddr) -> usize {
    trace
        .iter()
        .filter(|e| matches!(e, TraceEvent::Sent { from, to: t, .. } if *from == CLIENT_ADDR && *t == to))
        .count()
}

// RFC 9000 §9.6 (test): the client validates the preferred address and
// moves there; from then on its datagrams go there, and the server's first
// address can go silent while a transfer completes.
#[test]
fn a_client_moves_to_the_preferred_address_and_the_old_one_can_go_silent() {
    let mut pair = pair_with_preferred_address(41, true);
    assert!(pair.connect(Duration::from_secs(5)));
    let info = pair
        .view()
        .client()
        .and_then(|c| c.handshake_info().cloned());
    let preferred = SocketAddr::V4(PREFERRED);
    let outcome = pair.run_until(Duration::from_secs(5), |view| {
        view.client()
            .is_some_and(|c| c.remote_address() == preferred)
            && view.server().is_some_and(|s| s.stats().migrations > 0)
    });
    assert!(
        outcome.is_satisfied(),
        "the client moved, and the server followed"
    );
    let client = pair.view().client().map(|c| c.stats()).expect("client");
    assert_eq!(client.paths_validated, 1);
    // The first address goes silent: nothing reaches it or leaves it.
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, |_| true);
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, |_| true);
    pair.sim.record_trace(true);
    assert!(
        upload(&mut pair, 200_000),
        "the transfer went on at the new address"
    );
    let trace = pair.sim.trace();
    assert!(client_datagrams_to(trace, preferred) > 100);
    assert_eq!(client_datagrams_to(trace, SERVER_ADDR), 0);
    let view = pair.view();
    let client = view.client().expect("client");
    assert!(Arc::ptr_eq(
        client.handshake_info().expect("snapshot"),
        info.as_ref().expect("taken before")
    ));
    assert!(!client.is_closed());
}

// RFC 9000 §9.6 (test): a client configured not to follow stays at the
// address it connected to.
#[test]
fn a_client_that_does_not_follow_stays() {
    let mut pair = pair_with_preferred_address(42, false);
    assert!(pair.connect(Duration::from_secs(5)));
    pair.sim.record_trace(true);
    assert!(upload(&mut pair, 50_000));
    let to_preferred = client_datagrams_to(pair.sim.trace(), SocketAddr::V4(PREFERRED));
    assert_eq!(to_preferred, 0);
    let view = pair.view();
    assert_eq!(view.client().map(|c| c.remote_address()), Some(SERVER_ADDR));
}
