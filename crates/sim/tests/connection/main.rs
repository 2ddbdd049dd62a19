//! Connection behaviour after the handshake, over the simulated network.

mod closing;
mod datagram_buffer;
mod datagrams;
mod ecn;
mod key_log;
mod key_update;
mod lost_finished;
mod mtu;
mod probe_answer;
mod qlog;
mod request_response;
mod stream_credit;
mod stream_freeing;

use std::time::Duration;

use tern_proto::config::{EndpointConfig, TransportConfig};
use tern_sim::{LinkConfig, pair::Pair};

pub(crate) const LIMIT: Duration = Duration::from_secs(60);

pub(crate) fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(20))
}

/// A connected pair with these transport settings on both sides.
pub(crate) fn connected(seed: u64, transport: TransportConfig, endpoint: EndpointConfig) -> Pair {
    let mut pair = Pair::new(seed, link(), transport, endpoint);
    assert!(pair.connect(LIMIT), "the handshake completes");
    pair
}
