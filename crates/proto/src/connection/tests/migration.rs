//! RFC 9000 §8.2, §9: what a server does with a client's datagram from a
//! new address, and a client with a server's from another address, driven
//! by hand so that every datagram's path is chosen by the test.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use bytes::{Bytes, BytesMut};

use super::{CLIENT, ClientSetup, Pair, SERVER, ServerSetup, client, epoch, server};
use crate::Dir;

/// Where the client's NAT moved it.
const MOVED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), 61_000);

/// A confirmed pair, and the client's next datagram: stream data, which
/// is not a probing frame.
fn confirmed_pair_and_client_datagram() -> (Pair, BytesMut) {
    let now = epoch();
    let mut pair = Pair::new(
        now,
        client(now, ClientSetup::default()),
        server(now, ServerSetup::default()),
    );
    assert!(pair.confirm());
    let stream = pair.client.open_stream(Dir::Uni).expect("a stream");
    pair.client
        .write_stream(stream, Bytes::from_static(b"hello from elsewhere"))
        .expect("written");
    let mut buf = Vec::new();
    pair.client
        .poll_transmit(pair.now, 1, &mut buf)
        .expect("a datagram");
    (pair, BytesMut::from(&buf[..]))
}

/// Every datagram the server sends now, with where it goes.
fn server_sends(pair: &mut Pair) -> Vec<(SocketAddr, usize)> {
    let mut sent = Vec::new();
    loop {
        let mut buf = Vec::new();
        let Some(transmit) = pair.server.poll_transmit(pair.now, 1, &mut buf) else {
            return sent;
        };
        sent.push((transmit.destination, transmit.size));
    }
}

// RFC 9000 §9.3, §8.2.1, §9.3.1, §9.3.3 (test): a non-probing packet from a
// new address moves the server there; what it sends there is held to three
// times what it received from there, and it challenges the path it left.
#[test]
fn a_server_moves_to_a_new_address_within_three_times_and_challenges_both_paths() {
    let (mut pair, datagram) = confirmed_pair_and_client_datagram();
    let len = datagram.len();
    pair.server.handle_datagram(pair.now, MOVED, None, datagram);
    assert_eq!(pair.server.remote_address(), MOVED);
    assert_eq!(pair.server.stats().migrations, 1);
    let sent = server_sends(&mut pair);
    let to_moved: usize = sent
        .iter()
        .filter(|(to, _)| *to == MOVED)
        .map(|s| s.1)
        .sum();
    assert!(to_moved > 0, "the new address is challenged: {sent:?}");
    assert!(to_moved <= 3 * len, "{to_moved} bytes for {len} received");
    assert!(
        sent.iter().any(|(to, size)| *to == CLIENT && *size >= 1200),
        "the path left behind is challenged, in a full datagram: {sent:?}"
    );
}

// RFC 9000 §8.2.4, §9.3.2, §9.3.1 (test): a new path whose challenges go
// unanswered fails after three PTOs, and the server goes back to the last
// validated path; meanwhile it never sent the new address more than three
// times what came from it.
#[test]
fn an_unanswered_validation_fails_and_the_server_goes_back() {
    let (mut pair, datagram) = confirmed_pair_and_client_datagram();
    let len = datagram.len();
    let start = pair.now;
    pair.server.handle_datagram(pair.now, MOVED, None, datagram);
    let mut to_moved = 0;
    let end = pair.now + Duration::from_secs(10);
    while pair.now < end && pair.server.remote_address() == MOVED {
        to_moved += server_sends(&mut pair)
            .iter()
            .filter(|(to, _)| *to == MOVED)
            .map(|s| s.1)
            .sum::<usize>();
        let Some(next) = pair.server.poll_timeout() else {
            break;
        };
        pair.now = next.max(pair.now);
        pair.server.handle_timeout(pair.now);
    }
    assert_eq!(pair.server.remote_address(), CLIENT, "back on the old path");
    let stats = pair.server.stats();
    assert_eq!(stats.path_validations_failed, 1);
    assert_eq!(stats.paths_validated, 0);
    assert!(to_moved > 0 && to_moved <= 3 * len, "{to_moved} for {len}");
    assert!(
        pair.now - start < Duration::from_secs(5),
        "{:?}",
        pair.now - start
    );
    assert!(!pair.server.is_closed());
}

// RFC 9000 §9 (test): a client drops what comes from a server address
// other than the one it connected to.
#[test]
fn a_client_drops_datagrams_from_another_server_address() {
    let (mut pair, datagram) = confirmed_pair_and_client_datagram();
    pair.server
        .handle_datagram(pair.now, CLIENT, None, datagram);
    let stream = pair.server.open_stream(Dir::Uni).expect("a stream");
    pair.server
        .write_stream(stream, Bytes::from_static(b"from the server"))
        .expect("written");
    let mut buf = Vec::new();
    pair.server
        .poll_transmit(pair.now, 1, &mut buf)
        .expect("a datagram");
    let received = pair.client.stats().packets_received;
    let elsewhere = SocketAddr::new(SERVER.ip(), SERVER.port() + 1);
    pair.client
        .handle_datagram(pair.now, elsewhere, None, BytesMut::from(&buf[..]));
    assert_eq!(pair.client.stats().packets_received, received);
    assert_eq!(pair.client.remote_address(), SERVER);
}

// RFC 9000 §9 (test): before the handshake is confirmed a server drops
// datagrams from any address but its client's.
#[test]
fn a_server_drops_new_addresses_before_the_handshake_is_confirmed() {
    let now = epoch();
    let mut client = client(now, ClientSetup::default());
    let mut server = server(now, ServerSetup::default());
    let mut buf = Vec::new();
    client.poll_transmit(now, 1, &mut buf).expect("the Initial");
    server.handle_datagram(now, MOVED, None, BytesMut::from(&buf[..]));
    assert_eq!(server.stats().packets_received, 0);
    assert_eq!(server.remote_address(), CLIENT);
}

// RFC 9000 §8.2.1 (test): challenge data is unpredictable: no two
// challenges of a connection repeat, and connections with different keys
// draw different data.
#[test]
fn challenge_data_never_repeats_and_depends_on_the_key() {
    let now = epoch();
    let mut a = server(now, ServerSetup::default());
    let mut b = server(now, ServerSetup::default());
    b.challenge_key = [9; 16];
    let drawn: Vec<[u8; 8]> = (0..64).map(|_| a.next_challenge()).collect();
    let mut unique = drawn.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), drawn.len());
    assert!((0..64).all(|i| b.next_challenge() != drawn[i]));
}
