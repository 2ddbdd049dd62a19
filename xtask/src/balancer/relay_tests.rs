//! The relay on loopback with plain UDP sockets as clients and backends.

use std::{
    collections::HashMap,
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use super::*;
use crate::balancer::{
    decode::{Decoder, LbConfig},
    route::Mode,
};

/// Long enough that a lost datagram fails the test rather than hangs it.
const WAIT: Duration = Duration::from_secs(5);

fn socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    socket
}

fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = socket.recv_from(&mut buf).expect("a datagram in time");
    (buf[..n].to_vec(), from)
}

/// Three backends with server IDs 1, 2, 3 (one octet, 4-octet nonce, no
/// key), and a balancer in `mode` in front of them.
fn setup(mode: Mode) -> (Vec<UdpSocket>, Router, Balancer) {
    let backends: Vec<UdpSocket> = (0..3).map(|_| socket()).collect();
    let mut config = LbConfig::new(0, 1, 4, None).expect("config");
    for (sid, backend) in (1u8..).zip(&backends) {
        config
            .add_server(&[sid], backend.local_addr().expect("addr"))
            .expect("sid");
    }
    let mut decoder = Decoder::default();
    decoder.insert(config);
    let addrs = backends
        .iter()
        .map(|b| b.local_addr().expect("addr"))
        .collect();
    let router = Router::new(decoder, addrs, 6, mode, 1).expect("router");
    let balancer = Balancer::start(
        "127.0.0.1:0".parse().expect("addr"),
        router.clone(),
        Duration::from_secs(60),
    )
    .expect("start");
    (backends, router, balancer)
}

/// A short header packet to the CID of server `sid`.
fn to_server(sid: u8, tag: u8) -> Vec<u8> {
    vec![0x40, 0x05, sid, tag, 0, 0, 0, 0xee]
}

/// A client Initial with a DCID no configuration claims (config 0b101).
fn initial(dcid_tag: u8) -> Vec<u8> {
    let mut packet = vec![0xc0, 0, 0, 0, 1, 8, 0xa7, dcid_tag, 1, 2, 3, 4, 5, 6, 0];
    packet.extend_from_slice(&[0u8; 20]);
    packet
}

#[test]
fn datagrams_reach_the_server_their_cid_names_and_replies_come_back() {
    let (backends, _, balancer) = setup(Mode::Cid);
    let front = balancer.local_addr();
    let (a, b) = (socket(), socket());

    a.send_to(&to_server(2, 1), front).expect("send");
    let (data, seen_a) = recv(&backends[1]);
    assert_eq!(data, to_server(2, 1));
    // The backend sees the balancer's upstream socket, not the client...
    assert_ne!(seen_a, a.local_addr().expect("addr"));
    backends[1].send_to(b"reply", seen_a).expect("reply");
    // ...and its reply reaches the client from the front address.
    assert_eq!(recv(&a), (b"reply".to_vec(), front));

    // Another client to the same server is another address there.
    b.send_to(&to_server(2, 2), front).expect("send");
    let (_, seen_b) = recv(&backends[1]);
    assert_ne!(seen_b, seen_a);

    // Server 3's CID from client a goes out of a's upstream socket.
    a.send_to(&to_server(3, 3), front).expect("send");
    let (data, seen) = recv(&backends[2]);
    assert_eq!((data, seen), (to_server(3, 3), seen_a));

    let report = balancer.stop();
    assert_eq!(report.routed_by_cid, 3);
    assert_eq!(report.per_backend, vec![0, 2, 1]);
    assert_eq!(report.replies, 1);
    assert_eq!(report.mappings_created, 2);
}

#[test]
fn an_unroutable_dcid_goes_to_the_fallbacks_backend_every_time() {
    let (backends, router, balancer) = setup(Mode::Cid);
    let front = balancer.local_addr();
    let (a, b) = (socket(), socket());
    for tag in 0..6 {
        let packet = initial(tag);
        let expected = router
            .route(&packet, a.local_addr().expect("addr"))
            .expect("routed");
        // The first Initial, then a retransmission after a rebinding.
        a.send_to(&packet, front).expect("send");
        b.send_to(&packet, front).expect("send");
        assert_eq!(recv(&backends[expected.backend]).0, packet);
        assert_eq!(recv(&backends[expected.backend]).0, packet);
    }
    // Garbage goes nowhere.
    a.send_to(&[0xc0, 0, 0], front).expect("send");
    a.send_to(&to_server(1, 9), front).expect("send");
    recv(&backends[0]);
    let report = balancer.stop();
    assert_eq!(report.routed_by_fallback, 12);
    assert_eq!(report.fallback_reasons.get("UnknownConfig"), Some(&12));
    assert_eq!(report.dropped, 1);
}

#[test]
fn the_4tuple_mode_sends_a_client_to_one_backend_whatever_its_cid() {
    let (backends, router, balancer) = setup(Mode::FourTuple);
    let front = balancer.local_addr();
    let a = socket();
    let expected = router
        .route(&to_server(1, 0), a.local_addr().expect("addr"))
        .expect("routed")
        .backend;
    for sid in 1..=3 {
        a.send_to(&to_server(sid, sid), front).expect("send");
        assert_eq!(recv(&backends[expected]).0, to_server(sid, sid));
    }
    let report = balancer.stop();
    assert_eq!(report.routed_by_4tuple, 3);
    assert_eq!(report.per_backend.iter().sum::<u64>(), 3);
}

#[test]
fn mappings_idle_for_longer_than_the_timeout_expire() {
    let start = crate::now();
    let idle = Duration::from_secs(30);
    let mut map: HashMap<SocketAddr, Instant> = HashMap::new();
    let (old, fresh) = (
        "127.0.0.1:1".parse().expect("addr"),
        "127.0.0.1:2".parse().expect("addr"),
    );
    map.insert(old, start);
    map.insert(fresh, start + Duration::from_secs(20));
    assert!(expire(&mut map, start + idle, idle, |t| *t).is_empty());
    let gone = expire(&mut map, start + Duration::from_secs(31), idle, |t| *t);
    assert_eq!(gone, vec![start]);
    assert_eq!(map.len(), 1);
    assert!(map.contains_key(&fresh));
}
