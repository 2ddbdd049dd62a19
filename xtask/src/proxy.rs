//! A UDP impairment proxy: the part the ns-3 simulator plays in the QUIC
//! interop runner, on real loopback sockets.
//!
//! The client talks to [`Proxy::local_addr`]; the proxy forwards to the
//! server from one upstream socket per client address and sends the
//! server's replies back. Each direction has a one-way delay, a link rate
//! with a drop-tail queue in front, and its own [`Impairment`]s; both
//! directions share an optional [`Blackout`], and the client's apparent
//! address can be rebound ([`Rebind`]). A [`SecondRoute`] gives the proxy
//! a second address, for a server's preferred address. ECN codepoints
//! survive the trip.
//! [`Proxy::stop`] returns a [`Report`] of what went through, with the
//! facts the runner checks (handshakes, amplification, Retry and the
//! token the client sent back, ...).
//!
//! Threads, not async: one blocking receive thread per socket feeds a
//! bounded channel; one scheduler thread decides every datagram's fate as
//! it enters, computes its arrival time from the link model, and sleeps on
//! the channel until the next arrival is due. Nothing spins, and timing is
//! as good as a futex timeout (well under a millisecond).

mod amplification;
mod cli;
mod engine;
mod impair;
#[cfg(test)]
mod loopback_tests;
mod pcap;
mod quic;
mod retry;
pub(crate) mod socket;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeSet,
    io,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant, SystemTime},
};

pub(crate) use cli::{Args, run};

/// Random and listed impairments of one direction, decided as a datagram
/// enters the link.
#[derive(Clone, Debug, Default)]
pub(crate) struct Impairment {
    /// Drop each datagram with this probability, in percent...
    pub(crate) loss_percent: f64,
    /// ...but never more than this many in a row (0: no cap).
    pub(crate) loss_burst: u32,
    /// Flip one random bit of one random byte with this probability, in percent.
    pub(crate) corrupt_percent: f64,
    /// The same cap on consecutive corruptions (0: no cap).
    pub(crate) corrupt_burst: u32,
    /// 1-based indices of datagrams in this direction to drop.
    pub(crate) drop_list: Vec<u64>,
}

/// A link that is up for `on`, then down for `off` (everything dropped, in
/// both directions), repeating from the proxy's start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blackout {
    /// How long the link is up in each period.
    pub(crate) on: Duration,
    /// How long the link is down in each period.
    pub(crate) off: Duration,
}

/// NAT rebinding of the client's apparent address: at `first` and then
/// every `every`, the active client's upstream socket is replaced by a
/// fresh one (a new source port).
///
/// If `address`, the source IP changes too (IPv4: 127.0.0.2, 127.0.0.3,
/// ...; IPv6 has only `::1`, so there only the port changes). What the
/// server sends to the replaced socket reaches the client for
/// `old_mapping` more, and is dropped after that (counted in
/// [`DirStats::dropped_old_mapping`]); the socket itself keeps receiving
/// for at least a second, so the server is not told the port is closed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rebind {
    /// Time of the first rebinding, from the proxy's start.
    pub(crate) first: Duration,
    /// Interval between later rebindings (zero: rebind once).
    pub(crate) every: Duration,
    /// Whether the source IP changes as well as the port.
    pub(crate) address: bool,
    /// How long a replaced binding still carries the server's datagrams to
    /// the client. The runner's NAT (ns-3's `rebind` scenario) forgets it
    /// at once: zero. A home NAT keeps it until its own timeout.
    pub(crate) old_mapping: Duration,
}

/// A second address of the proxy, whose datagrams go to a second server
/// address over the same link, with bindings of their own: what a client
/// that moves to the server's preferred address (RFC 9000 §9.6) must
/// reach, so that the captures see it move.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SecondRoute {
    /// Where the proxy listens (port 0 picks one; see
    /// [`Proxy::second_addr`]).
    pub(crate) listen: SocketAddr,
    /// Where what arrives there goes.
    pub(crate) server: SocketAddr,
}

