use clap::Parser;
use serde_json::json;

use super::{
    Args,
    report::{self, BEGIN, END, Idle, Run, ServerStats},
};
use crate::bench::BenchCommand;

fn stats(cpu_s: f64, shard0: f64, accept0: f64, conns: [u64; 2]) -> ServerStats {
    ServerStats::parse(&json!({
        "cpu_s": cpu_s, "wall_s": 3.0, "rss": 10 << 20, "heap": 4 << 20,
        "connections": conns[0] + conns[1],
        "threads": {"tern-shard-0": shard0, "accept-0": accept0, "bench-peer": 0.25},
        "shards": [
            {"shard": 0, "connections": conns[0], "handed_in": 0, "handed_out": 0, "handover_dropped": 0},
            {"shard": 1, "connections": conns[1], "handed_in": 0, "handed_out": 0, "handover_dropped": 0},
        ],
    }))
    .expect("a stats line")
}

fn run(workload: &str, shards: usize, value: f64) -> Run {
    Run {
        workload: workload.into(),
        shards,
        value,
        server_cores: shards as f64 * 0.9,
        client_cores: 0.3,
        ..Run::default()
    }
}

#[test]
fn a_run_takes_its_rate_and_cpu_split_from_the_two_stats_and_the_report() {
    let start = stats(2.0, 0.5, 1.0, [3, 4]);
    let end = stats(12.0, 2.5, 8.0, [30, 34]);
    let client = json!({
        "workload": "handshakes", "handshakes_per_s": 812.5, "window_s": 10.0,
        "client_cpu_s": 3.0, "errors": 2, "first_error": "no handshake within 10 s",
    });
    let r = Run::assemble(2, &start, &end, &client, 0.5).expect("a run");
    assert_eq!(r.workload, "handshakes");
    assert_eq!(r.value, 812.5);
    assert!((r.server_cores - 1.0).abs() < 1e-9);
    assert!((r.client_cores - 0.3).abs() < 1e-9);
    assert!((r.server_threads["tern-shard"] - 0.2).abs() < 1e-9);
    assert!((r.server_threads["accept"] - 0.7).abs() < 1e-9);
    assert_eq!(r.server_threads["other"], 0.0);
    assert_eq!(r.shard_connections, vec![30, 34]);
    assert!((r.server_waited - 0.05).abs() < 1e-9);
    assert_eq!(r.errors, 2);
    assert_eq!(r.first_error.as_deref(), Some("no handshake within 10 s"));

    let bulk = json!({"workload": "bulk", "mb_per_s": 300.0, "window_s": 10.0});
    assert_eq!(
        Run::assemble(1, &start, &end, &bulk, 0.0)
            .expect("a run")
            .value,
        300.0
    );
    let wrong = json!({"workload": "bulk", "handshakes_per_s": 1.0});
    assert!(Run::assemble(1, &start, &end, &wrong, 0.0).is_err());
    assert!(ServerStats::parse(&json!({"event": "window-start"})).is_none());
}

#[test]
fn summaries_take_medians_by_shard_count_and_the_ratio_of_two_to_one() {
    let runs = [
        run("handshakes", 1, 500.0),
        run("handshakes", 2, 950.0),
        run("bulk", 1, 200.0),
        run("handshakes", 1, 520.0),
        run("handshakes", 2, 900.0),
        run("handshakes", 1, 480.0),
        run("handshakes", 2, 1000.0),
    ];
    let s = report::summarize(&runs, "handshakes");
    assert_eq!((s.one, s.two), (Some(500.0), Some(950.0)));
    assert_eq!(s.ratio, Some(1.9));
    assert_eq!(s.one_range, Some((480.0, 520.0)));
    assert_eq!(s.server_cores, (Some(0.9), Some(1.8)));
    assert_eq!(s.runs, 3);
    let bulk = report::summarize(&runs, "bulk");
    assert_eq!((bulk.one, bulk.two, bulk.ratio), (Some(200.0), None, None));
    assert_eq!(bulk.unit, "MB/s");

    let table = report::table(&[s.clone(), bulk]);
    assert!(table.contains("| handshakes (handshakes/s) | 500.0 (480.0–520.0) | 950.0 (900.0–1000) | 1.90× | 0.900 / 1.80 | 0.300 / 0.300 |"), "{table}");
    assert!(table.contains("| bulk (MB/s) | 200.0 | — | — |"), "{table}");

    let goals = report::goals(std::slice::from_ref(&s), None, 2);
    // 0.9 cores at 500/s, 1.8 at 950/s; 0.3 client cores at 950/s.
    assert_eq!(goals.len(), 3);
    assert_eq!(
        goals[2],
        "handshakes: server and client together used 1.20 of the 2 cores with 1 shard, 2.10 with 2"
    );
    let (server, client) = s.cost().expect("costs");
    assert!((server - 1.8 / 950.0).abs() < 1e-12 && (client - 0.3 / 950.0).abs() < 1e-12);
    // 2 cores / (s + c) handshakes a second at most, over 500 at 1 shard:
    // 2 / ((1.8 + 0.3) / 950) / 500 = 1.81; on 8 cores two shards' 2/s
    // bounds it: 2 / (1.8 / 950) / 500 = 2.11.
    let ceiling = |cpus| s.ceiling(cpus).expect("a ceiling");
    assert!((ceiling(2) - 2.0 * 950.0 / 2.1 / 500.0).abs() < 1e-9);
    assert!((ceiling(8) - 2.0 * 950.0 / 1.8 / 500.0).abs() < 1e-9);
    assert!(goals[1].ends_with("at most 1.81× 1 shard"), "{goals:?}");
    assert!(goals[0].ends_with("1.90×, met"), "{goals:?}");
    let short = report::summarize(
        &[run("handshakes", 1, 500.0), run("handshakes", 2, 800.0)],
        "handshakes",
    );
    assert!(report::goals(&[short], None, 2)[0].ends_with("1.60×, not met"));
}

