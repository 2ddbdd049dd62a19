//! The figures of `cargo xtask bench shards`, made from what the two
//! bench-peer processes print: one [`Run`] per workload run, the medians by
//! workload and shard count, the 2-shard/1-shard ratios, the idle figures,
//! the table and the docs section.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;
use serde_json::Value;

use crate::bench::stats::{fmt, median, range};

/// The first line of the section in docs/scale-out.md.
pub(crate) const BEGIN: &str =
    "<!-- bench shards: begin; written by `cargo xtask bench shards` -->";
/// The last line of the section.
pub(crate) const END: &str = "<!-- bench shards: end -->";

/// The handshake rate the issue asks of 2 shards, against 1.
pub(crate) const HANDSHAKE_GOAL: f64 = 1.7;
/// The resident set the issue allows the 2-shard server with its idle
/// connections.
pub(crate) const IDLE_RSS_GOAL: u64 = 1 << 30;

/// The server's figures at one moment, from a stats line of
/// `shards-server`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ServerStats {
    pub(crate) cpu_s: f64,
    pub(crate) rss: u64,
    pub(crate) heap: u64,
    pub(crate) connections: u64,
    /// Connections each shard holds, in shard order.
    pub(crate) shard_connections: Vec<u64>,
    /// CPU seconds by thread name.
    pub(crate) threads: BTreeMap<String, f64>,
}