/// How the proxy's link behaves.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConfig {
    /// One-way propagation delay, each direction.
    pub(crate) delay: Duration,
    /// Link rate each direction, in bits per second; 0 is unlimited.
    pub(crate) bandwidth_bps: u64,
    /// Drop-tail queue in front of the link, in datagrams, per direction.
    pub(crate) queue_packets: usize,
    /// Impairments of datagrams from the client to the server.
    pub(crate) to_server: Impairment,
    /// Impairments of datagrams from the server to the client.
    pub(crate) to_client: Impairment,
    /// Periodic outage of the whole link.
    pub(crate) blackout: Option<Blackout>,
    /// NAT rebinding of the client.
    pub(crate) rebind: Option<Rebind>,
    /// A second address of the proxy and where it leads.
    pub(crate) second_route: Option<SecondRoute>,
    /// Seed of every random decision: same seed, same decisions.
    pub(crate) seed: u64,
    /// Where to write `client.pcap` and `server.pcap`, if anywhere.
    ///
    /// `client.pcap` holds what the client sent and what was delivered to
    /// it; `server.pcap` what was delivered to the server and what it sent.
    /// Raw IP (LINKTYPE_RAW) with synthesized IPv4/IPv6 and UDP headers
    /// carrying the real addresses, the ECN codepoint and a valid UDP
    /// checksum (both families); microsecond timestamps.
    pub(crate) pcap_dir: Option<PathBuf>,
}

impl ProxyConfig {
    /// The runner's `simple-p2p` link: 15 ms delay, 10 Mbit/s, a queue of
    /// 25 datagrams, no impairment, seed 0.
    pub(crate) fn runner_default() -> Self {
        Self {
            delay: Duration::from_millis(15),
            bandwidth_bps: 10_000_000,
            queue_packets: 25,
            to_server: Impairment::default(),
            to_client: Impairment::default(),
            blackout: None,
            rebind: None,
            second_route: None,
            seed: 0,
            pcap_dir: None,
        }
    }
}

/// What the proxy saw, returned by [`Proxy::stop`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Report {
    /// Datagrams from the client to the server.
    pub(crate) to_server: DirStats,
    /// Datagrams from the server to the client.
    pub(crate) to_client: DirStats,
    /// Hex source connection IDs of the server's Initial packets: the
    /// runner counts handshakes as their number.
    pub(crate) server_initial_scids: BTreeSet<String>,
    /// Versions of the server's Initial packets.
    pub(crate) server_initial_versions: BTreeSet<u32>,
    /// Client datagrams holding an Initial that reached the proxy before
    /// the first datagram from the server did.
    pub(crate) client_initials_before_reply: u32,
    /// The anti-amplification check at the server's side of the link.
    pub(crate) amplification: Amplification,
    /// Whether the server sent a Retry.
    pub(crate) retry_seen: bool,
    /// The server's Retry packets and the client's Initials after them.
    pub(crate) retry: RetryReport,
    /// Whether the server sent a Version Negotiation packet.
    pub(crate) version_negotiation_seen: bool,
    /// How many times the client's upstream socket was replaced.
    pub(crate) rebinds: u32,
}

/// Counters of one direction.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct DirStats {
    /// Datagrams that entered the proxy.
    pub(crate) datagrams: u64,
    /// Their UDP payload bytes.
    pub(crate) bytes: u64,
    /// Datagrams sent on to the far side.
    pub(crate) delivered: u64,
    /// Dropped by random loss.
    pub(crate) dropped_loss: u64,
    /// Dropped because their index was on the droplist.
    pub(crate) dropped_list: u64,
    /// Dropped because the queue in front of the link was full.
    pub(crate) dropped_queue: u64,
    /// Dropped during a blackout.
    pub(crate) dropped_blackout: u64,
    /// From the server, dropped because it was sent to a client binding
    /// that a rebinding replaced ([`Rebind::old_mapping`]).
    pub(crate) dropped_old_mapping: u64,
    /// Delivered with one bit flipped.
    pub(crate) corrupted: u64,
    /// Datagrams by ECN codepoint as received: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    pub(crate) ecn: [u64; 4],
    /// Receive and send errors of the sockets on this direction's path.
    pub(crate) socket_errors: u64,
}

