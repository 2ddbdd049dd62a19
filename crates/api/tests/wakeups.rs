#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside clippy's #[test] allowance"
)]
//! The event loop wakes when it has work, and only then.
//!
//! A server with nothing to do uses no CPU: once its connections are gone,
//! its event loop sleeps until a datagram or a deadline wakes it.
//!
//! Each server runs on a runtime wrapper that counts how often its driver
//! task is polled and how often its timer fires, and the CPU time of the
//! runtime's threads is read from `/proc/self/task`. Five servers idle at
//! once, after (0) nothing, (a) a client Initial whose sender never
//! answered, (b) a connection closed cleanly, (c) a connection whose peer
//! vanished after the handshake, (d) a connection closed cleanly at a
//! server of two shards; then again while two threads load every
//! core, since a stale timer is a race. Over the next 10 s each driver may
//! be polled twice at most, and over 2 s the runtime's threads may use 2%
//! of a core at most. Both runtimes.

use std::{
    fmt,
    future::Future,
    io,
    net::UdpSocket,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    thread,
    time::{Duration, Instant},
};

use tern::{ClientConfig, Endpoint, EndpointConfig, ServerConfig, TransportConfig, VarInt, tls};
use tern_endpoint::{AsyncTimer, AsyncUdpSocket, Runtime, SmolRuntime, TokioRuntime};

const ALPN: &[u8] = b"idle";

#[expect(
    clippy::disallowed_methods,
    reason = "the test watches real threads for real seconds"
)]
fn wall_clock() -> Instant {
    Instant::now()
}
/// The servers' idle timeout, short so that dead connections go quickly.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the servers are watched once idle.
const WATCH: Duration = Duration::from_secs(10);
/// Driver polls allowed over `WATCH` once no connection is left.
const MAX_IDLE_POLLS: u64 = 2;
/// The window of the CPU check, and the CPU allowed in it: 2% of a core.
const CPU_WINDOW: Duration = Duration::from_secs(2);
const MAX_CPU: Duration = Duration::from_millis(40);

/// A runtime that counts the polls of the tasks it spawns (the driver) and
/// the firings of the timers it makes.
#[derive(Clone)]
struct Counting {
    inner: Arc<dyn Runtime>,
    polls: Arc<AtomicU64>,
    fires: Arc<AtomicU64>,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

impl Runtime for Counting {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.inner.spawn(Box::pin(CountPolls {
            inner: future,
            polls: self.polls.clone(),
        }));
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(CountFires {
            inner: self.inner.new_timer(deadline),
            fires: self.fires.clone(),
        })
    }

    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.inner.wrap_udp_socket(socket)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

struct CountPolls {
    inner: Pin<Box<dyn Future<Output = ()> + Send>>,
    polls: Arc<AtomicU64>,
}

impl Future for CountPolls {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

struct CountFires {
    inner: Pin<Box<dyn AsyncTimer>>,
    fires: Arc<AtomicU64>,
}

impl fmt::Debug for CountFires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountFires").finish_non_exhaustive()
    }
}

impl AsyncTimer for CountFires {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.inner.as_mut().reset(deadline);
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ready = self.inner.as_mut().poll(cx);
        if ready.is_ready() {
            self.fires.fetch_add(1, Ordering::Relaxed);
        }
        ready
    }
}

/// CPU time, user and system, of this process's threads whose names start
/// with one of `prefixes` (Linux: `/proc/self/task/*/stat`, in clock ticks
/// of 10 ms).
fn threads_cpu(prefixes: &[&str]) -> Duration {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if !prefixes
            .iter()
            .any(|prefix| name.trim().starts_with(prefix))
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state (field 3), ...,
        // utime (field 14), stime (field 15).
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    Duration::from_millis(ticks * 10)
}

#[test]
fn the_cpu_of_named_threads_is_measured() {
    let spinner = thread::Builder::new()
        .name("cpu-probe".into())
        .spawn(|| {
            let start = wall_clock();
            let mut x = 0_u64;
            while start.elapsed() < Duration::from_millis(400) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            threads_cpu(&["cpu-probe"])
        })
        .unwrap();
    let used = spinner.join().unwrap();
    assert!(used >= Duration::from_millis(100), "measured {used:?}");
    assert_eq!(threads_cpu(&["no-such-thread"]), Duration::ZERO);
}

