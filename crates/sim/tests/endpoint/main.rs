//! What a server endpoint does with datagrams that belong to no
//! connection: nothing stateful (RFC 9000 §5.2, §6, §14.1), until its
//! owner accepts a client; then the local address of each connection and
//! the final record of finished ones.

mod drained;
mod incoming;
mod local_ip;
mod many;
mod retry;

use std::{net::SocketAddr, sync::Arc};

use bytes::BytesMut;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use tern_proto::{
    ConnectionId,
    config::{EndpointConfig, ServerConfig},
    endpoint::{AcceptError, ConnectionHandle, Endpoint, InitialRefusal},
    packet::{InvariantHeader, LongHeader, LongHeaderType, PacketNumber, Version},
};
use tern_sim::{certs, epoch};

const CLIENT: SocketAddr = tern_sim::quic::CLIENT_ADDR;

fn server() -> Endpoint {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(
            ServerConfig::new(server_tls).expect("the test tls config runs quic"),
        )),
        Some(tern_sim::quic::SERVER_ADDR),
        1,
    )
}

/// A 1200-byte datagram with a well-formed v1 Initial header and a payload
/// of noise: it parses, but cannot decrypt.
fn initial_with_noise(rng: &mut StdRng) -> Vec<u8> {
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::new(&rng.next_u64().to_be_bytes()).expect("8 bytes"),
        scid: ConnectionId::new(&[7; 8]).expect("8 bytes"),
        pn: PacketNumber::new(0, None),
        grease_fixed_bit: false,
    };
    let mut datagram = Vec::new();
    let layout = header.encode(&mut datagram);
    datagram.resize(1200, 0);
    rng.fill_bytes(&mut datagram[layout.header_len..]);
    layout.set_length(&mut datagram).expect("the length fits");
    datagram
}

fn assert_no_state(endpoint: &mut Endpoint) {
    assert_eq!(endpoint.connection_count(), 0);
    assert_eq!(endpoint.stats().incoming, 0);
    assert_eq!(endpoint.poll_timeout(), None, "no timer was armed");
    assert!(endpoint.poll_incoming().is_none());
}

/// Hands `endpoint` a datagram from [`CLIENT`] to the server's address.
fn feed(endpoint: &mut Endpoint, datagram: &[u8]) {
    endpoint.handle(
        epoch(),
        CLIENT,
        Some(tern_sim::quic::SERVER_ADDR.ip()),
        None,
        BytesMut::from(datagram),
    );
}

/// Accepts the one pending client with the endpoint's configuration.
fn accept_one(endpoint: &mut Endpoint) -> ConnectionHandle {
    let id = endpoint.poll_incoming().expect("a client is pending");
    assert!(endpoint.poll_incoming().is_none(), "only one");
    endpoint
        .accept_incoming(epoch(), id, None)
        .expect("the client is accepted")
}

#[test]
fn garbage_datagrams_create_no_state() {
    let mut endpoint = server();
    let mut rng = StdRng::seed_from_u64(9);
    let now = epoch();
    for len in [0, 1, 20, 100, 1199, 1200, 1500] {
        for _ in 0..50 {
            let mut data = vec![0; len];
            rng.fill_bytes(&mut data);
            // Random first bytes are mostly long headers of unknown versions;
            // keep the version field v1 half of the time to reach deeper.
            if len > 5 && rng.next_u32() % 2 == 0 {
                data[0] |= 0xc0;
                data[1..5].copy_from_slice(&1_u32.to_be_bytes());
            }
            endpoint.handle(now, CLIENT, None, None, BytesMut::from(&data[..]));
        }
    }
    assert_no_state(&mut endpoint);
    assert!(endpoint.dropped_datagrams() > 0);
}

#[test]
fn an_initial_that_does_not_decrypt_creates_no_connection() {
    let mut endpoint = server();
    let mut rng = StdRng::seed_from_u64(10);
    for _ in 0..100 {
        let datagram = initial_with_noise(&mut rng);
        feed(&mut endpoint, &datagram);
    }
    assert_no_state(&mut endpoint);
    let mut buf = Vec::new();
    assert!(
        endpoint.poll_transmit(epoch(), 1, &mut buf).is_none(),
        "nothing is answered"
    );
}

#[test]
fn a_short_client_initial_is_dropped() {
    // RFC 9000 §14.1 (test): a client Initial in a datagram under 1200
    // bytes creates no connection, even though it would decrypt.
    let initial = client_initial(2);
    assert_eq!(
        initial.len(),
        1200,
        "RFC 9000 §14.1: the client pads its Initial to 1200 bytes"
    );

    let mut endpoint = server();
    feed(&mut endpoint, &initial[..1100]);
    assert_no_state(&mut endpoint);

    feed(&mut endpoint, &initial);
    assert_eq!(
        endpoint.stats().incoming,
        1,
        "the intact Initial waits for a decision"
    );
    assert_eq!(endpoint.connection_count(), 0, "no connection before one");
    accept_one(&mut endpoint);
    assert_eq!(endpoint.connection_count(), 1);
}

