//! docs/performance.md, written from a run of `cargo xtask bench`: the
//! ratio table, the machine, how to reproduce, and two SVG plots under
//! docs/performance/. The flood section at its end is
//! `cargo xtask bench flood`'s, kept as it is.

use std::{fmt::Write as _, path::Path, process::Command};

use plotters::{coord::types::RangedCoordf64, prelude::*};
use serde_json::Value;

use super::stats::{self, Row};

/// The key exchange group and cipher suite one stack used for a workload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Variant {
    pub(crate) workload: String,
    pub(crate) suite: String,
    pub(crate) stack: String,
    pub(crate) kx_group: String,
    pub(crate) cipher_suite: String,
}

impl Variant {
    pub(crate) fn from_report(workload: &str, suite: &str, stack: &str, report: &Value) -> Self {
        let text = |key: &str| {
            report[key]
                .as_str()
                .unwrap_or("?")
                .trim_matches('"')
                .to_owned()
        };
        Self {
            workload: workload.to_owned(),
            suite: suite.to_owned(),
            stack: stack.to_owned(),
            kx_group: text("kx_group"),
            cipher_suite: text("cipher_suite"),
        }
    }
}

/// The machine the figures were measured on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) commit: String,
}

impl Machine {
    pub(crate) fn probe(root: &Path) -> Self {
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .current_dir(root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        let commit =
            run("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        Self {
            cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |k| k.trim().to_owned()),
            rustc: run("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            commit: if dirty {
                format!("{commit} with local changes")
            } else {
                commit
            },
        }
    }
}

/// Rewrites docs/performance.md and the plots.
///
/// # Errors
/// When a file cannot be written or a plot cannot be drawn.
pub(crate) fn write(
    root: &Path,
    rows: &[Row],
    variants: &[Variant],
    command: &str,
) -> Result<(), String> {
    let dir = root.join("docs/performance");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut plots = Vec::new();
    for plot in PLOTS {
        let series = plot_series(rows, &plot);
        if series.iter().all(|(_, points)| points.len() < 2) {
            continue;
        }
        draw(&dir.join(plot.file), &plot, &series)?;
        plots.push(plot);
    }
    let mut text = markdown(rows, variants, &Machine::probe(root), command, &plots);
    let path = root.join("docs/performance.md");
    // The flood section is `cargo xtask bench flood`'s: keep it as it is.
    if let Some(flood) = std::fs::read_to_string(&path)
        .ok()
        .as_deref()
        .and_then(super::flood::section_of)
    {
        text = super::flood::splice(&text, flood);
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A plot: a metric of a family of workloads against their N.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plot {
    pub(crate) file: &'static str,
    pub(crate) title: &'static str,
    pub(crate) x_label: &'static str,
    pub(crate) y_label: &'static str,
    pub(crate) metric: &'static str,
    /// Workload and its N.
    pub(crate) points: &'static [(&'static str, f64)],
}

pub(crate) const PLOTS: [Plot; 2] = [
    Plot {
        file: "heap.svg",
        title: "Server heap per idle connection",
        x_label: "idle connections held",
        y_label: "bytes per connection",
        metric: "heap_bytes_per_conn",
        points: &[("idle-1k", 1e3), ("idle-10k", 1e4), ("idle-100k", 1e5)],
    },
    Plot {
        file: "cpu-per-handshake.svg",
        title: "Server CPU per handshake",
        x_label: "established connections held",
        y_label: "µs of server CPU per handshake",
        metric: "server_cpu_us_per_hs",
        points: &[
            ("handshakes-c1", 0.0),
            ("scaling-1k", 1e3),
            ("scaling-10k", 1e4),
            ("scaling-100k", 1e5),
        ],
    },
];

/// The (N, value) points of each stack for `plot`.
pub(crate) fn plot_series(rows: &[Row], plot: &Plot) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    let points = |pick: fn(&Row) -> Option<f64>| {
        plot.points
            .iter()
            .filter_map(|(workload, n)| {
                let row = rows
                    .iter()
                    .find(|r| r.workload == *workload && r.metric == plot.metric)?;
                Some((*n, pick(row)?))
            })
            .collect::<Vec<_>>()
    };
    vec![("tern", points(|r| r.tern)), ("quinn", points(|r| r.quinn))]
}

