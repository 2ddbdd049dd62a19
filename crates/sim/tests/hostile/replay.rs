//! Replays (RFC 9000 §12.3). An on-path party drops every other datagram
//! one side sends, so that the other side's packet history holds hundreds
//! of gaps (far more than the 64 ranges its ACK state keeps), and records
//! the 1-RTT datagrams it lets through. Then it cuts the sender off and
//! replays its recordings to the victim. Nothing replayed may be processed
//! again: no DATAGRAM delivered twice, no packet counted or traced twice,
//! no answer to a replayed packet (PING-only ones included), and no
//! refresh of the idle timer, which must still expire. In both roles.

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, HashSet},
    io::Write,
    net::SocketAddr,
    rc::Rc,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use serde_json::Value;
use tern_proto::{
    ConnectionId, Side,
    config::{EndpointConfig, TransportConfig},
    congestion::NewRenoConfig,
    connection::{Connection, ConnectionError, ConnectionStats, Event},
    qlog::QlogFactory,
};
use tern_sim::{
    LinkConfig, TraceEvent,
    pair::{Pair, PairView},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

/// Datagrams the sender sends in a burst while the on-path party cuts
/// gaps: one in two is dropped, so about 300 gaps.
const DATAGRAMS: u32 = 600;
/// The idle timeout of both sides.
const IDLE: Duration = Duration::from_secs(10);
/// What the victim may hold once the replays are over: its state, the
/// 128-byte duplicate window of the Data space and, at the client, its TLS
/// session (measured: about 4.6 KB at the server, 9.4 KB at the client).
/// Replays must not add a byte to it.
const MEMORY_BOUND: u64 = 16 * 1024;

/// A writer into a buffer the test reads afterwards.
#[derive(Debug, Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps each connection's qlog trace in memory, by side.
#[derive(Debug, Default)]
struct MemoryQlog {
    traces: Mutex<Vec<(Side, SharedBuf)>>,
}

impl QlogFactory for MemoryQlog {
    fn create(&self, side: Side, _odcid: &ConnectionId) -> Option<Box<dyn Write + Send>> {
        let buf = SharedBuf::default();
        self.traces
            .lock()
            .expect("not poisoned")
            .push((side, buf.clone()));
        Some(Box::new(buf))
    }
}

impl MemoryQlog {
    /// The `quic:packet_received` events of 1-RTT packets in `side`'s trace.
    fn one_rtt_received(&self, side: Side) -> Vec<Value> {
        let traces = self.traces.lock().expect("not poisoned");
        let (_, buf) = traces
            .iter()
            .find(|(s, _)| *s == side)
            .expect("a trace of the victim");
        let bytes = buf.0.lock().expect("not poisoned");
        bytes
            .split(|&b| b == 0x1e)
            .skip(2)
            .map(|record| serde_json::from_slice::<Value>(record).expect("every record is JSON"))
            .filter(|e| {
                e["name"] == "quic:packet_received" && e["data"]["header"]["packet_type"] == "1RTT"
            })
            .collect()
    }
}

/// What the on-path party does with the sender's datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Lets everything through.
    #[default]
    Pass,
    /// Drops every other datagram and records the 1-RTT ones let through.
    Gaps,
    /// Lets through only its own replays: the sender is cut off.
    ReplayOnly,
}

#[derive(Debug, Default)]
struct OnPath {
    mode: Mode,
    seen: u64,
    dropped: u64,
    recorded: Vec<Bytes>,
    replays: HashSet<Bytes>,
}

impl OnPath {
    /// Whether to drop `data`.
    fn drops(&mut self, data: &[u8]) -> bool {
        match self.mode {
            Mode::Pass => false,
            Mode::Gaps => {
                self.seen += 1;
                if self.seen.is_multiple_of(2) {
                    self.dropped += 1;
                    return true;
                }
                if data.first().is_some_and(|b| b & 0x80 == 0) {
                    self.recorded.push(Bytes::copy_from_slice(data));
                }
                false
            }
            Mode::ReplayOnly => !self.replays.contains(data),
        }
    }
}

fn other(side: Side) -> Side {
    if side.is_client() {
        Side::Server
    } else {
        Side::Client
    }
}

const fn address(side: Side) -> SocketAddr {
    match side {
        Side::Client => CLIENT_ADDR,
        Side::Server => SERVER_ADDR,
    }
}

/// Takes every datagram the victim received, counting each by its number.
fn drain(view: &mut PairView<'_>, victim: Side, delivered: &mut HashMap<u32, u32>) {
    while let Some(datagram) = view
        .connection_mut(victim)
        .and_then(Connection::recv_datagram)
    {
        let id = u32::from_be_bytes(datagram[..4].try_into().expect("4 bytes"));
        *delivered.entry(id).or_default() += 1;
    }
}

