//! `cargo xtask bench flood`: how a Tern server holds a handshake flood
//! with each Retry policy, measured as honest clients see it.
//!
//! Each run is a Retry policy and a flood rate, in two processes of
//! `xtask/bench-peer` (release mode): the server (`flood-server`), and the
//! flood with the honest clients beside it (`flood-client`, whose flood
//! is the `flood` crate). This process starts them, reads the server's
//! CPU time and resident set from /proc as the run goes, and collects
//! both reports. Runs go rate by rate, the policies in turn within each
//! rate. Unless `--no-docs` (or `--smoke`), the table, the goals' verdict
//! and three plots go into the flood section of docs/performance.md (see
//! [`docs`]), which `cargo xtask bench` leaves alone.

mod docs;
pub(super) mod procfs;
mod report;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

pub(crate) use self::docs::{section_of, splice};
use self::report::FloodRun;

/// The defaults of a full run: each policy at each rate, 10 s each (12
/// runs, about three minutes on two cores).
const POLICIES: [&str; 3] = ["never", "under-load", "always"];
const RATES: [u32; 4] = [0, 2_000, 10_000, 20_000];
const SECONDS: u64 = 10;
const HONEST_RATE: u32 = 25;
const TIMEOUT_MS: u64 = 5_000;
const SOURCES: usize = 1_000;

/// The command line of `cargo xtask bench flood`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Args {
    /// Retry policies, in turn at each rate: never, under-load, always.
    #[arg(long, value_delimiter = ',', default_values_t = POLICIES.map(String::from))]
    policies: Vec<String>,
    /// Flood rates in Initials a second, one run per policy each.
    #[arg(long, value_delimiter = ',', default_values_t = RATES)]
    rates: Vec<u32>,
    /// Seconds of each run's flood (and of its honest clients).
    #[arg(long, default_value_t = SECONDS)]
    seconds: u64,
    /// New honest connections a second.
    #[arg(long, default_value_t = HONEST_RATE)]
    honest_rate: u32,
    /// An honest handshake that takes longer than this many milliseconds
    /// fails.
    #[arg(long, default_value_t = TIMEOUT_MS)]
    timeout_ms: u64,
    /// Source addresses of the flood, one socket each.
    #[arg(long, default_value_t = SOURCES)]
    sources: usize,
    /// A smoke test for CI: under-load at 0 and 2,000/s for 2 s each, 100
    /// sources, no docs; it fails only when a run does not complete or
    /// completes no honest handshake.
    #[arg(long)]
    smoke: bool,
    /// Write the runs as a JSON list to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not rewrite the flood section of docs/performance.md and its plots.
    #[arg(long)]
    no_docs: bool,
}

impl Args {
    /// The arguments of `--smoke`.
    fn smoke(&self) -> Self {
        Self {
            policies: vec!["under-load".into()],
            rates: vec![0, 2_000],
            seconds: 2,
            honest_rate: 20,
            timeout_ms: 2_000,
            sources: 100,
            smoke: true,
            json: self.json.clone(),
            no_docs: true,
        }
    }

    /// The command line that reproduces these runs: the options that
    /// differ from the defaults.
    pub(crate) fn reproduce(&self) -> String {
        let mut command = String::from("cargo xtask bench flood");
        let mut option = |name: &str, value: String, default: String| {
            if value != default {
                command.push_str(&format!(" --{name} {value}"));
            }
        };
        let rates = |r: &[u32]| r.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        option("policies", self.policies.join(","), POLICIES.join(","));
        option("rates", rates(&self.rates), rates(&RATES));
        option("seconds", self.seconds.to_string(), SECONDS.to_string());
        option(
            "honest-rate",
            self.honest_rate.to_string(),
            HONEST_RATE.to_string(),
        );
        option(
            "timeout-ms",
            self.timeout_ms.to_string(),
            TIMEOUT_MS.to_string(),
        );
        option("sources", self.sources.to_string(), SOURCES.to_string());
        command
    }
}

