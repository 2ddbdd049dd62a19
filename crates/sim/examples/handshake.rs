//! One QUIC handshake between two `tern-proto` endpoints over a simulated,
//! impaired network, with both sides' handshake information.
//!
//! ```text
//! cargo run -p tern-sim --example handshake -- --seed 7 --loss 0.2 --json
//! ```
//!
//! The same seed replays the same run. Without `--json` a short summary
//! is printed.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use serde_json::json;
use tern_sim::{LinkConfig, quic::HandshakeRun};

/// Run one simulated QUIC handshake and print what both sides saw.
#[derive(Parser)]
struct Args {
    /// Seed for every random choice of the network and the endpoints.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Probability that a datagram is lost, each direction.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability that a datagram is delayed past later ones.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Probability that a datagram is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Probability that a datagram has 1-3 bits flipped.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Round-trip time of the path, in milliseconds.
    #[arg(long, default_value_t = 40)]
    rtt_ms: u64,
    /// Keep the server's TLS session after the handshake.
    #[arg(long)]
    retain_tls_state: bool,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let one_way = Duration::from_millis(args.rtt_ms) / 2;
    let link = LinkConfig::default()
        .delay(one_way)
        .loss(args.loss)
        .reorder(args.reorder, one_way)
        .duplicate(args.dup)
        .corrupt(args.corrupt);
    let mut run = HandshakeRun::new(args.seed, link);
    run.retain_tls_state = args.retain_tls_state;
    let report = run.run();
    let sim_time_ms = u64::try_from(report.sim_time.as_millis()).unwrap_or(u64::MAX);
    if args.json {
        let output = json!({
            "seed": report.seed,
            "completed": report.completed,
            "client": { "handshake_info": report.client_info.as_deref() },
            "server": {
                "handshake_info": report.server_info.as_deref(),
                "tls_state_retained": report.server_tls_retained,
            },
            "sim_time_ms": sim_time_ms,
            "datagrams": report.datagrams,
            "amplification_violation": report.amplification_violation,
        });
        println!("{output}");
    } else {
        println!(
            "seed {}: completed {} in {sim_time_ms} ms of simulated time, {} datagrams",
            report.seed, report.completed, report.datagrams
        );
        for (side, info) in [
            ("client", &report.client_info),
            ("server", &report.server_info),
        ] {
            match info {
                Some(info) => println!(
                    "  {side}: {} {:?} group {:?} alpn {:?}, handshake {:?}, rtt {:?}",
                    info.tls_version().as_str(),
                    info.cipher_suite().map(|s| s.name),
                    info.key_exchange_group(),
                    info.alpn().map(String::from_utf8_lossy),
                    info.handshake_duration(),
                    info.rtt(),
                ),
                None => println!("  {side}: no handshake information (not connected)"),
            }
        }
        println!(
            "  server tls state retained: {:?}",
            report.server_tls_retained
        );
    }
    if report.completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
