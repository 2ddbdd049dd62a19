//! A bulk transfer from client to server over streams on a simulated,
//! impaired network, checked byte for byte.
//!
//! ```text
//! cargo run --release -p tern-sim --example transfer -- --bytes 50000000 \
//!     --streams 8 --loss 0.02 --reorder 0.05 --dup 0.01 --corrupt 0.01 \
//!     --bandwidth-mbps 100 --rtt-ms 40 --seed 3 --json
//! ```

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use serde_json::json;
use tern_proto::{
    config::TransportConfig,
    congestion::{CubicConfig, NewRenoConfig},
};
use tern_sim::{LinkConfig, transfer::TransferRun};

/// Move bytes over streams through a simulated network and measure it.
#[derive(Parser)]
struct Args {
    /// Bytes to transfer.
    #[arg(long, default_value_t = 10_000_000)]
    bytes: u64,
    /// Streams to spread them over.
    #[arg(long, default_value_t = 8)]
    streams: usize,
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
    /// Bottleneck bandwidth in Mbit/s each way (0: unlimited).
    #[arg(long, default_value_t = 100)]
    bandwidth_mbps: u64,
    /// Bottleneck queue in bytes (default: one bandwidth-delay product).
    #[arg(long)]
    queue_bytes: Option<usize>,
    /// Round-trip time of the path, in milliseconds.
    #[arg(long, default_value_t = 40)]
    rtt_ms: u64,
    /// Congestion controller: cubic or newreno.
    #[arg(long, default_value = "cubic")]
    cc: String,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rtt = Duration::from_millis(args.rtt_ms);
    let mut link = LinkConfig::default()
        .delay(rtt / 2)
        .loss(args.loss)
        .reorder(args.reorder, rtt / 4)
        .duplicate(args.dup)
        .corrupt(args.corrupt);
    let bps = args.bandwidth_mbps * 1_000_000;
    if bps > 0 {
        let bdp = usize::try_from(bps / 8 * args.rtt_ms / 1000).unwrap_or(usize::MAX);
        link = link
            .bandwidth(bps)
            .queue_limit(args.queue_bytes.unwrap_or(bdp).max(64 * 1024));
    }
    let congestion: Arc<dyn tern_proto::congestion::ControllerFactory> = match args.cc.as_str() {
        "newreno" | "new_reno" => Arc::new(NewRenoConfig::default()),
        _ => Arc::new(CubicConfig::default()),
    };
    let mut run = TransferRun::new(args.seed, link, args.bytes, args.streams);
    run.transport = TransportConfig {
        congestion,
        ..TransportConfig::default()
    };
    let report = run.run();
    let client = report.client_stats.unwrap_or_default();
    let sim_time_ms = u64::try_from(report.sim_time.as_millis()).unwrap_or(u64::MAX);
    let link_mbps = (bps > 0).then_some(args.bandwidth_mbps);
    if args.json {
        let output = json!({
            "seed": report.seed,
            "bytes": report.bytes,
            "intact": report.intact,
            "sim_time_ms": sim_time_ms,
            "goodput_mbps": (report.goodput_mbps * 100.0).round() / 100.0,
            "steady_goodput_mbps": (report.steady_goodput_mbps * 100.0).round() / 100.0,
            "link_mbps": link_mbps,
            "lost_packets": client.packets_lost,
            "retransmitted_bytes": client.stream_bytes_retransmitted,
            "cc": report.cc,
        });
        println!("{output}");
    } else {
        println!(
            "seed {}: {} bytes over {} streams, intact {}, {:.1} Mbit/s ({:.1} once grown) on a {} link, \
             {} packets lost, {} bytes sent again, {} in {sim_time_ms} ms of simulated time",
            report.seed,
            report.bytes,
            args.streams,
            report.intact,
            report.goodput_mbps,
            report.steady_goodput_mbps,
            link_mbps.map_or_else(|| "unlimited".to_string(), |m| format!("{m} Mbit/s")),
            client.packets_lost,
            client.stream_bytes_retransmitted,
            report.cc,
        );
    }
    if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
