//! Unreliable datagrams (RFC 9221).

use bytes::Bytes;
use tern_proto::{
    config::{EndpointConfig, TransportConfig},
    connection::{Event, SendDatagramError},
};

use crate::{LIMIT, connected};

#[test]
fn datagrams_arrive_in_both_directions() {
    let mut pair = connected(1, TransportConfig::default(), EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let max = client
        .max_datagram_size()
        .expect("the server accepts datagrams");
    assert!(
        max > 1000 && max < 1200,
        "a datagram fits one packet: {max}"
    );
    client
        .send_datagram(Bytes::from_static(b"ping"))
        .expect("queued");
    view.server_mut()
        .expect("server")
        .send_datagram(Bytes::from_static(b"pong"))
        .expect("queued");
    let mut got = (None, None);
    let outcome = pair.run_until(LIMIT, |view| {
        if got.0.is_none() {
            got.0 = view.server_mut().and_then(|c| c.recv_datagram());
        }
        if got.1.is_none() {
            got.1 = view.client_mut().and_then(|c| c.recv_datagram());
        }
        got.0.is_some() && got.1.is_some()
    });
    assert!(outcome.is_satisfied());
    assert_eq!(
        got,
        (
            Some(Bytes::from_static(b"ping")),
            Some(Bytes::from_static(b"pong"))
        )
    );
    assert!(
        pair.state
            .server_events
            .iter()
            .any(|e| matches!(e, Event::DatagramReceived))
    );
}

#[test]
fn a_datagram_too_large_is_refused_with_the_limit() {
    let mut pair = connected(2, TransportConfig::default(), EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let max = client.max_datagram_size().expect("supported");
    let err = client
        .send_datagram(Bytes::from(vec![0; max + 1]))
        .expect_err("too large");
    assert_eq!(err, SendDatagramError::TooLarge { max });
}

#[test]
fn a_peer_that_refuses_datagrams_is_reported() {
    let transport = TransportConfig {
        max_datagram_frame_size: None,
        ..TransportConfig::default()
    };
    let mut pair = connected(3, transport, EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.max_datagram_size(), None);
    assert_eq!(
        client.send_datagram(Bytes::from_static(b"x")),
        Err(SendDatagramError::UnsupportedByPeer)
    );
}

#[test]
fn the_send_queue_drops_the_oldest_when_full() {
    let transport = TransportConfig {
        datagram_send_queue: 2,
        ..TransportConfig::default()
    };
    let mut pair = connected(4, transport, EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    for i in 0..5_u8 {
        client.send_datagram(Bytes::from(vec![i])).expect("queued");
    }
    assert_eq!(client.stats().datagrams_dropped, 3);
    let mut received = Vec::new();
    let _ = pair.run_until(LIMIT, |view| {
        while let Some(d) = view.server_mut().and_then(|c| c.recv_datagram()) {
            received.push(d[0]);
        }
        received.len() == 2
    });
    assert_eq!(received, vec![3, 4], "the two newest were sent");
}