#[test]
fn an_unknown_version_is_answered_with_version_negotiation_and_no_state() {
    // RFC 9000 §6.1 (test): a big enough datagram of an unknown version gets
    // a Version Negotiation packet listing ours, and no connection.
    let mut endpoint = server();
    let mut datagram = vec![0; 1200];
    datagram[0] = 0xc0;
    datagram[1..5].copy_from_slice(&0x1a2a_3a4a_u32.to_be_bytes());
    datagram[5] = 8;
    datagram[6..14].copy_from_slice(&[1; 8]);
    datagram[14] = 4;
    datagram[15..19].copy_from_slice(&[2; 4]);
    feed(&mut endpoint, &datagram);
    assert_no_state(&mut endpoint);

    let mut buf = Vec::new();
    let transmit = endpoint
        .poll_transmit(epoch(), 1, &mut buf)
        .expect("a version negotiation packet");
    assert_eq!(transmit.destination, CLIENT);
    let header = InvariantHeader::parse(&buf[..transmit.size], 8).unwrap();
    assert_eq!(header.version(), Some(0));
    assert_eq!(header.dcid(), &[2; 4], "it echoes the client's SCID");
    assert_eq!(header.scid(), Some(&[1; 8][..]), "and its DCID");
    assert_eq!(
        &buf[transmit.size - 4..transmit.size],
        &1_u32.to_be_bytes(),
        "it offers v1"
    );

    // RFC 9000 §6.1 (test): a small datagram is not answered.
    datagram.truncate(1000);
    feed(&mut endpoint, &datagram);
    assert!(endpoint.poll_transmit(epoch(), 1, &mut buf).is_none());
}

/// A client Initial whose frames are `payload`, sealed with the real keys.
fn sealed_initial(dcid: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    sealed_initial_with(dcid, 0, payload, 1200)
}

/// A client Initial with packet number `pn` whose frames are `payload`,
/// padded to `size` bytes before the tag, sealed with the real keys.
fn sealed_initial_with(dcid: &[u8], pn: u64, payload: &[u8], size: usize) -> Vec<u8> {
    let keys = tern_proto::crypto::Keys::initial(Version::V1, dcid, tern_proto::Side::Client);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::new(dcid).expect("at most 20 bytes"),
        scid: ConnectionId::new(&[7; 8]).expect("8 bytes"),
        pn: PacketNumber::new(pn, None),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    packet.extend_from_slice(payload);
    packet.resize(size, 0);
    layout.set_length(&mut packet).expect("the length fits");
    keys.local
        .seal(pn, &mut packet, layout.pn_offset)
        .expect("room for the tag");
    packet
}

#[test]
fn a_short_client_initial_is_dropped_at_any_stage() {
    // RFC 9000 §14.1 (test): a server discards a datagram under 1200 bytes
    // that carries a client Initial, not only the first one: here the
    // connection exists already.
    let mut endpoint = server();
    let first = client_initial(5);
    let dcid = InvariantHeader::parse(&first, 8)
        .expect("a long header")
        .dcid()
        .to_vec();
    feed(&mut endpoint, &first);
    let handle = accept_one(&mut endpoint);
    let stats = |endpoint: &Endpoint| {
        let stats = endpoint.connection(handle).expect("open").stats();
        (stats.packets_received, stats.packets_dropped)
    };
    let (received, dropped) = stats(&endpoint);
    // PING frames, in a 400-byte datagram and then in a 1200-byte one.
    feed(&mut endpoint, &sealed_initial_with(&dcid, 1, &[0x01], 400));
    assert_eq!(
        stats(&endpoint),
        (received, dropped + 1),
        "the short one is dropped"
    );
    feed(&mut endpoint, &sealed_initial_with(&dcid, 2, &[0x01], 1200));
    assert_eq!(
        stats(&endpoint),
        (received + 1, dropped + 1),
        "a full one is not"
    );
}