/// A server with counters.
struct Server {
    name: &'static str,
    /// Its event loops: one, or one per shard.
    shards: u64,
    endpoint: Endpoint,
    polls: Arc<AtomicU64>,
    fires: Arc<AtomicU64>,
    /// Every connection the server accepted, held by the test.
    accepted: Arc<Mutex<Vec<tern::Connection>>>,
}

impl Server {
    /// Waits for the `n`-th accepted connection and takes it.
    fn take_accepted(&self, n: usize) -> Vec<tern::Connection> {
        wait_for("accepted connections", || {
            self.accepted.lock().unwrap().len() >= n
        });
        self.accepted.lock().unwrap().drain(..n).collect()
    }
}

fn cert() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    (cert.cert.der().clone(), key)
}

fn server(name: &'static str, runtime: &Arc<dyn Runtime>, idle_timeout: Duration) -> Server {
    sharded_server(name, runtime, idle_timeout, 1)
}

/// A server of `shards` event loops (one: `Endpoint::new_with_runtime`;
/// more: `Endpoint::new_sharded`), all counted together.
fn sharded_server(
    name: &'static str,
    runtime: &Arc<dyn Runtime>,
    idle_timeout: Duration,
    shards: usize,
) -> Server {
    let (cert, key) = cert();
    let mut config: ServerConfig = tls::server_config(vec![cert], key, &[ALPN]).unwrap();
    config.transport = Arc::new(TransportConfig {
        max_idle_timeout: Some(idle_timeout),
        ..TransportConfig::default()
    });
    // Every client here is 127.0.0.1, a thousand at once in the last test:
    // beyond the default `max_handshakes_per_address` (64), which refuses
    // them. These tests count wake-ups, not admission.
    config.max_handshakes_per_address = IDLE_CONNECTIONS;
    let counting = Counting {
        inner: runtime.clone(),
        polls: Arc::default(),
        fires: Arc::default(),
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let endpoint = if shards == 1 {
        Endpoint::new_with_runtime(
            EndpointConfig::default(),
            Some(config),
            addr,
            Arc::new(counting.clone()),
        )
        .unwrap()
    } else {
        let runtime: Arc<dyn Runtime> = Arc::new(counting.clone());
        Endpoint::new_sharded(
            EndpointConfig::default(),
            Some(config),
            addr,
            vec![runtime; shards],
        )
        .unwrap()
    };
    // The acceptor runs on the runtime itself, not the counting wrapper:
    // only the event loop's polls are counted.
    let accepted: Arc<Mutex<Vec<tern::Connection>>> = Arc::default();
    let (acceptor, held) = (endpoint.clone(), accepted.clone());
    runtime.spawn(Box::pin(async move {
        while let Some(incoming) = acceptor.accept().await {
            if let Ok(connecting) = incoming.accept() {
                held.lock().unwrap().push(connecting.into_connection());
            }
        }
    }));
    Server {
        name,
        shards: u64::try_from(shards).unwrap(),
        endpoint,
        polls: counting.polls,
        fires: counting.fires,
        accepted,
    }
}

fn client_config() -> ClientConfig {
    tls::dangerous_insecure_client_config(&[ALPN]).unwrap()
}

/// A client on a tokio runtime of its own, so that it can vanish without a
/// word by shutting that runtime down.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("idle-client")
        .enable_all()
        .build()
        .unwrap()
}

fn client_on(runtime: &tokio::runtime::Runtime) -> Endpoint {
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(runtime.handle().clone()));
    let client = Endpoint::new_with_runtime(
        EndpointConfig::default(),
        None,
        "127.0.0.1:0".parse().unwrap(),
        runtime,
    )
    .unwrap();
    client.set_default_client_config(client_config());
    client
}

/// Waits (polling, up to 30 s) for `condition`.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = wall_clock();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// (a) A client's first flight, sent from a socket that never answers.
fn half_open(server: &Server, runtime: &Arc<dyn Runtime>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let mut client = tern::proto::endpoint::Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        Some(local),
        7,
    );
    let to = server.endpoint.local_addr().unwrap();
    let now = runtime.now();
    client
        .connect(now, &client_config(), to, "localhost")
        .unwrap();
    let mut buf = Vec::new();
    while let Some(transmit) = client.poll_transmit(now, 1, &mut buf) {
        let segment = transmit.segment_size.unwrap_or(transmit.size);
        for datagram in buf[..transmit.size].chunks(segment) {
            socket.send_to(datagram, to).unwrap();
        }
        buf.clear();
    }
    wait_for("the half-open connection", || {
        server.endpoint.stats().connections == 1
    });
    // The socket closes here: the server's answers find no one.
}