/// The victim, its peer and the on-path party between them.
struct Scenario {
    pair: Pair,
    victim: Side,
    /// The sender's address and the victim's.
    from: SocketAddr,
    to: SocketAddr,
    path: Rc<RefCell<OnPath>>,
    /// Datagrams the victim sent.
    victim_sent: Rc<Cell<u64>>,
    qlog: Arc<MemoryQlog>,
    /// Datagrams the victim received, by number, with how often.
    delivered: HashMap<u32, u32>,
}

impl Scenario {
    /// A connected pair with the on-path party in place, letting
    /// everything through.
    fn new(seed: u64, victim: Side) -> Self {
        let qlog = Arc::new(MemoryQlog::default());
        // The whole burst goes out at once, as it would on a path with a
        // large bandwidth-delay product, so that most of its packet
        // numbers are encoded on two bytes (RFC 9000 §17.1) and still
        // decode when replayed hundreds of packets later.
        let transport = TransportConfig {
            max_idle_timeout: Some(IDLE),
            congestion: Arc::new(NewRenoConfig {
                initial_window: Some(16 << 20),
            }),
            datagram_send_queue: DATAGRAMS as usize,
            datagram_receive_queue: DATAGRAMS as usize,
            qlog: Some(qlog.clone()),
            ..TransportConfig::default()
        };
        let link = LinkConfig::default().delay(Duration::from_millis(20));
        let mut pair = Pair::new(seed, link, transport, EndpointConfig::default());
        assert!(
            pair.connect(Duration::from_secs(10)),
            "the handshake completes"
        );
        let (from, to) = (address(other(victim)), address(victim));
        let path = Rc::new(RefCell::new(OnPath::default()));
        let filter = path.clone();
        pair.sim
            .drop_if(from, to, move |data| filter.borrow_mut().drops(data));
        let victim_sent = Rc::new(Cell::new(0_u64));
        let counter = victim_sent.clone();
        pair.sim.on_event(move |event| {
            if let TraceEvent::Sent { from, .. } = event
                && *from == to
            {
                counter.set(counter.get() + 1);
            }
        });
        Self {
            pair,
            victim,
            from,
            to,
            path,
            victim_sent,
            qlog,
            delivered: HashMap::new(),
        }
    }

    /// Runs for `time`, taking the datagrams the victim receives.
    fn run(&mut self, time: Duration) {
        let (victim, delivered) = (self.victim, &mut self.delivered);
        let _ = self.pair.run_until(time, |view| {
            drain(view, victim, delivered);
            false
        });
    }

    fn victim_stats(&mut self) -> ConnectionStats {
        self.pair
            .view()
            .connection(self.victim)
            .expect("the victim")
            .stats()
    }

    /// The gaps: one DATAGRAM frame per packet, all sent in one burst,
    /// every other packet dropped. Then the sender is cut off. Returns
    /// the datagrams recorded.
    fn cut_gaps(&mut self) -> Vec<Bytes> {
        self.path.borrow_mut().mode = Mode::Gaps;
        let mut view = self.pair.view();
        let conn = view.connection_mut(other(self.victim)).expect("the sender");
        for id in 0..DATAGRAMS {
            let mut payload = vec![0_u8; 1000];
            payload[..4].copy_from_slice(&id.to_be_bytes());
            conn.send_datagram(payload.into()).expect("queued");
        }
        self.run(Duration::from_secs(1));
        // What the sender sent before the cut arrives and is answered.
        self.path.borrow_mut().mode = Mode::ReplayOnly;
        self.run(Duration::from_millis(200));
        let mut path = self.path.borrow_mut();
        assert!(
            path.dropped > 200,
            "the on-path party made {} gaps",
            path.dropped
        );
        let recorded = std::mem::take(&mut path.recorded);
        assert!(recorded.len() > 200, "{} recorded", recorded.len());
        path.replays = recorded.iter().cloned().collect();
        recorded
    }

    /// The victim's qlog trace names each 1-RTT packet number once; says
    /// how many it traced and how many of those were PING-only.
    fn check_qlog(&self) -> (usize, usize) {
        let received = self.qlog.one_rtt_received(self.victim);
        let mut numbers = HashSet::new();
        let mut ping_only = 0;
        for event in &received {
            let pn = event["data"]["header"]["packet_number"]
                .as_u64()
                .expect("a packet number");
            assert!(numbers.insert(pn), "packet {pn} was processed twice");
            let frames = event["data"]["frames"].as_array().expect("frames");
            let kinds: Vec<&str> = frames
                .iter()
                .filter_map(|f| f["frame_type"].as_str())
                .collect();
            if kinds.contains(&"ping") && kinds.iter().all(|k| *k == "ping" || *k == "padding") {
                ping_only += 1;
            }
        }
        (received.len(), ping_only)
    }

