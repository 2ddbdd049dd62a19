//! Whole handshakes through address validation: a Tern client follows a
//! Tern server's Retry (RFC 9000 §8.1.2), and comes back later with the
//! server's NEW_TOKEN token and no Retry (§8.1.3); both sides' snapshots
//! say how the address was validated.

use std::time::Duration;

use tern_proto::{
    AddressValidation,
    config::{ClientConfig, EndpointConfig, RetryPolicy, ServerConfig},
    endpoint::EndpointStats,
};
use tern_sim::{
    LinkConfig, Seed, certs,
    pair::{Pair, SERVER},
    quic::SERVER_ADDR,
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
