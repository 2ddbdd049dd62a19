//! The balancer's sockets and threads: a UDP relay that routes each client
//! datagram with a [`Router`].
//!
//! One front socket takes every client's datagrams. Each client address
//! gets its own upstream socket, from which its datagrams go to whichever
//! backend the router picks, so that a backend sees each client as an
//! address of its own and answers it there; what a backend sends to an
//! upstream socket goes out of the front socket to that socket's client.
//! A client's mapping expires after it has been idle for a while, both
//! directions counting as activity.
//!
//! Threads, not async, as the interop proxy: one blocking receive thread
//! per socket (sockets set up by [`crate::proxy::socket`]: GRO off, large
//! buffers, ECN codepoints kept) and one thread that expires mappings.

use std::{
    collections::{BTreeMap, HashMap},
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use super::route::{How, Router};
use crate::proxy::socket::{Endpoint, Received};

/// The most client addresses mapped at once: each costs a socket and a
/// thread, and a flood of spoofed source addresses must not take them all.
const MAX_MAPPINGS: usize = 4096;

/// What the balancer did, from [`Balancer::stop`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Report {
    /// Client datagrams routed by the server ID in their DCID.
    pub(crate) routed_by_cid: u64,
    /// Client datagrams with an unroutable DCID, routed by the fallback.
    pub(crate) routed_by_fallback: u64,
    /// Client datagrams routed by a hash of the client's address (the
    /// 4-tuple mode).
    pub(crate) routed_by_4tuple: u64,
    /// Why the fallback's DCIDs were unroutable, with their counts.
    pub(crate) fallback_reasons: BTreeMap<String, u64>,
    /// Client datagrams sent to each backend, in the router's order.
    pub(crate) per_backend: Vec<u64>,
    /// Client datagrams that went nowhere (empty, cut short, or no
    /// upstream socket: it could not be made, or the table of client
    /// addresses is full).
    pub(crate) dropped: u64,
    /// Backend datagrams relayed to their client.
    pub(crate) replies: u64,
    /// Datagrams on an upstream socket from an address that is no backend.
    pub(crate) replies_dropped: u64,
    /// Client addresses that got an upstream socket.
    pub(crate) mappings_created: u64,
    /// Mappings that expired while idle.
    pub(crate) mappings_expired: u64,
    /// Send and receive errors of the sockets.
    pub(crate) socket_errors: u64,
}

/// A running balancer; [`Balancer::stop`] ends it and reports (dropping
/// it stops it too).
#[derive(Debug)]
pub(crate) struct Balancer {
    local: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    router: Router,
    front: Arc<Endpoint>,
    idle: Duration,
    stop: AtomicBool,
    mappings: Mutex<HashMap<SocketAddr, Mapping>>,
    upstream_threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Counters,
}

