//! 0-RTT datagrams that overtake their client's Initial: held, bounded,
//! expired, and handed to the connection after the Initial.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use bytes::{BufMut, BytesMut};
use rand::{RngCore, SeedableRng, rngs::StdRng};

use super::{LIFETIME, MAX_PER_DCID, OVERHEAD};
use crate::{
    ConnectionId,
    config::EndpointConfig,
    endpoint::{
        Endpoint,
        tests::{CLIENT, SERVER, configs, epoch, server_config_with_early_data},
    },
    packet::InvariantHeader,
};

fn server(early_data: bool, config: EndpointConfig) -> Endpoint {
    Endpoint::new(
        Arc::new(config),
        Some(server_config_with_early_data(early_data)),
        Some(SERVER),
        2,
    )
}

/// A client's first flight of Initial datagrams, and its DCID and SCID.
fn client_initials(seed: u64) -> (Vec<BytesMut>, ConnectionId, ConnectionId) {
    let (client_config, _) = configs();
    let mut client = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        Some(CLIENT),
        seed,
    );
    client
        .connect(epoch(), &client_config, SERVER, "localhost")
        .unwrap();
    let mut datagrams = Vec::new();
    let mut buf = Vec::new();
    while let Some(transmit) = client.poll_transmit(epoch(), 1, &mut buf) {
        datagrams.push(BytesMut::from(&buf[..transmit.size]));
        buf.clear();
    }
    let header = InvariantHeader::parse(&datagrams[0], 8).unwrap();
    let dcid = ConnectionId::new(header.dcid()).unwrap();
    let scid = ConnectionId::new(header.scid().unwrap()).unwrap();
    (datagrams, dcid, scid)
}

/// A QUIC v1 0-RTT packet of `size` bytes to `dcid` (RFC 9000 §17.2.3),
/// its packet number and payload made up: no keys open it, but the
/// endpoint reads only its header.
fn zero_rtt(dcid: &ConnectionId, scid: &ConnectionId, size: usize) -> BytesMut {
    let mut out = BytesMut::new();
    // Long header, fixed bit, type 0-RTT (0b01), 1-byte packet number.
    out.put_u8(0b1101_0000);
    out.put_u32(1);
    out.put_u8(u8::try_from(dcid.len()).unwrap());
    out.put_slice(dcid);
    out.put_u8(u8::try_from(scid.len()).unwrap());
    out.put_slice(scid);
    let rest = size - out.len() - 2;
    out.put_u16(0x4000 | u16::try_from(rest).unwrap());
    out.resize(size, 0x5a);
    out
}

#[test]
fn zero_rtt_before_its_initial_follows_it_to_the_connection() {
    let (initials, dcid, scid) = client_initials(1);
    let mut server = server(true, EndpointConfig::default());
    let now = epoch();
    for _ in 0..2 {
        server.handle(now, CLIENT, None, None, zero_rtt(&dcid, &scid, 1200));
    }
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_buffered, 2);
    assert_eq!(stats.early_zero_rtt_bytes, 2 * (1200 + OVERHEAD));
    assert_eq!(stats.dropped_datagrams, 0);
    assert_eq!(
        server.poll_incoming(),
        None,
        "0-RTT alone makes no incoming"
    );
    for initial in &initials {
        server.handle(now, CLIENT, None, None, initial.clone());
    }
    let id = server
        .poll_incoming()
        .expect("the Initial makes an incoming");
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_delivered, 2);
    assert_eq!(stats.early_zero_rtt_bytes, 0);
    let handle = server.accept_incoming(now, id, None).unwrap();
    let conn = server.connection(handle).unwrap();
    assert_eq!(
        conn.stats().datagrams_received,
        initials.len() as u64 + 2,
        "the Initials, then both 0-RTT datagrams"
    );
    assert_eq!(server.stats().dropped_datagrams, 0);
}

#[test]
fn zero_rtt_whose_initial_does_not_come_within_a_second_is_dropped() {
    let (initials, dcid, scid) = client_initials(2);
    let mut server = server(true, EndpointConfig::default());
    let now = epoch();
    server.handle(now, CLIENT, None, None, zero_rtt(&dcid, &scid, 300));
    assert_eq!(server.poll_timeout(), Some(now + LIFETIME));
    server.handle_timeout(now + LIFETIME - Duration::from_millis(1));
    assert_eq!(server.stats().early_zero_rtt_expired, 0);
    server.handle_timeout(now + LIFETIME);
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_expired, 1);
    assert_eq!(stats.early_zero_rtt_bytes, 0);
    assert_eq!(stats.dropped_datagrams, 1);
    assert_eq!(server.poll_timeout(), None);
    let later = now + LIFETIME;
    for initial in &initials {
        server.handle(later, CLIENT, None, None, initial.clone());
    }
    let id = server.poll_incoming().unwrap();
    let handle = server.accept_incoming(later, id, None).unwrap();
    let conn = server.connection(handle).unwrap();
    assert_eq!(conn.stats().datagrams_received, initials.len() as u64);
    assert_eq!(server.stats().early_zero_rtt_delivered, 0);
}

