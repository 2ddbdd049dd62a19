//! QUIC version 2 (RFC 9369) and version negotiation (RFC 9368) between
//! two `tern-proto` endpoints: v2 end to end, a Retry on v2, a server that
//! moves a client from v1 to v2 without a round trip, one that keeps it on
//! v1, a Version Negotiation packet followed, and a forged one caught.

use std::{cell::RefCell, rc::Rc, time::Duration};

use bytes::Bytes;
use tern_proto::{
    AddressValidation, Side, TransportErrorCode,
    config::{ClientConfig, EndpointConfig, RetryPolicy, ServerConfig},
    connection::{Connection, ConnectionError},
    packet::{InvariantHeader, Version, VersionNegotiationPacket},
};
use tern_sim::{
    LinkConfig, Seed,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

const LIMIT: Duration = Duration::from_secs(5);

fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(10))
}

fn endpoint(versions: &[Version]) -> EndpointConfig {
    EndpointConfig {
        supported_versions: versions.to_vec(),
        ..EndpointConfig::default()
    }
}

/// A pair whose client starts on `start` with the endpoint versions
/// `client`, and whose server supports `server`.
fn pair(
    seed: u64,
    start: Version,
    (client, server): (&[Version], &[Version]),
    retry: RetryPolicy,
) -> Pair {
    let (client_tls, server_tls) = tern_sim::certs::test_configs(&[b"hq-interop"]);
    let mut client_config = ClientConfig::new(client_tls).expect("client");
    client_config.version = start;
    let server_config = ServerConfig::new(server_tls)
        .expect("server")
        .retry_policy(retry);
    Pair::with_endpoints(
        seed,
        link(),
        client_config,
        server_config,
        (endpoint(client), endpoint(server)),
    )
}

/// The version both snapshots say, which must agree.
fn negotiated(pair: &mut Pair) -> u32 {
    let view = pair.view();
    let version = |side| {
        view.connection(side)
            .and_then(Connection::handshake_info)
            .expect("the handshake completed")
            .quic_version()
    };
    let (client, server) = (version(Side::Client), version(Side::Server));
    assert_eq!(client, server, "both sides name the same version");
    client
}

// A client that starts on v2 with a server that supports it: both
// snapshots say v2.
#[test]
fn a_v2_connection_completes_and_both_snapshots_say_v2() {
    let both = [Version::V2, Version::V1];
    let mut pair = pair(1, Version::V2, (&both, &both), RetryPolicy::Never);
    assert!(pair.connect(LIMIT), "the v2 handshake completes");
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V2);
}

// RFC 9369 §3.2, §3.3.3 (test): a Retry on v2 carries the v2 type bits and
// integrity key; the client follows it and the connection completes on v2.
#[test]
fn a_retry_on_v2_is_followed_and_the_connection_stays_on_v2() {
    let both = [Version::V2, Version::V1];
    let mut pair = pair(2, Version::V2, (&both, &both), RetryPolicy::Always);
    assert!(
        pair.connect(LIMIT),
        "the handshake completes after the Retry"
    );
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V2);
    let view = pair.view();
    let validation = view
        .connection(Side::Server)
        .and_then(Connection::handshake_info)
        .expect("info")
        .address_validation();
    assert_eq!(validation, AddressValidation::Retry);
    assert_eq!(
        pair.sim.node(tern_sim::pair::SERVER).stats().retries_sent,
        1
    );
}

