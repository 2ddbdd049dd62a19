//! The two processes of `cargo xtask bench shards`, on Tern only.
//!
//! - `bench-peer tern shards-server --shards N [--cert rsa3072|rsa4096|ecdsa]
//!   [--accept-threads A] [--hold] [--max-connections N]`: a server of N
//!   shards (`Endpoint::server_multicore`) on 127.0.0.1 that accepts every
//!   client and answers the harness's requests (`harness::serve`; with
//!   `--hold` it only keeps the connections, as the idle server of
//!   `cargo xtask bench` does). It prints `{"addr", "cert", "certificate",
//!   "shards", "accept_threads"}`, then one stats object (see [`stats`])
//!   for each line read on stdin, and a last one when stdin closes, and
//!   exits.
//!
//! The application side runs on A threads (as many as shards unless
//! told), each a current-thread runtime with its own accept loop on one
//! shard (`Endpoint::shards`, thread `i` on shard `i % N`): it accepts and
//! serves that shard's clients alone, and never waits for another shard's
//! lock. The handshakes' TLS work runs on the shards' own threads.
//! - `bench-peer tern shards-client ...`: the load, in a process of its
//!   own (see [`crate::shards_client`]).

use std::{io::Write, net::SocketAddr, rc::Rc, time::Instant};

use tern::proto::config::RetryPolicy;

use crate::{
    harness::{self, Held, now},
    stack::Tern,
    sys::{live_heap, process_cpu, rss},
    tls::{self, Suite},
};

/// Options of `shards-server`.
struct ServerOpts {
    shards: usize,
    cert: String,
    accept_threads: Option<usize>,
    hold: bool,
    max_connections: usize,
}

fn parse(args: &[String]) -> Result<ServerOpts, String> {
    let mut opts = ServerOpts {
        shards: 1,
        cert: "rsa3072".into(),
        accept_threads: None,
        hold: false,
        max_connections: 250_000,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--hold" {
            opts.hold = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--shards" => opts.shards = number()?.max(1),
            "--cert" if ["rsa3072", "rsa4096", "ecdsa"].contains(&value.as_str()) => {
                opts.cert = value.clone();
            }
            "--cert" => return Err(format!("--cert {value}: rsa3072, rsa4096 or ecdsa")),
            "--accept-threads" => opts.accept_threads = Some(number()?.max(1)),
            "--max-connections" => opts.max_connections = number()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(opts)
}

/// Runs `shards-server` or `shards-client` with the arguments after it.
pub fn main(mode: &str, args: &[String]) -> Result<(), String> {
    match mode {
        "shards-server" => server(parse(args)?),
        "shards-client" => crate::shards_client::main(args),
        _ => Err(format!("unknown shards mode {mode}")),
    }
}

/// Prints one JSON line and flushes it.
pub fn print(value: &serde_json::Value) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

fn server(opts: ServerOpts) -> Result<(), String> {
    let started = now();
    let (cert, key) = match opts.cert.as_str() {
        "rsa3072" => tls::certificate_rsa(3072)?,
        "rsa4096" => tls::certificate_rsa(4096)?,
        _ => tls::certificate()?,
    };
    let tls = tls::configs("tern", Suite::Aes128, cert.clone(), key.clone())?;
    let mut config = tern::ServerConfig::new(tls.server.clone())
        .map_err(|e| e.to_string())?
        // Every client is let in at once: the benchmark measures
        // handshakes, not address validation. All clients share 127.0.0.1,
        // so the limit per address is the limit of all.
        .retry_policy(RetryPolicy::Never);
    config.max_handshakes_per_address = config.max_handshakes;
    config.max_connections = opts.max_connections;
    config.transport = std::sync::Arc::new(tern::TransportConfig {
        max_idle_timeout: Some(std::time::Duration::from_secs(600)),
        ..tern::TransportConfig::default()
    });
    let endpoint =
        tern::Endpoint::server_multicore(config, SocketAddr::from(([127, 0, 0, 1], 0)), opts.shards)
            .map_err(|e| e.to_string())?;
    let accept_threads = opts.accept_threads.unwrap_or(opts.shards);
    // Each accept thread serves one shard's clients (`Endpoint::shards`),
    // so that it never waits for another shard's lock.
    let shards = endpoint.shards();
    for i in 0..accept_threads {
        let (endpoint, hold) = (shards[i % shards.len()].clone(), opts.hold);
        std::thread::Builder::new()
            .name(format!("accept-{i}"))
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                // In hold mode the connections stay here until the
                // endpoint closes, that is until the process exits.
                let held = Rc::new(Held::<tern::Connection>::default());
                tokio::task::LocalSet::new()
                    .block_on(&runtime, harness::serve::<Tern>(endpoint, hold, held));
            })
            .map_err(|e| e.to_string())?;
    }
    let addr = endpoint.local_addr().map_err(|e| e.to_string())?;
    print(&serde_json::json!({
        "addr": addr.to_string(),
        "cert": format!("{}:{}", crate::hex(&cert), crate::hex(&key)),
        "certificate": opts.cert,
        "shards": endpoint.shard_count(),
        "accept_threads": accept_threads,
    }))?;
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
        line.clear();
        print(&stats(&endpoint, started))?;
    }
    print(&stats(&endpoint, started))?;
    // Exit without closing every connection.
    std::process::exit(0)
}

/// What the server process costs now: `cpu_s` (user plus system CPU time
/// of the whole process, from getrusage), `wall_s` since it started,
/// `threads` (CPU seconds of each thread by name, from /proc), `rss` and
/// `heap` in bytes, `connections` open, and each shard's counters.
fn stats(endpoint: &tern::Endpoint, started: Instant) -> serde_json::Value {
    let shards: Vec<_> = endpoint
        .shard_stats()
        .iter()
        .map(|s| {
            serde_json::json!({
                "shard": s.shard,
                "connections": s.connections,
                "handed_out": s.handed_out,
                "handed_in": s.handed_in,
                "handover_dropped": s.handover_dropped,
            })
        })
        .collect();
    serde_json::json!({
        "cpu_s": process_cpu(),
        "wall_s": started.elapsed().as_secs_f64(),
        "threads": thread_cpu(),
        "rss": rss(),
        "heap": live_heap(),
        "connections": endpoint.open_connections(),
        "shards": shards,
    })
}

/// CPU seconds of each thread of this process, summed by thread name,
/// from /proc/self/task/*/stat (utime and stime, fields 14 and 15, in
/// USER_HZ ticks: 100 a second on Linux).
fn thread_cpu() -> serde_json::Map<String, serde_json::Value> {
    let mut threads = serde_json::Map::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let (Some(utime), Some(stime)) = (tick(11), tick(12)) else {
            continue;
        };
        let seconds = (utime + stime) as f64 / 100.0;
        let entry = threads.entry(name).or_insert(serde_json::json!(0.0));
        *entry = serde_json::json!(entry.as_f64().unwrap_or(0.0) + seconds);
    }
    threads
}
