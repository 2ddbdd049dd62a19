//! A PING-only packet (a probe, most often) is answered with an ACK that
//! loss recovery repeats: when the answer is lost, the peer still learns
//! what arrived without sending anything more.

use std::{cell::Cell, rc::Rc, sync::Arc, time::Duration};

use tern_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use tern_sim::{
    certs,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{LIMIT, link};

fn is_short_header(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0x80 == 0)
}

#[test]
fn an_answer_to_a_ping_survives_three_losses_in_a_row() {
    // The client sends a keep-alive PING (nothing else) after 2 s of quiet.
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut client_config = ClientConfig::new(client_tls).expect("the test tls config runs quic");
    client_config.transport = Arc::new(TransportConfig {
        keep_alive_interval: Some(Duration::from_secs(2)),
        ..TransportConfig::default()
    });
    let server_config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    let mut pair = Pair::with_configs(
        5,
        link(),
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    let _ = pair.run_until(Duration::from_millis(500), |_| false);
    let received_before = pair
        .view()
        .client()
        .expect("client")
        .stats()
        .packets_received;

    // From now on only the client's next 1-RTT datagram (the PING) gets
    // through, so its own probes cannot ask again; and the server's first
    // three answers are lost.
    let mut client_sent = 0;
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |datagram| {
        if !is_short_header(datagram) {
            return false;
        }
        client_sent += 1;
        client_sent > 1
    });
    let server_dropped = Rc::new(Cell::new(0));
    let dropped = server_dropped.clone();
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, move |datagram| {
        if !is_short_header(datagram) || dropped.get() == 3 {
            return false;
        }
        dropped.set(dropped.get() + 1);
        true
    });

    let outcome = pair.run_until(Duration::from_secs(10), |view| {
        view.client()
            .is_some_and(|c| c.stats().packets_received > received_before)
    });
    assert_eq!(server_dropped.get(), 3, "the server answered three times");
    assert!(
        outcome.is_satisfied(),
        "the fourth answer reaches the client: {outcome:?}"
    );
}
