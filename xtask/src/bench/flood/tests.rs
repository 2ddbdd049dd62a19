use std::collections::BTreeMap;

use clap::Parser;

use super::{
    Args, docs,
    procfs::{cpu_ticks, load_average, run_queue_wait, status_bytes, udp_drops},
    report::{self, FloodRun, Percentile, percentile},
};
use crate::bench::{BenchCommand, docs::Machine};

const MB: u64 = 1 << 20;

/// A run of 100 honest handshakes of 1, 2, ... ms, `failed` of the last
/// ones failed, with a server that peaked at `peak_mb`.
fn run(policy: &str, rate: u32, failed: usize, peak_mb: u64) -> FloodRun {
    let honest_ms = (1..=100)
        .map(|i: u32| (i as usize <= 100 - failed).then_some(f64::from(i)))
        .collect();
    FloodRun {
        policy: policy.into(),
        rate,
        window_s: 10.0,
        flood_sent: u64::from(rate) * 10,
        flood_elapsed_s: 10.0,
        flood_sources: 1000,
        honest_ms,
        failures: if failed > 0 {
            BTreeMap::from([("no handshake within 5000 ms".to_string(), failed as u64)])
        } else {
            BTreeMap::new()
        },
        timeout_ms: 5000,
        server_cpu_cores: 0.5,
        server_waited: 0.04,
        rss_start: 6 * MB,
        rss_mid: 7 * MB,
        rss_end: 7 * MB,
        rss_peak: peak_mb * MB,
        socket_drops: Some(0),
        server: BTreeMap::from([
            ("retries_sent".to_string(), 12_345),
            ("refused_handshake_limit".to_string(), 10),
            ("refused_address_limit".to_string(), 5),
        ]),
        limits: BTreeMap::from([
            ("max_handshakes".to_string(), 4096),
            ("max_handshakes_per_address".to_string(), 256),
            ("handshake_timeout_ms".to_string(), 10_000),
            ("max_incoming".to_string(), 1024),
            ("under_load_threshold".to_string(), 256),
        ]),
    }
}

#[test]
fn percentiles_take_the_nearest_rank_and_rank_failures_last() {
    let samples = [Some(3.0), Some(1.0), None, Some(2.0)];
    assert_eq!(percentile(&samples, 0.5), Percentile::Ms(2.0));
    assert_eq!(percentile(&samples, 0.75), Percentile::Ms(3.0));
    assert_eq!(percentile(&samples, 0.99), Percentile::Failed);
    assert_eq!(percentile(&[], 0.5), Percentile::Empty);
    assert_eq!(percentile(&[None], 0.01), Percentile::Failed);
    // 250 handshakes: p99 is the 248th, so two failures leave it a
    // completed one and three do not.
    let mut two: Vec<Option<f64>> = (0..248).map(|i| Some(f64::from(i))).collect();
    two.extend([None, None]);
    assert_eq!(percentile(&two, 0.99), Percentile::Ms(247.0));
    two[0] = None;
    assert_eq!(percentile(&two, 0.99), Percentile::Failed);
}

#[test]
fn proc_files_give_cpu_ticks_resident_set_and_socket_drops() {
    let stat = "4242 (bench (peer) x) S 1 2 3 0 -1 4194304 99 0 0 0 250 31 0 0 20 0 3 0";
    assert_eq!(cpu_ticks(stat), Some(281));
    assert_eq!(cpu_ticks("4242 (x"), None);
    let status = "Name:\tbench-peer\nVmHWM:\t  12345 kB\nVmRSS:\t   2016 kB\n";
    assert_eq!(status_bytes(status, "VmRSS"), Some(2016 * 1024));
    assert_eq!(status_bytes(status, "VmHWM"), Some(12_345 * 1024));
    assert_eq!(status_bytes(status, "VmSwap"), None);
    let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
         \x20 12: 0100007F:B6F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0\n\
         \x20 13: 0100007F:1F90 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 98 2 0000000000000000 7311\n";
    assert_eq!(udp_drops(udp, 0x1f90), Some(7311));
    assert_eq!(udp_drops(udp, 0xb6f4), Some(0));
    assert_eq!(
        udp_drops(udp, 0x0000),
        None,
        "the remote port does not count"
    );
    assert_eq!(load_average("4.18 4.96 4.53 3/412 20086\n"), Some(4.18));
    assert_eq!(run_queue_wait("126027 3227148 2\n"), Some(3_227_148));
    assert_eq!(run_queue_wait("126027"), None);
    assert_eq!(load_average(""), None);
}

