//! Address validation and admission at a server endpoint, packet by
//! packet: stateless Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8), the
//! tokens a client brings back (§8.1.3), and the limits on handshakes in
//! progress. End-to-end handshakes through a Retry are in
//! `tests/handshake`.

use std::{net::SocketAddr, time::Duration};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    ConnectionId, EncryptionLevel, Frame, Frames, Side, TransportErrorCode, VarInt,
    config::{RetryPolicy, ServerConfig},
    crypto::{Keys, verify_retry_integrity},
    endpoint::{Endpoint, InitialRefusal, RetryError},
    packet::{
        DecodeOptions, InvariantHeader, LongHeader, LongHeaderType, PacketNumber, PacketType,
        PartialDecode, Version,
    },
};
use tern_sim::{certs, epoch};

use super::{CLIENT, client_initial, drain_transmits, feed, server_with};

/// A server whose configuration `change` adjusts.
fn server_where(change: impl FnOnce(&mut ServerConfig)) -> Endpoint {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    change(&mut config);
    server_with(config)
}

/// What a client reads from a Retry.
struct Retry {
    dcid: Vec<u8>,
    scid: ConnectionId,
    token: Vec<u8>,
}

/// Parses `datagram` as one Retry packet answering a client whose first
/// DCID was `odcid`, checking its integrity tag.
fn parse_retry(datagram: &[u8], odcid: &[u8]) -> Retry {
    let mut data = BytesMut::from(datagram);
    let options = DecodeOptions::new(8).expect("8 is a valid length");
    let packet = PartialDecode::split_from(&mut data, options).expect("a packet");
    assert_eq!(packet.packet_type(), PacketType::Retry);
    assert!(data.is_empty(), "nothing after a Retry");
    verify_retry_integrity(
        Version::V1,
        &ConnectionId::new(odcid).expect("a valid id"),
        datagram,
    )
    .expect("RFC 9001 §5.8: the integrity tag verifies under the client's first DCID");
    let token = packet.token().expect("a Retry has a token").to_vec();
    Retry {
        dcid: packet.dcid().to_vec(),
        scid: *packet.scid().expect("an SCID"),
        token,
    }
}

/// The DCID and SCID of a client's Initial.
fn cids(datagram: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let header = InvariantHeader::parse(datagram, 8).expect("a long header");
    (
        header.dcid().to_vec(),
        header.scid().expect("an SCID").to_vec(),
    )
}

/// A 1200-byte client Initial to `dcid` carrying `token` and a PING,
/// sealed with the Initial keys of `dcid`.
fn initial_with_token(dcid: &ConnectionId, token: &[u8]) -> Vec<u8> {
    initial_with(dcid, token, &[0x01])
}

/// A 1200-byte client Initial to `dcid` carrying `token` and `frames`,
/// sealed with the Initial keys of `dcid`.
fn initial_with(dcid: &ConnectionId, token: &[u8], frames: &[u8]) -> Vec<u8> {
    let keys = Keys::initial(Version::V1, dcid, Side::Client);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token },
        version: Version::V1,
        dcid: *dcid,
        scid: ConnectionId::new(&[7; 8]).expect("8 bytes"),
        pn: PacketNumber::new(1, None),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    let layout = header.encode(&mut packet);
    packet.extend_from_slice(frames);
    packet.resize(1200 - keys.local.packet.tag_len(), 0);
    packet.resize(1200, 0);
    layout.set_length(&mut packet).expect("the length fits");
    keys.local
        .seal(1, &mut packet, layout.pn_offset)
        .expect("room for the tag");
    packet
}

/// Hands `endpoint` a datagram from `from`, `after` the epoch.
fn feed_from(endpoint: &mut Endpoint, from: SocketAddr, after: Duration, datagram: &[u8]) {
    endpoint.handle(
        epoch() + after,
        from,
        Some(tern_sim::quic::SERVER_ADDR.ip()),
        None,
        BytesMut::from(datagram),
    );
}

