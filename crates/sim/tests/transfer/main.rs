//! Bulk transfers over streams through loss, reordering, duplication,
//! corruption and blackouts, checked byte for byte.
//!
//! A failing seed is printed as `tern-sim: failing seed N`; run the test
//! again with `TERN_SIM_SEED=N` to replay exactly that run.

use std::time::Duration;

use tern_proto::config::TransportConfig;
use tern_sim::{
    LinkConfig, Seed,
    transfer::{TransferReport, TransferRun},
};

/// Seeds per scenario, as the acceptance criteria ask.
const SEEDS: u64 = 100;
/// Bytes per seeded transfer: enough for many round trips of loss and
/// recovery, small enough that 100 seeds stay quick in a debug build.
const BYTES: u64 = 200_000;

/// Loss plus reordering, duplication and corruption in both directions.
fn impaired(loss: f64) -> LinkConfig {
    LinkConfig::default()
        .delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(2))
        .loss(loss)
        .reorder(0.05, Duration::from_millis(10))
        .duplicate(0.01)
        .corrupt(0.01)
}

fn assert_intact(report: &TransferReport) {
    assert!(report.completed, "transfer did not finish: {report:?}");
    assert!(report.intact, "data differs: {report:?}");
    assert_eq!(report.received, report.bytes);
}

fn run_seeds(link: LinkConfig, transport: TransportConfig) -> Vec<TransferReport> {
    run_seeds_with(link, transport, None)
}

fn run_seeds_with(
    link: LinkConfig,
    transport: TransportConfig,
    blackout: Option<(Duration, Duration)>,
) -> Vec<TransferReport> {
    let mut reports = Vec::new();
    Seed::range(0..SEEDS).run(|seed| {
        let mut run = TransferRun::new(seed, link.clone(), BYTES, 4);
        run.transport = transport.clone();
        run.blackout = blackout;
        let report = run.run();
        assert_intact(&report);
        reports.push(report);
    });
    reports
}

#[test]
fn transfers_are_intact_for_100_seeds_without_loss() {
    let _ = run_seeds(impaired(0.0), TransportConfig::default());
}

#[test]
fn transfers_are_intact_for_100_seeds_at_2_percent_loss() {
    let reports = run_seeds(impaired(0.02), TransportConfig::default());
    assert!(reports.iter().any(|r| {
        r.client_stats
            .is_some_and(|s| s.stream_bytes_retransmitted > 0)
    }));
}

#[test]
fn transfers_are_intact_for_100_seeds_at_10_percent_loss() {
    let _ = run_seeds(impaired(0.1), TransportConfig::default());
}

#[test]
fn transfers_survive_a_30_second_blackout_in_the_middle_for_100_seeds() {
    // The blackout starts once data flows and outlasts many PTOs; the idle
    // timeout is raised above it so that recovery, not a timeout, decides.
    let blackout = Some((Duration::from_millis(100), Duration::from_secs(30)));
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(120)),
        ..TransportConfig::default()
    };
    for report in run_seeds_with(impaired(0.02), transport, blackout) {
        assert!(
            report.transfer_time > Duration::from_secs(30),
            "the blackout hit the transfer: {report:?}"
        );
    }
}

#[test]
fn goodput_reaches_90_percent_of_a_100_mbit_link_once_the_window_has_grown() {
    // 100 Mbit/s, 40 ms RTT, a bottleneck queue of one bandwidth-delay
    // product (500 kB), no random loss.
    let link = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .bandwidth(100_000_000)
        .queue_limit(500_000);
    let report = TransferRun::new(3, link, 50_000_000, 8).run();
    assert_intact(&report);
    assert!(
        report.goodput_mbps >= 85.0,
        "overall goodput {:.1} Mbit/s",
        report.goodput_mbps
    );
    assert!(
        report.steady_goodput_mbps >= 90.0,
        "steady goodput {:.1} Mbit/s: {report:?}",
        report.steady_goodput_mbps
    );
}

#[test]
fn newreno_also_completes_intact() {
    let transport = TransportConfig {
        congestion: std::sync::Arc::new(tern_proto::congestion::NewRenoConfig::default()),
        ..TransportConfig::default()
    };
    let mut run = TransferRun::new(5, impaired(0.02), BYTES, 2);
    run.transport = transport;
    let report = run.run();
    assert_intact(&report);
    assert_eq!(report.cc, "new_reno");
}