#[test]
fn the_table_gives_each_run_in_a_row() {
    let table = report::table(&[run("under-load", 20_000, 1, 9)]);
    assert!(
        table.contains(
            "| under-load | 20,000 | 20,000 | 99 of 100 (99.0%) | 50.00 | 99.00 | 0.500 | 4% \
             | 6.0 → 7.0 | 9.0 | 12,345 | 15 | 0 |"
        ),
        "{table}"
    );
    let failed = report::table(&[run("never", 2_000, 60, 300)]);
    assert!(
        failed.contains("| 40 of 100 (40.0%) | failed (> 5000) | failed (> 5000) |"),
        "{failed}"
    );
}

#[test]
fn the_goals_are_met_when_under_load_holds_20000_per_second() {
    let runs = [
        run("never", 0, 0, 8),
        run("under-load", 0, 0, 8),
        run("never", 20_000, 80, 400),
        run("under-load", 20_000, 1, 12),
    ];
    let verdict = report::goals(&runs);
    assert_eq!(verdict.met, Some(true), "{:?}", verdict.lines);
    let text = verdict.lines.join("\n");
    assert!(text.contains("✓ Honest handshakes completed: 99 of 100 (99.0%"));
    assert!(text.contains(
        "✓ Honest p99: 99.00 ms against 99.00 ms without a flood (`never`, the lowest p99 of \
         the runs without one), 1.0×"
    ));
    assert!(text.contains("**The goals are met** with `UnderLoad` at 20,000 Initials/s."));
}

#[test]
fn each_goal_missed_is_said_so() {
    let base = run("under-load", 0, 0, 8);
    // Too many failures.
    let verdict = report::goals(&[base.clone(), run("under-load", 20_000, 2, 12)]);
    assert_eq!(verdict.met, Some(false));
    assert!(
        verdict
            .lines
            .iter()
            .any(|l| l.starts_with("✗ Honest handshakes"))
    );
    // p99 three times the baseline's or more.
    let mut slow = run("under-load", 20_000, 0, 12);
    for ms in slow.honest_ms.iter_mut().flatten() {
        *ms *= 3.0;
    }
    let verdict = report::goals(&[base.clone(), slow]);
    assert_eq!(verdict.met, Some(false));
    assert!(verdict.lines.iter().any(|l| l.starts_with("✗ Honest p99")));
    // Memory past the margin, or still growing.
    let verdict = report::goals(&[base.clone(), run("under-load", 20_000, 0, 8 + 17)]);
    assert_eq!(verdict.met, Some(false));
    let mut growing = run("under-load", 20_000, 0, 12);
    growing.rss_end = growing.rss_mid + 3 * MB;
    let verdict = report::goals(&[base, growing]);
    assert_eq!(verdict.met, Some(false));
    assert!(
        verdict
            .lines
            .iter()
            .any(|l| l.starts_with("✗ Server memory"))
    );
}

#[test]
fn a_stall_in_one_unloaded_run_does_not_loosen_the_goals() {
    let mut stalled = run("under-load", 0, 0, 8);
    for ms in stalled.honest_ms.iter_mut().flatten() {
        *ms *= 100.0;
    }
    stalled.rss_peak = 30 * MB;
    let mut slow = run("under-load", 20_000, 0, 12);
    for ms in slow.honest_ms.iter_mut().flatten() {
        *ms *= 3.0;
    }
    let verdict = report::goals(&[run("never", 0, 0, 8), stalled.clone(), slow]);
    assert_eq!(verdict.met, Some(false), "{:?}", verdict.lines);
    assert!(
        verdict
            .lines
            .iter()
            .any(|l| l.starts_with("✗ Honest p99: 297.00 ms against 99.00 ms")),
        "{:?}",
        verdict.lines
    );
    let big = run("under-load", 20_000, 0, 8 + 20);
    let verdict = report::goals(&[run("never", 0, 0, 8), stalled, big]);
    assert!(
        verdict
            .lines
            .iter()
            .any(|l| l.starts_with("✗ Server memory: peak RSS 28.0 MB against 8.0 MB")),
        "{:?}",
        verdict.lines
    );
}