    /// Replays keep coming, ten every 500 ms from `cut` on, until the
    /// victim closes or twice its idle timeout passed; returns how long
    /// that took.
    fn replay_until_closed(&mut self, recorded: &[Bytes], cut: std::time::Instant) -> Duration {
        let mut replays = recorded.iter().cycle();
        let victim = self.victim;
        let closed = move |view: &mut PairView<'_>| {
            view.connection(victim).is_none_or(Connection::is_closed)
        };
        while !closed(&mut self.pair.view()) && self.pair.sim.now() < cut + IDLE * 2 {
            for datagram in replays.by_ref().take(10) {
                self.pair
                    .sim
                    .inject(self.from, self.to, None, datagram.clone());
            }
            let _ = self.pair.run_until(Duration::from_millis(500), closed);
        }
        self.pair.sim.now().saturating_duration_since(cut)
    }

    /// The victim's events.
    fn victim_events(&self) -> &[Event] {
        if self.victim.is_client() {
            &self.pair.state.client_events
        } else {
            &self.pair.state.server_events
        }
    }
}

fn replays_are_processed_once(seed: u64, victim: Side) {
    let mut scenario = Scenario::new(seed, victim);
    let recorded = scenario.cut_gaps();
    let gaps = scenario.path.borrow().dropped;
    let before = scenario.victim_stats();
    let (traced_before, _) = scenario.check_qlog();

    // Every recorded datagram replayed at once: none is processed again.
    let cut = scenario.pair.sim.now();
    let sent_before = scenario.victim_sent.get();
    for datagram in &recorded {
        scenario
            .pair
            .sim
            .inject(scenario.from, scenario.to, None, datagram.clone());
    }
    scenario.run(Duration::from_millis(500));
    let after = scenario.victim_stats();
    let replays = recorded.len() as u64;
    let duplicates = after.packets_duplicate - before.packets_duplicate;
    println!(
        "{victim:?} victim: {gaps} gaps, {replays} replays ({duplicates} duplicates), \
         memory {} -> {} bytes",
        before.memory_bytes, after.memory_bytes
    );
    assert!(
        scenario.delivered.values().all(|&n| n == 1),
        "a datagram was delivered twice"
    );
    assert!(
        scenario.delivered.len() > 200,
        "{} delivered",
        scenario.delivered.len()
    );
    assert_eq!(
        after.packets_received, before.packets_received,
        "no replay is processed"
    );
    assert_eq!(
        after.packets_dropped - before.packets_dropped,
        replays,
        "every replay is dropped"
    );
    // A replay opens and is dropped as a duplicate, unless its truncated
    // packet number now expands to another number (RFC 9000 §A.3), so
    // that it fails to authenticate; most open.
    let failed = after.authentication_failures - before.authentication_failures;
    assert_eq!(duplicates + failed, replays);
    assert!(duplicates * 2 > replays, "{duplicates} duplicates");
    assert_eq!(
        scenario.victim_sent.get(),
        sent_before,
        "no replay is answered, not even a PING-only one"
    );
    assert!(
        after.memory_bytes <= before.memory_bytes && after.memory_bytes < MEMORY_BOUND,
        "memory {} -> {}",
        before.memory_bytes,
        after.memory_bytes
    );
    let (traced, ping_only) = scenario.check_qlog();
    assert_eq!(traced, traced_before, "no replay is traced");
    // The server's probes after the burst are PING-only (a tern client's
    // carry its ACK state), so the client saw some, and ignored their
    // replays.
    if victim.is_client() {
        assert!(ping_only > 0, "the replays held no PING-only packet");
    }

    // Replays keep coming; the victim still times out, as idle as it is.
    let waited = scenario.replay_until_closed(&recorded, cut);
    assert!(
        waited <= IDLE + Duration::from_secs(1),
        "the replays kept the victim alive for {waited:?}"
    );
    let events = scenario.victim_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Closed(ConnectionError::TimedOut(_)))),
        "the victim closed on its idle timeout: {events:?}"
    );
}

// RFC 9000 §12.3 (test): a server processes no replayed packet twice,
// however many gaps its history has.
#[test]
fn a_server_processes_no_replayed_packet_twice() {
    replays_are_processed_once(150, Side::Server);
}

// RFC 9000 §12.3 (test): nor does a client.
#[test]
fn a_client_processes_no_replayed_packet_twice() {
    replays_are_processed_once(151, Side::Client);
}
