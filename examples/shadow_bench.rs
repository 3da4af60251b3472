//! Benchmark: shadow deployments on the emulator with 40 requests/s on the
//! endpoint. A shadow that answers 500 to everything (rejected, 0 failed
//! user requests, its share of mirrored requests within ±5 points of
//! `sampling`); a shadow with shifted predictions (rejected by `[compare]`);
//! an equal one (promoted, steps to 100%, 0 failed requests).
//!
//!     cargo build && cargo run --example shadow_bench
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

include!("support/bench.rs");

const BODY: &str = r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#;

/// 40 requests/s of InvokeEndpoint; counts answers and failures.
fn load(
    url: &str,
    endpoint: &str,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
    std::thread::JoinHandle<()>,
) {
    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (s, o, f, url, ep) = (
        stop.clone(),
        ok.clone(),
        failed.clone(),
        url.to_string(),
        endpoint.to_string(),
    );
    let t = std::thread::spawn(move || {
        let (rt, conf) = observer(&url);
        let c = aws_sdk_sagemakerruntime::Client::new(&conf);
        rt.block_on(async {
            let gap = Duration::from_millis(25);
            while !s.load(Ordering::SeqCst) {
                let t = Instant::now();
                let r = c
                    .invoke_endpoint()
                    .endpoint_name(&ep)
                    .content_type("application/json")
                    .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                        BODY.as_bytes().to_vec(),
                    ))
                    .send()
                    .await;
                if r.is_ok() {
                    o.fetch_add(1, Ordering::SeqCst)
                } else {
                    f.fetch_add(1, Ordering::SeqCst)
                };
                if let Some(left) = gap.checked_sub(t.elapsed()) {
                    tokio::time::sleep(left).await;
                }
            }
        });
    });
    (stop, ok, failed, t)
}

fn status(url: &str, dir: &Path) -> serde_json::Value {
    let o = cutover(url, dir, &["status", "-o", "json"]);
    serde_json::from_str(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or("{}"),
    )
    .unwrap()
}

/// One scenario: returns (shift's exit code, ok, failed, status after).
fn scenario(
    url: &str,
    port: u16,
    name: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> (i32, usize, usize, serde_json::Value, f64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(
        port,
        d,
        name,
        &[
            "--provider",
            "sagemaker",
            "--bake",
            "2s",
            "--poll",
            "500ms",
            "--steps",
            "50, 100",
            "--termination-wait",
            "1s",
        ],
    );
    let mut golden = String::new();
    for _ in 0..20 {
        golden.push_str("{\"body\": {\"data\": [[5.1, 3.5, 1.4, 0.2]]}}\n");
    }
    std::fs::write(d.join("golden.jsonl"), golden).unwrap();
    let cfg = d.join("cutover.toml");
    let text = std::fs::read_to_string(&cfg).unwrap() + extra;
    std::fs::write(&cfg, text).unwrap();
    must(url, d, &["provision"]);
    must(url, d, &["deploy", "--version", "v1"]);
    let mut deploy = Command::new(cutover_bin());
    deploy
        .current_dir(d)
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .args(["deploy", "--version", "v2"]);
    for (k, v) in env {
        deploy.env(k, v);
    }
    assert!(deploy.output().unwrap().status.success(), "deploy v2");
    let (stop, ok, failed, t) = load(url, name);
    std::thread::sleep(Duration::from_secs(2));
    let sent_before = ok.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst);
    let shift = cutover(url, d, &["shift"]);
    let sent_during = ok.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst) - sent_before;
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    let st = status(url, d);
    let share =
        st["shadow"]["requests"].as_f64().unwrap_or(0.0) / sent_during.max(1) as f64 * 100.0;
    (
        shift.status.code().unwrap_or(-1),
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
        st,
        share,
    )
}

fn main() {
    let (port, url) = start_emulator();
    let judge = "\n[judge]\nmetrics = [\"errors\"]\nperiod = \"10s\"\nmin_points = 2\n";
    let shadow = |sampling: u8, secs: u32| {
        format!("\n[shadow]\nsampling = {sampling}\nduration = \"{secs}s\"\n")
    };
    let compare = "\n[compare]\nrequests = \"golden.jsonl\"\noutput = \"/predictions\"\nmin_agreement = 0.95\n";

    let (code, ok, failed, st, share) = scenario(
        &url,
        port,
        "sb500",
        &(shadow(50, 40) + judge),
        &[("ERROR_RATE", "1")],
    );
    println!(
        "shadow answering 500 (sampling 50): shift exit {code} (3 = rejected), state {}, verdict {}; user requests {ok} ok / {failed} failed; mirrored share {share:.1}% (target 50 ± 5)",
        st["rollout"]["state"], st["shadow"]["verdict"]
    );
    assert_eq!((code, failed), (3, 0));
    assert!((share - 50.0).abs() <= 5.0, "share {share}");

    let (code, ok, failed, st, _) = scenario(
        &url,
        port,
        "sbshift",
        &(shadow(50, 20) + compare),
        &[("OUTPUT_SHIFT", "1")],
    );
    println!(
        "shadow with shifted predictions: shift exit {code}, compare agreement {} over {} captured pairs (bar 0.95); user requests {ok} ok / {failed} failed",
        st["compare"]["agreement"], st["compare"]["requests"]
    );
    assert_eq!((code, failed), (3, 0));
    assert!(st["compare"]["agreement"].as_f64().unwrap_or(1.0) < 0.95);

    let (code, ok, failed, st, share) =
        scenario(&url, port, "sbeq", &(shadow(50, 20) + compare), &[]);
    println!(
        "equal shadow: shift exit {code}, state {}, compare agreement {}, mirrored share {share:.1}%; user requests {ok} ok / {failed} failed",
        st["rollout"]["state"], st["compare"]["agreement"]
    );
    assert_eq!((code, failed), (0, 0));
    assert_eq!(st["rollout"]["state"], "complete");
}
