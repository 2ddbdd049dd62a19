//! # tern-sim: a deterministic network for testing tern-proto
//!
//! `tern-sim` drives sans-IO endpoints over a virtual network. It knows
//! nothing of QUIC: anything that implements [`Node`] (the shape of
//! `tern-proto`'s endpoint: datagrams and timeouts in, datagrams and
//! deadlines out) can sit at an address. Between any two addresses runs a
//! directed link, a [`LinkConfig`] with delay, jitter, loss (independent or
//! in bursts), reordering, duplication, corruption, a bandwidth limit with a
//! tail-drop queue, and a blackout window. A test that needs particular
//! datagrams lost (a client's Finished, say) sets a filter on a link with
//! [`Sim::drop_if`].
//!
//! ## The loop
//!
//! Time is virtual. At each instant the [`Sim`] delivers every datagram due,
//! calls `handle_timeout` on every node whose `poll_timeout` is at or before
//! now, and polls every node's `poll_transmit` until it returns `None`;
//! it repeats that while anything new is due at the same instant, then jumps
//! straight to the earliest next arrival or deadline. Nodes are always
//! visited in index order. The run ends when a predicate holds
//! ([`Sim::run_until`]), when nothing is in flight and no node has a
//! deadline ([`RunOutcome::Idle`]), at a time limit, or when a node keeps
//! time from moving on ([`SimError`]: a timer that stays due after being
//! handled, endless sending, or a livelock over zero-delay links) — it is
//! reported, not spun on.
//!
//! ## Determinism and replaying a seed
//!
//! Every random choice of the network comes from one RNG seeded by
//! [`Sim::new`]'s seed, drawn in a fixed order; the clock reads the system
//! time once per process ([`epoch()`]) and every sim time is that epoch
//! plus an offset. Traces and stats record offsets ([`Sim::elapsed`]). So
//! the same seed and the same (deterministic) nodes give the same run, byte
//! for byte. Give nodes their own RNGs seeded from the same seed (see
//! [`Sim::seed`]) to keep the whole run replayable.
//!
//! Tests run a body over many seeds with [`Seed`]; a failure panics with
//! `tern-sim: failing seed N (replay with TERN_SIM_SEED=N)`, and running
//! the test again with that variable set replays exactly that run:
//!
//! ```text
//! TERN_SIM_SEED=17 cargo test -p tern-sim the_failing_test
//! ```
//!
//! ## Observing
//!
//! Every datagram is [`TraceEvent::Sent`], then dropped (with a
//! [`DropReason`]) or delivered (possibly duplicated or corrupted). Register
//! a hook with [`Sim::on_event`] to check every event as it happens, record
//! them with [`Sim::record_trace`], or read the counters in [`Sim::stats`].
//!
//! ## Example
//!
//! A node that says hello once, and one that echoes, 25 ms apart:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//!
//! use bytes::BytesMut;
//! use tern_sim::tern_proto::{EcnCodepoint, Transmit};
//! use tern_sim::{LinkConfig, Node, RunOutcome, Sim};
//!
//! /// Sends `hello` to `peer` once; echoes back whatever else it gets.
//! struct Toy {
//!     peer: Option<SocketAddr>,
//!     outbox: Vec<(SocketAddr, Vec<u8>)>,
//!     received: usize,
//! }
//!
//! impl Node for Toy {
//!     fn handle(&mut self, _now: Instant, remote: SocketAddr, _local: SocketAddr,
//!               _ecn: Option<EcnCodepoint>, data: BytesMut) {
//!         self.received += 1;
//!         if self.peer.is_none() {
//!             self.outbox.push((remote, data.to_vec()));
//!         }
//!     }
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
//!         let (destination, data) = self.outbox.pop()?;
//!         buf.extend_from_slice(&data);
//!         Some(Transmit { destination, ecn: None, size: data.len(), segment_size: None, src_ip: None })
//!     }
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//! }
//!
//! let client: SocketAddr = "10.0.0.1:4433".parse().unwrap();
//! let server: SocketAddr = "10.0.0.2:443".parse().unwrap();
//! let mut sim = Sim::new(7);
//! sim.set_path(client, server, LinkConfig::default().delay(Duration::from_millis(25)));
//! let hello = Toy { peer: Some(server), outbox: vec![(server, b"hello".to_vec())], received: 0 };
//! let c = sim.add_node(client, hello);
//! sim.add_node(server, Toy { peer: None, outbox: Vec::new(), received: 0 });
//!
//! let outcome = sim.run_until(|sim| sim.node(c).received == 1, Duration::from_secs(1));
//! assert_eq!(outcome, RunOutcome::Satisfied);
//! assert_eq!(sim.elapsed(), Duration::from_millis(50));
//! assert_eq!(sim.stats().delivered, 2);
//! // Nothing is left to happen: the run ends on its own.
//! assert_eq!(sim.run(Duration::from_secs(60)), RunOutcome::Idle);
//! ```
#![forbid(unsafe_code)]

pub mod certs;
mod link;
mod outcome;
pub mod pair;
pub mod quic;
pub mod resume;
mod seed;
mod sim;
mod trace;
pub mod transfer;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
pub use tern_proto;
use tern_proto::{EcnCodepoint, Transmit};

pub use crate::link::{BurstLoss, EcnPolicy, LinkConfig};
pub use crate::outcome::{RunOutcome, SimError};
pub use crate::seed::{SEED_ENV, Seed};
pub use crate::sim::{Sim, epoch};
pub use crate::trace::{DropReason, Stats, TraceEvent};

/// A sans-IO endpoint the sim can drive: the methods mirror `tern-proto`'s
/// endpoint API.
///
/// The sim calls them in this order at each instant: `handle` for each
/// datagram due, `handle_timeout` if `poll_timeout` is at or before now,
/// then `poll_transmit` until it returns `None`. Implementations must be
/// deterministic (no clock, no unseeded RNG) for runs to replay.
pub trait Node {
    /// A datagram arrives from `remote`, to our `local` address.
    fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    );

    /// The next datagram to send, written into `buf` (which the sim clears
    /// first); the first `Transmit::size` bytes are sent. With
    /// `Transmit::segment_size` set, they are split into datagrams of that
    /// size (GSO). `None` when there is nothing to send now.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;

    /// When the node next wants `handle_timeout`, if ever.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// The deadline from `poll_timeout` has passed; handling it must move the
    /// deadline past `now` or clear it.
    fn handle_timeout(&mut self, now: Instant);
}

impl<N: Node + ?Sized> Node for Box<N> {
    fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        (**self).handle(now, remote, local, ecn, data);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        (**self).poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        (**self).poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }
}