/// The frames of a server Initial sealed under the keys of `dcid`.
fn server_initial_frames(datagram: &[u8], dcid: &[u8]) -> Vec<Frame> {
    let keys = Keys::initial(Version::V1, dcid, Side::Client);
    let mut data = BytesMut::from(datagram);
    let options = DecodeOptions::new(8).expect("8 is a valid length");
    let mut packet = PartialDecode::split_from(&mut data, options).expect("a packet");
    let opened = keys
        .remote
        .open_decoded(&mut packet, None)
        .expect("the client's keys open it");
    let payload = Bytes::copy_from_slice(&packet.data()[opened.payload]);
    Frames::new(payload, EncryptionLevel::Initial)
        .collect::<Result<Vec<_>, _>>()
        .expect("its frames parse")
}

/// Whether `frames` close the connection with `code`.
fn closes_with(frames: &[Frame], code: TransportErrorCode) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::ConnectionClose(c) if c.error_code == code))
}

/// A Retry-always server, a client's first Initial, and the Retry it got.
fn retried() -> (Endpoint, Vec<u8>, Retry) {
    retried_where(|_| {})
}

/// As [`retried`], the configuration adjusted by `change`.
fn retried_where(change: impl FnOnce(&mut ServerConfig)) -> (Endpoint, Vec<u8>, Retry) {
    let mut endpoint = server_where(|c| {
        c.retry = RetryPolicy::Always;
        change(c);
    });
    let initial = client_initial(40);
    feed(&mut endpoint, &initial);
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 1, "one Retry");
    let retry = parse_retry(&sent[0].1, &cids(&initial).0);
    (endpoint, initial, retry)
}

#[test]
fn retry_always_answers_a_first_initial_with_a_stateless_retry() {
    // RFC 9000 §8.1.2, §17.2.5 (test): the Retry goes to the client's SCID
    // from a fresh ID of ours, with a token, and the server keeps nothing.
    let (mut endpoint, initial, retry) = retried();
    let (odcid, client_scid) = cids(&initial);
    assert_eq!(retry.dcid, client_scid);
    assert_eq!(retry.scid.len(), 8);
    assert_ne!(&retry.scid[..], &odcid[..], "a new connection ID");
    assert!(!retry.token.is_empty(), "RFC 9000 §17.2.5.1: a token");
    assert!(retry.token.len() < 100, "{} bytes", retry.token.len());
    let stats = endpoint.stats();
    assert_eq!((stats.retries_sent, stats.incoming), (1, 0));
    assert_eq!(endpoint.connection_count(), 0);
    assert_eq!(endpoint.poll_timeout(), None, "no timer");
}

#[test]
fn a_client_back_with_its_retry_token_is_validated_and_keeps_its_original_dcid() {
    let (mut endpoint, initial, retry) = retried();
    let odcid = cids(&initial).0;
    feed(
        &mut endpoint,
        &initial_with_token(&retry.scid, &retry.token),
    );
    let id = endpoint.poll_incoming().expect("the client is pending");
    let info = endpoint.incoming(id).expect("pending");
    assert!(info.remote_address_validated());
    assert_eq!(&info.original_dcid()[..], &odcid[..]);
    let stats = endpoint.stats();
    assert_eq!((stats.retries_sent, stats.validated_by_retry), (1, 1));
    // RFC 9000 §8.1.2: no second Retry for a validated client.
    assert!(matches!(
        endpoint.retry_incoming(epoch(), id),
        Err(RetryError::AddressValidated)
    ));
    assert!(endpoint.incoming(id).is_some(), "still pending");
    endpoint
        .accept_incoming(epoch(), id, None)
        .expect("accepted");
    assert_eq!(endpoint.connection_count(), 1);
}

