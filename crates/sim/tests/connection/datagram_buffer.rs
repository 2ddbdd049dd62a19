//! The datagram send queue's byte bound, and sending without dropping
//! (`try_send_datagram`, `DatagramsUnblocked`).

use bytes::Bytes;
use tern_proto::{
    config::{EndpointConfig, TransportConfig},
    connection::{Event, SendDatagramError},
};
use tern_sim::pair::Pair;

use crate::{LIMIT, connected};

/// A transport whose datagram send queue holds 1000 bytes.
fn small_buffer() -> TransportConfig {
    TransportConfig {
        datagram_send_buffer_size: 1000,
        ..TransportConfig::default()
    }
}

fn unblocked_events(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::DatagramsUnblocked))
        .count()
}

/// Runs until the server has received `count` datagrams; returns their
/// first bytes.
fn receive(pair: &mut Pair, count: usize) -> Vec<u8> {
    let mut received = Vec::new();
    let outcome = pair.run_until(LIMIT, |view| {
        while let Some(d) = view.server_mut().and_then(|c| c.recv_datagram()) {
            received.push(d[0]);
        }
        received.len() >= count
    });
    assert!(outcome.is_satisfied(), "{received:?}");
    received
}

#[test]
fn send_datagram_drops_the_oldest_to_stay_within_the_byte_bound() {
    let mut pair = connected(21, small_buffer(), EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.datagram_send_buffer_space(), 1000);
    for i in 0..5_u8 {
        client
            .send_datagram(Bytes::from(vec![i; 300]))
            .expect("queued");
    }
    // Three of 300 bytes fit in 1000; the two oldest made room.
    assert_eq!(client.stats().datagrams_dropped, 2);
    assert_eq!(client.datagram_send_buffer_space(), 100);
    assert_eq!(receive(&mut pair, 3), vec![2, 3, 4]);
    assert_eq!(
        unblocked_events(&pair.state.client_events),
        0,
        "nothing was refused, so nothing is unblocked"
    );
    let view = pair.view();
    let client = view.client().expect("client");
    assert_eq!(client.datagram_send_buffer_space(), 1000, "all sent");
}

#[test]
fn try_send_datagram_refuses_a_datagram_that_does_not_fit_and_says_when_room_frees() {
    let mut pair = connected(22, small_buffer(), EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    for i in 0..3_u8 {
        client
            .try_send_datagram(Bytes::from(vec![i; 300]))
            .expect("fits");
    }
    assert_eq!(
        client.try_send_datagram(Bytes::from(vec![3; 300])),
        Err(SendDatagramError::Blocked)
    );
    // A second refusal before anything is sent asks for no second event.
    assert_eq!(
        client.try_send_datagram(Bytes::from(vec![3; 200])),
        Err(SendDatagramError::Blocked)
    );
    // What does fit is still taken.
    client
        .try_send_datagram(Bytes::from(vec![4; 100]))
        .expect("100 bytes fit exactly");
    assert_eq!(client.datagram_send_buffer_space(), 0);
    assert_eq!(client.stats().datagrams_dropped, 0, "nothing dropped");
    assert_eq!(receive(&mut pair, 4), vec![0, 1, 2, 4]);
    assert_eq!(unblocked_events(&pair.state.client_events), 1);
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    client
        .try_send_datagram(Bytes::from(vec![5; 300]))
        .expect("room again");
    assert_eq!(receive(&mut pair, 1), vec![5]);
    assert_eq!(
        unblocked_events(&pair.state.client_events),
        1,
        "no refusal since, so no second event"
    );
}

#[test]
fn try_send_datagram_honours_the_count_bound_too() {
    let transport = TransportConfig {
        datagram_send_queue: 2,
        ..TransportConfig::default()
    };
    let mut pair = connected(23, transport, EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    client
        .try_send_datagram(Bytes::from_static(b"a"))
        .expect("fits");
    client
        .try_send_datagram(Bytes::from_static(b"b"))
        .expect("fits");
    assert_eq!(
        client.datagram_send_buffer_space(),
        0,
        "the count is reached"
    );
    assert_eq!(
        client.try_send_datagram(Bytes::from_static(b"c")),
        Err(SendDatagramError::Blocked)
    );
    assert_eq!(receive(&mut pair, 2), b"ab".to_vec());
    assert_eq!(unblocked_events(&pair.state.client_events), 1);
}

#[test]
fn a_datagram_larger_than_the_whole_buffer_is_too_large() {
    let transport = TransportConfig {
        datagram_send_buffer_size: 500,
        ..TransportConfig::default()
    };
    let mut pair = connected(24, transport, EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.max_datagram_size(), Some(500));
    assert_eq!(
        client.try_send_datagram(Bytes::from(vec![0; 501])),
        Err(SendDatagramError::TooLarge { max: 500 })
    );
    assert_eq!(
        client.send_datagram(Bytes::from(vec![0; 501])),
        Err(SendDatagramError::TooLarge { max: 500 })
    );
}

#[test]
fn no_buffer_space_is_reported_when_the_peer_refuses_datagrams() {
    let transport = TransportConfig {
        max_datagram_frame_size: None,
        ..TransportConfig::default()
    };
    let mut pair = connected(25, transport, EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.datagram_send_buffer_space(), 0);
    assert_eq!(
        client.try_send_datagram(Bytes::from_static(b"x")),
        Err(SendDatagramError::UnsupportedByPeer)
    );
}
