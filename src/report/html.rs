//! The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched), every string from the journal, CloudWatch or the state escaped.
use super::chart::{self, Chart};
pub use super::escape;
use super::series::{self, MarkKind};
use super::{numeric, Report, Table};
use crate::rollout::Color;

const STYLE: &str = r#"
:root { --blue: #0072B2; --green: #E69F00; --bad: #D55E00; --ink: #1a1a1a; --muted: #5a5a5a; --rule: #dddddd; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fafafa; }
header { margin-bottom: 16px; }
h1 { font-size: 24px; margin: 0 0 4px; }
.window { color: var(--muted); margin: 0 0 10px; }
.outcome { display: inline-block; margin: 0; padding: 8px 14px; border-radius: 6px; background: #eef5fb; border-left: 6px solid var(--blue); font-weight: 600; }
.outcome.bad { background: #fbefe6; border-left-color: var(--bad); }
.key { margin: 12px 0 0; color: var(--muted); }
.swatch { display: inline-block; width: 22px; height: 6px; border-radius: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
figure { margin: 0 0 14px; padding: 6px; background: #fff; border: 1px solid var(--rule); border-radius: 6px; max-width: 1114px; }
figure svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; background: #fff; margin: 0 0 4px; font-size: 14px; }
caption::first-letter { text-transform: uppercase; }
caption { text-align: left; font-size: 18px; font-weight: 600; padding: 18px 0 6px; }
th, td { border: 1px solid var(--rule); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.rollback td, tr.alarm td { background: #fbefe6; }
tr.gate td { background: #eef8f4; }
tr.pause td { background: #f8eef4; }
.note { margin: 0 0 16px; color: var(--muted); }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
"#;

/// The four charts: weight, requests, 5xx and latency per colour.
pub fn charts(r: &Report) -> Vec<Chart<'_>> {
    let weight = |c: Color| {
        r.weights
            .iter()
            .map(|p| {
                (
                    p.at,
                    f64::from(if c == Color::Blue { p.blue } else { p.green }),
                )
            })
            .collect()
    };
    let per = format!("per {} s", r.period_s);
    let metric = |id: &'static str,
                  title: &str,
                  y: String,
                  pick: &dyn Fn(&super::Series) -> Vec<(u64, f64)>| Chart {
        id,
        title: title.into(),
        y_desc: y,
        series: Color::BOTH.map(|c| (c, pick(r.metrics.of(c)))),
        step: false,
        y_top: None,
        period_ms: r.period_s * 1000,
        marks: &r.marks,
        window: (r.from, r.to),
    };
    vec![
        Chart {
            id: "weight",
            title: "Traffic weight per colour".into(),
            y_desc: "weight (%)".into(),
            series: Color::BOTH.map(|c| (c, weight(c))),
            step: true,
            y_top: Some(100.0),
            period_ms: r.period_s * 1000,
            marks: &r.marks,
            window: (r.from, r.to),
        },
        metric(
            "requests",
            "Requests per colour",
            format!("requests {per}"),
            &|s| s.requests.clone(),
        ),
        metric(
            "errors",
            "5xx errors per colour",
            format!("5xx {per}"),
            &|s| s.errors_filled(),
        ),
        metric(
            "latency",
            "Latency per colour",
            "mean latency (ms)".into(),
            &|s| s.latency.clone(),
        ),
    ]
}

fn table_html(t: &Table, classes: &[&str]) -> String {
    let mut h = format!(
        "<table data-table=\"{}\">\n<caption>{}</caption>\n<thead><tr>",
        escape(&t.title),
        escape(&t.title)
    );
    for c in &t.head {
        h.push_str(&format!("<th scope=\"col\">{}</th>", escape(c)));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (i, row) in t.rows.iter().enumerate() {
        match classes.get(i).filter(|c| !c.is_empty()) {
            Some(c) => h.push_str(&format!("<tr class=\"{c}\">")),
            None => h.push_str("<tr>"),
        }
        for cell in row {
            let class = if numeric(cell) { " class=\"num\"" } else { "" };
            h.push_str(&format!("<td{class}>{}</td>", escape(cell)));
        }
        h.push_str("</tr>\n");
    }
    if t.rows.is_empty() {
        h.push_str(&format!(
            "<tr><td colspan=\"{}\">(none)</td></tr>\n",
            t.head.len().max(1)
        ));
    }
    h.push_str("</tbody>\n</table>\n");
    if let Some(n) = &t.note {
        h.push_str(&format!("<p class=\"note\">{}</p>\n", escape(n)));
    }
    h
}

/// The whole page.
pub fn page(r: &Report, generated: u64) -> Result<String, String> {
    let stack = escape(&r.stack);
    let bad = r.marks.iter().any(|m| m.kind == MarkKind::Rollback);
    let mut h =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may load or run: no script, no fetch, only the inline style.
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>cutover report: {stack}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    ));
    h.push_str(&format!("<header>\n<h1>cutover report: {stack}</h1>\n"));
    h.push_str(&format!(
        "<p class=\"window\">{}</p>\n",
        escape(&r.window_line())
    ));
    h.push_str(&format!(
        "<p class=\"outcome{}\" data-outcome>{}</p>\n",
        if bad { " bad" } else { "" },
        escape(&r.headline())
    ));
    h.push_str("<p class=\"key\">");
    for c in Color::BOTH {
        h.push_str(&format!(
            "<span class=\"swatch\" style=\"background:{}\"></span>{c} ",
            chart::hex(chart::colour_of(c))
        ));
    }
    h.push_str("&mdash; vertical lines mark deploys, steps, pauses, gate verdicts, alarms and rollbacks</p>\n</header>\n");
    h.push_str("<main>\n<section class=\"charts\">\n");
    for c in charts(r) {
        h.push_str(&format!("<figure data-figure=\"{}\">\n", c.id));
        h.push_str(&chart::svg(&c)?);
        h.push_str("</figure>\n");
    }
    h.push_str("</section>\n<section class=\"tables\">\n");
    h.push_str(&table_html(&r.metrics_table(), &[]));
    let gates = r.gate_tables();
    for t in &gates {
        h.push_str(&table_html(t, &[]));
    }
    let classes: Vec<&str> = r
        .events
        .iter()
        .map(|e| {
            let k = series::kinds(e);
            [
                MarkKind::Rollback,
                MarkKind::Alarm,
                MarkKind::Gate,
                MarkKind::Pause,
            ]
            .into_iter()
            .find(|x| k.contains(x))
            .map_or("", |x| x.as_str())
        })
        .collect();
    h.push_str(&table_html(&r.events_table(), &classes));
    h.push_str(&format!(
        "</section>\n</main>\n<footer>Generated by cutover at {} UTC. Times are UTC; metrics from CloudWatch, weights and marks from the journal.</footer>\n</body>\n</html>\n",
        escape(&series::utc(generated))
    ));
    Ok(h)
}