#[test]
fn a_retry_token_from_another_address_or_port_is_closed_with_invalid_token() {
    // RFC 9000 §8.1.3 (test): a Retry token that does not validate gets
    // INVALID_TOKEN, without state.
    for from in ["192.0.2.77:4433", "127.0.0.1:1"] {
        let (mut endpoint, _, retry) = retried();
        let from: SocketAddr = from.parse().expect("an address");
        assert_ne!(from, CLIENT);
        feed_from(
            &mut endpoint,
            from,
            Duration::ZERO,
            &initial_with_token(&retry.scid, &retry.token),
        );
        let sent = drain_transmits(&mut endpoint);
        assert_eq!(sent.len(), 1, "one close");
        assert_eq!(sent[0].0.destination, from);
        let frames = server_initial_frames(&sent[0].1, &retry.scid);
        assert!(
            closes_with(&frames, TransportErrorCode::INVALID_TOKEN),
            "{frames:?}"
        );
        let stats = endpoint.stats();
        assert_eq!((stats.invalid_tokens, stats.incoming), (1, 0));
        assert_eq!(endpoint.connection_count(), 0);
        let report = endpoint.poll_refusal_report().expect("reported");
        assert_eq!(report.reason, InitialRefusal::InvalidToken);
    }
}

#[test]
fn an_expired_retry_token_is_closed_with_invalid_token() {
    let lifetime = Duration::from_secs(5);
    let (mut endpoint, _, retry) = retried_where(|c| c.retry_token_lifetime = lifetime);
    let datagram = initial_with_token(&retry.scid, &retry.token);
    feed_from(
        &mut endpoint,
        CLIENT,
        lifetime + Duration::from_secs(1),
        &datagram,
    );
    assert_eq!(endpoint.stats().invalid_tokens, 1);
    assert_eq!(endpoint.stats().incoming, 0);
    // Within its lifetime, the same token validates.
    feed_from(&mut endpoint, CLIENT, lifetime, &datagram);
    assert_eq!(endpoint.stats().validated_by_retry, 1);
}

#[test]
fn a_retry_token_with_another_dcid_or_a_forged_one_is_invalid_token() {
    let (mut endpoint, _, retry) = retried();
    // The token names the Retry's SCID: an Initial to another DCID fails.
    let other = ConnectionId::new(&[9; 8]).expect("8 bytes");
    feed(&mut endpoint, &initial_with_token(&other, &retry.token));
    let mut forged = retry.token.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    feed(&mut endpoint, &initial_with_token(&retry.scid, &forged));
    assert_eq!(endpoint.stats().invalid_tokens, 2);
    assert_eq!(endpoint.stats().incoming, 0);
}

#[test]
fn a_token_that_is_not_ours_is_ignored_and_the_client_retried() {
    // RFC 9000 §8.1.3: a token that is not a Retry token and does not
    // validate (another server's NEW_TOKEN token, say) is ignored.
    let mut endpoint = server_where(|c| c.retry = RetryPolicy::Never);
    let dcid = ConnectionId::new(&[5; 8]).expect("8 bytes");
    feed(&mut endpoint, &initial_with_token(&dcid, &[1; 40]));
    feed(
        &mut endpoint,
        &initial_with_token(&ConnectionId::new(&[6; 8]).unwrap(), &[0xff; 300]),
    );
    let stats = endpoint.stats();
    assert_eq!((stats.incoming, stats.invalid_tokens), (2, 0));
    let id = endpoint.poll_incoming().expect("pending");
    assert!(
        !endpoint
            .incoming(id)
            .expect("pending")
            .remote_address_validated()
    );
    assert!(drain_transmits(&mut endpoint).is_empty(), "no close");
}

