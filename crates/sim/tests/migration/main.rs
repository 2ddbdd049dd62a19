//! Migration (RFC 9000 §9) and path validation (§8.2) between real
//! endpoints on the simulated network: the connection IDs each side issues
//! (§5.1), NAT rebindings during transfers, what a move keeps and what it
//! starts again, off-path attackers that copy a client's packets from
//! another address, the server's preferred address, and a client's own
//! moves.

mod cids;
mod nat;
mod preferred;
mod probe;
mod rebind;
mod spoofing;

use std::time::Duration;

use tern_sim::LinkConfig;

/// How long a test waits for what it expects, in simulated time.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// A 10 ms path each way.
pub(crate) fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(10))
}
