//! ECN on the path (RFC 9000 §13.4).

use bytes::Bytes;
use tern_proto::config::{EndpointConfig, TransportConfig};
use tern_sim::{EcnPolicy, pair::Pair};

use crate::{LIMIT, link};

/// Connects over `policy`, then sends datagrams both ways so that more
/// than the ten testing packets are acknowledged.
fn exchange(seed: u64, policy: EcnPolicy) -> Pair {
    let mut pair = Pair::new(
        seed,
        link().ecn(policy),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    let mut received = 0;
    for round in 0..20_u8 {
        let mut view = pair.view();
        view.client_mut()
            .expect("client")
            .send_datagram(Bytes::from(vec![round; 100]))
            .expect("queued");
        view.server_mut()
            .expect("server")
            .send_datagram(Bytes::from(vec![round; 100]))
            .expect("queued");
        let _ = pair.run_until(LIMIT, |view| {
            while view.server_mut().and_then(|c| c.recv_datagram()).is_some() {
                received += 1;
            }
            received > usize::from(round)
        });
    }
    let _ = pair.run_until(std::time::Duration::from_secs(1), |_| false);
    pair
}

#[test]
fn a_path_that_carries_marks_validates_ecn() {
    let mut pair = exchange(20, EcnPolicy::Pass);
    let view = pair.view();
    assert!(view.client().expect("client").stats().ecn_capable);
    assert!(view.server().expect("server").stats().ecn_capable);
}

#[test]
fn a_path_that_bleaches_marks_fails_validation_and_stops_marking() {
    // RFC 9000 §13.4.2.1 (test): acknowledgements without ECN counts for
    // marked packets fail validation.
    let mut pair = exchange(21, EcnPolicy::Bleach);
    let view = pair.view();
    assert!(!view.client().expect("client").stats().ecn_capable);
    assert!(!view.server().expect("server").stats().ecn_capable);
}

#[test]
fn congestion_experienced_marks_are_reported_to_the_sender() {
    let mut pair = exchange(22, EcnPolicy::MarkCe(0.2));
    let view = pair.view();
    let client = view.client().expect("client").stats();
    assert!(client.ecn_capable, "CE marks do not fail validation");
    assert!(
        client.ecn_ce_reported > 0,
        "the server echoed CE marks: {client:?}"
    );
}
