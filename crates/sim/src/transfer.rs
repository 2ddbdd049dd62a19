//! A bulk transfer from client to server over streams, measured: the
//! scenario behind the `transfer` example and the recovery tests.

use std::{
    hash::{DefaultHasher, Hasher},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId,
    config::{EndpointConfig, TransportConfig},
    connection::{Connection, ConnectionStats},
    streams::{ReadError, WriteError},
};

use crate::{
    LinkConfig,
    pair::{CLIENT, Pair},
    quic::CLIENT_ADDR,
};

/// Bytes of the repeating pattern each stream's data is cut from.
const PATTERN_LEN: usize = 1 << 20;

/// `bytes` sent over `streams` unidirectional streams from client to
/// server over `link`, checked byte for byte with a digest.
#[derive(Debug, Clone)]
pub struct TransferRun {
    /// Drives the network's and the endpoints' random choices.
    pub seed: u64,
    /// Both directions of the path.
    pub link: LinkConfig,
    /// Bytes to move in all.
    pub bytes: u64,
    /// Streams to spread them over.
    pub streams: usize,
    /// Simulated time allowed, handshake included.
    pub time_limit: Duration,
    /// Transport settings of both sides.
    pub transport: TransportConfig,
    /// A blackout of both directions: it starts this long after the
    /// transfer does and lasts the second duration.
    pub blackout: Option<(Duration, Duration)>,
    /// A NAT in front of the client rebinds it this often, from the start
    /// of the transfer: the client's address changes without its endpoint
    /// knowing, and datagrams on their way to the old one are lost.
    pub rebind_every: Option<Duration>,
    /// Each rebinding changes the client's IP address, not only its port.
    pub rebind_address: bool,
    /// The NAT's old mappings keep delivering to the client after a
    /// rebinding, as a NAT's do until they expire; otherwise what the
    /// server sends to an old address is lost, and a client with nothing
    /// to send does not learn of it (no peer can find it then).
    pub old_mappings_live: bool,
    /// The server sends as many bytes back, on streams of its own, at the
    /// same time.
    pub both_ways: bool,
}

/// What a [`TransferRun`] measured.
#[derive(Debug, Clone)]
pub struct TransferReport {
    /// The seed.
    pub seed: u64,
    /// Bytes asked for.
    pub bytes: u64,
    /// Bytes the server received.
    pub received: u64,
    /// Bytes the client received, with [`TransferRun::both_ways`].
    pub received_back: u64,
    /// Times the client's NAT rebound it.
    pub rebinds: u64,
    /// Whether every stream finished with the same digest on both sides.
    pub intact: bool,
    /// Whether the transfer finished within the time limit.
    pub completed: bool,
    /// Simulated time from the first stream byte to the last.
    pub transfer_time: Duration,
    /// Simulated time in all, handshake included.
    pub sim_time: Duration,
    /// Goodput over the transfer, in Mbit/s.
    pub goodput_mbps: f64,
    /// Goodput once the window has grown: the rate at which in-order bytes
    /// arrived between the moments a quarter and 85% of them had, in
    /// Mbit/s. (Two interior marks, so data buffered out of order at either
    /// mark roughly cancels out.)
    pub steady_goodput_mbps: f64,
    /// The client's counters at the end.
    pub client_stats: Option<ConnectionStats>,
    /// The server's counters at the end.
    pub server_stats: Option<ConnectionStats>,
    /// The congestion controller's name.
    pub cc: &'static str,
}

/// One sending stream: its id, what is left to write, and its digest.
struct Outgoing {
    id: StreamId,
    remaining: u64,
    offset: u64,
    finished: bool,
    digest: DefaultHasher,
}

/// One receiving stream.
struct Incoming {
    id: StreamId,
    received: u64,
    finished: bool,
    digest: DefaultHasher,
}

impl TransferRun {
    /// `bytes` over `streams` streams on `link`, default transport settings,
    /// a 10-minute limit.
    #[must_use]
    pub fn new(seed: u64, link: LinkConfig, bytes: u64, streams: usize) -> Self {
        Self {
            seed,
            link,
            bytes,
            streams: streams.max(1),
            time_limit: Duration::from_secs(600),
            transport: TransportConfig::default(),
            blackout: None,
            rebind_every: None,
            rebind_address: false,
            old_mappings_live: false,
            both_ways: false,
        }
    }

