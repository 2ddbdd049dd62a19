use super::{
    docs::{self, Machine, PLOTS, Variant},
    record,
    stats::{self, Better, Results, Row},
};

#[test]
fn median_takes_the_middle_or_the_mean_of_the_middle_two() {
    assert_eq!(stats::median(&[]), None);
    assert_eq!(stats::median(&[3.0]), Some(3.0));
    assert_eq!(stats::median(&[5.0, 1.0, 3.0]), Some(3.0));
    assert_eq!(stats::median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
}

#[test]
fn range_is_min_and_max() {
    assert_eq!(stats::range(&[]), None);
    assert_eq!(stats::range(&[2.0, 9.0, 4.0]), Some((2.0, 9.0)));
}

#[test]
fn ratio_is_tern_over_quinn_and_none_without_quinn() {
    assert_eq!(stats::ratio(Some(3.0), Some(2.0)), Some(1.5));
    assert_eq!(stats::ratio(Some(3.0), Some(0.0)), None);
    assert_eq!(stats::ratio(None, Some(2.0)), None);
}

fn sample_results() -> Results {
    let mut results = Results::default();
    for (stack, values) in [
        ("quinn", [400.0, 500.0, 450.0]),
        ("tern", [600.0, 700.0, 650.0]),
    ] {
        for v in values {
            results.add("bulk-upload", "MBps", stack, Better::Higher, v);
        }
    }
    results.add("rpc", "p50_us", "quinn", Better::Lower, 40.0);
    results.add("rpc", "p50_us", "tern", Better::Lower, 30.0);
    results
}

#[test]
fn rows_hold_medians_ranges_and_the_smaller_run_count() {
    let mut results = sample_results();
    results.add("rpc", "p50_us", "tern", Better::Lower, 34.0);
    let rows = results.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].workload, "bulk-upload");
    assert_eq!(rows[0].tern, Some(650.0));
    assert_eq!(rows[0].quinn, Some(450.0));
    assert_eq!(rows[0].tern_range, Some((600.0, 700.0)));
    assert_eq!(rows[0].runs, 3);
    assert_eq!(rows[1].tern, Some(32.0));
    assert_eq!(rows[1].runs, 1);
}

#[test]
fn json_rows_have_exactly_the_documented_fields() {
    let rows = sample_results().rows();
    let json: serde_json::Value = serde_json::from_str(&stats::to_json(&rows).unwrap()).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let row = list[1].as_object().unwrap();
    let mut keys: Vec<_> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "better", "metric", "quinn", "ratio", "runs", "tern", "workload"
        ]
    );
    assert_eq!(row["workload"], "rpc");
    assert_eq!(row["metric"], "p50_us");
    assert_eq!(row["tern"], 30.0);
    assert_eq!(row["quinn"], 40.0);
    assert_eq!(row["ratio"], 0.75);
    assert_eq!(row["better"], "lower");
    assert_eq!(row["runs"], 1);
}

#[test]
fn table_marks_tern_ahead_by_the_direction_of_the_metric() {
    let table = stats::table(&sample_results().rows());
    assert!(
        table.contains(
            "| bulk-upload | MBps | 650.0 (600.0–700.0) | 450.0 (400.0–500.0) | 1.44× ✓ | higher |"
        ),
        "{table}"
    );
    assert!(
        table.contains("| rpc | p50_us | 30.00 | 40.00 | 0.75× ✓ | lower |"),
        "{table}"
    );
}

#[test]
fn a_report_is_recorded_with_the_suffix_of_its_suite() {
    let report = serde_json::json!({
        "metrics": [
            {"metric": "handshakes_per_s", "value": 1500.0, "better": "higher"},
            {"metric": "broken", "value": "x", "better": "higher"},
        ]
    });
    let mut results = Results::default();
    record(&mut results, "handshakes-c1", "_aes256", "tern", &report);
    let rows = results.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].metric, "handshakes_per_s_aes256");
    assert_eq!(rows[0].tern, Some(1500.0));
    assert_eq!(rows[0].quinn, None);
}

fn row(workload: &str, metric: &str, tern: f64, quinn: f64) -> Row {
    Row {
        workload: workload.into(),
        metric: metric.into(),
        tern: Some(tern),
        quinn: Some(quinn),
        ratio: stats::ratio(Some(tern), Some(quinn)),
        better: Better::Lower,
        runs: 3,
        tern_range: None,
        quinn_range: None,
    }
}

#[test]
fn plot_series_follow_n_and_skip_missing_workloads() {
    let rows = [
        row("idle-1k", "heap_bytes_per_conn", 16_000.0, 37_000.0),
        row("idle-10k", "heap_bytes_per_conn", 15_000.0, 36_000.0),
        row("idle-10k", "rss_bytes_per_conn", 1.0, 2.0),
    ];
    let series = docs::plot_series(&rows, &PLOTS[0]);
    assert_eq!(series[0], ("tern", vec![(1e3, 16_000.0), (1e4, 15_000.0)]));
    assert_eq!(series[1], ("quinn", vec![(1e3, 37_000.0), (1e4, 36_000.0)]));
}

#[test]
fn the_docs_hold_the_table_the_machine_the_variants_and_the_command() {
    let rows = [row("idle-1k", "heap_bytes_per_conn", 16_000.0, 37_000.0)];
    let variants = [Variant {
        workload: "handshakes-c1".into(),
        suite: "defaults".into(),
        stack: "tern".into(),
        kx_group: "X25519MLKEM768".into(),
        cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
    }];
    let machine = Machine {
        cpus: 2,
        cpu_model: "Test CPU".into(),
        kernel: "6.1.0".into(),
        rustc: "rustc 1.88.0".into(),
        commit: "abc1234".into(),
    };
    let text = docs::markdown(
        &rows,
        &variants,
        &machine,
        "cargo xtask bench --runs 3",
        &PLOTS[..1],
    );
    assert!(text.starts_with("# Performance: Tern against quinn"));
    assert!(
        text.contains("| idle-1k | heap_bytes_per_conn | 16000 | 37000 | 0.43× ✓ | lower |"),
        "{text}"
    );
    assert!(text.contains(
        "| handshakes-c1 | defaults | tern | X25519MLKEM768 | TLS13_AES_256_GCM_SHA384 |"
    ));
    assert!(text.contains("- CPUs: 2 (Test CPU)"));
    assert!(text.contains("- kernel: 6.1.0"));
    assert!(text.contains("rustc 1.88.0"));
    assert!(text.contains("```sh\ncargo xtask bench --runs 3\n```"));
    assert!(text.contains("![Server heap per idle connection](performance/heap.svg)"));
    assert!(!text.contains("cpu-per-handshake.svg"));
}

#[test]
fn plots_are_written_as_svg_without_fonts_installed() {
    let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    let rows = [
        row("handshakes-c1", "server_cpu_us_per_hs", 220.0, 320.0),
        row("scaling-1k", "server_cpu_us_per_hs", 240.0, 330.0),
        row("scaling-10k", "server_cpu_us_per_hs", 700.0, 340.0),
    ];
    docs::write(&dir, &rows, &[], "cargo xtask bench").unwrap();
    let svg = std::fs::read_to_string(dir.join("docs/performance/cpu-per-handshake.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("Server CPU per handshake"));
    assert!(!dir.join("docs/performance/heap.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
