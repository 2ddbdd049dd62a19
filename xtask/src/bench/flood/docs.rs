//! The flood section of docs/performance.md and its plots. The section
//! sits between two markers, so that `cargo xtask bench flood` rewrites it
//! alone and `cargo xtask bench` keeps it when it rewrites the rest.

use std::{fmt::Write as _, path::Path};

use plotters::prelude::*;

use super::report::{self, FloodRun, Percentile, Verdict};
use crate::bench::docs::{Machine, draw_lines};

/// The first line of the section.
pub(crate) const BEGIN: &str = "<!-- flood: begin; written by `cargo xtask bench flood` -->";
/// The last line of the section.
pub(crate) const END: &str = "<!-- flood: end -->";

/// The flood section of `text`, markers included, if it has one.
pub(crate) fn section_of(text: &str) -> Option<&str> {
    let start = text.find(BEGIN)?;
    let end = text[start..].find(END)? + start + END.len();
    Some(&text[start..end])
}

/// `text` with its flood section replaced by `section`, or with `section`
/// appended when it has none.
pub(crate) fn splice(text: &str, section: &str) -> String {
    match section_of(text) {
        Some(old) => text.replacen(old, section, 1),
        None => format!("{}\n\n{section}\n", text.trim_end()),
    }
}

/// Writes the section into docs/performance.md (made if missing) and the
/// plots under docs/performance/.
///
/// # Errors
/// When a file cannot be read or written, or a plot cannot be drawn.
/// `load` is the machine's load average when the runs began.
pub(crate) fn write(
    root: &Path,
    runs: &[FloodRun],
    command: &str,
    load: Option<f64>,
) -> Result<(), String> {
    let dir = root.join("docs/performance");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut plots = Vec::new();
    for plot in PLOTS {
        let series = plot_series(runs, &plot);
        if series.iter().all(|(_, points)| points.len() < 2) {
            continue;
        }
        draw(&dir.join(plot.file), &plot, &series)?;
        plots.push(plot);
    }
    let section = markdown(
        runs,
        &report::goals(runs),
        &Machine::probe(root),
        load,
        command,
        &plots,
    );
    let path = root.join("docs/performance.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, splice(&old, &section)).map_err(|e| format!("{}: {e}", path.display()))
}

/// A plot of one figure of the runs against the flood rate asked, a line
/// per Retry policy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plot {
    pub(crate) file: &'static str,
    pub(crate) title: &'static str,
    pub(crate) y_label: &'static str,
    /// The y axis is log10 of the figure.
    pub(crate) log: bool,
    /// The figure of a run.
    pub(crate) value: fn(&FloodRun) -> Option<f64>,
}

pub(crate) const PLOTS: [Plot; 3] = [
    Plot {
        file: "flood-success.svg",
        title: "Honest handshakes completed under a flood",
        y_label: "% completed",
        log: false,
        value: |r| r.success().map(|s| s * 100.0),
    },
    Plot {
        file: "flood-p99.svg",
        title: "Honest handshake p99 under a flood (failed: at the timeout)",
        y_label: "p99 in ms (log scale)",
        log: true,
        value: |r| match r.latency(0.99) {
            Percentile::Ms(ms) => Some(ms),
            Percentile::Failed => Some(r.timeout_ms as f64),
            Percentile::Empty => None,
        },
    },
    Plot {
        file: "flood-rss.svg",
        title: "Server peak resident set under a flood",
        y_label: "peak RSS in MB",
        log: false,
        value: |r| Some(r.rss_peak as f64 / f64::from(1 << 20)),
    },
];

/// The policies in the order they were first run, each with its (rate,
/// figure) points in the order of the runs; log10 of the figure on a log
/// plot.
pub(crate) fn plot_series(runs: &[FloodRun], plot: &Plot) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for run in runs {
        let Some(value) = (plot.value)(run) else {
            continue;
        };
        let y = if plot.log {
            value.max(1e-3).log10()
        } else {
            value
        };
        let point = (f64::from(run.rate), y);
        match series.iter_mut().find(|(policy, _)| *policy == run.policy) {
            Some((_, points)) => points.push(point),
            None => series.push((run.policy.clone(), vec![point])),
        }
    }
    for (_, points) in &mut series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    series
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "the decades of a log axis of latencies are a handful"
)]
fn draw(path: &Path, plot: &Plot, series: &[(String, Vec<(f64, f64)>)]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let (y_min, y_max) = if plot.log {
        let lo = all
            .clone()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
            .floor();
        let hi = all.map(|p| p.1).fold(f64::NEG_INFINITY, f64::max).ceil();
        (lo.min(0.0), hi.max(lo + 1.0))
    } else {
        (0.0, all.map(|p| p.1).fold(1.0, f64::max) * 1.15)
    };
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)
        .map_err(|e| err(&e))?;
    let log = plot.log;
    let decades = (y_max - y_min).round() as usize + 1;
    let y_format = |y: &f64| {
        if !log {
            return format!("{y:.0}");
        }
        let v = 10_f64.powf(*y);
        if v < 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("flood Initials/s asked")
        .y_desc(plot.y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&y_format);
    if log {
        mesh.y_labels(decades);
    }
    mesh.draw().map_err(|e| err(&e))?;
    let series: Vec<(&str, &[(f64, f64)])> = series
        .iter()
        .map(|(name, points)| (name.as_str(), points.as_slice()))
        .collect();
    draw_lines(&root, &mut chart, &series, &[BLUE, RED, GREEN, MAGENTA]).map_err(|e| err(&e))
}