/// The anti-amplification check (RFC 9000 §8.1) as the runner does it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Amplification {
    /// `Some(true)` if the client's address was validated (a Handshake
    /// packet reached the server) without a violation, `Some(false)` on a
    /// violation, `None` if neither happened.
    pub(crate) verdict: Option<bool>,
    /// UDP payload bytes of client Initial datagrams delivered to the server.
    pub(crate) client_bytes: u64,
    /// UDP payload bytes the server sent while the check ran.
    pub(crate) server_bytes: u64,
    /// What the check noticed, in order.
    pub(crate) log: Vec<String>,
}

/// What the proxy saw of Retry: the server's Retry packets and the
/// client's Initials after the first of them, read from their headers,
/// which are not encrypted (RFC 9000 §17.2.2, §17.2.5).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct RetryReport {
    /// Retry packets from the server.
    pub(crate) retries: u32,
    /// Their Retry Tokens, in hex, in the order sent (the first 64).
    pub(crate) tokens: Vec<String>,
    /// Client Initial packets that entered the proxy after a Retry had.
    pub(crate) initials_after_retry: u64,
    /// Of those, the ones whose Token field is a Retry's token.
    pub(crate) initials_with_retry_token: u64,
    /// Of those again, the ones addressed to that Retry's Source
    /// Connection ID, as RFC 9000 §7.2 requires.
    pub(crate) initials_with_retry_token_to_retry_scid: u64,
    /// Client Initials after a Retry with a token that no Retry carried
    /// (a NEW_TOKEN token, or a damaged one).
    pub(crate) initials_with_other_token: u64,
}

/// A running proxy; stop it with [`Proxy::stop`] (dropping it stops it too,
/// without the report).
#[derive(Debug)]
pub(crate) struct Proxy {
    local: SocketAddr,
    second: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    events: mpsc::SyncSender<engine::Event>,
    engine: Option<JoinHandle<Report>>,
    listeners: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Binds `listen` (port 0 picks one), and the second route's address
    /// if the configuration has one, and starts forwarding to `server`.
    ///
    /// # Errors
    ///
    /// If a socket cannot be bound, the pcap files cannot be created or
    /// a thread cannot be spawned.
    pub(crate) fn start(
        listen: SocketAddr,
        server: SocketAddr,
        config: ProxyConfig,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = engine::start(listen, server, config, &stop)?;
        Ok(Self {
            local: started.local,
            second: started.second,
            stop,
            events: started.events,
            engine: Some(started.engine),
            listeners: started.listeners,
        })
    }

    /// The address clients send to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address of the [`SecondRoute`], if there is one.
    pub(crate) fn second_addr(&self) -> Option<SocketAddr> {
        self.second
    }

    /// Stops the threads, flushes the pcap files and reports what the proxy
    /// saw. Datagrams still on the simulated link are not delivered.
    pub(crate) fn stop(mut self) -> Report {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.events.send(engine::Event::Stop);
        let report = self
            .engine
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        for h in self.listeners.drain(..) {
            let _ = h.join();
        }
        report
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.engine.is_some() {
            self.shutdown();
        }
    }
}

/// The proxy's clock: xtask's one monotonic clock.
fn now() -> Instant {
    crate::now()
}

/// The wall clock, read once per proxy to timestamp the pcap files.
#[expect(
    clippy::disallowed_methods,
    reason = "pcap records carry wall-clock time so they line up with the endpoints' logs"
)]
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

/// Spawns a named thread.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    thread::Builder::new().name(name.into()).spawn(f)
}
