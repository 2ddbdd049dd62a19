//! Path MTU discovery (RFC 9000 §14.3, RFC 8899).

use std::time::Duration;

use tern_proto::config::{EndpointConfig, TransportConfig};
use tern_sim::{LinkConfig, pair::Pair};

use crate::LIMIT;

fn discovered(seed: u64, link: LinkConfig) -> (u16, u16) {
    let mut pair = Pair::new(
        seed,
        link,
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    // Probes go out after confirmation; lost ones are declared lost after a
    // few round trips, so give the search a few seconds.
    let _ = pair.run_until(Duration::from_secs(10), |_| false);
    let view = pair.view();
    (
        view.client().expect("client").stats().path_mtu,
        view.server().expect("server").stats().path_mtu,
    )
}

#[test]
fn an_open_path_reaches_the_configured_maximum() {
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    assert_eq!(discovered(30, link), (1452, 1452));
}

#[test]
fn a_path_with_a_smaller_mtu_is_found_to_within_twenty_bytes() {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .mtu(1400);
    let (client, server) = discovered(31, link);
    for mtu in [client, server] {
        assert!((1380..=1400).contains(&mtu), "discovered {mtu}");
    }
}

#[test]
fn a_path_at_the_minimum_stays_at_1200() {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .mtu(1200);
    assert_eq!(discovered(32, link), (1200, 1200));
}
