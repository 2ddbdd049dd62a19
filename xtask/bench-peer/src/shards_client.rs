//! `bench-peer tern shards-client --addr A --cert C:K --workload
//! handshakes|bulk|idle [--endpoints K] [--concurrency C] [--threads T]
//! [--seconds D] [--warmup W] [--bytes B] [--conns N]`: the load of
//! `cargo xtask bench shards`, in a process of its own.
//!
//! The load comes from K client endpoints, each with a socket of its own,
//! so that the kernel, which picks one of the server's `SO_REUSEPORT`
//! sockets by the 4-tuple, spreads them over the server's shards. They run
//! on T threads, each a current-thread tokio runtime with its share of
//! the endpoints and of the loops.
//!
//! - `handshakes`: C loops, loop i on endpoint i mod K, each doing connect,
//!   one request of 8 bytes for 64, close, over and over.
//! - `bulk`: K connections, one per endpoint, each asking for responses of
//!   B bytes one after another; every byte read counts.
//! - `idle`: N connections, C handshakes at a time over the K endpoints,
//!   kept open and idle.
//!
//! For `handshakes` and `bulk` it prints `{"event":"window-start"}` after
//! W seconds of warm-up, `{"event":"window-end"}` D seconds later, then
//! its report. For `idle` it prints `{"event":"ready"}` once every
//! connection is open (or failed), waits for stdin to close or give a
//! line, and prints its report.

use std::{
    net::SocketAddr,
    rc::Rc,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;

use crate::{
    harness::{self, now},
    shards::print,
    stack::{Stack, Tern},
    sys::process_cpu,
    tls::{self, Suite},
    unhex,
};

/// Options of `shards-client`, with the defaults of a full run.
#[derive(Clone)]
struct Opts {
    addr: Option<SocketAddr>,
    cert: Option<(Vec<u8>, Vec<u8>)>,
    workload: String,
    endpoints: usize,
    concurrency: usize,
    threads: usize,
    seconds: f64,
    warmup: f64,
    bytes: u64,
    conns: usize,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        addr: None,
        cert: None,
        workload: String::new(),
        endpoints: 64,
        concurrency: 64,
        threads: 1,
        seconds: 10.0,
        warmup: 2.0,
        bytes: 16 << 20,
        conns: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let count = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        let seconds = || {
            value
                .parse::<f64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--addr" => opts.addr = Some(value.parse().map_err(|e| format!("{value}: {e}"))?),
            "--cert" => {
                let (c, k) = value.split_once(':').ok_or("--cert CERT_HEX:KEY_HEX")?;
                opts.cert = Some((unhex(c)?, unhex(k)?));
            }
            "--workload" => opts.workload = value.clone(),
            "--endpoints" => opts.endpoints = count()?.max(1),
            "--concurrency" => opts.concurrency = count()?.max(1),
            "--threads" => opts.threads = count()?.max(1),
            "--seconds" => opts.seconds = seconds()?,
            "--warmup" => opts.warmup = seconds()?,
            "--bytes" => opts.bytes = value.parse().map_err(|e| format!("--bytes: {e}"))?,
            "--conns" => opts.conns = count()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !["handshakes", "bulk", "idle"].contains(&opts.workload.as_str()) {
        return Err(format!(
            "--workload {:?}: handshakes, bulk or idle",
            opts.workload
        ));
    }
    Ok(opts)
}

/// What the loops of every thread share.
#[derive(Default)]
struct Shared {
    /// Handshakes completed (handshakes, idle) or bytes read (bulk).
    done: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Connections handed out to the loops so far (idle).
    next: AtomicUsize,
    /// Threads whose loops have all ended (idle).
    settled: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }
}

/// Runs `shards-client` with its arguments.
pub fn main(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let addr = opts.addr.ok_or("shards-client needs --addr")?;
    let (cert, key) = opts.cert.clone().ok_or("shards-client needs --cert")?;
    let tls = tls::configs("tern", Suite::Aes128, cert, key)?;
    let mut config = tern::ClientConfig::new(tls.client.clone()).map_err(|e| e.to_string())?;
    config.transport = Arc::new(tern::TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(600)),
        ..tern::TransportConfig::default()
    });
    // Every connection is a new client: no token from an earlier one.
    let config = config.token_store(None);
    let shared = Arc::new(Shared::default());
    let threads = opts.threads.min(opts.endpoints);
    for t in 0..threads {
        let (opts, config, shared) = (opts.clone(), config.clone(), shared.clone());
        std::thread::Builder::new()
            .name(format!("client-{t}"))
            .spawn(move || {
                if let Err(e) = worker(t, threads, &opts, config, addr, &shared) {
                    shared.error(e);
                }
                shared.settled.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(|e| e.to_string())?;
    }
    let report = if opts.workload == "idle" {
        idle(&opts, threads, &shared)?
    } else {
        window(&opts, &shared)?
    };
    print(&report)?;
    // Exit without closing or draining the connections.
    std::process::exit(0)
}

/// The measured window of `handshakes` and `bulk`.
fn window(opts: &Opts, shared: &Shared) -> Result<serde_json::Value, String> {
    std::thread::sleep(Duration::from_secs_f64(opts.warmup));
    let (done0, cpu0, t0) = (shared.done.load(Ordering::Relaxed), process_cpu(), now());
    print(&serde_json::json!({"event": "window-start"}))?;
    std::thread::sleep(Duration::from_secs_f64(opts.seconds));
    let (done1, cpu1, secs) = (
        shared.done.load(Ordering::Relaxed),
        process_cpu(),
        t0.elapsed().as_secs_f64(),
    );
    print(&serde_json::json!({"event": "window-end"}))?;
    shared.stop.store(true, Ordering::Relaxed);
    let done = done1.saturating_sub(done0);
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let mut report = serde_json::json!({
        "workload": opts.workload,
        "endpoints": opts.endpoints,
        "concurrency": opts.concurrency,
        "threads": opts.threads,
        "window_s": secs,
        "client_cpu_s": cpu1 - cpu0,
        "errors": shared.errors.load(Ordering::Relaxed),
        "first_error": shared.first_error.lock().ok().and_then(|e| e.clone()),
    });
    if opts.workload == "bulk" {
        report["bytes"] = done.into();
        report["mb_per_s"] = (rate / 1e6).into();
    } else {
        report["handshakes"] = done.into();
        report["handshakes_per_s"] = rate.into();
    }
    Ok(report)
}

/// The idle connections: waits until every thread has opened its share,
/// says so, and waits for stdin.
fn idle(opts: &Opts, threads: usize, shared: &Shared) -> Result<serde_json::Value, String> {
    let t0 = now();
    while shared.settled.load(Ordering::Relaxed) < threads
        && shared.done.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed)
            < opts.conns as u64
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let opened = shared.done.load(Ordering::Relaxed);
    print(&serde_json::json!({
        "event": "ready",
        "opened": opened,
        "open_s": t0.elapsed().as_secs_f64(),
    }))?;
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(serde_json::json!({
        "workload": "idle",
        "endpoints": opts.endpoints,
        "conns": opts.conns,
        "opened": opened,
        "errors": shared.errors.load(Ordering::Relaxed),
        "first_error": shared.first_error.lock().ok().and_then(|e| e.clone()),
    }))
}

