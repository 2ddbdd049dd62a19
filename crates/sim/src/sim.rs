//! The network: nodes at addresses, links between them, datagrams in flight
//! and the virtual clock.

mod run;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tern_proto::EcnCodepoint;
use tracing::trace;

use crate::link::LinkConfig;
use crate::link::state::LinkState;
use crate::trace::{Stats, TraceEvent};

/// Rounds of deliveries, timeouts and sends allowed at one instant before
/// the run is declared a livelock.
const DEFAULT_ROUND_LIMIT: u32 = 10_000;

/// A trace hook: called with every event, in order.
type Hook = Box<dyn FnMut(&TraceEvent)>;

/// A test's choice of datagrams to drop on one link: true drops.
type Filter = Box<dyn FnMut(&[u8]) -> bool>;

/// The simulated network, generic over its node type.
///
/// See the [crate documentation](crate) for the loop and for determinism.
/// Use an enum of node kinds, or `Box<dyn Node>`, to mix kinds in one sim.
pub struct Sim<N> {
    seed: u64,
    rng: StdRng,
    epoch: Instant,
    now: Duration,
    nodes: Vec<Slot<N>>,
    routes: BTreeMap<SocketAddr, usize>,
    default_link: LinkConfig,
    links: BTreeMap<(SocketAddr, SocketAddr), LinkConfig>,
    link_states: BTreeMap<(SocketAddr, SocketAddr), LinkState>,
    in_flight: BinaryHeap<InFlight>,
    next_id: u64,
    next_seq: u64,
    stats: Stats,
    hooks: Vec<Hook>,
    filters: BTreeMap<(SocketAddr, SocketAddr), Filter>,
    trace: Option<Vec<TraceEvent>>,
    round_limit: u32,
    buf: Vec<u8>,
}

/// A node and the addresses it answers on (the first is where it sends
/// from unless its `Transmit` names another local IP).
struct Slot<N> {
    node: N,
    addrs: Vec<SocketAddr>,
}

/// One copy of a datagram on its way.
#[derive(Debug)]
struct InFlight {
    at: Duration,
    seq: u64,
    id: u64,
    duplicate: bool,
    from: SocketAddr,
    to: SocketAddr,
    ecn: Option<EcnCodepoint>,
    data: Bytes,
}

// `BinaryHeap` is a max-heap: the earliest arrival, then the first
// scheduled, must compare greatest.
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for InFlight {}

/// The instant every sim's time is measured from, read once per process.
///
/// Each sim reports and records time as an offset from it, so runs compare
/// equal across processes even though the `Instant` values differ.
#[must_use]
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(read_clock)
}

#[expect(
    clippy::disallowed_methods,
    reason = "the sim's fixed epoch is the one reading of the clock; all sim time is an offset from it"
)]
fn read_clock() -> Instant {
    Instant::now()
}