#[test]
fn under_load_retries_from_its_threshold_on() {
    let mut endpoint = server_where(|c| {
        c.retry = RetryPolicy::UnderLoad {
            handshakes_in_progress: 2,
        };
    });
    for seed in 50..55 {
        feed(&mut endpoint, &client_initial(seed));
    }
    let stats = endpoint.stats();
    assert_eq!((stats.incoming, stats.retries_sent), (2, 3));
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 3);
    for (_, datagram) in &sent {
        assert_eq!(
            InvariantHeader::parse(datagram, 8).unwrap().version(),
            Some(1)
        );
        assert_eq!(datagram[0] & 0x30, 0x30, "a Retry");
    }
}

#[test]
fn with_retry_never_clients_beyond_max_handshakes_are_refused() {
    let mut endpoint = server_where(|c| {
        c.retry = RetryPolicy::Never;
        c.max_handshakes = 2;
    });
    for seed in 60..64 {
        feed(&mut endpoint, &client_initial(seed));
    }
    let stats = endpoint.stats();
    assert_eq!((stats.incoming, stats.refused_handshake_limit), (2, 2));
    assert_eq!(stats.retries_sent, 0);
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 2, "each refused client is told");
    let (odcid, _) = cids(&client_initial(62));
    let frames = server_initial_frames(&sent[0].1, &odcid);
    assert!(closes_with(&frames, TransportErrorCode::CONNECTION_REFUSED));
    let report = endpoint.poll_refusal_report().expect("reported");
    assert_eq!(report.reason, InitialRefusal::HandshakeLimit);
}

#[test]
fn a_connection_counts_as_a_handshake_until_its_handshake_ends() {
    let mut endpoint = server_where(|c| {
        c.retry = RetryPolicy::Never;
        c.max_handshakes = 1;
    });
    feed(&mut endpoint, &client_initial(70));
    let id = endpoint.poll_incoming().expect("pending");
    let handle = endpoint
        .accept_incoming(epoch(), id, None)
        .expect("accepted");
    feed(&mut endpoint, &client_initial(71));
    assert_eq!(
        endpoint.stats().refused_handshake_limit,
        1,
        "the handshake counts"
    );
    // A handshake that ends (here, closed by the server) stops counting.
    endpoint.connection_mut(handle).expect("open").close(
        epoch(),
        VarInt::from_u32(0),
        Bytes::new(),
    );
    feed(&mut endpoint, &client_initial(72));
    assert_eq!(endpoint.stats().incoming, 1, "admitted");
    assert_eq!(endpoint.stats().refused_handshake_limit, 1);
}

#[test]
fn handshakes_per_address_are_limited_and_retried_when_the_policy_allows() {
    let other: SocketAddr = "192.0.2.5:5000".parse().expect("an address");
    let mut endpoint = server_where(|c| {
        c.retry = RetryPolicy::Never;
        c.max_handshakes_per_address = 1;
    });
    feed(&mut endpoint, &client_initial(80));
    feed(&mut endpoint, &client_initial(81));
    feed_from(&mut endpoint, other, Duration::ZERO, &client_initial(82));
    let stats = endpoint.stats();
    assert_eq!((stats.incoming, stats.refused_address_limit), (2, 1));
    // With UnderLoad, a client beyond a limit is retried instead.
    let mut endpoint = server_where(|c| c.max_handshakes_per_address = 1);
    feed(&mut endpoint, &client_initial(83));
    feed(&mut endpoint, &client_initial(84));
    let stats = endpoint.stats();
    assert_eq!((stats.incoming, stats.retries_sent), (1, 1));
    assert_eq!(stats.refused_address_limit, 0);
}

#[test]
fn the_owner_can_retry_one_client_whatever_the_policy() {
    let mut endpoint = server_where(|c| c.retry = RetryPolicy::Never);
    let initial = client_initial(90);
    feed(&mut endpoint, &initial);
    let id = endpoint.poll_incoming().expect("pending");
    endpoint.retry_incoming(epoch(), id).expect("retried");
    assert!(endpoint.incoming(id).is_none(), "forgotten");
    assert!(matches!(
        endpoint.retry_incoming(epoch(), id),
        Err(RetryError::UnknownIncoming)
    ));
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 1);
    let retry = parse_retry(&sent[0].1, &cids(&initial).0);
    assert_eq!(endpoint.stats().retries_sent, 1);
    // The client comes back validated, even under policy Never.
    feed(
        &mut endpoint,
        &initial_with_token(&retry.scid, &retry.token),
    );
    let id = endpoint.poll_incoming().expect("pending again");
    assert!(
        endpoint
            .incoming(id)
            .expect("pending")
            .remote_address_validated()
    );
}

