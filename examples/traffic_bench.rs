//! Benchmark: real traffic at 100 requests/s through the emulator's production
//! listener during a full rollout and rollback, then a bad model (every
//! prediction answers 500) at a 10% step caught by a 10 s-period alarm.
//! Prints requests and failures, the worst split error per step, the time to
//! detect the bad model (first 5xx a user sees -> all answers good again) and
//! its blast radius (user requests that failed in that window).
//!
//!     cargo build && cargo run --example traffic_bench
#![allow(dead_code)] // the shared helpers carry more than this benchmark uses

include!("support/bench.rs");
include!("../tests/e2e/common/traffic.rs");

fn steps_of(out: &[u8]) -> Vec<(u64, u64)> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| {
            let at = humantime::parse_rfc3339(v["at"].as_str().unwrap()).unwrap();
            let ms = at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            (ms, v["weights"]["green"].as_u64().unwrap())
        })
        .collect()
}

fn main() {
    let rate: u32 = std::env::var("RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let (port, url) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(port, d, "trbench", &["--bake", "6s", "--poll", "1s"]);
    let cfg = d.join("cutover.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"HTTPCode_Target_5XX_Count\"\nthreshold = 0\nperiod = 10\ntreat_missing_data = \"notBreaching\"\n");
    std::fs::write(&cfg, &text).unwrap();
    must(&url, d, &["provision"]);
    must(&url, d, &["deploy", "--version", "v1"]);
    let dns = {
        let (rt, conf) = observer(&url);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
        rt.block_on(async {
            let lb = elb
                .describe_load_balancers()
                .names("trbench")
                .send()
                .await
                .unwrap();
            lb.load_balancers()[0].dns_name().unwrap().to_string()
        })
    };

    // 1. A full rollout and a rollback under load.
    let load = Load::start(&dns, 80, rate);
    std::thread::sleep(Duration::from_secs(2));
    must(&url, d, &["deploy", "--version", "v2"]);
    let o = cutover(&url, d, &["shift", "-o", "json"]);
    assert!(o.status.success());
    let steps = steps_of(&o.stdout);
    must(&url, d, &["rollback", "--reason", "benchmark"]);
    std::thread::sleep(Duration::from_secs(2));
    let hits = load.finish();
    let mut worst: f64 = 0.0;
    let mut per_step = Vec::new();
    for w in steps.windows(2) {
        let ((from, weight), (to, _)) = (w[0], w[1]);
        let (got, n) = share(&hits, from + 300, to, "v2");
        worst = worst.max((got - weight as f64).abs());
        per_step.push(format!("{weight}%: {got:.1}% of {n}"));
    }
    let failed = failures(&hits).len();

    // 2. The same bad model (half its answers are 500s) at a 10% step, caught
    // by: the alarm alone, probes, probes plus the judge.
    let base = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("steps = [10, 50, 100]", "steps = [10, 100]")
        .replace("bake = \"6s\"", "bake = \"120s\"");
    let probes = "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\nrepeat = 3\ntimeout = \"3s\"\n";
    let judge = "\n[judge]\nperiod = \"10s\"\nmin_points = 4\n";
    let setups = [
        ("alarm only (10 s period)", String::new()),
        ("probes every 1 s", probes.to_string()),
        ("probes + judge", format!("{probes}{judge}")),
    ];
    let mut rows = Vec::new();
    for (i, (label, extra)) in setups.iter().enumerate() {
        std::fs::write(&cfg, &base).unwrap();
        let o = std::process::Command::new(cutover_bin())
            .current_dir(d)
            .env("AWS_ENDPOINT_URL", &url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("ERROR_RATE", "0.5")
            .args(["deploy", "--version", &format!("bad{i}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The gates come into the config after the deploy: this model breaks under traffic.
        let with = base.replace(
            "poll_interval = \"1s\"",
            "poll_interval = \"1s\"\nprobe_interval = \"1s\"\nprobe_failures = 2",
        );
        let text = if extra.is_empty() {
            base.clone()
        } else {
            format!("{with}{extra}")
        };
        std::fs::write(&cfg, text).unwrap();
        let load = Load::start(&dns, 80, rate);
        std::thread::sleep(Duration::from_secs(1));
        let o = cutover(&url, d, &["shift"]);
        assert_eq!(
            o.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_secs(2));
        let hits = load.finish();
        let fails = failures(&hits);
        // No user-visible failure at all is possible: the gate was first.
        let (first, last) = match (fails.first(), fails.last()) {
            (Some(f), Some(l)) => (f.at, l.at),
            _ => (0, 0),
        };
        let window = hits
            .iter()
            .filter(|h| !fails.is_empty() && h.at >= first && h.at <= last)
            .count();
        rows.push(format!(
            "    {label:<26} detect {:>5.1} s   blast radius {:>4} failed: {:.2}% of the {window} requests in that window, {:.2}% of the {} requests of the attempt",
            (last - first) as f64 / 1000.0,
            fails.len(),
            100.0 * fails.len() as f64 / window.max(1) as f64,
            100.0 * fails.len() as f64 / hits.len().max(1) as f64,
            hits.len()
        ));
        // The stable colour is live again; wait until no alarm fires before the next setup.
        std::fs::write(&cfg, &base).unwrap();
        for _ in 0..60 {
            let o = cutover(&url, d, &["status", "-o", "json"]);
            let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            let firing = st["alarms"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["state"] == "ALARM"));
            if !firing {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    println!("traffic benchmark, {rate} requests/s through the production listener (emulator, debug build)");
    println!(
        "  rollout 10/50/100 + rollback: {} requests, {failed} failed",
        hits.len()
    );
    println!("  split per step: {}", per_step.join(", "));
    println!("  worst split error: {worst:.1} points");
    println!("  a bad model (ERROR_RATE=0.5) at a 10% step; detect = first user-visible 5xx -> all answers good:");
    for r in rows {
        println!("{r}");
    }
}