#[test]
fn idle_figures_are_per_held_connection_and_the_goal_wants_all_under_a_gibibyte() {
    let mut idle = Idle {
        shards: 2,
        asked: 1000,
        opened: 1000,
        held: 1000,
        shard_connections: vec![600, 400],
        open_s: 1.0,
        rss_before: 10 << 20,
        rss_after: (10 << 20) + 5_000_000,
        heap_before: 1 << 20,
        heap_after: (1 << 20) + 4_000_000,
    };
    assert_eq!(idle.heap_per_conn(), Some(4000.0));
    assert_eq!(idle.rss_per_conn(), Some(5000.0));
    let line = &report::goals(&[], Some(&idle), 2)[0];
    assert!(
        line.ends_with("15 MiB (0.015 × 10^9 bytes) with 1000 held, met"),
        "{line}"
    );
    assert!(report::idle_lines(&idle).contains("4000 bytes of heap, 5000 bytes resident"));
    idle.held = 999;
    assert!(report::goals(&[], Some(&idle), 2)[0].ends_with("not met"));
    idle.held = 1000;
    idle.rss_after = 1 << 30;
    assert!(report::goals(&[], Some(&idle), 2)[0].ends_with("not met"));
    idle.held = 0;
    assert_eq!(idle.heap_per_conn(), None);
}

#[test]
fn the_section_replaces_only_the_text_between_its_markers() {
    let section = format!("{BEGIN}\n## Scale-out: shards\nnew\n{END}");
    assert_eq!(report::splice(None, &section), format!("{section}\n"));
    let other = "# Scale-out\n\nAnother engineer's text.\n";
    let added = report::splice(Some(other), &section);
    assert_eq!(
        added,
        format!("# Scale-out\n\nAnother engineer's text.\n\n{section}\n")
    );
    let old = format!("# Scale-out\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n");
    let replaced = report::splice(Some(&old), &section);
    assert_eq!(
        replaced,
        format!("# Scale-out\n\nbefore\n\n{section}\n\nafter\n")
    );
    assert_eq!(report::splice(Some(&replaced), &section), replaced);
}

#[test]
fn the_command_line_reproduces_the_options_that_differ() {
    let parse = |line: &[&str]| {
        let cli = crate::Cli::try_parse_from(line.iter().copied()).expect("parses");
        match cli.command {
            crate::Command::Bench(bench) => match bench.command {
                Some(BenchCommand::Shards(args)) => args,
                _ => panic!("not bench shards"),
            },
            _ => panic!("not bench"),
        }
    };
    let args: Args = parse(&["xtask", "bench", "shards"]);
    assert_eq!(args.reproduce(), "cargo xtask bench shards");
    assert_eq!(
        (args.runs(), args.idle(), args.seconds()),
        (3, 100_000, 10.0)
    );
    let quick = parse(&["xtask", "bench", "shards", "--quick", "--endpoints", "128"]);
    assert_eq!(
        quick.reproduce(),
        "cargo xtask bench shards --quick --endpoints 128"
    );
    assert_eq!(
        (quick.runs(), quick.idle(), quick.seconds()),
        (1, 2_000, 2.0)
    );
}