impl ServerStats {
    /// Parses a stats line; `None` when it is not one.
    pub(crate) fn parse(value: &Value) -> Option<Self> {
        Some(Self {
            cpu_s: value["cpu_s"].as_f64()?,
            rss: value["rss"].as_u64()?,
            heap: value["heap"].as_u64()?,
            connections: value["connections"].as_u64()?,
            shard_connections: value["shards"]
                .as_array()?
                .iter()
                .filter_map(|s| s["connections"].as_u64())
                .collect(),
            threads: value["threads"]
                .as_object()
                .map(|t| {
                    t.iter()
                        .filter_map(|(name, cpu)| Some((name.clone(), cpu.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// One run of `handshakes` or `bulk` on a server of `shards` shards.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Run {
    pub(crate) workload: String,
    pub(crate) shards: usize,
    /// Handshakes a second, or MB (10^6 bytes) a second.
    pub(crate) value: f64,
    pub(crate) window_s: f64,
    /// Server CPU seconds per second of the window (1.0: one core busy).
    pub(crate) server_cores: f64,
    /// The same for the client process.
    pub(crate) client_cores: f64,
    /// Server CPU seconds per second of the window, by thread kind:
    /// `tern-shard` (the event loops, which do the handshakes' TLS work),
    /// `accept` (the application threads), `other`.
    pub(crate) server_threads: BTreeMap<String, f64>,
    /// Connections each shard held at the window's end.
    pub(crate) shard_connections: Vec<u64>,
    /// How long the server's threads waited for a CPU, per second of the
    /// window (from /proc).
    pub(crate) server_waited: f64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// The kind of a server thread, by its name.
fn thread_kind(name: &str) -> &'static str {
    if name.starts_with("tern-shard") {
        "tern-shard"
    } else if name.starts_with("accept") {
        "accept"
    } else {
        "other"
    }
}

impl Run {
    /// A run from the server's stats at the window's start and end and the
    /// client's report; `waited` is the server's wait for a CPU in the
    /// window, in seconds.
    pub(crate) fn assemble(
        shards: usize,
        start: &ServerStats,
        end: &ServerStats,
        client: &Value,
        waited: f64,
    ) -> Result<Self, String> {
        let workload = client["workload"]
            .as_str()
            .ok_or_else(|| format!("the client reported {client}"))?
            .to_owned();
        let key = if workload == "bulk" {
            "mb_per_s"
        } else {
            "handshakes_per_s"
        };
        let value = client[key]
            .as_f64()
            .ok_or_else(|| format!("the client reported no {key}: {client}"))?;
        let window = client["window_s"].as_f64().unwrap_or(0.0);
        let per_s = |seconds: f64| if window > 0.0 { seconds / window } else { 0.0 };
        let mut server_threads = BTreeMap::<String, f64>::new();
        for (name, cpu) in &end.threads {
            let before = start.threads.get(name).copied().unwrap_or(0.0);
            *server_threads
                .entry(thread_kind(name).to_owned())
                .or_default() += per_s(cpu - before);
        }
        Ok(Self {
            workload,
            shards,
            value,
            window_s: window,
            server_cores: per_s(end.cpu_s - start.cpu_s),
            client_cores: per_s(client["client_cpu_s"].as_f64().unwrap_or(0.0)),
            server_threads,
            shard_connections: end.shard_connections.clone(),
            server_waited: per_s(waited),
            errors: client["errors"].as_u64().unwrap_or(0),
            first_error: client["first_error"].as_str().map(str::to_owned),
        })
    }
}

/// The idle measurement: `opened` connections held by a server of
/// `shards` shards, its resident set and heap before and after.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Idle {
    pub(crate) shards: usize,
    pub(crate) asked: usize,
    pub(crate) opened: u64,
    /// Connections the server held when it was measured.
    pub(crate) held: u64,
    pub(crate) shard_connections: Vec<u64>,
    pub(crate) open_s: f64,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
    pub(crate) heap_before: u64,
    pub(crate) heap_after: u64,
}

impl Idle {
    /// Heap bytes per held connection, after minus before.
    pub(crate) fn heap_per_conn(&self) -> Option<f64> {
        per(self.heap_after, self.heap_before, self.held)
    }

    /// Resident bytes per held connection, after minus before.
    pub(crate) fn rss_per_conn(&self) -> Option<f64> {
        per(self.rss_after, self.rss_before, self.held)
    }
}

fn per(after: u64, before: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| (after as f64 - before as f64) / n as f64)
}

/// The medians of one workload on 1 and on 2 shards.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub(crate) workload: String,
    pub(crate) unit: &'static str,
    pub(crate) one: Option<f64>,
    pub(crate) two: Option<f64>,
    #[serde(skip)]
    pub(crate) one_range: Option<(f64, f64)>,
    #[serde(skip)]
    pub(crate) two_range: Option<(f64, f64)>,
    /// two / one.
    pub(crate) ratio: Option<f64>,
    pub(crate) server_cores: (Option<f64>, Option<f64>),
    pub(crate) client_cores: (Option<f64>, Option<f64>),
    pub(crate) runs: usize,
}

impl Summary {
    /// CPU seconds per handshake (or per MB) of the server and of the
    /// client, from the 2-shard medians.
    pub(crate) fn cost(&self) -> Option<(f64, f64)> {
        let rate = self.two.filter(|r| *r > 0.0)?;
        Some((self.server_cores.1? / rate, self.client_cores.1? / rate))
    }

    /// The highest 2/1 ratio the machine allows with the 2-shard costs,
    /// when the client runs on the same `cpus` cores: 2 shards do at most
    /// 2/s a second (two cores) and, with the client's c beside them,
    /// `cpus`/(s + c); over the measured 1-shard rate.
    pub(crate) fn ceiling(&self, cpus: usize) -> Option<f64> {
        let (s, c) = self.cost()?;
        let cpus = f64::from(u32::try_from(cpus).ok()?);
        let one = self.one.filter(|r| *r > 0.0)?;
        (s > 0.0).then(|| (2.0 / s).min(cpus / (s + c)) / one)
    }
}

/// The summary of `workload` over `runs`.
pub(crate) fn summarize(runs: &[Run], workload: &str) -> Summary {
    let pick = |shards: usize, f: fn(&Run) -> f64| {
        runs.iter()
            .filter(|r| r.workload == workload && r.shards == shards)
            .map(f)
            .collect::<Vec<_>>()
    };
    let (one, two) = (pick(1, |r| r.value), pick(2, |r| r.value));
    let (m1, m2) = (median(&one), median(&two));
    let cores = |f: fn(&Run) -> f64| (median(&pick(1, f)), median(&pick(2, f)));
    Summary {
        workload: workload.to_owned(),
        unit: if workload == "bulk" {
            "MB/s"
        } else {
            "handshakes/s"
        },
        one: m1,
        two: m2,
        one_range: range(&one),
        two_range: range(&two),
        ratio: match (m1, m2) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a),
            _ => None,
        },
        server_cores: cores(|r| r.server_cores),
        client_cores: cores(|r| r.client_cores),
        runs: one.len().min(two.len()),
    }
}

fn cell(median: Option<f64>, range: Option<(f64, f64)>) -> String {
    crate::bench::stats::cell(median, range)
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), fmt)
}

/// The Markdown table of the summaries (also what the terminal shows).
pub(crate) fn table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| workload | 1 shard, median (min–max) | 2 shards, median (min–max) | 2/1 | \
         server CPU, cores (1 / 2) | client CPU, cores (1 / 2) |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} | {} / {} | {} / {} |",
            s.workload,
            s.unit,
            cell(s.one, s.one_range),
            cell(s.two, s.two_range),
            s.ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}×")),
            opt(s.server_cores.0),
            opt(s.server_cores.1),
            opt(s.client_cores.0),
            opt(s.client_cores.1),
        );
    }
    out
}

