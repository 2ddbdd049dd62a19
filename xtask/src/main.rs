//! Project automation, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask fuzz --seconds N` runs every cargo-fuzz target for N
//!   seconds each and prints the executions per target.
//! - `cargo xtask lint` checks the house rules rustc and clippy cannot:
//!   file sizes and the RFC citation grammar.
//! - `cargo xtask proxy --listen A --server B [--delay-ms ..]` runs the UDP
//!   impairment proxy and prints what it saw as JSON.
//! - `cargo xtask interop [--peers aioquic,quinn] [--cases ...] [--json F]`
//!   runs the interop matrix against other QUIC stacks (see `interop`).
//! - `cargo xtask bench [--runs N] [--workloads ...] [--quick] [--json F]`
//!   runs the same workloads on Tern and on quinn and reports the ratios,
//!   rewriting docs/performance.md (see `bench`).
//! - `cargo xtask bench flood [--policies ...] [--rates ...] [--smoke]`
//!   floods a Tern server with client Initials under each Retry policy
//!   while honest clients connect, and writes the flood section of
//!   docs/performance.md (see `bench::flood`).
//! - `cargo xtask balancer [--tern-bin PATH] [--route cid|4tuple]
//!   [--plaintext]` runs `tern serve` processes issuing QUIC-LB connection
//!   IDs behind a CID-routing test load balancer, while a client's
//!   connections download files across a change of its address (see
//!   `balancer`).
#![forbid(unsafe_code)]

mod balancer;
mod bench;
mod fuzz;
mod interop;
mod lint;
mod proxy;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// The command line of `cargo xtask`.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tern's project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every fuzz target (or the named ones) for a fixed time each.
    Fuzz(fuzz::Args),
    /// Check file sizes and the RFC citation grammar.
    Lint(lint::Args),
    /// Run the UDP impairment proxy and print its report as JSON.
    Proxy(Box<proxy::Args>),
    /// Run the interop matrix against other QUIC implementations.
    Interop(interop::Args),
    /// Run the same workloads on Tern and on quinn and report the ratios.
    Bench(bench::Args),
    /// Run a fleet of `tern serve` behind a QUIC-LB test load balancer.
    Balancer(balancer::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Proxy(args) => proxy::run(&args),
        Command::Interop(args) => interop::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Balancer(args) => balancer::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}

/// The wall clock of the tools. xtask measures and schedules real
/// processes, so it is the one place outside the endpoint that reads it.
#[expect(
    clippy::disallowed_methods,
    reason = "xtask drives real processes on real time"
)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}