#[test]
fn a_few_datagrams_per_connection_id_are_held_and_from_one_address() {
    let (initials, dcid, scid) = client_initials(3);
    let mut server = server(true, EndpointConfig::default());
    let now = epoch();
    for _ in 0..MAX_PER_DCID + 2 {
        server.handle(now, CLIENT, None, None, zero_rtt(&dcid, &scid, 100));
    }
    let elsewhere = SocketAddr::new(Ipv4Addr::new(127, 0, 0, 9).into(), 1234);
    server.handle(now, elsewhere, None, None, zero_rtt(&dcid, &scid, 100));
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_buffered, MAX_PER_DCID as u64);
    assert_eq!(stats.early_zero_rtt_dropped, 3);
    assert_eq!(stats.dropped_datagrams, 3);
    for initial in &initials {
        server.handle(now, CLIENT, None, None, initial.clone());
    }
    assert!(server.poll_incoming().is_some());
    assert_eq!(server.stats().early_zero_rtt_delivered, MAX_PER_DCID as u64);
}

#[test]
fn zero_rtt_from_another_address_than_the_initials_is_dropped() {
    let (initials, dcid, scid) = client_initials(4);
    let mut server = server(true, EndpointConfig::default());
    let now = epoch();
    let elsewhere = SocketAddr::new(Ipv4Addr::new(127, 0, 0, 9).into(), 1234);
    server.handle(now, elsewhere, None, None, zero_rtt(&dcid, &scid, 500));
    for initial in &initials {
        server.handle(now, CLIENT, None, None, initial.clone());
    }
    let id = server.poll_incoming().unwrap();
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_delivered, 0);
    assert_eq!(stats.early_zero_rtt_dropped, 1);
    assert_eq!(stats.dropped_datagrams, 1);
    let handle = server.accept_incoming(now, id, None).unwrap();
    let conn = server.connection(handle).unwrap();
    assert_eq!(conn.stats().datagrams_received, initials.len() as u64);
}

#[test]
fn a_server_refusing_zero_rtt_holds_none() {
    let (_, dcid, scid) = client_initials(5);
    let mut server = server(false, EndpointConfig::default());
    server.handle(epoch(), CLIENT, None, None, zero_rtt(&dcid, &scid, 1200));
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_buffered, 0);
    assert_eq!(stats.dropped_datagrams, 1);
}

#[test]
fn a_connection_id_shorter_than_a_clients_first_is_not_held() {
    let mut server = server(true, EndpointConfig::default());
    let short = ConnectionId::new(&[1; 7]).unwrap();
    server.handle(epoch(), CLIENT, None, None, zero_rtt(&short, &short, 1200));
    let stats = server.stats();
    assert_eq!(stats.early_zero_rtt_buffered, 0);
    assert_eq!(stats.dropped_datagrams, 1);
}

// RFC 9001 §5.7 (test): what is buffered for keys not yet available is
// bounded: a flood of 0-RTT to made-up connection IDs, large datagrams
// and tiny ones, never holds more than `max_early_zero_rtt_bytes`.
#[test]
fn a_flood_of_zero_rtt_to_made_up_connection_ids_stays_within_its_bytes() {
    const MAX: usize = 32 * 1024;
    let mut server = server(
        true,
        EndpointConfig {
            max_early_zero_rtt_bytes: MAX,
            ..EndpointConfig::default()
        },
    );
    let mut rng = StdRng::seed_from_u64(6);
    let mut now = epoch();
    let mut most = 0;
    for i in 0..20_000_u32 {
        let mut id = [0; 8];
        rng.fill_bytes(&mut id);
        let dcid = ConnectionId::new(&id).unwrap();
        let size = if i % 2 == 0 { 1200 } else { 40 };
        server.handle(now, CLIENT, None, None, zero_rtt(&dcid, &dcid, size));
        let held = server.stats().early_zero_rtt_bytes;
        assert!(held <= MAX, "{held} bytes held");
        assert!(server.early.by_seq.len() <= MAX / OVERHEAD);
        assert_eq!(server.early.by_seq.len(), server.early.by_dcid.len());
        most = most.max(held);
        now += Duration::from_micros(100);
    }
    let stats = server.stats();
    assert!(most > MAX - 1200 - OVERHEAD, "the table fills: {most}");
    assert_eq!(
        stats.early_zero_rtt_buffered + stats.early_zero_rtt_dropped,
        20_000,
        "{stats:?}"
    );
    assert_eq!(
        stats.early_zero_rtt_buffered,
        stats.early_zero_rtt_expired + server.early_held(),
        "{stats:?}"
    );
    assert!(
        stats.early_zero_rtt_expired > 0,
        "the oldest expire: {stats:?}"
    );
    assert_eq!(
        stats.dropped_datagrams,
        stats.early_zero_rtt_dropped + stats.early_zero_rtt_expired
    );
    server.handle_timeout(now + LIFETIME);
    assert_eq!(server.stats().early_zero_rtt_bytes, 0);
    assert!(server.early.by_dcid.is_empty());
}

impl Endpoint {
    /// Datagrams the early 0-RTT table holds now.
    fn early_held(&self) -> u64 {
        self.early
            .by_seq
            .values()
            .map(|held| held.datagrams.len() as u64)
            .sum()
    }
}
