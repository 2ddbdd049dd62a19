//! Whole handshakes through address validation: a Tern client follows a
//! Tern server's Retry (RFC 9000 §8.1.2), ignores a tampered or a second
//! one, and comes back later with the server's NEW_TOKEN token and no
//! Retry (§8.1.3); both sides' snapshots say how the address was
//! validated.

use std::{cell::RefCell, rc::Rc, time::Duration};

use tern_proto::{
    AddressValidation, ConnectionId,
    config::{ClientConfig, EndpointConfig, RetryPolicy, ServerConfig},
    crypto::retry_integrity_tag,
    endpoint::EndpointStats,
    packet::{InvariantHeader, RetryHeader, Version},
};
use tern_sim::{
    LinkConfig, Seed, certs,
    pair::{Pair, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use super::impaired;

const LIMIT: Duration = Duration::from_secs(30);

fn configs(policy: RetryPolicy) -> (ClientConfig, ServerConfig) {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let client = ClientConfig::new(client_tls).expect("the test tls config runs quic");
    let server = ServerConfig::new(server_tls)
        .expect("the test tls config runs quic")
        .retry_policy(policy);
    (client, server)
}

fn server_stats(pair: &mut Pair) -> EndpointStats {
    pair.sim.node_mut(SERVER).stats()
}

/// How each side's snapshot says the client's address was validated.
fn validations(pair: &mut Pair) -> (AddressValidation, AddressValidation) {
    let view = pair.view();
    let info = |conn: Option<&tern_proto::connection::Connection>| {
        conn.and_then(|c| c.handshake_info().cloned())
            .expect("the handshake completed")
            .address_validation()
    };
    (info(view.client()), info(view.server()))
}

/// Connects the pair's client again with `config`, as a new connection.
fn reconnect(pair: &mut Pair, config: &ClientConfig) {
    let now = pair.sim.now();
    let handle = pair
        .sim
        .node_mut(tern_sim::pair::CLIENT)
        .connect(now, config, SERVER_ADDR, "localhost")
        .expect("the client starts");
    pair.state.client_conn = handle;
    pair.state.server_conn = None;
    assert!(pair.connect(LIMIT), "the second handshake completes");
}

#[test]
fn a_client_follows_a_retry_and_both_snapshots_say_so() {
    let (client, server) = configs(RetryPolicy::Always);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(1, link, client, server, EndpointConfig::default());
    assert!(
        pair.connect(LIMIT),
        "the handshake completes through the Retry"
    );
    assert_eq!(
        validations(&mut pair),
        (AddressValidation::Retry, AddressValidation::Retry)
    );
    let view = pair.view();
    let info = view
        .client()
        .and_then(|c| c.handshake_info())
        .expect("done");
    assert!(info.retry_used() && !info.address_validated_by_token());
    let stats = server_stats(&mut pair);
    assert_eq!((stats.retries_sent, stats.validated_by_retry), (1, 1));
}

#[test]
fn without_retry_the_snapshots_say_the_handshake_validated_the_address() {
    let (client, server) = configs(RetryPolicy::Never);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(2, link, client, server, EndpointConfig::default());
    assert!(pair.connect(LIMIT));
    assert_eq!(
        validations(&mut pair),
        (AddressValidation::None, AddressValidation::None)
    );
    assert_eq!(server_stats(&mut pair).retries_sent, 0);
}

#[test]
fn a_new_token_lets_the_next_connection_skip_the_retry() {
    let (client, server) = configs(RetryPolicy::Always);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(3, link, client.clone(), server, EndpointConfig::default());
    assert!(pair.connect(LIMIT));
    // Long enough for the NEW_TOKEN frames to arrive and be acknowledged.
    let _ = pair.run_until(Duration::from_millis(500), |_| false);
    reconnect(&mut pair, &client);
    assert_eq!(
        validations(&mut pair),
        (AddressValidation::Token, AddressValidation::Token)
    );
    let stats = server_stats(&mut pair);
    assert_eq!(stats.retries_sent, 1, "the second connection skipped it");
    assert_eq!(stats.validated_by_token, 1);
}

#[test]
fn a_client_without_a_token_store_is_retried_every_time() {
    let (client, server) = configs(RetryPolicy::Always);
    let client = client.token_store(None);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(4, link, client.clone(), server, EndpointConfig::default());
    assert!(pair.connect(LIMIT));
    let _ = pair.run_until(Duration::from_millis(500), |_| false);
    reconnect(&mut pair, &client);
    assert_eq!(
        validations(&mut pair),
        (AddressValidation::Retry, AddressValidation::Retry)
    );
    assert_eq!(server_stats(&mut pair).retries_sent, 2);
}

#[test]
fn handshakes_through_a_retry_complete_on_an_impaired_link() {
    // Loss, reordering, duplication and corruption can take the Retry, the
    // Initials around it or the token-bearing Initial: the handshake still
    // completes, through a Retry (the client's retransmissions of its first
    // Initial are retried again until one Retry arrives).
    Seed::range(0..40).run(|seed| {
        let (client, server) = configs(RetryPolicy::Always);
        let mut pair = Pair::with_configs(
            seed,
            impaired(0.1),
            client,
            server,
            EndpointConfig::default(),
        );
        assert!(pair.connect(LIMIT), "the handshake completes");
        assert_eq!(
            validations(&mut pair),
            (AddressValidation::Retry, AddressValidation::Retry)
        );
    });
}

/// Whether `datagram` is a QUIC v1 Retry packet (RFC 9000 §17.2.5).
fn is_retry(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0xf0 == 0xf0)
}

/// The SCID of a long-header packet.
fn scid(datagram: &[u8]) -> Vec<u8> {
    let header = InvariantHeader::parse(datagram, 8).expect("a long header");
    header.scid().expect("an SCID").to_vec()
}

/// The client's connection's peer's retry_source_connection_id.
fn retry_scid_seen_by_client(pair: &mut Pair) -> Vec<u8> {
    let view = pair.view();
    let params = view
        .client()
        .and_then(|c| c.peer_params())
        .expect("the server's parameters");
    params
        .retry_source_connection_id
        .expect("RFC 9000 §7.3: set after a Retry")
        .to_vec()
}

/// A server that sends Retry to every client, and a hook that holds back
/// the first Retry it sends (handed to the test) and lets later ones by.
fn first_retry_held(seed: u64) -> (Pair, Rc<RefCell<Vec<Vec<u8>>>>) {
    let (client, server) = configs(RetryPolicy::Always);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::with_configs(seed, link, client, server, EndpointConfig::default());
    let retries: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let seen = retries.clone();
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, move |datagram| {
        if !is_retry(datagram) {
            return false;
        }
        let mut seen = seen.borrow_mut();
        seen.push(datagram.to_vec());
        seen.len() == 1
    });
    let _ = pair.run_until(Duration::from_millis(30), |_| false);
    assert_eq!(retries.borrow().len(), 1, "the first Retry was held back");
    (pair, retries)
}