#[test]
fn crypto_data_far_beyond_the_buffer_limit_is_crypto_buffer_exceeded() {
    // RFC 9000 §7.5 (test): CRYPTO data past what we buffer closes the
    // connection with CRYPTO_BUFFER_EXCEEDED, and the close is sent.
    let mut endpoint = server();
    // CRYPTO frame: type 0x06, offset 1_000_000 (4-byte varint), length 1, data.
    let frame = [0x06, 0x80, 0x0f, 0x42, 0x40, 0x01, 0xaa];
    let datagram = sealed_initial(&[3; 8], &frame);
    feed(&mut endpoint, &datagram);
    accept_one(&mut endpoint);
    let (_, event) = endpoint.poll_event().expect("the connection closed");
    let tern_proto::connection::Event::Closed(tern_proto::connection::ConnectionError::Transport {
        error,
        closed_by: tern_proto::connection::Closer::Local,
    }) = event
    else {
        panic!("expected a local transport error, got {event:?}");
    };
    assert_eq!(
        error.code,
        tern_proto::TransportErrorCode::CRYPTO_BUFFER_EXCEEDED
    );
    let mut buf = Vec::new();
    let transmit = endpoint
        .poll_transmit(epoch(), 1, &mut buf)
        .expect("the CONNECTION_CLOSE goes out");
    assert_eq!(transmit.destination, CLIENT);
}

#[test]
fn a_frame_not_allowed_in_initial_packets_is_a_protocol_violation() {
    // RFC 9000 §12.4 (test): HANDSHAKE_DONE in an Initial packet.
    let mut endpoint = server();
    let datagram = sealed_initial(&[4; 8], &[0x1e]);
    feed(&mut endpoint, &datagram);
    accept_one(&mut endpoint);
    let Some((
        _,
        tern_proto::connection::Event::Closed(tern_proto::connection::ConnectionError::Transport {
            error,
            ..
        }),
    )) = endpoint.poll_event()
    else {
        panic!("expected the connection to close");
    };
    assert_eq!(
        error.code,
        tern_proto::TransportErrorCode::PROTOCOL_VIOLATION
    );
}

/// The first Initial datagram of a fresh client with seed `seed`.
fn client_initial(seed: u64) -> Vec<u8> {
    tern_sim::quic::client_initial(seed)
}

/// Hands `endpoint` the first Initial of a fresh client for each seed.
fn feed_initials(endpoint: &mut Endpoint, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        feed(endpoint, &client_initial(seed));
    }
}

fn server_with(config: ServerConfig) -> Endpoint {
    Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(config)),
        Some(tern_sim::quic::SERVER_ADDR),
        1,
    )
}

#[test]
fn initials_beyond_max_connections_are_counted_and_reported_once() {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    config.max_connections = 1;
    let mut endpoint = server_with(config);
    feed_initials(&mut endpoint, 10..15);
    let stats = endpoint.stats();
    assert_eq!(stats.incoming, 1, "a pending client counts as a connection");
    assert_eq!(stats.refused_connection_limit, 4);
    assert_eq!(
        drain_transmits(&mut endpoint).len(),
        4,
        "each refused client is told so"
    );
    accept_one(&mut endpoint);
    assert_eq!(endpoint.connection_count(), 1);
    assert_eq!(stats.refused_tls_config, 0);
    let report = endpoint
        .poll_refusal_report()
        .expect("the first refusal is reported");
    assert_eq!(report.reason, InitialRefusal::ConnectionLimit);
    assert!(
        report.detail.contains("max_connections (1)"),
        "{}",
        report.detail
    );
    assert!(
        endpoint.poll_refusal_report().is_none(),
        "reported once, not per datagram"
    );
}

#[test]
fn an_initial_refused_by_a_broken_tls_config_is_counted_and_reported() {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut config = ServerConfig::new(server_tls.clone()).expect("the test tls config runs quic");
    // The fields are public: a config changed after `new` is checked again
    // for every client, and the refusal says why.
    let mut broken = (*server_tls).clone();
    broken.alpn_protocols.clear();
    config.tls = Arc::new(broken);
    let mut endpoint = server_with(config);
    feed_initials(&mut endpoint, 20..23);
    while let Some(id) = endpoint.poll_incoming() {
        let result = endpoint.accept_incoming(epoch(), id, None);
        assert!(
            matches!(result, Err(AcceptError::TlsConfig(_))),
            "{result:?}"
        );
    }
    assert_no_state(&mut endpoint);
    assert_eq!(endpoint.stats().refused_tls_config, 3);
    assert_eq!(
        drain_transmits(&mut endpoint).len(),
        3,
        "each client is refused, not left waiting"
    );
    let report = endpoint.poll_refusal_report().expect("reported");
    assert_eq!(report.reason, InitialRefusal::TlsConfig);
    assert!(report.detail.contains("alpn"), "{}", report.detail);
    assert!(endpoint.poll_refusal_report().is_none());
}

/// Every datagram the endpoint has to send now.
fn drain_transmits(endpoint: &mut Endpoint) -> Vec<(tern_proto::Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(transmit) = endpoint.poll_transmit(epoch(), 1, &mut buf) {
        out.push((transmit, buf[..transmit.size].to_vec()));
        buf.clear();
    }
    out
}