/// Runs the flood benchmark.
///
/// # Errors
/// When bench-peer does not build, a policy is unknown, a run fails, or
/// (`--smoke`) no honest handshake completes.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let args = if args.smoke {
        args.smoke()
    } else {
        args.clone()
    };
    if let Some(bad) = args
        .policies
        .iter()
        .find(|p| !["never", "under-load", "always"].contains(&p.as_str()))
    {
        return Err(format!(
            "unknown Retry policy {bad}: never, under-load or always"
        ));
    }
    let root = crate::workspace_root();
    let started = crate::now();
    let peer = super::build(&root)?;
    let load = procfs::machine_load();
    let mut runs = Vec::new();
    for &rate in &args.rates {
        for policy in &args.policies {
            let t = crate::now();
            let run = run_one(&peer, policy, rate, &args)?;
            eprintln!(
                "bench flood: {policy} at {rate}/s: {} of {} honest handshakes, {:.1} s",
                run.completed(),
                run.attempted(),
                t.elapsed().as_secs_f64()
            );
            runs.push(run);
        }
    }
    println!("{}", report::table(&runs));
    for line in report::goals(&runs).lines {
        println!("- {line}");
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !args.no_docs {
        docs::write(&root, &runs, &args.reproduce(), load)?;
        eprintln!("bench flood: wrote the flood section of docs/performance.md");
    }
    eprintln!(
        "bench flood: {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
    if args.smoke && runs.iter().any(|r| r.completed() == 0) {
        return Err("a smoke run completed no honest handshake".into());
    }
    Ok(())
}

/// A child process killed when dropped, so that no run leaves one behind.
pub(super) struct Guard(pub(super) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines a child prints, on a channel, as they come.
pub(super) fn lines(child: &mut Child) -> Result<mpsc::Receiver<String>, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

pub(super) fn spawn(peer: &Path, args: &[&str]) -> Result<Guard, String> {
    Command::new(peer)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Guard)
        .map_err(|e| format!("cannot start bench-peer: {e}"))
}

pub(super) fn json_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    what: &str,
) -> Result<Value, String> {
    let line = rx
        .recv_timeout(timeout)
        .map_err(|_| format!("{what} printed nothing within {} s", timeout.as_secs()))?;
    serde_json::from_str(&line).map_err(|e| format!("{what} printed {line:?}: {e}"))
}

/// One run: the server, then the flood and honest clients, then the
/// server's counters.
fn run_one(peer: &Path, policy: &str, rate: u32, args: &Args) -> Result<FloodRun, String> {
    let mut server = spawn(peer, &["tern", "flood-server", "--retry", policy])?;
    let pid = server.0.id();
    let server_lines = lines(&mut server.0)?;
    let hello = json_line(&server_lines, Duration::from_secs(30), "the server")?;
    let (Some(addr), Some(cert)) = (hello["addr"].as_str(), hello["cert"].as_str()) else {
        return Err(format!("the server said {hello}"));
    };
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("the server's address {addr}"))?;
    let client_args = [
        "tern".to_string(),
        "flood-client".into(),
        "--server".into(),
        addr.into(),
        "--cert".into(),
        cert.into(),
        "--rate".into(),
        rate.to_string(),
        "--seconds".into(),
        args.seconds.to_string(),
        "--honest-rate".into(),
        args.honest_rate.to_string(),
        "--timeout-ms".into(),
        args.timeout_ms.to_string(),
        "--sources".into(),
        args.sources.to_string(),
    ];
    let client_args: Vec<&str> = client_args.iter().map(String::as_str).collect();
    let mut client = spawn(peer, &client_args)?;
    let client_lines = lines(&mut client.0)?;
    let watched = watch(pid, &client_lines, args)?;
    let limits = counters_of(&hello["limits"]);

    let drops = procfs::socket_drops(port);
    let mut stdin: ChildStdin = server.0.stdin.take().ok_or("no stdin")?;
    writeln!(stdin, "stop").map_err(|e| format!("the server: {e}"))?;
    let counters = json_line(&server_lines, Duration::from_secs(10), "the server")?;
    let _ = server.0.wait();
    let _ = client.0.wait();
    let mut run = assemble(policy, rate, args, &watched, &counters, drops);
    run.limits = limits;
    Ok(run)
}