fn draw(path: &Path, plot: &Plot, series: &[(&str, Vec<(f64, f64)>)]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y_max = all.map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc(plot.y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    let series: Vec<(&str, &[(f64, f64)])> = series
        .iter()
        .map(|(name, points)| (*name, points.as_slice()))
        .collect();
    draw_lines(&root, &mut chart, &series, &[BLUE, RED]).map_err(|e| err(&e))
}

/// Draws each series as a line with its points marked, in the next of
/// `colors`, names it in the legend, draws the legend and writes the plot:
/// the end of every plot of docs/performance.md.
pub(crate) fn draw_lines<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    series: &[(&str, &[(f64, f64)])],
    colors: &[RGBColor],
) -> Result<(), Box<dyn std::error::Error>> {
    for (&(name, points), &color) in series.iter().zip(colors) {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The text of docs/performance.md.
pub(crate) fn markdown(
    rows: &[Row],
    variants: &[Variant],
    machine: &Machine,
    command: &str,
    plots: &[Plot],
) -> String {
    let runs = rows.iter().map(|r| r.runs).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Performance: Tern against quinn\n\n\
         *Written by `cargo xtask bench`; do not edit by hand. Rerun it to \
         refresh the figures.*\n\n\
         Both stacks run the same workloads in one run of `cargo xtask bench`, \
         built from `xtask/bench-peer` (quinn {QUINN}, pinned there; Tern by \
         path). Each run is a process of its own: client and server each on \
         its own OS thread with a current-thread tokio runtime, on 127.0.0.1; \
         CPU is each thread's CPU clock. Runs alternate quinn, tern, quinn, \
         tern ({runs} per stack here); each cell is the median, with the \
         range of the runs in brackets. The ratio is tern/quinn of the \
         medians; ✓ marks Tern ahead.\n",
    );
    let _ = writeln!(out, "## Results\n\n{}", stats::table(rows));
    let _ = writeln!(out, "{}", WORKLOAD_NOTES);
    if !variants.is_empty() {
        let _ = writeln!(
            out,
            "### Key exchange and cipher suite of each row\n\n\
             Handshake metrics without a suffix use X25519 with AES-128-GCM on \
             both stacks; `_aes256` X25519 with AES-256-GCM on both; \
             `_defaults` each stack's default provider. Both stacks share one \
             rustls configuration per variant (TLS 1.3, no resumption, so \
             every handshake is full). The group and suite each configuration \
             puts first (both ends share it and the server follows its own \
             order, so these are what the handshake settles on):\n\n\
             | workload | variant | stack | key exchange | cipher suite |\n|---|---|---|---|---|"
        );
        for v in variants {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                v.workload, v.suite, v.stack, v.kx_group, v.cipher_suite
            );
        }
        out.push('\n');
    }
    if !plots.is_empty() {
        let _ = writeln!(out, "## Plots\n");
        for plot in plots {
            let _ = writeln!(out, "![{}](performance/{})\n", plot.title, plot.file);
        }
    }
    let _ = writeln!(
        out,
        "## Machine\n\n\
         - CPUs: {} ({})\n- kernel: {}\n- compiler: {}\n- Tern commit: {}\n",
        machine.cpus, machine.cpu_model, machine.kernel, machine.rustc, machine.commit
    );
    let _ = writeln!(
        out,
        "## Reproduce\n\n```sh\n{command}\n```\n\n\
         `cargo xtask bench --help` lists the options: `--runs N`, \
         `--workloads a,b`, `--quick` (small sizes, one run: a smoke test), \
         `--json FILE` (one row per figure), `--no-docs`. `idle-100k` and \
         `scaling-100k` run only when named in `--workloads`. One workload on one stack: \
         `target/bench-peer/release/bench-peer tern rpc --count 5000` after a \
         first `cargo xtask bench`."
    );
    out
}

const QUINN: &str = "0.11.12";

const WORKLOAD_NOTES: &str = "\
### Workloads

- `bulk-upload`, `bulk-download`: 1 GiB on one stream of one connection; \
`bulk-upload-8streams`: 1 GiB over 8 streams at once. MB/s is 10^6 bytes a \
second; CPU per packet divides a side's CPU by the datagrams that carried the \
data.
- `handshakes-c1`, `handshakes-c64`: full handshakes, 1 or 64 at a time, each \
connection closed once established; each stack's own socket buffers (Tern \
asks for 4 MiB, quinn keeps the kernel's default). `handshakes-c64-4m`: quinn's \
sockets also get 4 MiB.
- `rpc`: 64-byte requests for 64-byte responses, one stream each, one after \
another on one connection; datagrams per request from each stack's connection \
statistics (`c2s` client to server).
- `idle-1k`, `idle-10k` (`idle-100k` on request): live heap (a counting global \
allocator) and resident set of a server process holding N idle connections, \
per connection, after minus before; the clients share one endpoint.
- `scaling-1k`, `scaling-10k` (`scaling-100k` on request): server CPU per \
further full handshake while N \
established idle connections are held (`handshakes-c1` is the point at 0).
";