    /// Runs it.
    ///
    /// # Panics
    /// When the handshake fails on a path where it must not.
    #[must_use]
    pub fn run(&self) -> TransferReport {
        let mut pair = Pair::new(
            self.seed,
            self.link.clone(),
            self.transport.clone(),
            EndpointConfig::default(),
        );
        let connected = pair.connect(self.time_limit);
        let pattern = pattern(self.seed);
        let per_stream = self.bytes / self.streams as u64;
        let mut outgoing: Vec<Outgoing> = Vec::new();
        let mut incoming: Vec<Incoming> = Vec::new();
        let mut outgoing_back: Vec<Outgoing> = Vec::new();
        let mut incoming_back: Vec<Incoming> = Vec::new();
        let mut received_back = 0;
        let mut rebinds = 0;
        let start = pair.sim.elapsed();
        if let Some((after, length)) = self.blackout {
            let from = start + after;
            pair.sim
                .set_default_link(self.link.clone().blackout(from..from + length));
        }
        let mut end = start;
        let mut received = 0;
        let mut warm: Option<(Duration, u64)> = None;
        let mut late: Option<(Duration, u64)> = None;
        let completed = connected
            && pair
                .run_until(self.time_limit, |view| {
                    let elapsed = view.sim.elapsed();
                    if let Some(every) = self.rebind_every
                        && elapsed >= start + every * u32::try_from(rebinds + 1).unwrap_or(u32::MAX)
                    {
                        rebinds += 1;
                        let old = view.sim.address(CLIENT);
                        view.sim
                            .rebind(CLIENT, rebound_address(rebinds, self.rebind_address));
                        if self.old_mappings_live {
                            view.sim.add_address(CLIENT, old);
                        }
                    }
                    if let Some(client) = view.client_mut() {
                        self.open_streams(client, &mut outgoing, per_stream);
                        for out in &mut outgoing {
                            write_some(client, out, &pattern);
                        }
                        received_back += accept_and_read(client, &mut incoming_back);
                    }
                    if let Some(server) = view.server_mut() {
                        received += accept_and_read(server, &mut incoming);
                        if self.both_ways {
                            self.open_streams(server, &mut outgoing_back, per_stream);
                            for out in &mut outgoing_back {
                                write_some(server, out, &pattern);
                            }
                        }
                    }
                    if warm.is_none() && received * 4 >= self.bytes {
                        warm = Some((elapsed, received));
                    }
                    if late.is_none() && received * 100 >= self.bytes * 85 {
                        late = Some((elapsed, received));
                    }
                    let done = all_finished(&incoming, self.streams)
                        && (!self.both_ways || all_finished(&incoming_back, self.streams));
                    if done {
                        end = elapsed;
                    }
                    done
                })
                .is_satisfied();
        let intact = completed
            && same_data(&outgoing, &incoming)
            && (!self.both_ways || same_data(&outgoing_back, &incoming_back));
        let transfer_time = end.saturating_sub(start);
        let goodput_mbps = mbps(received, transfer_time);
        let steady_goodput_mbps = match (warm, late) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => mbps(b1 - b0, t1 - t0),
            _ => goodput_mbps,
        };
        let view = pair.view();
        let client_stats = view.client().map(Connection::stats);
        let server_stats = view.server().map(Connection::stats);
        TransferReport {
            seed: self.seed,
            bytes: self.bytes,
            received,
            received_back,
            rebinds,
            intact,
            completed,
            transfer_time,
            sim_time: pair.sim.elapsed(),
            goodput_mbps,
            steady_goodput_mbps,
            client_stats,
            server_stats,
            cc: self.transport.congestion.build(pair.sim.now(), 1200).name(),
        }
    }
}

impl TransferRun {
    /// Opens the streams still missing and assigns each its share.
    fn open_streams(&self, conn: &mut Connection, outgoing: &mut Vec<Outgoing>, per_stream: u64) {
        while outgoing.len() < self.streams {
            let Some(id) = conn.open_stream(Dir::Uni) else {
                break;
            };
            let extra = if outgoing.len() + 1 == self.streams {
                self.bytes % self.streams as u64
            } else {
                0
            };
            outgoing.push(Outgoing {
                id,
                remaining: per_stream + extra,
                offset: 0,
                finished: false,
                digest: DefaultHasher::new(),
            });
        }
    }
}