/// What [`watch`] saw of one run.
struct Watched {
    window: Duration,
    ticks: u64,
    /// How long the server was ready to run but waited for a CPU.
    waited: Duration,
    start: procfs::Sample,
    mid: procfs::Sample,
    end: procfs::Sample,
    peak_rss: u64,
    report: Value,
}

/// Samples the server every 50 ms while the client runs, and takes its
/// figures when the client opens and closes the measured window.
fn watch(pid: u32, client: &mpsc::Receiver<String>, args: &Args) -> Result<Watched, String> {
    let deadline = crate::now()
        + Duration::from_secs(args.seconds + 60)
        + Duration::from_millis(args.timeout_ms);
    let gone = || format!("the server (pid {pid}) is gone");
    let half = Duration::from_secs(args.seconds) / 2;
    let mut opened: Option<(Instant, procfs::Sample)> = None;
    let mut mid = None;
    let mut closed: Option<(Instant, procfs::Sample)> = None;
    loop {
        if crate::now() > deadline {
            return Err("the run did not end in time".into());
        }
        let sample = procfs::sample(pid).ok_or_else(gone)?;
        if let Some((t0, _)) = opened
            && mid.is_none()
            && t0.elapsed() >= half
        {
            mid = Some(sample);
        }
        match client.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("the client printed {line:?}: {e}"))?;
                // The window runs from sample to sample, so that its CPU
                // time and its length are measured between the same moments.
                let (at, now) = (crate::now(), procfs::sample(pid).ok_or_else(gone)?);
                match value["event"].as_str() {
                    Some("started") => opened = Some((at, now)),
                    Some("window-end") => closed = Some((at, now)),
                    _ => {
                        let ((t0, start), (t1, end)) = opened.zip(closed).ok_or_else(|| {
                            "the client reported before its window closed".to_string()
                        })?;
                        return Ok(Watched {
                            window: t1 - t0,
                            ticks: end.cpu_ticks - start.cpu_ticks,
                            waited: Duration::from_nanos(
                                end.run_queue_wait.saturating_sub(start.run_queue_wait),
                            ),
                            start,
                            mid: mid.unwrap_or(end),
                            end,
                            peak_rss: now.peak_rss,
                            report: value,
                        });
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the flood client ended without a report".into());
            }
        }
    }
}

/// A run's figures from what was watched and the two reports.
fn assemble(
    policy: &str,
    rate: u32,
    args: &Args,
    watched: &Watched,
    counters: &Value,
    socket_drops: Option<u64>,
) -> FloodRun {
    let report = &watched.report;
    let honest_ms = report["honest"]["latencies_ms"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(Value::as_f64)
        .collect();
    let failures = report["honest"]["failures"]
        .as_object()
        .map(|f| {
            f.iter()
                .map(|(why, n)| (why.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let server = counters_of(counters);
    let window = watched.window.as_secs_f64();
    let cpu = watched.ticks as f64 / procfs::ticks_per_second();
    FloodRun {
        policy: policy.into(),
        rate,
        window_s: window,
        flood_sent: report["flood"]["sent"].as_u64().unwrap_or(0),
        flood_elapsed_s: report["flood"]["elapsed_s"].as_f64().unwrap_or(0.0),
        flood_sources: report["flood"]["sources"].as_u64().unwrap_or(0),
        honest_ms,
        failures,
        timeout_ms: args.timeout_ms,
        server_cpu_cores: if window > 0.0 { cpu / window } else { 0.0 },
        server_waited: if window > 0.0 {
            watched.waited.as_secs_f64() / window
        } else {
            0.0
        },
        rss_start: watched.start.rss,
        rss_mid: watched.mid.rss,
        rss_end: watched.end.rss,
        rss_peak: watched.peak_rss,
        socket_drops,
        server,
        limits: BTreeMap::new(),
    }
}

/// The whole-number fields of a JSON object.
fn counters_of(object: &Value) -> BTreeMap<String, u64> {
    object
        .as_object()
        .map(|c| {
            c.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}