/// (b) A connection closed cleanly by its client, and (c) one whose client
/// vanished after the handshake.
fn connected(server: &Server, client: &Endpoint) -> (tern::Connection, tern::Connection) {
    let to = server.endpoint.local_addr().unwrap();
    let conn = smol::block_on(client.connect(to, "localhost").unwrap()).unwrap();
    let incoming = server.take_accepted(1).pop().unwrap();
    smol::block_on(incoming.handshake_info()).unwrap();
    (conn, incoming)
}

/// Runs the five scenarios on `runtime`, waits for every connection to
/// go, and checks the drivers and the threads named `thread_prefixes`.
fn five_idle_servers(runtime: &Arc<dyn Runtime>, thread_prefixes: &[&str]) {
    let fresh = server("0: never a datagram", runtime, IDLE_TIMEOUT);
    let unanswered = server("a: an Initial nobody answers", runtime, IDLE_TIMEOUT);
    let closed = server("b: a connection closed cleanly", runtime, IDLE_TIMEOUT);
    let vanished = server("c: a peer that vanished", runtime, IDLE_TIMEOUT);
    let sharded = sharded_server(
        "d: two shards, a connection closed cleanly",
        runtime,
        IDLE_TIMEOUT,
        2,
    );

    half_open(&unanswered, runtime);

    let clients = client_runtime();
    let client = client_on(&clients);
    let (conn, incoming_closed) = connected(&closed, &client);
    conn.close(VarInt::from_u32(0), b"bye");
    let (_silent, incoming_vanished) = connected(&vanished, &client);
    let (conn, incoming_sharded) = connected(&sharded, &client);
    conn.close(VarInt::from_u32(0), b"bye");
    // The client stops without a word: its runtime and socket are gone.
    clients.shutdown_background();
    drop(client);

    let servers = [fresh, unanswered, closed, vanished, sharded];
    for server in &servers {
        wait_for(server.name, || server.endpoint.stats().connections == 0);
    }
    drop((incoming_closed, incoming_vanished, incoming_sharded));
    // Let the last wake-ups of the closing connections settle.
    thread::sleep(Duration::from_millis(200));

    let polls_before: Vec<u64> = servers
        .iter()
        .map(|s| s.polls.load(Ordering::Relaxed))
        .collect();
    let fires_before: Vec<u64> = servers
        .iter()
        .map(|s| s.fires.load(Ordering::Relaxed))
        .collect();
    let cpu_before = threads_cpu(thread_prefixes);
    thread::sleep(CPU_WINDOW);
    let cpu = threads_cpu(thread_prefixes) - cpu_before;
    thread::sleep(WATCH - CPU_WINDOW);
    eprintln!("threads {thread_prefixes:?}: {cpu:?} of CPU in {CPU_WINDOW:?}");
    for (index, server) in servers.iter().enumerate() {
        let polls = server.polls.load(Ordering::Relaxed) - polls_before[index];
        let fires = server.fires.load(Ordering::Relaxed) - fires_before[index];
        eprintln!(
            "{}: {polls} polls, {fires} timer firings in {WATCH:?}",
            server.name
        );
        assert!(
            polls <= MAX_IDLE_POLLS * server.shards,
            "{}: the idle driver was polled {polls} times in {WATCH:?} (its timer fired {fires} times)",
            server.name
        );
        assert_eq!(server.endpoint.stats().connections, 0, "{}", server.name);
    }
    assert!(
        cpu <= MAX_CPU,
        "five idle servers used {cpu:?} of CPU in {CPU_WINDOW:?}"
    );
}

/// Runs `f` while two threads keep every core busy.
fn under_load(f: impl FnOnce()) {
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            thread::Builder::new()
                .name("load".into())
                .spawn(move || {
                    let mut x = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
                .unwrap()
        })
        .collect();
    f();
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
}

#[test]
fn idle_servers_use_no_cpu_on_tokio() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("idle-server")
        .enable_all()
        .build()
        .unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    five_idle_servers(&runtime, &["idle-server"]);
    under_load(|| five_idle_servers(&runtime, &["idle-server"]));
}