#[test]
fn a_flood_short_of_its_rate_is_reported_as_such() {
    let mut short = run("under-load", 20_000, 0, 12);
    short.flood_sent = 120_000;
    let verdict = report::goals(&[run("under-load", 0, 0, 8), short]);
    let text = verdict.lines.join("\n");
    assert!(text.contains("The flood generator reached 12,000 Initials/s of the 20,000 asked"));
    assert!(text.contains(
        "**At the 12,000 Initials/s the flood sent, the goals are met**; the generator did \
         not reach 20,000/s here"
    ));
    let lower = report::goals(&[run("under-load", 0, 0, 8), run("under-load", 2_000, 0, 8)]);
    assert!(lower.lines[0].contains("below the goals' 20,000/s"));
    assert!(lower.lines.last().unwrap().contains(
        "**At the 2,000 Initials/s sent, the goals' bounds are met**; the goals are for \
         20,000/s, which these runs did not ask for."
    ));
    assert_eq!(report::goals(&[run("never", 20_000, 0, 8)]).met, None);
}

#[test]
fn the_section_replaces_its_old_self_and_nothing_else() {
    let section = format!("{}\nnew\n{}", docs::BEGIN, docs::END);
    let old = format!(
        "# Perf\n\nbefore\n\n{}\nold\n{}\n\nafter\n",
        docs::BEGIN,
        docs::END
    );
    assert_eq!(
        docs::splice(&old, &section),
        format!("# Perf\n\nbefore\n\n{section}\n\nafter\n")
    );
    let start = old.find(docs::BEGIN).unwrap();
    let old_section = format!("{}\nold\n{}", docs::BEGIN, docs::END);
    assert_eq!(
        docs::section_of(&old),
        Some(&old[start..start + old_section.len()])
    );
    assert_eq!(
        docs::splice("# Perf\n\ntable\n", &section),
        format!("# Perf\n\ntable\n\n{section}\n")
    );
}

