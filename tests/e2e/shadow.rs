// Shadow deployments on SageMaker: the candidate runs as a shadow variant
// that gets a copy of production requests; users get live's answers only;
// compare on captured pairs and the judge on its metrics decide.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{traffic::BODY, Stack};

/// Production and shadow variant names as DescribeEndpoint reports them.
fn variants(s: &Stack) -> (Vec<String>, Vec<String>) {
    let c = aws_sdk_sagemaker::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let d = c
            .describe_endpoint()
            .endpoint_name(&s.name)
            .send()
            .await
            .unwrap();
        let names = |v: &[aws_sdk_sagemaker::types::ProductionVariantSummary]| {
            v.iter()
                .filter_map(|v| v.variant_name().map(String::from))
                .collect()
        };
        (
            names(d.production_variants()),
            names(d.shadow_production_variants()),
        )
    })
}

/// Steady InvokeEndpoint traffic; counts answers and which variant gave them.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    not_live: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    t: std::thread::JoinHandle<()>,
}

/// A SageMaker stack (2 s bakes, steps 50/100) with `[shadow]` settings
/// `shadow` and `[compare]` of `golden` on the predictions.
fn shadow_stack(name: &str, golden: &str, shadow: &str) -> Stack {
    let s = Stack::new(
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
    std::fs::write(s.dir.path().join("golden.jsonl"), golden).unwrap();
    s.edit_config(|t| {
        format!("{t}\n[compare]\nrequests = \"golden.jsonl\"\noutput = \"/predictions\"\nmin_agreement = 0.95\n\n[shadow]\n{shadow}\n")
    });
    s
}

fn traffic(s: &Stack, live: &'static str) -> Traffic {
    let (stop, ok, not_live, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (f, o, n, e, sdk, name) = (
        stop.clone(),
        ok.clone(),
        not_live.clone(),
        failed.clone(),
        s.sdk(),
        s.name.clone(),
    );
    let t = std::thread::spawn(move || {
        let rt = Stack::rt();
        let client = aws_sdk_sagemakerruntime::Client::new(&sdk);
        rt.block_on(async {
            while !f.load(Ordering::SeqCst) {
                let r = client
                    .invoke_endpoint()
                    .endpoint_name(&name)
                    .content_type("application/json")
                    .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                        BODY.as_bytes().to_vec(),
                    ))
                    .send()
                    .await;
                match r {
                    Ok(a) if a.invoked_production_variant() == Some(live) => {
                        o.fetch_add(1, Ordering::SeqCst)
                    }
                    Ok(_) => n.fetch_add(1, Ordering::SeqCst),
                    Err(_) => e.fetch_add(1, Ordering::SeqCst),
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    });
    Traffic {
        stop,
        ok,
        not_live,
        failed,
        t,
    }
}

impl Traffic {
    fn finish(self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.t.join().unwrap();
        (
            self.ok.load(Ordering::SeqCst),
            self.not_live.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn a_shadow_that_answers_like_live_passes_and_then_takes_traffic() {
    let mut golden = String::new();
    for _ in 0..10 {
        golden.push_str("{\"body\": {\"data\": [[5.1, 3.5, 1.4, 0.2]]}}\n");
    }
    let s = shadow_stack("shdw", &golden, "sampling = 50\nduration = \"20s\"");
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    // The candidate runs as live's shadow before any shift.
    assert_eq!(
        variants(&s),
        (vec!["blue".to_string()], vec!["green".to_string()])
    );
    assert!(s.ok(&["plan"], 0).contains("shadow phase first"));
    let load = traffic(&s, "blue");
    let shift = s.spawn_shift();
    s.wait_for_state("shadowing");
    std::thread::sleep(Duration::from_secs(4));
    let st = s.status_json();
    assert_eq!(st["shadow"]["sampling"], 50);
    assert!(st["shadow"]["verdict"].is_null(), "{st}");
    let out = shift.wait_with_output().unwrap();
    let (ok, not_live, failed) = load.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(failed, 0);
    assert!(
        ok > 50 && not_live > 0,
        "answers: {ok} from blue, {not_live} from green after the shadow phase"
    );
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "complete", "{st}");
    assert_eq!(st["shadow"]["verdict"], "pass", "{st}");
    assert!(st["shadow"]["requests"].as_u64().unwrap() > 20, "{st}");
    assert_eq!(st["compare"]["verdict"], "pass", "{st}");
    assert!(st["compare"]["requests"].as_u64().unwrap() >= 10, "{st}");
    let (prod, shadow) = variants(&s);
    assert!(
        shadow.is_empty() && prod.contains(&"green".to_string()),
        "{prod:?} {shadow:?}"
    );
    assert!(s.ok(&["history"], 0).contains("shadow phase passed"));
}

#[test]
fn a_failing_shadow_is_removed_by_a_cron_tick_and_live_is_untouched() {
    // Its predictions are off by one: [compare] on the captured pairs rejects it.
    let golden = "{\"body\": {\"data\": [[5.1, 3.5, 1.4, 0.2]]}}\n".repeat(10);
    let s = shadow_stack("shbad", &golden, "sampling = 100\nduration = \"15s\"");
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.exits_with_env(&["deploy", "--version", "v2"], &[("OUTPUT_SHIFT", "1")], 0);
    let load = traffic(&s, "blue");
    // From cron: promote ticks until the shadow phase has been judged.
    let start = std::time::Instant::now();
    let err = loop {
        let out = s.run(&["promote"]);
        match out.status.code() {
            Some(0) => {}
            Some(3) => break String::from_utf8_lossy(&out.stderr).to_string(),
            other => panic!(
                "promote exited {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the shadow phase never ended"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let (ok, not_live, failed) = load.finish();
    assert!(err.contains("rolled back"), "{err}");
    // Users never saw the shadow's answers, nor its errors.
    assert_eq!((not_live, failed), (0, 0), "{ok} ok");
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "rolled_back");
    assert_eq!(st["shadow"]["verdict"], "fail", "{st}");
    assert!(st["compare"]["agreement"].as_f64().unwrap() < 0.95, "{st}");
    assert_eq!(variants(&s), (vec!["blue".to_string()], vec![]));
    // Every call of the shadow's life, its capture bucket's included, is
    // allowed by the policy `iam-policy` prints for this config.
    s.ok(&["destroy", "--yes"], 0);
    assert_eq!(
        crate::policy::denied_for(&s, &["iam-policy"]),
        Vec::<String>::new()
    );
}

#[test]
fn shadow_is_refused_on_ecs() {
    let s = Stack::new("shecs", &[]);
    s.edit_config(|t| t + "\n[shadow]\nsampling = 50\nduration = \"1m\"\n");
    let out = s.exits(&["check"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot mirror") && err.contains("[compare]"),
        "{err}"
    );
}
