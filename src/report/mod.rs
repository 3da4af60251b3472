//! `cutover report`, the pure part: a rollout's weights, marks and metrics over a window, as text, JSON and one self-contained HTML page.
//!
//! Everything here comes from the journal, CloudWatch and the state
//! document; fetching is `engine::report`, the command `commands::report`.
pub mod chart;
pub mod html;
pub mod series;

use serde::Serialize;
use serde_json::Value;

use crate::compare::Report as CompareReport;
use crate::judge::ab::ExperimentReport;
use crate::judge::{proportions::wilson, JudgeReport};
use crate::rollout::Color;
use crate::store::{JournalEntry, StackDoc};
pub use series::{Mark, MarkKind, WeightPoint};

/// Escapes text for HTML and SVG, in element content and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One colour's CloudWatch series: (period start in ms, value).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Series {
    /// Requests per period (Sum).
    pub requests: Vec<(u64, f64)>,
    /// 5xx answers per period (Sum).
    pub errors: Vec<(u64, f64)>,
    /// Mean latency per period, in milliseconds.
    pub latency: Vec<(u64, f64)>,
}

impl Series {
    /// 5xx per period, 0 where a period had requests and no 5xx datum
    /// (CloudWatch publishes no zero 5xx count).
    pub fn errors_filled(&self) -> Vec<(u64, f64)> {
        let mut out: Vec<(u64, f64)> = self.errors.clone();
        for (t, _) in &self.requests {
            if !self.errors.iter().any(|(e, _)| e == t) {
                out.push((*t, 0.0));
            }
        }
        out.sort_by_key(|p| p.0);
        out
    }
}

/// Both colours' series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub blue: Series,
    pub green: Series,
}

impl Metrics {
    pub fn of(&self, c: Color) -> &Series {
        match c {
            Color::Blue => &self.blue,
            Color::Green => &self.green,
        }
    }
}

/// CloudWatch periods: 10 s for windows under three hours, else a minute.
pub fn period_s(from: u64, to: u64) -> u64 {
    if to.saturating_sub(from) < 3 * 3600 * 1000 {
        10
    } else {
        60
    }
}

/// What `cutover report` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub stack: String,
    /// The window, ms since the epoch.
    pub from: u64,
    pub to: u64,
    /// CloudWatch period of the metrics, seconds.
    pub period_s: u64,
    pub weights: Vec<WeightPoint>,
    pub marks: Vec<Mark>,
    pub metrics: Metrics,
    pub compare: Option<CompareReport>,
    pub judge: Option<JudgeReport>,
    pub experiment: Option<ExperimentReport>,
    /// The journal entries in the window, oldest first.
    pub events: Vec<JournalEntry>,
    /// The experiment's alpha (for its intervals), when there is one.
    #[serde(skip)]
    pub alpha: Option<f64>,
}

/// A table as both the text and the HTML report show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// A line under the table (a verdict, reasons).
    pub note: Option<String>,
}