/// One line per goal of the issue: whether the figures meet it.
/// `cpus` is the machine's core count, for the ceiling (see
/// [`Summary::ceiling`]).
pub(crate) fn goals(summaries: &[Summary], idle: Option<&Idle>, cpus: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let handshakes = summaries.iter().find(|s| s.workload == "handshakes");
    if let Some((summary, ratio)) = handshakes.and_then(|s| Some((s, s.ratio?))) {
        let met = if ratio >= HANDSHAKE_GOAL {
            "met"
        } else {
            "not met"
        };
        lines.push(format!(
            "handshakes/s with 2 shards ≥ {HANDSHAKE_GOAL}× 1 shard: {ratio:.2}×, {met}"
        ));
        if let (Some((s, c)), Some(ceiling)) = (summary.cost(), summary.ceiling(cpus)) {
            lines.push(format!(
                "CPU per handshake (2 shards): server {:.0} µs, client {:.0} µs; with the \
                 client on the same {cpus} cores, 2 shards can reach at most {ceiling:.2}× 1 shard",
                s * 1e6,
                c * 1e6,
            ));
        }
    }
    for s in summaries {
        if let ((Some(s1), Some(s2)), (Some(c1), Some(c2))) = (s.server_cores, s.client_cores) {
            lines.push(format!(
                "{}: server and client together used {:.2} of the {cpus} cores with 1 shard, \
                 {:.2} with 2",
                s.workload,
                s1 + c1,
                s2 + c2,
            ));
        }
    }
    if let Some(idle) = idle {
        let met = if idle.rss_after < IDLE_RSS_GOAL && idle.held >= idle.asked as u64 {
            "met"
        } else {
            "not met"
        };
        lines.push(format!(
            "{} idle connections on {} shards under 1 GiB (2^30 bytes) resident: {:.0} MiB \
             ({:.3} × 10^9 bytes) with {} held, {met}",
            idle.asked,
            idle.shards,
            idle.rss_after as f64 / f64::from(1 << 20),
            idle.rss_after as f64 / 1e9,
            idle.held,
        ));
    }
    lines
}

/// The idle figures as Markdown lines.
pub(crate) fn idle_lines(idle: &Idle) -> String {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    format!(
        "- connections asked {}, opened by the client {}, held by the server {} \
         (per shard: {:?}), opened in {:.1} s\n\
         - server resident set: {:.0} MiB before, {:.0} MiB after\n\
         - server live heap: {:.0} MiB before, {:.0} MiB after\n\
         - per held connection: {} bytes of heap, {} bytes resident\n",
        idle.asked,
        idle.opened,
        idle.held,
        idle.shard_connections,
        idle.open_s,
        mib(idle.rss_before),
        mib(idle.rss_after),
        mib(idle.heap_before),
        mib(idle.heap_after),
        opt(idle.heap_per_conn()),
        opt(idle.rss_per_conn()),
    )
}

/// The section `text` holds between the markers, markers included.
pub(crate) fn section_of(text: &str) -> Option<&str> {
    let start = text.find(BEGIN)?;
    let end = text[start..].find(END)? + start + END.len();
    Some(&text[start..end])
}

/// `text` (the whole of docs/scale-out.md, if it exists) with the section
/// replaced by `section`, or with it appended; the rest stays as it is.
pub(crate) fn splice(text: Option<&str>, section: &str) -> String {
    match text {
        None => format!("{section}\n"),
        Some(text) => match section_of(text) {
            Some(old) => text.replacen(old, section, 1),
            None if text.trim().is_empty() => format!("{section}\n"),
            None => format!("{}\n\n{section}\n", text.trim_end()),
        },
    }
}
