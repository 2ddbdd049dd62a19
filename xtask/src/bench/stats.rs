//! The figures of a run: the samples of each stack, their medians and
//! ranges, the tern/quinn ratio, and the JSON rows and text table made of
//! them.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which way a figure improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Better {
    /// Throughput, handshakes per second.
    Higher,
    /// Latency, CPU, bytes, datagrams.
    Lower,
}

impl Better {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "higher" => Some(Self::Higher),
            "lower" => Some(Self::Lower),
            _ => None,
        }
    }
}

/// The samples of one figure, one per run and stack.
#[derive(Clone, Debug)]
pub(crate) struct Samples {
    pub(crate) better: Better,
    pub(crate) tern: Vec<f64>,
    pub(crate) quinn: Vec<f64>,
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])),
    }
}

/// The smallest and the largest of `values`.
pub(crate) fn range(values: &[f64]) -> Option<(f64, f64)> {
    let min = values.iter().copied().reduce(f64::min)?;
    let max = values.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

/// tern / quinn, `None` when quinn's figure is zero or either is missing.
pub(crate) fn ratio(tern: Option<f64>, quinn: Option<f64>) -> Option<f64> {
    match (tern, quinn) {
        (Some(t), Some(q)) if q != 0.0 => Some(t / q),
        _ => None,
    }
}

/// One row of `--json`: a figure of a workload on both stacks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Row {
    pub(crate) workload: String,
    pub(crate) metric: String,
    pub(crate) tern: Option<f64>,
    pub(crate) quinn: Option<f64>,
    pub(crate) ratio: Option<f64>,
    pub(crate) better: Better,
    /// Runs per stack (the smaller count if a run failed on one).
    pub(crate) runs: usize,
    #[serde(skip)]
    pub(crate) tern_range: Option<(f64, f64)>,
    #[serde(skip)]
    pub(crate) quinn_range: Option<(f64, f64)>,
}

/// Every figure, by workload and metric, in the order first seen.
#[derive(Default, Debug)]
pub(crate) struct Results {
    order: Vec<(String, String)>,
    samples: BTreeMap<(String, String), Samples>,
}

impl Results {
    /// Records one sample of `stack` (`tern` or `quinn`).
    pub(crate) fn add(
        &mut self,
        workload: &str,
        metric: &str,
        stack: &str,
        better: Better,
        value: f64,
    ) {
        let key = (workload.to_owned(), metric.to_owned());
        let samples = self.samples.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            Samples {
                better,
                tern: Vec::new(),
                quinn: Vec::new(),
            }
        });
        match stack {
            "tern" => samples.tern.push(value),
            _ => samples.quinn.push(value),
        }
    }

    /// The rows, in the order the figures were first recorded.
    pub(crate) fn rows(&self) -> Vec<Row> {
        self.order
            .iter()
            .filter_map(|key| {
                let s = self.samples.get(key)?;
                let (tern, quinn) = (median(&s.tern), median(&s.quinn));
                Some(Row {
                    workload: key.0.clone(),
                    metric: key.1.clone(),
                    tern,
                    quinn,
                    ratio: ratio(tern, quinn),
                    better: s.better,
                    runs: s.tern.len().min(s.quinn.len()),
                    tern_range: range(&s.tern),
                    quinn_range: range(&s.quinn),
                })
            })
            .collect()
    }
}

/// The rows as the JSON list of `--json`.
///
/// # Errors
/// Never in practice: the rows are plain numbers and strings.
pub(crate) fn to_json(rows: &[Row]) -> Result<String, String> {
    serde_json::to_string_pretty(rows).map_err(|e| e.to_string())
}

/// A figure with three significant digits or so.
pub(crate) fn fmt(value: f64) -> String {
    let a = value.abs();
    if a >= 1000.0 {
        format!("{value:.0}")
    } else if a >= 100.0 {
        format!("{value:.1}")
    } else if a >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// `median (min–max)`, or `—`.
pub(crate) fn cell(median: Option<f64>, range: Option<(f64, f64)>) -> String {
    match (median, range) {
        (Some(m), Some((lo, hi))) if lo < hi => format!("{} ({}–{})", fmt(m), fmt(lo), fmt(hi)),
        (Some(m), _) => fmt(m),
        _ => "—".into(),
    }
}

/// The ratio with an × and whether it is ahead of quinn.
pub(crate) fn ratio_cell(row: &Row) -> String {
    match row.ratio {
        Some(r) => {
            let ahead = match row.better {
                Better::Higher => r > 1.0,
                Better::Lower => r < 1.0,
            };
            format!("{:.2}×{}", r, if ahead { " ✓" } else { "" })
        }
        None => "—".into(),
    }
}

/// The rows as a Markdown table (also what the terminal shows).
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | metric | tern median (min–max) | quinn median (min–max) | tern/quinn | better |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.workload,
            row.metric,
            cell(row.tern, row.tern_range),
            cell(row.quinn, row.quinn_range),
            ratio_cell(row),
            match row.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            },
        ));
    }
    out
}