/// A client address's upstream socket.
#[derive(Debug)]
struct Mapping {
    upstream: Arc<Endpoint>,
    stop: Arc<AtomicBool>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Counters {
    routed_by_cid: AtomicU64,
    routed_by_fallback: AtomicU64,
    routed_by_4tuple: AtomicU64,
    fallback_reasons: Mutex<BTreeMap<String, u64>>,
    per_backend: Vec<AtomicU64>,
    dropped: AtomicU64,
    replies: AtomicU64,
    replies_dropped: AtomicU64,
    mappings_created: AtomicU64,
    mappings_expired: AtomicU64,
    socket_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Balancer {
    /// Binds `listen` (port 0 picks one) and starts routing with `router`;
    /// mappings idle for `idle` expire.
    ///
    /// # Errors
    /// If the front socket cannot be bound or a thread cannot start.
    pub(crate) fn start(listen: SocketAddr, router: Router, idle: Duration) -> io::Result<Self> {
        let front = Endpoint::bind(listen)?;
        let counters = Counters {
            per_backend: router
                .backends()
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            ..Counters::default()
        };
        let shared = Arc::new(Shared {
            router,
            front,
            idle,
            stop: AtomicBool::new(false),
            mappings: Mutex::new(HashMap::new()),
            upstream_threads: Mutex::new(Vec::new()),
            counters,
        });
        let local = shared.front.local();
        let mut balancer = Self {
            local,
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        let front = Arc::clone(&shared);
        balancer.threads.push(spawn("lb-front", move || {
            front.front.recv_loop(
                &front.stop,
                |received| {
                    front.route_datagram(&received);
                    true
                },
                |_| bump(&front.counters.socket_errors),
            );
        })?);
        let reaper = Arc::clone(&shared);
        balancer
            .threads
            .push(spawn("lb-reaper", move || reaper.reap_until_stopped())?);
        Ok(balancer)
    }

    /// The address clients send to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What the balancer did so far.
    pub(crate) fn report(&self) -> Report {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Report {
            routed_by_cid: load(&c.routed_by_cid),
            routed_by_fallback: load(&c.routed_by_fallback),
            routed_by_4tuple: load(&c.routed_by_4tuple),
            fallback_reasons: lock(&c.fallback_reasons).clone(),
            per_backend: c.per_backend.iter().map(load).collect(),
            dropped: load(&c.dropped),
            replies: load(&c.replies),
            replies_dropped: load(&c.replies_dropped),
            mappings_created: load(&c.mappings_created),
            mappings_expired: load(&c.mappings_expired),
            socket_errors: load(&c.socket_errors),
        }
    }

    /// Stops every thread, closes the sockets and reports.
    pub(crate) fn stop(mut self) -> Report {
        self.shutdown();
        self.report()
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        for (_, mapping) in lock(&self.shared.mappings).drain() {
            mapping.stop.store(true, Ordering::Relaxed);
        }
        let upstreams: Vec<_> = lock(&self.shared.upstream_threads).drain(..).collect();
        for handle in upstreams {
            let _ = handle.join();
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

impl Shared {
    /// Routes one client datagram.
    fn route_datagram(self: &Arc<Self>, received: &Received<'_>) {
        let c = &self.counters;
        let Ok(decision) = self.router.route(received.data, received.from) else {
            bump(&c.dropped);
            return;
        };
        let Some(&backend) = self.router.backends().get(decision.backend) else {
            bump(&c.dropped);
            return;
        };
        let Ok(upstream) = self.upstream_for(received.from, backend) else {
            bump(&c.socket_errors);
            bump(&c.dropped);
            return;
        };
        match decision.how {
            How::Cid(_) => bump(&c.routed_by_cid),
            How::FourTuple => bump(&c.routed_by_4tuple),
            How::Fallback(why) => {
                bump(&c.routed_by_fallback);
                *lock(&c.fallback_reasons)
                    .entry(format!("{why:?}"))
                    .or_default() += 1;
            }
        }
        if let Some(count) = c.per_backend.get(decision.backend) {
            bump(count);
        }
        if upstream
            .send(backend, received.ecn, None, received.data)
            .is_err()
        {
            bump(&c.socket_errors);
        }
    }

    /// The upstream socket of `client`, made (with its receive thread) on
    /// its first datagram; marks the mapping as used.
    fn upstream_for(
        self: &Arc<Self>,
        client: SocketAddr,
        backend: SocketAddr,
    ) -> io::Result<Arc<Endpoint>> {
        let mut mappings = lock(&self.mappings);
        if let Some(mapping) = mappings.get_mut(&client) {
            mapping.last_seen = crate::now();
            return Ok(Arc::clone(&mapping.upstream));
        }
        if mappings.len() >= MAX_MAPPINGS {
            return Err(io::Error::other("too many client addresses mapped"));
        }
        let any = if backend.is_ipv4() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        } else {
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
        };
        let upstream = Endpoint::bind(any)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, socket, stopped) =
            (Arc::clone(self), Arc::clone(&upstream), Arc::clone(&stop));
        let handle = spawn("lb-upstream", move || {
            socket.recv_loop(
                &stopped,
                |received| {
                    shared.relay_reply(client, &received);
                    true
                },
                |_| bump(&shared.counters.socket_errors),
            );
        })?;
        lock(&self.upstream_threads).push(handle);
        bump(&self.counters.mappings_created);
        mappings.insert(
            client,
            Mapping {
                upstream: Arc::clone(&upstream),
                stop,
                last_seen: crate::now(),
            },
        );
        Ok(upstream)
    }

    /// Relays a backend's datagram to `client`.
    fn relay_reply(&self, client: SocketAddr, received: &Received<'_>) {
        let c = &self.counters;
        if !self.router.backends().contains(&received.from) {
            bump(&c.replies_dropped);
            return;
        }
        if let Some(mapping) = lock(&self.mappings).get_mut(&client) {
            mapping.last_seen = crate::now();
        }
        if self
            .front
            .send(client, received.ecn, None, received.data)
            .is_ok()
        {
            bump(&c.replies);
        } else {
            bump(&c.socket_errors);
        }
    }

    /// Expires idle mappings until the balancer stops.
    fn reap_until_stopped(&self) {
        let tick = (self.idle / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        while !self.stop.load(Ordering::Relaxed) {
            thread::sleep(tick);
            let expired = expire(&mut lock(&self.mappings), crate::now(), self.idle, |m| {
                m.last_seen
            });
            for mapping in &expired {
                mapping.stop.store(true, Ordering::Relaxed);
            }
            let n = u64::try_from(expired.len()).unwrap_or(u64::MAX);
            self.counters
                .mappings_expired
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Removes and returns the entries of `map` last seen more than `idle`
/// before `now`.
fn expire<V>(
    map: &mut HashMap<SocketAddr, V>,
    now: Instant,
    idle: Duration,
    last_seen: impl Fn(&V) -> Instant,
) -> Vec<V> {
    let old: Vec<SocketAddr> = map
        .iter()
        .filter(|(_, v)| now.saturating_duration_since(last_seen(v)) > idle)
        .map(|(k, _)| *k)
        .collect();
    old.iter().filter_map(|k| map.remove(k)).collect()
}

/// Spawns a named thread.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.into()).spawn(f)
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