/// The client's address after its `n`th rebinding: a new port, and with
/// `new_ip` a new IP address too.
fn rebound_address(n: u64, new_ip: bool) -> SocketAddr {
    let port = CLIENT_ADDR
        .port()
        .wrapping_add(u16::try_from(n % 10_000).unwrap_or(0) + 1);
    let ip = if new_ip {
        let [a, b, c, _] = match CLIENT_ADDR.ip() {
            IpAddr::V4(ip) => ip.octets(),
            IpAddr::V6(_) => [127, 0, 0, 0],
        };
        let d = u8::try_from(n % 250 + 3).unwrap_or(3);
        IpAddr::V4(Ipv4Addr::new(a, b, c.wrapping_add(1), d))
    } else {
        CLIENT_ADDR.ip()
    };
    SocketAddr::new(ip, port)
}

/// Accepts the peer's new streams and reads everything available on
/// each; returns the bytes read.
fn accept_and_read(conn: &mut Connection, incoming: &mut Vec<Incoming>) -> u64 {
    while let Some(id) = conn.accept_stream(Dir::Uni) {
        incoming.push(Incoming {
            id,
            received: 0,
            finished: false,
            digest: DefaultHasher::new(),
        });
    }
    incoming.iter_mut().map(|inc| read_all(conn, inc)).sum()
}

/// Whether `streams` streams arrived and all finished.
fn all_finished(incoming: &[Incoming], streams: usize) -> bool {
    incoming.len() == streams && incoming.iter().all(|i| i.finished)
}

/// Whether every stream sent arrived with the same digest.
fn same_data(outgoing: &[Outgoing], incoming: &[Incoming]) -> bool {
    outgoing.iter().all(|out| {
        incoming
            .iter()
            .any(|inc| inc.id == out.id && inc.digest.finish() == out.digest.finish())
    })
}

/// Megabits per second for `bytes` in `time`; 0 for no time.
fn mbps(bytes: u64, time: Duration) -> f64 {
    if time.is_zero() {
        0.0
    } else {
        bytes as f64 * 8.0 / time.as_secs_f64() / 1e6
    }
}

/// A deterministic byte pattern for the seed (xorshift), shared by every
/// stream at different offsets.
fn pattern(seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(PATTERN_LEN);
    while data.len() < PATTERN_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    Bytes::from(data)
}

/// Writes as much of the stream's data as the connection takes now.
fn write_some(client: &mut Connection, out: &mut Outgoing, pattern: &Bytes) {
    while out.remaining > 0 {
        // Each stream starts at a different place in the pattern.
        let start = usize::try_from(
            (out.offset + out.id.into_inner().into_inner() * 7919) % PATTERN_LEN as u64,
        )
        .unwrap_or(0);
        let len = usize::try_from(out.remaining)
            .unwrap_or(usize::MAX)
            .min(PATTERN_LEN - start)
            .min(64 * 1024);
        let chunk = pattern.slice(start..start + len);
        match client.write_stream(out.id, chunk.clone()) {
            Ok(0) | Err(WriteError::Blocked) => return,
            Ok(written) => {
                out.digest.write(&chunk[..written]);
                out.offset += written as u64;
                out.remaining -= written as u64;
            }
            Err(_) => return,
        }
    }
    if !out.finished && client.finish_stream(out.id).is_ok() {
        out.finished = true;
    }
}

/// Reads everything available; returns the bytes read.
fn read_all(server: &mut Connection, inc: &mut Incoming) -> u64 {
    let mut read = 0;
    while !inc.finished {
        match server.read_stream(inc.id, usize::MAX, true) {
            Ok(Some(chunk)) => {
                inc.digest.write(&chunk.bytes);
                inc.received += chunk.bytes.len() as u64;
                read += chunk.bytes.len() as u64;
            }
            Ok(None) => inc.finished = true,
            Err(ReadError::Blocked) | Err(_) => break,
        }
    }
    read
}