impl Report {
    /// The report of `entries` over [from, to]: the state document's
    /// compare, judge and experiment belong to it when made inside it.
    pub fn build(
        stack: &str,
        entries: &[JournalEntry],
        doc: &StackDoc,
        (from, to): (u64, u64),
        metrics: Metrics,
    ) -> Report {
        let events = series::inside(entries, from, to);
        let compared = events.iter().any(|e| e.event == "compare");
        Report {
            stack: stack.into(),
            from,
            to,
            period_s: period_s(from, to),
            weights: series::weights(entries, from, to),
            marks: series::marks(entries, from, to),
            metrics,
            compare: doc.compare.clone().filter(|_| compared),
            judge: doc.judge.clone().filter(|j| j.at >= from && j.at <= to),
            experiment: doc
                .experiment
                .clone()
                .filter(|x| x.started <= to && x.at >= from),
            events,
            alpha: None,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// One line on how the window ends: the last rollback and why, else the last event.
    pub fn headline(&self) -> String {
        let last_rollback = self
            .marks
            .iter()
            .rev()
            .find(|m| m.kind == MarkKind::Rollback);
        if let Some(m) = last_rollback {
            let why = m.detail.strip_prefix("rolled back: ").unwrap_or(&m.detail);
            return format!("rolled back at {} UTC: {why}", series::clock(m.at));
        }
        match self.events.last() {
            Some(e) => format!(
                "{} at {} UTC ({}): {}",
                e.event,
                series::clock(e.at),
                e.phase,
                e.detail
            ),
            None => "no journal entries in this window".into(),
        }
    }

    /// The window in words.
    pub fn window_line(&self) -> String {
        format!(
            "{} .. {} ({}, {} s periods)",
            series::utc(self.from),
            series::utc(self.to),
            humantime::format_duration(std::time::Duration::from_secs(
                (self.to - self.from) / 1000
            )),
            self.period_s
        )
    }

    /// The journal entries: time, event, weights, phase and detail.
    pub fn events_table(&self) -> Table {
        let rows = self
            .events
            .iter()
            .map(|e| {
                let (b, g) = e.weights.map_or(("".into(), "".into()), |w| {
                    (w.blue.to_string(), w.green.to_string())
                });
                vec![
                    series::utc(e.at),
                    e.event.clone(),
                    b,
                    g,
                    e.phase.clone(),
                    e.detail.clone(),
                ]
            })
            .collect();
        Table {
            title: "journal".into(),
            head: [
                "time (UTC)",
                "event",
                "blue %",
                "green %",
                "state",
                "detail",
            ]
            .map(String::from)
            .to_vec(),
            rows,
            note: None,
        }
    }

    /// Requests, 5xx and mean latency per colour over the window.
    pub fn metrics_table(&self) -> Table {
        let rows = Color::BOTH
            .iter()
            .map(|c| {
                let s = self.metrics.of(*c);
                let sum = |v: &[(u64, f64)]| v.iter().fold(0.0, |a, p| a + p.1);
                let (req, err) = (sum(&s.requests), sum(&s.errors));
                let rate = if req > 0.0 {
                    format!("{:.1}%", err / req * 100.0)
                } else {
                    "-".into()
                };
                let lat = if s.latency.is_empty() {
                    "-".into()
                } else {
                    format!("{:.1}", sum(&s.latency) / s.latency.len() as f64)
                };
                vec![
                    c.to_string(),
                    format!("{req:.0}"),
                    format!("{err:.0}"),
                    rate,
                    lat,
                ]
            })
            .collect();
        Table {
            title: "metrics over the window".into(),
            head: ["colour", "requests", "5xx", "5xx rate", "latency mean (ms)"]
                .map(String::from)
                .to_vec(),
            rows,
            note: None,
        }
    }

    /// The compare, judge and experiment tables that this window has.
    pub fn gate_tables(&self) -> Vec<Table> {
        let mut out = Vec::new();
        if let Some(c) = &self.compare {
            out.push(compare_table(c));
        }
        if let Some(j) = &self.judge {
            out.push(judge_table(j));
        }
        if let Some(x) = &self.experiment {
            out.push(experiment_table(x, self.alpha.unwrap_or(0.05)));
        }
        out
    }

    /// The text report: the window, the outcome, one line per event, the tables.
    pub fn text(&self) -> String {
        let mut t = format!("report {}  {}\n", self.stack, self.window_line());
        t.push_str(&format!("outcome  {}\n", self.headline()));
        let mut tables = vec![self.events_table(), self.metrics_table()];
        tables.extend(self.gate_tables());
        for table in &tables {
            t.push('\n');
            t.push_str(&table.text());
        }
        t.trim_end().to_string()
    }
}

impl Table {
    /// Columns padded to their widest cell; the last column is not padded.
    pub fn text(&self) -> String {
        let n = self.head.len();
        let mut width = vec![0; n];
        for row in std::iter::once(&self.head).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(n) {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        let line = |row: &[String]| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| match (i + 1 == n, numeric(c)) {
                    (true, _) => c.clone(),
                    (false, true) => format!("{c:>w$}", w = width[i]),
                    (false, false) => format!("{c:<w$}", w = width[i]),
                })
                .collect();
            format!("  {}", cells.join("  ").trim_end())
        };
        let mut t = format!("{}\n{}\n", self.title, line(&self.head));
        for row in &self.rows {
            t.push_str(&line(row));
            t.push('\n');
        }
        if self.rows.is_empty() {
            t.push_str("  (none)\n");
        }
        if let Some(note) = &self.note {
            t.push_str(&format!("  {note}\n"));
        }
        t
    }
}

/// Whether a cell holds a number (right-aligned): `12`, `-0.5`, `99.9%`, `6/6`.
pub fn numeric(s: &str) -> bool {
    !s.is_empty()
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || "+-.%/ ".contains(c))
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| "-".into())
}