// RFC 9368 §2.2, RFC 9369 §4 (test): a client that starts on v1 and offers
// v2 is moved to v2 by a server that prefers it, with no extra round trip;
// both snapshots say v2, and the client's first flight was v1.
#[test]
fn a_server_preferring_v2_moves_a_v1_client_to_v2() {
    Seed::range(0..4).run(|seed| {
        let both = [Version::V2, Version::V1];
        let mut pair = pair(seed, Version::V1, (&both, &both), RetryPolicy::Never);
        let first = first_version(&mut pair);
        assert!(pair.connect(LIMIT), "the handshake completes");
        assert_eq!(*first.borrow(), Some(tern_proto::QUIC_V1), "started on v1");
        assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V2);
        let view = pair.view();
        let client = view.connection(Side::Client).expect("client");
        let info = client.handshake_info().expect("info");
        let offered = info
            .local_transport_parameters()
            .version_information
            .clone()
            .expect("the client sent version_information");
        assert_eq!(offered.chosen_version, tern_proto::QUIC_V1);
        // No extra round trip: the client's handshake took one, as on v1.
        let rtt = info.handshake_duration();
        assert!(rtt < Duration::from_millis(45), "{rtt:?}");
    });
}

// RFC 9368 §2.2 (test): a server configured for v1 only keeps a client
// that offers v2 on v1, though the client offered it.
#[test]
fn a_v1_only_server_keeps_a_client_offering_v2_on_v1() {
    let mut pair = pair(
        3,
        Version::V1,
        (&[Version::V2, Version::V1], &[Version::V1]),
        RetryPolicy::Never,
    );
    assert!(pair.connect(LIMIT), "the handshake completes");
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V1);
    let view = pair.view();
    let server = view.connection(Side::Server).expect("server");
    let offered = server
        .peer_params()
        .and_then(|p| p.version_information.clone())
        .expect("the client offered versions");
    assert!(offered.available_versions.contains(&tern_proto::QUIC_V2));
}

// RFC 9368 §2.1 (test): a client that starts on v2 at a v1-only server
// gets a Version Negotiation packet, starts again on v1, and connects;
// the server's versions confirm the choice (§4).
#[test]
fn a_client_follows_a_version_negotiation_packet_to_v1() {
    let mut pair = pair(
        4,
        Version::V2,
        (&[Version::V2, Version::V1], &[Version::V1]),
        RetryPolicy::Never,
    );
    let first = first_version(&mut pair);
    assert!(pair.connect(LIMIT), "the second first flight completes");
    assert_eq!(*first.borrow(), Some(tern_proto::QUIC_V2), "started on v2");
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V1);
    let view = pair.view();
    let info = view
        .connection(Side::Client)
        .and_then(Connection::handshake_info)
        .expect("info");
    let sent = info
        .local_transport_parameters()
        .version_information
        .clone();
    assert_eq!(sent.expect("sent").chosen_version, tern_proto::QUIC_V1);
}

/// Records the version of the client's first datagram.
fn first_version(pair: &mut Pair) -> Rc<RefCell<Option<u32>>> {
    let first: Rc<RefCell<Option<u32>>> = Rc::default();
    let seen = first.clone();
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |data| {
        let mut seen = seen.borrow_mut();
        if seen.is_none() {
            *seen = InvariantHeader::parse(data, 8)
                .ok()
                .and_then(|h| h.version());
        }
        false
    });
    first
}

/// Forges a Version Negotiation packet answering `first` (a client's
/// first datagram) that lists `versions`.
fn forged_vn(first: &[u8], versions: &[u32]) -> Bytes {
    let header = InvariantHeader::parse(first, 8).expect("a long header");
    let packet = VersionNegotiationPacket::answering(&header, versions, 0x2a).expect("vn");
    let mut out = Vec::new();
    packet.encode(&mut out);
    Bytes::from(out)
}

