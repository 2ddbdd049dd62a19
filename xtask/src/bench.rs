//! `cargo xtask bench`: the same workloads on Tern and on quinn in one
//! run, with tern/quinn ratios.
//!
//! Each workload runs in `xtask/bench-peer` (a crate of its own, built in
//! release mode under `target/bench-peer`), one process per stack and run:
//! client and server each on its own OS thread with a current-thread tokio
//! runtime, on loopback. Runs alternate quinn, tern, quinn, tern, ...; the
//! report gives the median and the range of each figure and the ratio of
//! the medians. `--json FILE` writes the rows; unless `--no-docs`, the run
//! rewrites docs/performance.md and its plots (see [`docs`]).
//!
//! `cargo xtask bench flood` is another benchmark, of Tern alone: a
//! handshake flood against a server with each Retry policy (see
//! [`flood`]); it writes its own section of docs/performance.md.
//! `cargo xtask bench shards` measures a Tern server of 1 and of 2 shards
//! (see [`shards`]) and writes its section of docs/scale-out.md.

mod docs;
mod flood;
mod shards;
mod stats;
#[cfg(test)]
mod tests;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use self::stats::{Better, Results};

/// Every workload, in the order they run. `idle-100k` and `scaling-100k`
/// are left out unless named: each opens 100,000 connections per run and
/// stack.
pub(crate) const WORKLOADS: [&str; 13] = [
    "bulk-upload",
    "bulk-download",
    "bulk-upload-8streams",
    "handshakes-c1",
    "handshakes-c64",
    "handshakes-c64-4m",
    "rpc",
    "idle-1k",
    "idle-10k",
    "scaling-1k",
    "scaling-10k",
    "idle-100k",
    "scaling-100k",
];

/// The handshake variants: the suite of bench-peer and the suffix of the
/// metric names. The first is the main one and has no suffix.
pub(crate) const SUITES: [(&str, &str); 3] = [
    ("x25519-aes128", ""),
    ("x25519-aes256", "_aes256"),
    ("defaults", "_defaults"),
];

/// The command line of `cargo xtask bench`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    /// A benchmark of Tern alone instead of the workloads against quinn.
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Runs per stack and workload.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The workloads to run (default: all but idle-100k and scaling-100k).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Small sizes and one run each: a smoke test, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Write the rows as a JSON list to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not rewrite docs/performance.md and its plots.
    #[arg(long)]
    no_docs: bool,
    /// Give up on one run after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// The benchmarks of `cargo xtask bench` that are not workloads against
/// quinn.
#[derive(clap::Subcommand)]
enum BenchCommand {
    /// How a Tern server holds a handshake flood with each Retry policy,
    /// as honest clients see it; writes its section of docs/performance.md.
    Flood(flood::Args),
    /// A Tern server of 1 and of 2 shards: handshakes/s, bulk MB/s, and
    /// the heap and resident set of idle connections; writes its section
    /// of docs/scale-out.md.
    Shards(shards::Args),
}

