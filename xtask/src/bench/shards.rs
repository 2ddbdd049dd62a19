//! `cargo xtask bench shards`: a Tern server of 1 and of 2 shards
//! (`Endpoint::server_multicore`), measured.
//!
//! Each run is two processes of `xtask/bench-peer` (release mode): the
//! server (`shards-server`) and the load (`shards-client`, many client
//! endpoints, each with a socket of its own, so that the kernel spreads
//! them over the shards' `SO_REUSEPORT` sockets). When the client opens
//! and closes its measured window, this process asks the server for its
//! stats (CPU time, by thread too, and connections per shard). Runs go
//! 1 shard, 2 shards, in turn, `--runs` times, for the handshake workload
//! (RSA-3072 certificate: bound by the server) and for bulk download; then,
//! unless `--idle 0`, one server of 2 shards holds `--idle` idle
//! connections and gives its heap and resident set before and after.
//! Unless `--no-docs`, the figures go into a section of docs/scale-out.md
//! between marker comments; the rest of that file is left as it is.

mod report;
#[cfg(test)]
mod tests;

use std::{
    fmt::Write as _,
    io::Write as _,
    path::{Path, PathBuf},
    process::ChildStdin,
    sync::mpsc,
    time::Duration,
};

use serde_json::Value;

use self::report::{Idle, Run, ServerStats, Summary};
use super::{
    docs::Machine,
    flood::{Guard, json_line, lines, procfs, spawn},
};

/// The command line of `cargo xtask bench shards`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Args {
    /// Runs of each workload on each shard count.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// One run, short windows, 2,000 idle connections: a smoke test.
    #[arg(long)]
    quick: bool,
    /// Idle connections held by the 2-shard server (default 100000, or
    /// 2000 with --quick); 0 skips the idle measurement.
    #[arg(long)]
    idle: Option<usize>,
    /// Seconds of each measured window (default 10, or 2 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Client endpoints (sockets) of the load; bulk has one connection on
    /// each.
    #[arg(long, default_value_t = 64)]
    endpoints: usize,
    /// Handshake loops of the load, spread over its endpoints: enough to
    /// keep every shard busy while handshakes wait on the network.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Threads of the client process: two, so that the client is not held
    /// to one core when the server leaves the other free.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// The server's certificate for the runs of `handshakes` and `bulk`:
    /// rsa3072, rsa4096 or ecdsa.
    #[arg(long, default_value = "rsa3072")]
    cert: String,
    /// Write the runs, summaries and idle figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not rewrite the section of docs/scale-out.md.
    #[arg(long)]
    no_docs: bool,
}

impl Args {
    fn seconds(&self) -> f64 {
        self.seconds.unwrap_or(if self.quick { 2.0 } else { 10.0 })
    }

    fn warmup(&self) -> f64 {
        if self.quick { 1.0 } else { 2.0 }
    }

    fn idle(&self) -> usize {
        self.idle
            .unwrap_or(if self.quick { 2_000 } else { 100_000 })
    }

    fn runs(&self) -> usize {
        if self.quick { 1 } else { self.runs.max(1) }
    }

    /// The command line that reproduces these runs.
    pub(crate) fn reproduce(&self) -> String {
        let mut command = String::from("cargo xtask bench shards");
        if self.quick {
            command.push_str(" --quick");
        } else if self.runs != 3 {
            command.push_str(&format!(" --runs {}", self.runs));
        }
        if let Some(idle) = self.idle {
            command.push_str(&format!(" --idle {idle}"));
        }
        if let Some(seconds) = self.seconds {
            command.push_str(&format!(" --seconds {seconds}"));
        }
        if self.cert != "rsa3072" {
            command.push_str(&format!(" --cert {}", self.cert));
        }
        for (name, value, default) in [
            ("endpoints", self.endpoints, 64),
            ("concurrency", self.concurrency, 128),
            ("client-threads", self.client_threads, 2),
        ] {
            if value != default {
                command.push_str(&format!(" --{name} {value}"));
            }
        }
        command
    }
}

const WORKLOADS: [&str; 2] = ["handshakes", "bulk"];