impl<N> Sim<N> {
    /// An empty network whose every random choice comes from `seed`, with
    /// [`LinkConfig::default()`] between any two addresses.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: StdRng::seed_from_u64(seed),
            epoch: epoch(),
            now: Duration::ZERO,
            nodes: Vec::new(),
            routes: BTreeMap::new(),
            default_link: LinkConfig::default(),
            links: BTreeMap::new(),
            link_states: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            next_id: 0,
            next_seq: 0,
            stats: Stats::default(),
            hooks: Vec::new(),
            filters: BTreeMap::new(),
            trace: None,
            round_limit: DEFAULT_ROUND_LIMIT,
            buf: Vec::new(),
        }
    }

    /// The seed this sim was made with.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds a node answering on `addr`; returns its index.
    ///
    /// # Panics
    ///
    /// If another node already holds `addr`.
    pub fn add_node(&mut self, addr: SocketAddr, node: N) -> usize {
        let index = self.nodes.len();
        self.claim(addr, index);
        self.nodes.push(Slot {
            node,
            addrs: vec![addr],
        });
        index
    }

    /// Lets node `index` also answer on `addr` (it sends from it when its
    /// `Transmit::src_ip` names that IP).
    ///
    /// # Panics
    ///
    /// If `index` is out of range or another node already holds `addr`.
    pub fn add_address(&mut self, index: usize, addr: SocketAddr) {
        assert!(index < self.nodes.len(), "no node {index}");
        self.claim(addr, index);
        self.nodes[index].addrs.push(addr);
    }

    /// Moves node `index`'s main address to `addr`, as a NAT rebinding
    /// would: it sends from `addr` from now on, and datagrams still on their
    /// way to the old address are dropped with
    /// [`DropReason::NoRoute`](crate::DropReason::NoRoute).
    ///
    /// # Panics
    ///
    /// If `index` is out of range or another node already holds `addr`.
    pub fn rebind(&mut self, index: usize, addr: SocketAddr) {
        assert!(index < self.nodes.len(), "no node {index}");
        self.claim(addr, index);
        let old = std::mem::replace(&mut self.nodes[index].addrs[0], addr);
        self.routes.remove(&old);
        trace!(node = index, %old, new = %addr, "rebind");
    }

    fn claim(&mut self, addr: SocketAddr, index: usize) {
        let previous = self.routes.insert(addr, index);
        assert!(previous.is_none(), "address {addr} is already taken");
    }

    /// Node `index`'s main address.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[must_use]
    pub fn address(&self, index: usize) -> SocketAddr {
        self.nodes[index].addrs[0]
    }

    /// The index of the node holding `addr`, if any.
    #[must_use]
    pub fn node_index(&self, addr: SocketAddr) -> Option<usize> {
        self.routes.get(&addr).copied()
    }

    /// Node `index`.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[must_use]
    pub fn node(&self, index: usize) -> &N {
        &self.nodes[index].node
    }

    /// Node `index`, to act on it between steps (what it queues is sent at
    /// the next step).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[must_use]
    pub fn node_mut(&mut self, index: usize) -> &mut N {
        &mut self.nodes[index].node
    }

    /// How many nodes the sim holds.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The link used between addresses that have no link of their own.
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// The link from `from` to `to` (one direction).
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        self.links.insert((from, to), config);
    }

    /// The same link config in both directions between `a` and `b` (each
    /// direction still has its own queue and randomness).
    pub fn set_path(&mut self, a: SocketAddr, b: SocketAddr, config: LinkConfig) {
        self.links.insert((a, b), config.clone());
        self.links.insert((b, a), config);
    }

    /// The link config from `from` to `to`.
    #[must_use]
    pub fn link(&self, from: SocketAddr, to: SocketAddr) -> &LinkConfig {
        self.links.get(&(from, to)).unwrap_or(&self.default_link)
    }

    /// Calls `hook` with every trace event from now on, in order, before
    /// the event takes effect (before the node handles a delivered copy).
    pub fn on_event(&mut self, hook: impl FnMut(&TraceEvent) + 'static) {
        self.hooks.push(Box::new(hook));
    }

    /// Drops every datagram sent from `from` to `to` for which `filter`
    /// returns true, before the link sees it (it takes no bandwidth and no
    /// random draw), with [`DropReason::Filtered`](crate::DropReason::Filtered).
    /// For tests that need one particular packet lost; replaces an earlier
    /// filter of that link.
    pub fn drop_if(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        filter: impl FnMut(&[u8]) -> bool + 'static,
    ) {
        self.filters.insert((from, to), Box::new(filter));
    }

    /// Starts (`true`) or stops and clears (`false`) recording every event
    /// in [`trace`](Self::trace).
    pub fn record_trace(&mut self, on: bool) {
        self.trace = on.then(Vec::new);
    }

    /// The events recorded since [`record_trace(true)`](Self::record_trace).
    #[must_use]
    pub fn trace(&self) -> &[TraceEvent] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// Takes the recorded events, leaving recording on with an empty trace.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Copies of datagrams on their way.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The current sim time, as the `Instant` the nodes are given.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.epoch + self.now
    }

    /// The current sim time since the epoch.
    #[must_use]
    pub const fn elapsed(&self) -> Duration {
        self.now
    }

    /// The instant sim time counts from (see [`epoch()`]).
    #[must_use]
    pub const fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Rounds of work allowed at one instant before the run fails with
    /// [`SimError::Livelock`](crate::SimError::Livelock) (default 10 000).
    /// A node stuck on its timer is reported after 100 rounds, so keep the
    /// limit above that to get [`SimError::StuckTimer`](crate::SimError::StuckTimer).
    pub fn set_round_limit(&mut self, rounds: u32) {
        self.round_limit = rounds.max(1);
    }

    /// Puts a datagram on the network as if sent now from `from` (which need
    /// not be a node's address), through the `from → to` link.
    pub fn inject(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: impl Into<Bytes>,
    ) {
        self.send(from, to, ecn, data.into());
    }

    /// The address node `index` sends from, given its `Transmit::src_ip`.
    fn source(&self, index: usize, src_ip: Option<IpAddr>) -> SocketAddr {
        let addrs = &self.nodes[index].addrs;
        src_ip
            .and_then(|ip| addrs.iter().find(|a| a.ip() == ip))
            .unwrap_or(&addrs[0])
            .to_owned()
    }

    /// Hands a datagram to the `from → to` link and schedules what arrives.
    fn send(&mut self, from: SocketAddr, to: SocketAddr, ecn: Option<EcnCodepoint>, data: Bytes) {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.now;
        let len = data.len();
        self.emit(TraceEvent::Sent {
            at,
            id,
            from,
            to,
            ecn,
            data: data.clone(),
        });
        let filtered = self
            .filters
            .get_mut(&(from, to))
            .is_some_and(|filter| filter(&data));
        // A filtered datagram never reaches the link: no random draw.
        let (ecn, fate) = if filtered {
            (ecn, Err(crate::DropReason::Filtered))
        } else {
            let config = self.links.get(&(from, to)).unwrap_or(&self.default_link);
            let ecn = match (config.ecn, ecn) {
                (crate::link::EcnPolicy::Pass, ecn) | (_, ecn @ None) => ecn,
                (crate::link::EcnPolicy::Bleach, Some(_)) => None,
                (crate::link::EcnPolicy::MarkCe(p), Some(mark)) => {
                    if rand::Rng::random_bool(&mut self.rng, p.clamp(0.0, 1.0)) {
                        Some(EcnCodepoint::Ce)
                    } else {
                        Some(mark)
                    }
                }
            };
            let config = self.links.get(&(from, to)).unwrap_or(&self.default_link);
            let fate = self.link_states.entry((from, to)).or_default().carry(
                config,
                at,
                len,
                &mut self.rng,
            );
            (ecn, fate)
        };
        let carried = match fate {
            Ok(carried) => carried,
            Err(reason) => {
                self.emit(TraceEvent::Dropped {
                    at,
                    id,
                    duplicate: false,
                    from,
                    to,
                    len,
                    reason,
                });
                return;
            }
        };
        if carried.duplicate.is_some() {
            self.emit(TraceEvent::Duplicated { at, id });
        }
        for (duplicate, arrival) in [(false, Some(carried.first)), (true, carried.duplicate)] {
            let Some(arrival) = arrival else { continue };
            let data = match arrival.corruption {
                Some(c) => {
                    self.emit(TraceEvent::Corrupted {
                        at,
                        id,
                        duplicate,
                        offset: c.offset,
                        mask: c.mask,
                    });
                    let mut bytes = data.to_vec();
                    if let Some(byte) = bytes.get_mut(c.offset) {
                        *byte ^= c.mask;
                    }
                    Bytes::from(bytes)
                }
                None => data.clone(),
            };
            self.in_flight.push(InFlight {
                at: arrival.at,
                seq: self.next_seq,
                id,
                duplicate,
                from,
                to,
                ecn,
                data,
            });
            self.next_seq += 1;
        }
    }

    /// Counts, traces, records and hands an event to the hooks.
    fn emit(&mut self, event: TraceEvent) {
        trace!(at = ?event.at(), id = event.id(), kind = event.kind(), "datagram");
        self.stats.count(&event);
        for hook in &mut self.hooks {
            hook(&event);
        }
        if let Some(trace) = &mut self.trace {
            trace.push(event);
        }
    }
}

impl<N> fmt::Debug for Sim<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("elapsed", &self.now)
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