/// `[compare]`: live against the candidate.
pub fn compare_table(c: &CompareReport) -> Table {
    let row = |k: &str, l: String, r: String| vec![k.to_string(), l, r];
    let (lat_l, lat_c) = &c.latency_ms;
    let mut rows = vec![
        row("requests", c.requests.to_string(), c.requests.to_string()),
        row("agreement", String::new(), pct(c.agreement)),
    ];
    if let Some((l, r)) = c.accuracy {
        rows.push(row("accuracy", pct(l), pct(r)));
    }
    rows.push(row(
        "latency p50 (ms)",
        format!("{:.1}", lat_l.p50),
        format!("{:.1}", lat_c.p50),
    ));
    rows.push(row(
        "latency p95 (ms)",
        format!("{:.1}", lat_l.p95),
        format!("{:.1}", lat_c.p95),
    ));
    rows.push(row(
        "errors",
        c.errors.0.to_string(),
        c.errors.1.to_string(),
    ));
    let mut note = format!("verdict {}", c.verdict);
    if !c.reasons.is_empty() {
        note.push_str(&format!(": {}", c.reasons.join("; ")));
    }
    Table {
        title: "compare".into(),
        head: ["", "live", "candidate"].map(String::from).to_vec(),
        rows,
        note: Some(note),
    }
}

/// `[judge]`: each metric's verdict.
pub fn judge_table(j: &JudgeReport) -> Table {
    let rows = j
        .metrics
        .iter()
        .map(|m| {
            vec![
                m.metric.clone(),
                m.verdict.to_string(),
                opt(m.p, |p| format!("{p:.4}")),
                opt(m.shift, |s| format!("{s:+.4}")),
                opt(m.candidate_median, |v| format!("{v:.4}")),
                opt(m.stable_median, |v| format!("{v:.4}")),
                format!("{}/{}", m.points.0, m.points.1),
                m.reason.clone(),
            ]
        })
        .collect();
    Table {
        title: "judge".into(),
        head: [
            "metric",
            "verdict",
            "p",
            "shift",
            "candidate median",
            "stable median",
            "points",
            "reason",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        note: Some(format!(
            "verdict {}{} at {} UTC",
            j.verdict,
            if j.dry_run { " (dry run)" } else { "" },
            series::clock(j.at)
        )),
    }
}

/// `[experiment]`: counts and rates per colour, lift, p and the decision.
pub fn experiment_table(x: &ExperimentReport, alpha: f64) -> Table {
    let rows = [x.candidate.other(), x.candidate]
        .iter()
        .map(|c| {
            let n = x.of(*c);
            let role = if *c == x.candidate {
                "candidate"
            } else {
                "stable"
            };
            vec![
                format!("{c} ({role})"),
                n.trials.to_string(),
                n.successes.to_string(),
                opt(n.rate(), pct),
                wilson(n, alpha)
                    .map_or("-".into(), |(lo, hi)| format!("{} .. {}", pct(lo), pct(hi))),
            ]
        })
        .collect();
    let verdict = x.verdict.map_or("running", |v| v.as_str());
    Table {
        title: format!("experiment ({})", x.version),
        head: ["colour", "trials", "successes", "rate", "interval"]
            .map(String::from)
            .to_vec(),
        rows,
        note: Some(format!(
            "{verdict}: lift {}, p {}; {}",
            opt(x.lift, |l| format!("{:+.1} points", l * 100.0)),
            opt(x.p, |p| format!("{p:.4}")),
            x.reason
        )),
    }
}

#[cfg(test)]
mod tests;
