//! Benchmark: rollback latency seen by an independent observer, from
//! SetAlarmState(ALARM) to the production listener back at 100% stable.
//! Runs `TRIALS` (default 20) trials at poll_interval = 1s on the embedded emulator.
//!
//!     cargo build && cargo run --example rollback_latency
use std::time::{Duration, Instant};

include!("support/bench.rs");

fn main() {
    let trials: usize = std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(20);
    let (port, url) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    seed(
        port,
        dir.path(),
        "rbbench",
        &["--bake", "60s", "--poll", "1s"],
    );
    let d = dir.path();
    must(&url, d, &["provision"]);
    must(&url, d, &["deploy", "--version", "v1"]);
    let (rt, conf) = observer(&url);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let listener = rt.block_on(async {
        let lb = elb
            .describe_load_balancers()
            .names("rbbench")
            .send()
            .await
            .unwrap();
        let arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string();
        let ls = elb
            .describe_listeners()
            .load_balancer_arn(&arn)
            .send()
            .await
            .unwrap();
        ls.listeners()
            .iter()
            .find(|l| l.port() == Some(80))
            .unwrap()
            .listener_arn()
            .unwrap()
            .to_string()
    });
    // Weight of the blue target group on the production listener.
    let stable_weight = |stable: &str| {
        rt.block_on(async {
            let ls = elb
                .describe_listeners()
                .listener_arns(&listener)
                .send()
                .await
                .unwrap();
            let a = &ls.listeners()[0].default_actions()[0];
            a.forward_config()
                .unwrap()
                .target_groups()
                .iter()
                .find(|t| {
                    t.target_group_arn()
                        .unwrap()
                        .contains(&format!("/rbbench-{stable}/"))
                })
                .and_then(|t| t.weight())
                .unwrap_or(0)
        })
    };
    let set_alarm = |state: &str| {
        rt.block_on(async {
            cw.set_alarm_state()
                .alarm_name("rbbench-5xx")
                .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
                .state_reason("bench")
                .send()
                .await
                .unwrap();
        })
    };
    let mut samples = Vec::new();
    for i in 0..trials {
        must(&url, d, &["deploy", "--version", &format!("v{}", i + 2)]);
        let st: serde_json::Value =
            serde_json::from_slice(&cutover(&url, d, &["status", "-o", "json"]).stdout).unwrap();
        let stable = st["live"].as_str().unwrap().to_string();
        let mut child = Command::new(cutover_bin())
            .current_dir(d)
            .env("AWS_ENDPOINT_URL", &url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .args(["-q", "shift"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while stable_weight(&stable) == 100 {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Land the alarm at a random point of the poll cycle.
        std::thread::sleep(Duration::from_millis(100 + (i as u64 * 137) % 1000));
        let t0 = Instant::now();
        set_alarm("ALARM");
        while stable_weight(&stable) != 100 {
            std::thread::sleep(Duration::from_millis(5));
            assert!(t0.elapsed() < Duration::from_secs(30), "no rollback");
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let code = child.wait().unwrap().code();
        set_alarm("OK");
        assert_eq!(code, Some(3), "shift should exit 3");
        println!("trial {:>2}: {:>7.1} ms", i + 1, ms);
        samples.push(ms);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p50 = percentile(&samples, 0.50);
    let p95 = percentile(&samples, 0.95);
    println!("rollback latency over {} trials at poll_interval=1s: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (target p95 <= 1250 ms)",
        samples.len(), p50, p95, samples.last().unwrap());
}