/// Runs the benchmark.
///
/// # Errors
/// When bench-peer does not build, a workload is unknown, or a run failed
/// (the rows of the runs that succeeded are still written).
pub(crate) fn run(args: &Args) -> Result<(), String> {
    match &args.command {
        Some(BenchCommand::Flood(flood)) => return flood::run(flood),
        Some(BenchCommand::Shards(shards)) => return shards::run(shards),
        None => {}
    }
    let root = crate::workspace_root();
    let workloads: Vec<String> = if args.workloads.is_empty() {
        WORKLOADS
            .iter()
            .filter(|w| !w.ends_with("-100k"))
            .map(|w| (*w).to_owned())
            .collect()
    } else {
        args.workloads.clone()
    };
    if let Some(unknown) = workloads.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
        return Err(format!(
            "unknown workload {unknown}; known: {}",
            WORKLOADS.join(", ")
        ));
    }
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let started = crate::now();
    let peer = build(&root)?;
    eprintln!(
        "bench: bench-peer built in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let mut results = Results::default();
    let mut info = Vec::new();
    let mut failures = Vec::new();
    for workload in &workloads {
        for (suite, suffix) in suites(workload, args.quick) {
            for run in 0..runs {
                for stack in ["quinn", "tern"] {
                    let mut command = Command::new(&peer);
                    command
                        .args([stack, workload, "--suite", suite])
                        .args(quick_args(workload, args.quick));
                    let t = crate::now();
                    match run_peer(&mut command, Duration::from_secs(args.timeout)) {
                        Ok(report) => {
                            eprintln!(
                                "bench: {workload} {suite} {stack} run {}: {:.1} s",
                                run + 1,
                                t.elapsed().as_secs_f64()
                            );
                            record(&mut results, workload, suffix, stack, &report);
                            if run == 0 {
                                info.push(docs::Variant::from_report(
                                    workload, suite, stack, &report,
                                ));
                            }
                        }
                        Err(e) => {
                            eprintln!("bench: {workload} {suite} {stack} run {}: {e}", run + 1);
                            failures.push(format!("{workload} {suite} {stack}: {e}"));
                        }
                    }
                }
            }
        }
    }

    let rows = results.rows();
    println!("{}", stats::table(&rows));
    if let Some(path) = &args.json {
        std::fs::write(path, stats::to_json(&rows)? + "\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !args.no_docs {
        let command = reproduce(args, &workloads);
        docs::write(&root, &rows, &info, &command)?;
        eprintln!("bench: wrote docs/performance.md");
    }
    eprintln!("bench: {:.0} s in all", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} runs failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

/// The suites a workload runs with: every variant for the handshake rows
/// of a full run, the main one otherwise.
fn suites(workload: &str, quick: bool) -> Vec<(&'static str, &'static str)> {
    if workload.starts_with("handshakes-") && !quick {
        SUITES.to_vec()
    } else {
        SUITES[..1].to_vec()
    }
}

/// The smaller sizes of `--quick`.
fn quick_args(workload: &str, quick: bool) -> Vec<&'static str> {
    if !quick {
        return Vec::new();
    }
    match workload {
        w if w.starts_with("bulk-") => vec!["--bytes", "16777216"],
        w if w.starts_with("handshakes-") => vec!["--count", "200"],
        w if w.starts_with("idle-") => vec!["--conns", "1000"],
        w if w.starts_with("scaling-") => vec!["--conns", "1000", "--count", "200"],
        "rpc" => vec!["--count", "2000"],
        _ => Vec::new(),
    }
}

/// The command line that reproduces this run.
fn reproduce(args: &Args, workloads: &[String]) -> String {
    let mut command = format!("cargo xtask bench --runs {}", args.runs);
    if !args.workloads.is_empty() {
        command.push_str(&format!(" --workloads {}", workloads.join(",")));
    }
    if args.quick {
        command.push_str(" --quick");
    }
    command
}

/// Builds bench-peer, a crate of its own outside the workspace, in release
/// mode, and returns the path of its binary.
fn build(root: &Path) -> Result<PathBuf, String> {
    let target = root.join("target/bench-peer");
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("xtask/bench-peer/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cargo build (xtask/bench-peer): cannot start: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build (xtask/bench-peer) failed ({status})"));
    }
    Ok(target.join("release/bench-peer"))
}

/// Runs one bench-peer and parses the JSON object it prints; kills it after
/// `timeout`.
fn run_peer(command: &mut Command, timeout: Duration) -> Result<Value, String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start bench-peer: {e}"))?;
    let deadline = crate::now() + timeout;
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if crate::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "bench-peer failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("bench-peer printed {line:?}: {e}"))
}

/// Adds the figures of one report to `results`, the metric names with the
/// suite's suffix.
fn record(results: &mut Results, workload: &str, suffix: &str, stack: &str, report: &Value) {
    for metric in report["metrics"].as_array().map_or(&[][..], Vec::as_slice) {
        let (Some(name), Some(value), Some(better)) = (
            metric["metric"].as_str(),
            metric["value"].as_f64(),
            metric["better"].as_str().and_then(Better::parse),
        ) else {
            continue;
        };
        results.add(workload, &format!("{name}{suffix}"), stack, better, value);
    }
}
