//! `cutover report` end to end: a bad release under real traffic (a fifth
//! of its answers are 500s) that its own alarm rolls back at 50%, then the
//! report as JSON (weights from the journal, the alarm and the rollback
//! marked, CloudWatch's per-colour metrics) and as HTML, checked in a real
//! browser: headless Chromium (Debian's package, installed by
//! `localstack/chromium-up`) loads the file with the network off, logs no
//! console message, renders an SVG per chart with each colour's series
//! holding the journal's weights, and its screenshot is not blank.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::traffic::Load;
use common::Stack;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The browser, installed on first use.
fn chromium() -> PathBuf {
    let out = Command::new(repo().join("localstack/chromium-up"))
        .output()
        .expect("run localstack/chromium-up");
    assert!(
        out.status.success(),
        "this test needs headless Chromium (Debian's package `chromium`), and localstack/chromium-up could not install it:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs headless Chromium on `file` with `args`, the network off (every
/// host unresolvable, a dead proxy); returns (stdout, stderr).
fn browse(browser: &Path, file: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// `data-points` of the series `name` in the rendered DOM: (t, value) pairs.
fn points(dom: &str, name: &str) -> Vec<(u64, f64)> {
    let at = dom
        .find(&format!("data-series=\"{name}\""))
        .unwrap_or_else(|| panic!("no series {name} in the DOM"));
    let rest = &dom[at..dom[at..].find('>').map_or(dom.len(), |e| at + e)];
    let start = rest.find("data-points=\"").expect("data-points") + "data-points=\"".len();
    let raw = &rest[start..start + rest[start..].find('"').unwrap()];
    let json = raw.replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str::<Vec<(u64, f64)>>(&json).unwrap()
}

/// Each colour's pixel count and the number of distinct colours in a PNG
/// (decoded with Python's zlib: chunks, inflate, the five row filters).
fn pixels(png: &Path) -> Value {
    let script = r#"
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows = bytearray(stride), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
count = {}
for line in rows:
    for x in range(0, stride, bpp):
        px = line[x:x + 3]
        count[px] = count.get(px, 0) + 1
hexes = {k.hex().upper(): v for k, v in count.items()}
print(json.dumps({"width": w, "height": h, "colours": len(count), "blue": hexes.get("0072B2", 0), "green": hexes.get("E69F00", 0), "white": hexes.get("FFFFFF", 0)}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "decoding {}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_html_report_of_a_rolled_back_release_renders_in_a_real_browser() {
    // The browser installs while the rollout runs.
    let browser = std::thread::spawn(chromium);
    let s = Stack::new(
        "rpt",
        &["--bake", "30s", "--poll", "1s", "--steps", "10, 50, 100"],
    );
    // More than 10 5xx in 10 s: a fifth of green's requests fail, about 4
    // per period at 10% of 20 requests/s (the alarm holds), about 20 at 50%.
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"HTTPCode_Target_5XX_Count\"\nthreshold = 10\nperiod = 10\ntreat_missing_data = \"notBreaching\"\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let load = Load::start(&s.lb_host(), 80, 20);
    std::thread::sleep(Duration::from_secs(5));
    // A candidate that answers a fifth of its predictions with a 500.
    s.exits_with_env(&["deploy", "--version", "v2"], &[("ERROR_RATE", "0.2")], 0);
    std::thread::sleep(Duration::from_secs(10));
    let out = s.exits(&["shift"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpt-green-5xx"));
    // Traffic after the rollback, for the charts (CloudWatch's periods
    // close a little later); the load runs on until the reports are made.
    std::thread::sleep(Duration::from_secs(25));

    // The journal's weights from the last deploy on.
    let history: Vec<Value> = s
        .ok(&["history", "-o", "json"], 0)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let start = history
        .iter()
        .rposition(|e| e["event"] == "deploy-start")
        .unwrap();
    let journal: Vec<(u64, u64, u64)> = history[start..]
        .iter()
        .filter(|e| e["weights"].is_object())
        .map(|e| {
            (
                e["at"].as_u64().unwrap(),
                e["weights"]["blue"].as_u64().unwrap(),
                e["weights"]["green"].as_u64().unwrap(),
            )
        })
        .collect();
    // 10% held through its bake; 50% tripped the alarm.
    assert!(journal.iter().any(|w| w.2 == 10), "{journal:?}");
    assert!(journal.iter().any(|w| w.2 == 50), "{journal:?}");

    let r: Value = serde_json::from_str(&s.ok(&["report", "-o", "json"], 0)).unwrap();
    let weights: Vec<(u64, u64, u64)> = r["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["at"].as_u64().unwrap(),
                w["blue"].as_u64().unwrap(),
                w["green"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(weights, journal);
    let kinds: Vec<&str> = r["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    for k in ["deploy", "step", "alarm", "rollback"] {
        assert!(kinds.contains(&k), "no {k} mark: {kinds:?}");
    }
    let series = |c: &str, m: &str| r["metrics"][c][m].as_array().unwrap().len();
    assert!(series("blue", "requests") > 0, "{}", r["metrics"]);
    assert!(
        series("green", "errors") > 0,
        "the bad model's 5xx: {}",
        r["metrics"]
    );
    assert!(series("green", "latency") > 0, "{}", r["metrics"]);

    let text = s.ok(&["report"], 0);
    assert!(text.contains("rolled back at"), "{text}");
    assert!(text.contains("auto-rollback"), "{text}");

    let file = s.dir.path().join("report.html");
    let said = s.ok(&["report", "--html", file.to_str().unwrap()], 0);
    assert!(said.contains("wrote"), "{said}");
    load.finish();
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(!html.contains("<script"), "the page holds a script");

    let browser = browser.join().expect("installing chromium");
    let (dom, log) = browse(&browser, &file, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    for chart in ["weight", "requests", "errors", "latency"] {
        assert_eq!(
            dom.matches(&format!("<svg data-chart=\"{chart}\"")).count(),
            1,
            "one svg for {chart}"
        );
        for c in ["blue", "green"] {
            let p = points(&dom, &format!("{chart}-{c}"));
            assert!(!p.is_empty(), "{chart}-{c} has no points");
        }
    }
    let drawn = |c: &str, pick: fn(&(u64, u64, u64)) -> u64| {
        let want: Vec<(u64, f64)> = journal.iter().map(|w| (w.0, pick(w) as f64)).collect();
        assert_eq!(points(&dom, &format!("weight-{c}")), want, "weight-{c}");
    };
    drawn("blue", |w| w.1);
    drawn("green", |w| w.2);
    // Each colour's line is drawn (a polyline in its colour inside its group).
    for (c, hex) in [("blue", "#0072B2"), ("green", "#E69F00")] {
        let at = dom.find(&format!("data-series=\"weight-{c}\"")).unwrap();
        let group = &dom[at..at + dom[at..].find("</g>").unwrap()];
        assert!(
            group.contains("<polyline") && group.contains(hex),
            "{group}"
        );
    }

    let png = s.dir.path().join("report.png");
    browse(
        &browser,
        &file,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,1600",
            "--hide-scrollbars",
        ],
    );
    let p = pixels(&png);
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(1200), Some(1600))
    );
    assert!(
        p["colours"].as_u64().unwrap() > 50,
        "a blank screenshot? {p}"
    );
    assert!(
        p["blue"].as_u64().unwrap() > 500,
        "blue's lines are not drawn: {p}"
    );
    assert!(
        p["green"].as_u64().unwrap() > 500,
        "green's lines are not drawn: {p}"
    );
    let white = p["white"].as_u64().unwrap() as f64 / (1200.0 * 1600.0);
    assert!(white < 0.9, "mostly white: {p}");
    // Kept for a look (and for docs/report.png).
    let keep = std::env::temp_dir().join("cutover-report-rpt.png");
    std::fs::copy(&png, &keep).unwrap();
    std::fs::copy(&file, keep.with_extension("html")).unwrap();
    eprintln!("screenshot: {}", keep.display());
}