// RFC 9368 §4 (test): an attacker answers a client's v2 first flight with
// a forged Version Negotiation packet listing only v1, though the server
// supports v2. The client starts again on v1, but the server's
// version_information, which the handshake authenticates, lists v2, which
// the client prefers: it closes with VERSION_NEGOTIATION_ERROR.
#[test]
fn a_forged_version_negotiation_is_detected_as_a_downgrade() {
    // The server prefers v1, so it does not move the client back to v2.
    let mut pair = pair(
        5,
        Version::V2,
        (&[Version::V2, Version::V1], &[Version::V1, Version::V2]),
        RetryPolicy::Never,
    );
    // The attacker keeps the client's first flight from the server and
    // answers it itself.
    let first: Rc<RefCell<Option<Bytes>>> = Rc::default();
    let keep = first.clone();
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |data| {
        let mut keep = keep.borrow_mut();
        if keep.is_none() {
            *keep = Some(Bytes::copy_from_slice(data));
            return true;
        }
        false
    });
    let _ = pair.run_until(Duration::from_millis(1), |_| false);
    let first = first.borrow().clone().expect("the client's first flight");
    let vn = forged_vn(&first, &[tern_proto::QUIC_V1]);
    pair.sim.inject(SERVER_ADDR, CLIENT_ADDR, None, vn);
    let outcome = pair.run_until(LIMIT, |view| {
        view.connection(Side::Client)
            .is_none_or(Connection::is_closed)
    });
    assert!(outcome.is_satisfied(), "the client closes");
    let view = pair.view();
    let client = view.connection(Side::Client).expect("client");
    match client.close_reason() {
        Some(ConnectionError::Transport { error, .. }) => {
            assert_eq!(
                error.code,
                TransportErrorCode::VERSION_NEGOTIATION_ERROR,
                "{error}"
            );
        }
        other => panic!("closed for another reason: {other:?}"),
    }
    assert!(
        client.handshake_info().is_none(),
        "no connection came of it"
    );
}

// RFC 9368 §4 (test): a Version Negotiation packet that lists the version
// the client started on is ignored, and the handshake completes on it.
#[test]
fn a_version_negotiation_listing_our_version_is_ignored() {
    let both = [Version::V2, Version::V1];
    let mut pair = pair(6, Version::V2, (&both, &both), RetryPolicy::Never);
    let first: Rc<RefCell<Option<Bytes>>> = Rc::default();
    let keep = first.clone();
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |data| {
        keep.borrow_mut()
            .get_or_insert_with(|| Bytes::copy_from_slice(data));
        false
    });
    let _ = pair.run_until(Duration::from_millis(1), |_| false);
    let first = first.borrow().clone().expect("the client's first flight");
    let vn = forged_vn(&first, &[tern_proto::QUIC_V1, tern_proto::QUIC_V2]);
    pair.sim.inject(SERVER_ADDR, CLIENT_ADDR, None, vn);
    assert!(pair.connect(LIMIT), "the handshake completes");
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V2);
}

// RFC 9369 §5 (test): a session ticket is specific to the version of the
// connection that issued it: a server speaking v1 and v2 gives a v2
// connection presenting a v1 ticket a full handshake, though it resumes a
// v1 connection with one.
#[test]
fn a_v1_ticket_does_not_resume_a_v2_connection() {
    let (client, server) = tern_sim::resume::zero_rtt_configs();
    // The client offers v1 alone when it starts on v1, so the server,
    // which prefers v2, keeps it there.
    let mut pair = Pair::with_endpoints(
        7,
        link(),
        client.clone(),
        server,
        (
            endpoint(&[Version::V1]),
            endpoint(&[Version::V2, Version::V1]),
        ),
    );
    assert!(pair.connect(LIMIT), "the first handshake completes");
    let _ = pair.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V1);
    let resumed = |pair: &mut Pair| {
        let view = pair.view();
        let info = |side| {
            view.connection(side)
                .and_then(Connection::handshake_info)
                .expect("the handshake completed")
                .resumed()
        };
        (info(Side::Client), info(Side::Server))
    };
    pair.reconnect(&client);
    assert!(pair.connect(LIMIT), "the v1 handshake completes");
    assert_eq!(resumed(&mut pair), (true, true), "a v1 ticket on v1");
    let _ = pair.run_until(Duration::from_secs(1), |_| false);
    // The client's newest ticket is from that v1 connection.
    let mut on_v2 = client.clone();
    on_v2.version = Version::V2;
    pair.reconnect(&on_v2);
    assert!(pair.connect(LIMIT), "the v2 handshake completes");
    assert_eq!(negotiated(&mut pair), tern_proto::QUIC_V2);
    assert_eq!(resumed(&mut pair), (false, false), "a v1 ticket on v2");
}