/// Runs the benchmark.
///
/// # Errors
/// When bench-peer does not build or a run fails; the server and client
/// processes are killed either way.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = crate::workspace_root();
    let started = crate::now();
    let peer = super::build(&root)?;
    let load = procfs::machine_load();
    let mut runs = Vec::new();
    for i in 0..args.runs() {
        for workload in WORKLOADS {
            for shards in [1, 2] {
                let run = run_one(&peer, shards, workload, args)?;
                eprintln!(
                    "bench shards: run {} {workload} on {shards} shard(s): {} {}, server {:.2} cores \
                     {:?}, client {:.2} cores, shards' connections {:?}, {} errors",
                    i + 1,
                    super::stats::fmt(run.value),
                    if workload == "bulk" { "MB/s" } else { "/s" },
                    run.server_cores,
                    run.server_threads,
                    run.client_cores,
                    run.shard_connections,
                    run.errors,
                );
                runs.push(run);
            }
        }
    }
    let idle = match args.idle() {
        0 => None,
        n => Some(idle(&peer, n, args)?),
    };
    let summaries: Vec<Summary> = WORKLOADS
        .iter()
        .map(|w| report::summarize(&runs, w))
        .collect();
    println!("{}", report::table(&summaries));
    if let Some(idle) = &idle {
        println!("{}", report::idle_lines(idle));
    }
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    for line in report::goals(&summaries, idle.as_ref(), cpus) {
        println!("- {line}");
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({"runs": runs, "summaries": summaries, "idle": idle});
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !args.no_docs {
        let section = markdown(
            &summaries,
            &runs,
            idle.as_ref(),
            &Machine::probe(&root),
            load,
            args,
        );
        let path = root.join("docs/scale-out.md");
        let old = std::fs::read_to_string(&path).ok();
        std::fs::write(&path, report::splice(old.as_deref(), &section))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("bench shards: wrote its section of docs/scale-out.md");
    }
    eprintln!(
        "bench shards: {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A server of `shards` shards: the process, its stdin, its lines, and
/// what it said first.
struct Server {
    guard: Guard,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    hello: Value,
}

impl Server {
    fn start(peer: &Path, shards: usize, extra: &[&str]) -> Result<Self, String> {
        let shards = shards.to_string();
        let mut args = vec!["tern", "shards-server", "--shards", &shards];
        args.extend(extra);
        let mut guard = spawn(peer, &args)?;
        let stdin = guard.0.stdin.take().ok_or("no stdin")?;
        let lines = lines(&mut guard.0)?;
        // An RSA-3072 key takes a moment to generate.
        let hello = json_line(&lines, Duration::from_secs(60), "the server")?;
        Ok(Self {
            guard,
            stdin,
            lines,
            hello,
        })
    }

    fn text(&self, key: &str) -> Result<String, String> {
        self.hello[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the server said {}", self.hello))
    }

    /// The server's stats now, and how long its threads have waited for a
    /// CPU so far, in seconds.
    fn stats(&mut self) -> Result<(ServerStats, f64), String> {
        writeln!(self.stdin, "stats").map_err(|e| format!("the server: {e}"))?;
        let value = json_line(&self.lines, Duration::from_secs(10), "the server")?;
        let waited = procfs::sample(self.guard.0.id()).map_or(0.0, |s| {
            Duration::from_nanos(s.run_queue_wait).as_secs_f64()
        });
        Ok((
            ServerStats::parse(&value).ok_or_else(|| format!("the server said {value}"))?,
            waited,
        ))
    }
}

/// The client's arguments for `workload` against `server`.
fn client_args(server: &Server, workload: &str, args: &Args) -> Result<Vec<String>, String> {
    Ok([
        "tern",
        "shards-client",
        "--addr",
        &server.text("addr")?,
        "--cert",
        &server.text("cert")?,
        "--workload",
        workload,
        "--endpoints",
        &args.endpoints.to_string(),
        "--concurrency",
        &args.concurrency.to_string(),
        "--threads",
        &args.client_threads.to_string(),
        "--seconds",
        &args.seconds().to_string(),
        "--warmup",
        &args.warmup().to_string(),
    ]
    .map(str::to_owned)
    .to_vec())
}

/// One run of `workload` on a fresh server of `shards` shards.
fn run_one(peer: &Path, shards: usize, workload: &str, args: &Args) -> Result<Run, String> {
    let mut server = Server::start(peer, shards, &["--cert", &args.cert])?;
    let client_args = client_args(&server, workload, args)?;
    let mut client = spawn(
        peer,
        &client_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let client_lines = lines(&mut client.0)?;
    let timeout = Duration::from_secs_f64(args.seconds() + args.warmup() + 60.0);
    let (mut start, mut end) = (None, None);
    loop {
        let value = json_line(&client_lines, timeout, "the client")?;
        match value["event"].as_str() {
            Some("window-start") => start = Some(server.stats()?),
            Some("window-end") => end = Some(server.stats()?),
            _ => {
                let ((start, w0), (end, w1)) = start
                    .zip(end)
                    .ok_or("the client reported before its window closed")?;
                return Run::assemble(shards, &start, &end, &value, w1 - w0);
            }
        }
    }
}

/// `n` idle connections held by a server of 2 shards.
fn idle(peer: &Path, n: usize, args: &Args) -> Result<Idle, String> {
    // Each shard may hold all of them: the kernel need not spread the
    // client sockets evenly.
    let limit = (2 * n + 10_000).to_string();
    let mut server = Server::start(
        peer,
        2,
        &["--cert", "ecdsa", "--hold", "--max-connections", &limit],
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let (before, _) = server.stats()?;
    let mut client_args = client_args(&server, "idle", args)?;
    client_args.extend(["--conns".into(), n.to_string()]);
    let mut client = spawn(
        peer,
        &client_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let client_lines = lines(&mut client.0)?;
    let ready = json_line(&client_lines, Duration::from_secs(1200), "the client")?;
    let opened = ready["opened"].as_u64().unwrap_or(0);
    // The server holds a connection once its handshake is confirmed; let
    // the last ones arrive, then the handshakes' leftovers go.
    let deadline = crate::now() + Duration::from_secs(30);
    while server.stats()?.0.connections < opened && crate::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (after, _) = server.stats()?;
    drop(client);
    Ok(Idle {
        shards: 2,
        asked: n,
        opened,
        held: after.connections,
        shard_connections: after.shard_connections,
        open_s: ready["open_s"].as_f64().unwrap_or(0.0),
        rss_before: before.rss,
        rss_after: after.rss,
        heap_before: before.heap,
        heap_after: after.heap,
    })
}

/// The section of docs/scale-out.md, markers included.
fn markdown(
    summaries: &[Summary],
    runs: &[Run],
    idle: Option<&Idle>,
    machine: &Machine,
    load: Option<f64>,
    args: &Args,
) -> String {
    let mut out = format!("{}\n## Scale-out: shards\n\n", report::BEGIN);
    let _ = writeln!(
        out,
        "*Written by `{}`; do not edit by hand.*\n\n\
         A Tern server of 1 and of 2 shards (`Endpoint::server_multicore`: one event loop \
         per shard, each on its own thread with its own `SO_REUSEPORT` socket on one \
         port), on 127.0.0.1, against a load from another process ({} threads): {} \
         client endpoints, each with its own socket, so that the kernel spreads them over \
         the shards by 4-tuple. The application side is one accept thread per shard, \
         each accepting and serving that shard's clients alone (`Endpoint::shards`), so \
         that it never waits for another shard's lock; a shard's event loop does its \
         handshakes' TLS work, certificate signature included, on its own thread. The \
         `tern-shard` share of the server's CPU below is the event loops, the `accept` \
         share the application threads. Each run is a fresh \
         server; runs alternate 1 and 2 shards, {} of each here; each window lasts {} s \
         after {} s of warm-up.\n",
        args.reproduce(),
        args.client_threads,
        args.endpoints,
        args.runs(),
        args.seconds(),
        args.warmup(),
    );
    let _ = writeln!(
        out,
        "- `handshakes`: {} loops over the endpoints, each doing connect, one request \
         (8 bytes for 64), close, over and over; every handshake is full (no resumption, \
         no token, no Retry). The server's certificate has an RSA-3072 key: its \
         signature costs the server about a millisecond, checking it costs the client \
         tens of microseconds, so the workload is bound by the server. Certificate \
         of these runs: {}.\n\
         - `bulk`: one connection per endpoint, each downloading 16 MiB responses one \
         after another; MB/s counts 10^6 bytes read by the client a second.\n\
         - CPU in cores is CPU seconds of the process (user plus system) per second of \
         the window: 1.0 is one core busy all the time; the machine has {} cores for \
         server and client together.\n",
        args.concurrency, args.cert, machine.cpus,
    );
    let _ = writeln!(out, "{}", report::table(summaries));
    for line in report::goals(summaries, idle, machine.cpus) {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "\n### Each run\n\n| run | workload | shards | figure | server cores (by \
         thread) | waited for a CPU | client cores | connections per shard | errors |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for (i, r) in runs.iter().enumerate() {
        let threads: Vec<String> = r
            .server_threads
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} ({}) | {:.2} | {:.2} | {:?} | {} |",
            i / (2 * WORKLOADS.len()) + 1,
            r.workload,
            r.shards,
            super::stats::fmt(r.value),
            r.server_cores,
            threads.join(", "),
            r.server_waited,
            r.client_cores,
            r.shard_connections,
            r.errors,
        );
    }
    if let Some(idle) = idle {
        let _ = writeln!(
            out,
            "\n### Idle connections\n\n\
             A server of 2 shards with an ECDSA certificate that keeps every \
             connection and does nothing with it; the load opens them, {} handshakes \
             at a time, over its {} endpoints. Live heap is counted by a global \
             allocator; the resident set is VmRSS.\n\n{}",
            args.concurrency,
            args.endpoints,
            report::idle_lines(idle),
        );
    }
    let _ = writeln!(
        out,
        "### Machine\n\n- CPUs: {} ({})\n- kernel: {}\n- compiler: {}\n- Tern commit: {}\n\
         - load average when the runs began: {}\n\n\
         The machine is shared: other work running meanwhile takes CPU from server and \
         client alike (the `waited for a CPU` column: seconds the server's threads were \
         ready to run but not running, per second).\n\n{}",
        machine.cpus,
        machine.cpu_model,
        machine.kernel,
        machine.rustc,
        machine.commit,
        load.map_or_else(|| "unknown".into(), |l| format!("{l:.2}")),
        report::END,
    );
    out.trim_end().to_owned()
}
