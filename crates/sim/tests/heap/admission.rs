//! A server flooded with client Initials keeps nothing for those it does
//! not admit (RFC 9000 §8.1, §21.1): not for an Initial that fails to
//! decrypt, nor for one answered with a stateless Retry, nor for one
//! refused at the admission limits. Measured on the heap, not inferred
//! from the endpoint's counters.

use std::sync::Arc;

use bytes::BytesMut;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use tern_proto::{
    config::{EndpointConfig, RetryPolicy, ServerConfig},
    endpoint::Endpoint,
};
use tern_sim::{
    certs, epoch,
    quic::{CLIENT_ADDR, SERVER_ADDR, client_initial},
};

use super::{alone, live};

/// Initials in each flood.
const FLOOD: usize = 1000;

/// Heap growth allowed over a whole flood: the endpoint's first refusal
/// report (a sentence) and queues that grew to their working size once.
const SLACK: isize = 4096;

fn server(change: impl FnOnce(&mut ServerConfig)) -> Endpoint {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut config = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    change(&mut config);
    Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(config)),
        Some(SERVER_ADDR),
        1,
    )
}

/// Feeds every datagram to `endpoint`, sending what it answers as it goes
/// (as an event loop does), and returns the heap it holds after, beyond
/// what it held before, and the answers sent.
fn flood(endpoint: &mut Endpoint, datagrams: &[Vec<u8>]) -> (isize, usize) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut answers = 0;
    let mut feed = |endpoint: &mut Endpoint, datagram: &[u8]| {
        endpoint.handle(
            epoch(),
            CLIENT_ADDR,
            Some(SERVER_ADDR.ip()),
            None,
            BytesMut::from(datagram),
        );
        while endpoint.poll_transmit(epoch(), 1, &mut buf).is_some() {
            answers += 1;
            buf.clear();
        }
    };
    // One datagram first, so that one-time growth (the refusal report,
    // queues reaching their working size) is not counted per Initial.
    feed(endpoint, &datagrams[0]);
    let start = live();
    for datagram in &datagrams[1..] {
        feed(endpoint, datagram);
    }
    let held = live() - start;
    (held, answers)
}

/// `FLOOD` real client Initials, each from a client of its own.
fn initials() -> Vec<Vec<u8>> {
    (0..FLOOD as u64)
        .map(|seed| client_initial(1000 + seed))
        .collect()
}

fn check(what: &str, held: isize) {
    println!("{what}: the heap grew by {held} bytes over {FLOOD} Initials");
    assert!(
        held <= SLACK,
        "{what}: the heap grew by {held} bytes over {FLOOD} Initials"
    );
}

#[test]
fn initials_that_fail_to_decrypt_leave_nothing_on_the_heap() {
    alone(|| {
        let mut rng = StdRng::seed_from_u64(3);
        let datagrams: Vec<Vec<u8>> = initials()
            .into_iter()
            .map(|mut datagram| {
                // A corrupted payload: the header parses, the AEAD fails.
                let at = 100 + (rng.next_u32() as usize % 1000);
                datagram[at] ^= 0x40;
                datagram
            })
            .collect();
        let mut endpoint = server(|_| {});
        let (held, answers) = flood(&mut endpoint, &datagrams);
        assert_eq!(answers, 0);
        assert_eq!(endpoint.stats().incoming, 0);
        check("undecryptable Initials", held);
    });
}

#[test]
fn initials_answered_with_retry_leave_nothing_on_the_heap() {
    alone(|| {
        let datagrams = initials();
        let mut endpoint = server(|c| c.retry = RetryPolicy::Always);
        let (held, answers) = flood(&mut endpoint, &datagrams);
        assert_eq!(answers, FLOOD, "each Initial got its Retry");
        assert_eq!(endpoint.stats().retries_sent, FLOOD as u64);
        assert_eq!(endpoint.stats().incoming, 0);
        check("Initials answered with Retry", held);
    });
}

#[test]
fn initials_beyond_the_handshake_limit_leave_nothing_on_the_heap() {
    alone(|| {
        let datagrams = initials();
        // One handshake at most, and no Retry: every Initial after the
        // first is refused with CONNECTION_REFUSED.
        let mut endpoint = server(|c| {
            c.retry = RetryPolicy::Never;
            c.max_handshakes = 1;
        });
        let (held, answers) = flood(&mut endpoint, &datagrams);
        assert_eq!(answers, FLOOD - 1, "each refused Initial was answered");
        assert_eq!(endpoint.stats().refused_handshake_limit, FLOOD as u64 - 1);
        assert_eq!(endpoint.stats().incoming, 1, "the first one waits");
        check("Initials beyond max_handshakes", held);
    });
}