#[test]
fn only_the_datagram_that_starts_the_client_hello_is_retried() {
    // A ClientHello with a post-quantum key share takes two datagrams; the
    // client sends the second again after the Retry, so it gets no Retry
    // of its own (the client would drop it, RFC 9000 §17.2.5.2).
    let mut endpoint = server_where(|c| c.retry = RetryPolicy::Always);
    let dcid = ConnectionId::new(&[8; 8]).expect("8 bytes");
    // CRYPTO at offset 1000: the rest of a ClientHello.
    feed(
        &mut endpoint,
        &initial_with(&dcid, &[], &[0x06, 0x43, 0xe8, 0x01, 0xaa]),
    );
    assert!(drain_transmits(&mut endpoint).is_empty(), "no Retry");
    assert_eq!(endpoint.stats().retries_sent, 0);
    // CRYPTO at offset 0: its start.
    feed(
        &mut endpoint,
        &initial_with(&dcid, &[], &[0x06, 0x00, 0x01, 0x01]),
    );
    assert_eq!(drain_transmits(&mut endpoint).len(), 1, "a Retry");
    assert_eq!(endpoint.stats().retries_sent, 1);
    assert_eq!(endpoint.stats().incoming, 0);
}

/// The shards of one endpoint ([`EndpointConfig::shards`]): shard `i`
/// seeded with `i + 1`, all with the server configuration `change` makes.
fn shards(count: usize, change: impl FnOnce(&mut ServerConfig)) -> Vec<Endpoint> {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    change(&mut config);
    let server = std::sync::Arc::new(config.shard(count));
    tern_proto::config::EndpointConfig::default()
        .shards(count, epoch())
        .expect("the random generator shards")
        .into_iter()
        .zip(1..)
        .map(|(config, seed)| {
            Endpoint::new(
                std::sync::Arc::new(config),
                Some(server.clone()),
                Some(tern_sim::quic::SERVER_ADDR),
                seed,
            )
        })
        .collect()
}

#[test]
fn a_retry_token_sealed_by_one_shard_validates_at_another() {
    // RFC 9000 §8.1.3 (test): the shards of one endpoint share the token
    // key, so a client whose next Initial reaches another shard than the
    // one that sent its Retry is still validated there.
    let mut endpoints = shards(2, |c| c.retry = RetryPolicy::Always);
    let initial = client_initial(41);
    feed(&mut endpoints[0], &initial);
    let sent = drain_transmits(&mut endpoints[0]);
    let retry = parse_retry(&sent[0].1, &cids(&initial).0);
    assert_eq!(
        endpoints[1].cid_generator().shard_of(&retry.scid),
        Some(0),
        "the Retry's new ID names the shard that made it"
    );
    feed(
        &mut endpoints[1],
        &initial_with_token(&retry.scid, &retry.token),
    );
    assert_eq!(endpoints[1].stats().validated_by_retry, 1);
    assert_eq!(endpoints[1].stats().invalid_tokens, 0);
    assert!(
        endpoints[1].poll_incoming().is_some(),
        "the client waits there"
    );

    // The shards of another endpoint have other keys: the token is
    // refused with INVALID_TOKEN.
    let mut strangers = shards(2, |c| c.retry = RetryPolicy::Always);
    feed(
        &mut strangers[1],
        &initial_with_token(&retry.scid, &retry.token),
    );
    assert_eq!(strangers[1].stats().invalid_tokens, 1);
}