#[test]
fn idle_servers_use_no_cpu_on_smol() {
    let runtime: Arc<dyn Runtime> = Arc::new(SmolRuntime::new());
    five_idle_servers(&runtime, &["smol-", "async-io"]);
    under_load(|| five_idle_servers(&runtime, &["smol-", "async-io"]));
}

/// Connections a busy-looking idle server holds in the last test.
const IDLE_CONNECTIONS: usize = 1000;

#[test]
fn a_thousand_idle_connections_cost_less_than_a_poll_each_per_idle_timeout() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("thousand-server")
        .enable_all()
        .build()
        .unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    let idle_timeout = Duration::from_secs(30);
    let server = server("1,000 idle connections", &runtime, idle_timeout);
    let to = server.endpoint.local_addr().unwrap();
    let clients = client_runtime();
    let client = client_on(&clients);
    // Keep-alive stays off (the default): an idle connection sends nothing.
    let opened: Vec<_> = (0..IDLE_CONNECTIONS)
        .map(|_| {
            let connecting = client.connect(to, "localhost").unwrap();
            clients.spawn(connecting)
        })
        .collect();
    let mut held = Vec::new();
    for connecting in opened {
        held.push(smol::block_on(connecting).unwrap().unwrap());
    }
    let incoming = server.take_accepted(IDLE_CONNECTIONS);
    for conn in &incoming {
        smol::block_on(conn.handshake_info()).unwrap();
    }
    // Let acknowledgements, session tickets and path MTU probes settle.
    thread::sleep(Duration::from_secs(2));
    let polls_before = server.polls.load(Ordering::Relaxed);
    thread::sleep(WATCH);
    let polls = server.polls.load(Ordering::Relaxed) - polls_before;
    let per_timeout =
        polls as f64 / IDLE_CONNECTIONS as f64 * idle_timeout.as_secs_f64() / WATCH.as_secs_f64();
    eprintln!(
        "{IDLE_CONNECTIONS} idle connections: {polls} driver polls in {WATCH:?}, \
         {per_timeout:.3} per connection per idle timeout"
    );
    assert_eq!(server.endpoint.stats().connections, IDLE_CONNECTIONS);
    assert!(
        per_timeout < 1.0,
        "{polls} driver polls in {WATCH:?} for {IDLE_CONNECTIONS} idle connections"
    );
    drop((held, incoming));
    clients.shutdown_background();
}

/// Datagrams queued for the server before its driver first runs: more than
/// one turn of the driver takes (16 rounds of at most 32).
const BACKLOG: usize = 1500;
/// What one queued datagram of the backlog costs the socket's receive
/// buffer at most (payload under 500 bytes plus the kernel's overhead).
const QUEUED_COST: usize = 2048;

// The lost wake-up of the performance issue: a driver that spent its whole
// turn on work must come back by itself, since a socket read that returned
// data leaves nothing to wake it for the datagrams still queued.
#[test]
fn a_backlog_longer_than_one_turn_is_drained_without_new_datagrams() {
    // A current-thread runtime runs the driver only inside `block_on`, so
    // the whole backlog is queued before its first turn.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    // The kernel doubles the 4 MiB the endpoint asks for, up to
    // net.core.rmem_max; a smaller buffer would drop part of the backlog.
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    if 2 * rmem_max.min(4 << 20) < BACKLOG * QUEUED_COST {
        eprintln!("net.core.rmem_max is {rmem_max}: too small to queue the backlog; skipped");
        return;
    }
    let server = server("a backlog", &runtime, IDLE_TIMEOUT);
    let to = server.endpoint.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..BACKLOG {
        // A v1 Initial header in a datagram too short to be a client's
        // first (RFC 9000 §14.1): dropped and counted, never answered.
        // Rising sizes keep GRO from coalescing them.
        let mut datagram = vec![0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        datagram.resize(100 + i % 400, 0);
        socket.send_to(&datagram, to).unwrap();
    }
    let drained = tokio.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            if server.endpoint.stats().dropped_datagrams >= BACKLOG as u64 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    });
    assert!(
        drained,
        "{} of {BACKLOG} datagrams were read in 5 s, after {} driver polls",
        server.endpoint.stats().dropped_datagrams,
        server.polls.load(Ordering::Relaxed)
    );
}