/// The text of the section, markers included; `load` is the machine's
/// load average when the runs began.
pub(crate) fn markdown(
    runs: &[FloodRun],
    verdict: &Verdict,
    machine: &Machine,
    load: Option<f64>,
    command: &str,
    plots: &[Plot],
) -> String {
    let mut out = String::new();
    let first = runs.first().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "{BEGIN}\n## Handshake flood: Retry and admission limits\n\n\
         *Written by `cargo xtask bench flood`; do not edit by hand.*\n\n\
         A Tern server (`bench-peer tern flood-server`, one process, one \
         current-thread runtime, Tern's default admission limits{}) accepts \
         every client it is offered, with the Retry policy of each row. A second process \
         (`bench-peer tern flood-client`) floods it for {:.0} s with valid \
         client Initials, each a new client (one real ClientHello sealed \
         under the Initial keys of a fresh random DCID, 1,200 bytes), from \
         {} source addresses in 127.1.0.0/16, never answering; meanwhile \
         honest Tern clients from 127.0.0.1 open {} new connections a \
         second, each a full handshake (X25519, AES-128-GCM, no NEW_TOKEN \
         token: every one is new to the server) closed once established, \
         and give up after {} ms. Latencies run from `connect` to \
         established; a failed handshake ranks after every completed one. \
         Server CPU is the process's user and system time over the flood; \
         \"waited for a CPU\" the time its threads were ready to run while \
         other processes held the CPUs (their run-queue wait), as a share \
         of the flood's length; RSS its resident set (peak: VmHWM); the last columns are the \
         endpoint's counters and the server socket's drops (a full receive \
         buffer). Everything is on loopback, on one machine: the flood, \
         the honest clients and the server share its CPUs.\n",
        limits(&first),
        first.window_s,
        report::thousands(first.flood_sources as f64),
        honest_rate(&first),
        first.timeout_ms,
    );
    let _ = writeln!(out, "{}", report::table(runs));
    let failed: Vec<&FloodRun> = runs.iter().filter(|r| !r.failures.is_empty()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "Why honest handshakes failed:\n");
        for run in failed {
            let reasons: Vec<String> = run
                .failures
                .iter()
                .map(|(why, n)| format!("{n} × `{why}`"))
                .collect();
            let _ = writeln!(
                out,
                "- {} at {}/s: {}",
                run.policy,
                report::thousands(f64::from(run.rate)),
                reasons.join(", ")
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "### Goals (issue 16)\n\n\
         With `UnderLoad` at {} Initials/s, honest clients complete at least \
         {:.0}% of their handshakes with a p99 under {:.0}× their unloaded \
         p99, and the server's memory stays flat. From the figures above:\n",
        report::thousands(f64::from(report::GOAL_RATE)),
        report::GOAL_SUCCESS * 100.0,
        report::GOAL_P99_FACTOR,
    );
    for line in &verdict.lines {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    for plot in plots {
        let _ = writeln!(out, "![{}](performance/{})\n", plot.title, plot.file);
    }
    let load = load.map_or_else(String::new, |l| {
        format!(" (load average {l:.2} when the runs began, from other work on the machine)")
    });
    let _ = writeln!(
        out,
        "Measured on {} CPUs ({}){load}, Linux {}, {}, Tern {}, with\n\n\
         ```sh\n{command}\n```\n\n\
         `cargo xtask bench flood --help` lists the options (policies, rates, \
         seconds, honest rate, sources); `--smoke` is the few-second run CI \
         makes.\n{END}",
        machine.cpus, machine.cpu_model, machine.kernel, machine.rustc, machine.commit,
    );
    out
}

/// The server's admission limits in words, after a colon; nothing when it
/// did not report them.
fn limits(run: &FloodRun) -> String {
    let n = |key: &str| run.limits.get(key).map(|v| report::thousands(*v as f64));
    let mut parts = Vec::new();
    if let Some(v) = n("max_handshakes") {
        parts.push(format!("{v} handshakes in progress"));
    }
    if let Some(v) = n("max_handshakes_per_address") {
        parts.push(format!("{v} per address"));
    }
    if let Some(ms) = run.limits.get("handshake_timeout_ms") {
        parts.push(format!("a {} s handshake timeout", *ms as f64 / 1e3));
    }
    if let Some(v) = n("max_incoming") {
        parts.push(format!("{v} clients awaiting a decision"));
    }
    if let Some(v) = n("under_load_threshold") {
        parts.push(format!(
            "`under-load` sends Retry from {v} handshakes in progress"
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// Honest connections a second, from a run's attempts over its window.
fn honest_rate(run: &FloodRun) -> String {
    if run.window_s > 0.0 {
        format!("{:.0}", run.attempted() as f64 / run.window_s)
    } else {
        "?".into()
    }
}