#[test]
fn a_retry_with_a_tampered_tag_is_ignored() {
    // RFC 9001 §5.8 (test): a client discards a Retry whose integrity tag
    // does not verify; it follows the next intact one.
    let (mut pair, retries) = first_retry_held(5);
    let mut tampered = retries.borrow()[0].clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    pair.sim.inject(SERVER_ADDR, CLIENT_ADDR, None, tampered);
    assert!(pair.connect(LIMIT), "the handshake completes");
    // The client's probes resend its first flight, and the server answers
    // with a new Retry (the hook records the injected copy too).
    let retries = retries.borrow();
    let followed = retry_scid_seen_by_client(&mut pair);
    assert_ne!(
        followed,
        scid(&retries[0]),
        "the client did not follow the tampered Retry"
    );
    assert!(
        retries.iter().any(|retry| scid(retry) == followed),
        "it followed a later, intact one"
    );
}

#[test]
fn a_second_retry_is_ignored() {
    // RFC 9000 §17.2.5.2 (test): a client accepts one Retry per
    // connection attempt. A second one, with a valid tag over the client's
    // first DCID but another SCID and token, is discarded: had the client
    // followed it, its bogus token would have been closed with
    // INVALID_TOKEN.
    let (mut pair, retries) = first_retry_held(6);
    let first = retries.borrow()[0].clone();
    let client_initial_dcid = {
        let view = pair.view();
        view.client().expect("the client").original_dcid()
    };
    let header = RetryHeader {
        version: Version::V1,
        dcid: ConnectionId::new(InvariantHeader::parse(&first, 8).expect("a header").dcid())
            .expect("a valid ID"),
        scid: ConnectionId::new(&[0x77; 8]).expect("8 bytes"),
        token: b"a token the server never made",
        unused_bits: 0,
        grease_fixed_bit: false,
    };
    let mut second = Vec::new();
    header.encode(&mut second);
    let tag = retry_integrity_tag(Version::V1, &client_initial_dcid, &second).expect("sealed");
    second.extend_from_slice(&tag);
    pair.sim
        .inject(SERVER_ADDR, CLIENT_ADDR, None, first.clone());
    pair.sim.inject(SERVER_ADDR, CLIENT_ADDR, None, second);
    assert!(pair.connect(LIMIT), "the handshake completes");
    assert_eq!(retry_scid_seen_by_client(&mut pair), scid(&first));
    assert_eq!(server_stats(&mut pair).invalid_tokens, 0);
}