#[test]
fn the_quinn_bench_keeps_the_flood_section_when_it_rewrites_the_file() {
    let dir = std::env::temp_dir().join(format!("xtask-flood-keep-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    let section = format!("{}\nthe flood\n{}", docs::BEGIN, docs::END);
    std::fs::write(
        dir.join("docs/performance.md"),
        format!("# old text\n\n{section}\n"),
    )
    .unwrap();
    crate::bench::docs::write(&dir, &[], &[], "cargo xtask bench").unwrap();
    let text = std::fs::read_to_string(dir.join("docs/performance.md")).unwrap();
    assert!(text.starts_with("# Performance: Tern against quinn"));
    assert!(!text.contains("# old text"));
    assert!(text.trim_end().ends_with(&section), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_section_holds_the_table_the_verdict_the_plots_and_the_command() {
    let runs = [
        run("under-load", 0, 0, 8),
        run("never", 20_000, 70, 400),
        run("under-load", 20_000, 0, 12),
    ];
    let machine = Machine {
        cpus: 2,
        cpu_model: "Test CPU".into(),
        kernel: "6.1.0".into(),
        rustc: "rustc 1.88.0".into(),
        commit: "abc1234".into(),
    };
    let text = docs::markdown(
        &runs,
        &report::goals(&runs),
        &machine,
        Some(1.5),
        "cargo xtask bench flood",
        &docs::PLOTS[..1],
    );
    assert!(text.starts_with(docs::BEGIN) && text.trim_end().ends_with(docs::END));
    assert!(text.contains("| never | 20,000 | 20,000 | 30 of 100 (30.0%)"));
    assert!(text.contains("- never at 20,000/s: 70 × `no handshake within 5000 ms`"));
    assert!(text.contains("- **The goals are met** with `UnderLoad` at 20,000 Initials/s."));
    assert!(
        text.contains(
            "![Honest handshakes completed under a flood](performance/flood-success.svg)"
        )
    );
    assert!(!text.contains("flood-p99.svg"));
    assert!(text.contains(
        "Measured on 2 CPUs (Test CPU) (load average 1.50 when the runs began, from other \
             work on the machine), Linux 6.1.0, rustc 1.88.0, Tern abc1234"
    ));
    assert!(text.contains("```sh\ncargo xtask bench flood\n```"));
    assert!(text.contains("1,000 source addresses"));
    assert!(text.contains(
        "Tern's default admission limits: 4,096 handshakes in progress, 256 per address, a 10 s \
         handshake timeout, 1,024 clients awaiting a decision, `under-load` sends Retry from \
         256 handshakes in progress) accepts"
    ));
    assert!(text.contains("open 10 new connections a second"));
}

#[test]
fn plot_series_go_by_policy_and_rate_with_failures_at_the_timeout() {
    let runs = [
        run("never", 2_000, 90, 300),
        run("never", 0, 0, 8),
        run("always", 0, 0, 8),
    ];
    let success = docs::plot_series(&runs, &docs::PLOTS[0]);
    assert_eq!(
        success,
        [
            ("never".to_string(), vec![(0.0, 100.0), (2000.0, 10.0)]),
            ("always".to_string(), vec![(0.0, 100.0)]),
        ]
    );
    let p99 = docs::plot_series(&runs, &docs::PLOTS[1]);
    assert_eq!(
        p99[0].1,
        [(0.0, 99_f64.log10()), (2000.0, 5000_f64.log10())]
    );
    let rss = docs::plot_series(&runs, &docs::PLOTS[2]);
    assert_eq!(rss[0].1, [(0.0, 8.0), (2000.0, 300.0)]);
}

#[test]
fn the_plots_and_the_section_are_written_without_fonts_installed() {
    let dir = std::env::temp_dir().join(format!("xtask-flood-docs-{}", std::process::id()));
    let runs = [
        run("under-load", 0, 0, 8),
        run("under-load", 20_000, 0, 12),
        run("never", 0, 0, 8),
    ];
    docs::write(&dir, &runs, "cargo xtask bench flood", None).unwrap();
    for plot in docs::PLOTS {
        let svg = std::fs::read_to_string(dir.join("docs/performance").join(plot.file)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", plot.file);
        assert!(svg.contains(plot.title), "{}", plot.file);
    }
    let text = std::fs::read_to_string(dir.join("docs/performance.md")).unwrap();
    assert!(docs::section_of(&text).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_flood_parses_as_a_subcommand_and_reproduces_its_options() {
    let cli =
        crate::Cli::try_parse_from(["xtask", "bench", "flood", "--rates", "0,5000", "--smoke"])
            .unwrap();
    let crate::Command::Bench(bench) = cli.command else {
        panic!("not bench");
    };
    let Some(BenchCommand::Flood(args)) = bench.command else {
        panic!("not flood");
    };
    assert_eq!(args.rates, [0, 5000]);
    assert!(args.smoke);
    assert_eq!(args.reproduce(), "cargo xtask bench flood --rates 0,5000");
    let smoke = args.smoke();
    assert!(smoke.no_docs);
    assert_eq!(smoke.policies, ["under-load"]);

    let defaults: Args = match crate::Cli::try_parse_from(["xtask", "bench", "flood"])
        .unwrap()
        .command
    {
        crate::Command::Bench(b) => match b.command {
            Some(BenchCommand::Flood(a)) => a,
            _ => panic!("not flood"),
        },
        _ => panic!("not bench"),
    };
    assert_eq!(defaults.reproduce(), "cargo xtask bench flood");
    assert_eq!(defaults.rates, [0, 2_000, 10_000, 20_000]);
    assert_eq!(defaults.policies, ["never", "under-load", "always"]);

    let quinn = crate::Cli::try_parse_from(["xtask", "bench", "--quick", "--no-docs"]).unwrap();
    let crate::Command::Bench(bench) = quinn.command else {
        panic!("not bench");
    };
    assert!(bench.command.is_none() && bench.quick);
}
