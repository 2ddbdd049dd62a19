//! `cargo xtask fuzz`: run the cargo-fuzz targets in `fuzz/`.
//!
//! The fuzz crate uses libFuzzer through cargo-fuzz, which needs nightly
//! compiler flags; on the stable toolchain `RUSTC_BOOTSTRAP=1` unlocks them.
//! cargo-fuzz itself is installed from the Rust package registry at a pinned
//! version when it is missing.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use crate::workspace_root;

/// The cargo-fuzz release this project is tested with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only these targets (default: every target in fuzz/fuzz_targets).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Skip AddressSanitizer (faster; the targets are safe Rust).
    #[arg(long)]
    no_sanitizer: bool,
}

/// What one target's run produced.
struct Outcome {
    target: String,
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    seconds: f64,
    ok: bool,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz()?;
    let targets = if args.targets.is_empty() {
        list_targets(&fuzz_dir)?
    } else {
        args.targets.clone()
    };
    if targets.is_empty() {
        return Err("no fuzz targets found in fuzz/fuzz_targets".into());
    }
    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(&fuzz_dir, target, args)?);
    }
    println!(
        "\n{:<28} {:>14} {:>12} {:>16}  result",
        "target", "executions", "exec/s", "wall s (+build)"
    );
    for o in &outcomes {
        let execs = o
            .executions
            .map_or_else(|| "?".to_string(), |e| e.to_string());
        let rate = o
            .exec_per_sec
            .map_or_else(|| "?".to_string(), |e| e.to_string());
        let result = match (o.ok, o.executions) {
            (true, _) => "ok",
            (false, Some(_)) => "CRASH",
            (false, None) => "FAILED to build or start (see the log above)",
        };
        println!(
            "{:<28} {:>14} {:>12} {:>16.1}  {result}",
            o.target, execs, rate, o.seconds
        );
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.target.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (artifacts in fuzz/artifacts/<target>/)",
            failed.join(", ")
        ))
    }
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains(CARGO_FUZZ_VERSION)
        });
    if installed {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} from the Rust package registry");
    let status = Command::new("cargo")
        .args([
            "install",
            "--locked",
            "cargo-fuzz",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo install cargo-fuzz failed with {status}"))
    }
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn run_target(fuzz_dir: &Path, target: &str, args: &Args) -> Result<Outcome, String> {
    eprintln!("xtask: fuzzing {target} for {} s", args.seconds);
    let mut cmd = Command::new("cargo");
    cmd.current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run"]);
    if args.no_sanitizer {
        cmd.args(["--sanitizer", "none"]);
    }
    cmd.arg(target)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg("-print_final_stats=1");
    #[expect(
        clippy::disallowed_methods,
        reason = "xtask measures wall time; it is not protocol code"
    )]
    let start = Instant::now();
    let output = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Keep the tail of libFuzzer's log visible: it names any crash artifact.
    for line in stderr
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        eprintln!("  {line}");
    }
    Ok(Outcome {
        target: target.to_owned(),
        executions: executions(&stderr),
        exec_per_sec: stat(&stderr, "stat::average_exec_per_sec:"),
        seconds,
        ok: output.status.success(),
    })
}

/// One of libFuzzer's `-print_final_stats=1` lines.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
}

/// libFuzzer ends with `Done N runs in S second(s)` and, with
/// `-print_final_stats=1`, `stat::number_of_executed_units: N`.
fn executions(log: &str) -> Option<u64> {
    stat(log, "stat::number_of_executed_units:").or_else(|| {
        log.lines().rev().find_map(|line| {
            line.strip_prefix("Done ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::executions;

    #[test]
    fn executions_are_read_from_libfuzzer_final_stats() {
        let log = "#1024 pulse\nDone 123456 runs in 61 second(s)\nstat::number_of_executed_units: 123457\n";
        assert_eq!(executions(log), Some(123_457));
        assert_eq!(executions("Done 42 runs in 1 second(s)"), Some(42));
        assert_eq!(executions("nothing useful"), None);
    }
}