/// The `i`th of `n` equal shares of `total`: how many of them it gets.
fn share(total: usize, i: usize, n: usize) -> usize {
    total / n + usize::from(i < total % n)
}

/// Thread `t` of `threads`: its endpoints and its loops.
fn worker(
    t: usize,
    threads: usize,
    opts: &Opts,
    config: tern::ClientConfig,
    addr: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    tokio::task::LocalSet::new().block_on(&runtime, async move {
        let endpoints = (0..share(opts.endpoints, t, threads))
            .map(|_| {
                let endpoint = tern::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .map_err(|e| e.to_string())?;
                endpoint.set_default_client_config(config.clone());
                Ok(endpoint)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let loops = match opts.workload.as_str() {
            "bulk" => endpoints.len(),
            _ => share(opts.concurrency, t, threads),
        };
        let kept = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..loops {
            let Some(endpoint) = endpoints.get(i % endpoints.len().max(1)).cloned() else {
                break;
            };
            let (shared, opts, kept) = (shared.clone(), opts.clone(), kept.clone());
            tasks.push(tokio::task::spawn_local(async move {
                match opts.workload.as_str() {
                    "handshakes" => handshakes(&endpoint, addr, &shared).await,
                    "bulk" => bulk(&endpoint, addr, opts.bytes, &shared).await,
                    _ => {
                        while shared.next.fetch_add(1, Ordering::Relaxed) < opts.conns {
                            match connect(&endpoint, addr).await {
                                Ok(conn) => {
                                    kept.borrow_mut().push(conn);
                                    shared.done.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => shared.error(e),
                            }
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())?;
        }
        if opts.workload == "idle" {
            // Keep the connections (and their endpoints) running until the
            // process exits.
            shared.settled.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<()>().await;
        }
        drop(kept);
        Ok(())
    })
}

/// A connection established within 10 s.
async fn connect(endpoint: &tern::Endpoint, addr: SocketAddr) -> Result<tern::Connection, String> {
    tokio::time::timeout(Duration::from_secs(10), Tern::connect(endpoint, addr))
        .await
        .map_err(|_| "no handshake within 10 s".to_string())?
}

async fn handshakes(endpoint: &tern::Endpoint, addr: SocketAddr, shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        let result = async {
            let conn = connect(endpoint, addr).await?;
            let answered = tokio::time::timeout(
                Duration::from_secs(10),
                harness::request::<Tern>(&conn, 8, 64),
            )
            .await;
            Tern::close(&conn);
            answered.map_err(|_| "no response within 10 s".to_string())?
        }
        .await;
        match result {
            Ok(()) => {
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => shared.error(e),
        }
    }
}

async fn bulk(endpoint: &tern::Endpoint, addr: SocketAddr, bytes: u64, shared: &Shared) {
    let conn = match connect(endpoint, addr).await {
        Ok(conn) => conn,
        Err(e) => return shared.error(e),
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let result = async {
            let (mut send, mut recv) = Tern::open_bi(&conn).await?;
            Tern::write(&mut send, Bytes::copy_from_slice(&bytes.to_le_bytes())).await?;
            Tern::finish(&mut send);
            while let Some(chunk) = Tern::read(&mut recv).await? {
                shared.done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok::<_, String>(())
        }
        .await;
        if let Err(e) = result {
            shared.error(e);
            break;
        }
    }
    Tern::close(&conn);
}
