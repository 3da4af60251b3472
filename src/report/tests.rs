//! The report of a made-up rollout that its alarm rolled back: text and JSON snapshots, the HTML's charts and escaping.
use super::*;
use crate::judge::{MetricVerdict, Verdict};
use crate::rollout::Weights;

const T0: u64 = 1_767_261_600_000; // 2026-01-01T10:00:00Z

fn e(s: u64, event: &str, phase: &str, w: Option<(u8, u8)>, detail: &str) -> JournalEntry {
    JournalEntry {
        at: T0 + s * 1000,
        event: event.into(),
        detail: detail.into(),
        phase: phase.into(),
        weights: w.map(|(blue, green)| Weights { blue, green }),
    }
}

fn journal() -> Vec<JournalEntry> {
    vec![
        e(
            0,
            "deploy-start",
            "complete",
            Some((100, 0)),
            "v2 -> green: deploying to green",
        ),
        e(
            30,
            "deployed",
            "ready",
            Some((100, 0)),
            "green deployed and ready at 0%",
        ),
        e(
            40,
            "compare",
            "ready",
            Some((100, 0)),
            "compare pass: agreement 100.0% over 20 request(s)",
        ),
        e(
            60,
            "step",
            "shifting",
            Some((90, 10)),
            "step 1/3: green at 10%",
        ),
        e(
            120,
            "step",
            "shifting",
            Some((50, 50)),
            "step 2/3: green at 50%",
        ),
        e(
            150,
            "auto-rollback",
            "rolled_back",
            Some((100, 0)),
            "rolled back: blue at 100% (alarm rpt-green-5xx in ALARM)",
        ),
    ]
}

fn metrics() -> Metrics {
    let at = |i: u64| T0 + i * 10_000;
    let blue = Series {
        requests: (0..18).map(|i| (at(i), 200.0)).collect(),
        errors: vec![],
        latency: (0..18).map(|i| (at(i), 12.0)).collect(),
    };
    let green = Series {
        requests: (6..15)
            .map(|i| (at(i), if i < 12 { 20.0 } else { 100.0 }))
            .collect(),
        errors: (6..15)
            .map(|i| (at(i), if i < 12 { 20.0 } else { 100.0 }))
            .collect(),
        latency: (6..15).map(|i| (at(i), 3.0)).collect(),
    };
    Metrics { blue, green }
}

fn doc() -> StackDoc {
    StackDoc {
        judge: Some(JudgeReport {
            verdict: Verdict::Pass,
            metrics: vec![MetricVerdict {
                metric: "latency".into(),
                verdict: Verdict::Pass,
                p: Some(0.41),
                shift: Some(-0.002),
                candidate_median: Some(0.003),
                stable_median: Some(0.012),
                points: (6, 6),
                reason: "within tolerance".into(),
            }],
            dry_run: false,
            at: T0 + 120_000,
        }),
        ..StackDoc::default()
    }
}

fn report() -> Report {
    let j = journal();
    let w = series::window(&j, None, T0 + 900_000, true);
    Report::build("rpt", &j, &doc(), w, metrics())
}

#[test]
fn the_window_is_the_last_rollout_and_its_tail() {
    let r = report();
    assert_eq!((r.from, r.to), (T0, T0 + 270_000));
    assert_eq!(r.period_s, 10);
    assert_eq!(r.weights.len(), 6);
    let kinds: Vec<&str> = r.marks.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["deploy", "deploy", "gate", "step", "step", "alarm", "rollback"]
    );
    // No compare in the state document: nothing to show, though it ran.
    assert!(r.compare.is_none() && r.judge.is_some());
    assert_eq!(
        r.headline(),
        "rolled back at 10:02:30 UTC: blue at 100% (alarm rpt-green-5xx in ALARM)"
    );
}

#[test]
fn text_report() {
    insta::assert_snapshot!(report().text());
}

#[test]
fn json_report() {
    let v = report().json();
    assert_eq!(
        v["weights"][3],
        serde_json::json!({"at": T0 + 60_000, "blue": 90, "green": 10})
    );
    assert_eq!(v["marks"][6]["kind"], "rollback");
    assert_eq!(
        v["metrics"]["green"]["errors"][0],
        serde_json::json!([T0 + 60_000, 20.0])
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn the_page_has_a_chart_per_question_and_each_colour_per_chart() {
    let r = report();
    let h = html::page(&r, T0 + 900_000).unwrap();
    for id in ["weight", "requests", "errors", "latency"] {
        assert_eq!(
            h.matches(&format!("<svg data-chart=\"{id}\"")).count(),
            1,
            "{id}"
        );
        for c in ["blue", "green"] {
            assert_eq!(
                h.matches(&format!("data-series=\"{id}-{c}\"")).count(),
                1,
                "{id}-{c}"
            );
        }
    }
    // The journal's weights, as they are.
    let points: Vec<String> = r
        .weights
        .iter()
        .map(|p| format!("[{},{}.0]", p.at, p.green))
        .collect();
    let attr = format!(
        "data-series=\"weight-green\" data-colour=\"green\" data-points=\"[{}]\"",
        points.join(",")
    );
    assert!(h.contains(&attr), "{attr}");
    // Self-contained: nothing to run, nothing to fetch.
    let h = h.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!h.contains("<script") && !h.contains("http://") && !h.contains("https://"));
    assert!(!h.contains("@import") && !h.contains("url("));
}

#[test]
fn untrusted_strings_are_escaped_everywhere() {
    let mut j = journal();
    j[3].detail = "<script>alert(1)</script> & \"quotes\"".into();
    j[3].event = "<b>step</b>".into();
    j[3].phase = "<i>x</i>".into();
    let w = series::window(&j, None, T0 + 900_000, true);
    let r = Report::build("<img src=x onerror=alert(1)>", &j, &doc(), w, metrics());
    let h = html::page(&r, T0).unwrap();
    assert!(!h.contains("<script>"), "unescaped script");
    assert!(!h.contains("<img") && !h.contains("<b>") && !h.contains("<i>"));
    assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(h.contains("cutover report: &lt;img src=x onerror=alert(1)&gt;"));
    assert_eq!(html::escape("a'b"), "a&#39;b");
}

#[test]
fn errors_are_zero_where_requests_had_no_5xx() {
    let s = Series {
        requests: vec![(0, 5.0), (10, 5.0), (20, 5.0)],
        errors: vec![(10, 2.0)],
        latency: vec![],
    };
    assert_eq!(s.errors_filled(), vec![(0, 0.0), (10, 2.0), (20, 0.0)]);
    assert_eq!(period_s(0, 3 * 3600 * 1000 - 1), 10);
    assert_eq!(period_s(0, 3 * 3600 * 1000), 60);
}
