//! Benchmark: the Route 53 router on the emulator (DNS TTL 5 s, propagation
//! 1 s). The answered split over 2,000 resolutions at 70/30; a full cycle
//! (deploy, 10/50/100, rollback, re-deploy, `--to 100`) under a steady load
//! whose 8 clients each resolve through the emulator's DNS and honour the
//! TTL: failed requests; and per client, the time from the rollback until
//! it stopped reaching v2 (target: at most TTL + propagation + 1 s).
//!
//!     cargo build && cargo run --example dns_bench
use std::process::Stdio;
use std::time::Duration;

include!("support/bench.rs");

fn python() -> PathBuf {
    let home = std::env::var("CUTOVER_EMU_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cutover/emulator")
        });
    home.join("venv/bin/python")
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn main() {
    let (port, url) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(
        port,
        d,
        "dnsb",
        &["--bake", "3s", "--poll", "500ms", "--steps", "10, 50, 100"],
    );
    let (rt, conf) = observer(&url);
    let r53 = aws_sdk_route53::Client::new(&conf);
    let zone = rt.block_on(async {
        let z = r53
            .create_hosted_zone()
            .name("bench.example.com")
            .caller_reference("dnsb")
            .send()
            .await
            .unwrap();
        z.hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string()
    });
    let record = "api.bench.example.com";
    let cfg = d.join("cutover.toml");
    let text = std::fs::read_to_string(&cfg).unwrap()
        + &format!("\n[route53]\nhosted_zone_id = \"{zone}\"\nrecord = \"{record}\"\n");
    std::fs::write(&cfg, text).unwrap();
    must(&url, d, &["provision"]);
    must(&url, d, &["deploy", "--version", "v1"]);
    must(&url, d, &["deploy", "--version", "v2"]);

    // The split that 2,000 fresh resolutions get at 70/30.
    must(&url, d, &["shift", "--to", "30"]);
    let out = Command::new(python())
        .arg(repo().join("localstack/resolve.py"))
        .args([
            record,
            "--server",
            &format!("127.0.0.1:{port}"),
            "--count",
            "2000",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let st: serde_json::Value =
        serde_json::from_slice(&cutover(&url, d, &["status", "-o", "json"]).stdout).unwrap();
    let lbs = |c: &str| {
        rt.block_on(async {
            let e = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
            let o = e
                .describe_load_balancers()
                .names(format!("dnsb-{c}"))
                .send()
                .await
                .unwrap();
            o.load_balancers()[0].dns_name().unwrap().to_string()
        })
    };
    let green_ip = lbs("green");
    let n = v["count"].as_f64().unwrap();
    let green = v["addrs"][&green_ip].as_f64().unwrap_or(0.0) / n * 100.0;
    println!(
        "split at 70/30 over {n} resolutions: green answered {green:.1}% (target 30 ± 4); status resolved {}",
        st["route53"]["resolved"]
    );
    assert!((green - 30.0).abs() <= 4.0);
    must(&url, d, &["rollback"]);
    must(&url, d, &["deploy", "--version", "v2"]);

    // The full cycle under load: 8 clients, 5 requests/s each.
    // Staggered starts: the clients' cached answers expire at different times.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(625));
            Command::new(python())
                .arg(repo().join("localstack/load.py"))
                .args(["--url", &format!("http://{record}:80/invocations")])
                .args(["--resolve-via", &format!("127.0.0.1:{port}")])
                .args(["--rate", "5", "--workers", "1", "--duration", "70"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    must(&url, d, &["shift"]);
    std::thread::sleep(Duration::from_secs(8));
    // Counted from the moment the rollback starts (it waits for INSYNC).
    let rolled_back = now();
    must(&url, d, &["rollback"]);
    std::thread::sleep(Duration::from_secs(10));
    must(&url, d, &["deploy", "--version", "v3"]);
    must(&url, d, &["shift", "--to", "100"]);
    let mut failed = 0;
    let mut ok = 0;
    let mut moved = Vec::new();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let s = lines
            .iter()
            .find(|l| l["summary"] == true)
            .expect("summary");
        failed += s["fail"].as_u64().unwrap();
        ok += s["ok"].as_u64().unwrap();
        // The last second this client still reached v2 after the rollback
        // (before v3 arrived).
        let last_v2 = lines
            .iter()
            .filter(|l| l["summary"] != true && l["versions"]["v2"].as_u64().unwrap_or(0) > 0)
            .filter_map(|l| l["at"].as_f64())
            .filter(|at| *at >= rolled_back - 1.0 && *at <= rolled_back + 10.0)
            .fold(rolled_back, f64::max);
        moved.push(last_v2 - rolled_back);
    }
    moved.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "full cycle (deploy, 10/50/100, rollback, re-deploy, --to 100) with 8 DNS clients: {ok} ok, {failed} failed requests"
    );
    println!(
        "after the rollback, each client back on v1 within (s): {}; worst {:.1} s (target <= TTL 5 + propagation 1 + 1 = 7 s; the listener router: 0.2 s)",
        moved.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(", "),
        moved.last().unwrap()
    );
    assert_eq!(failed, 0);
    assert!(*moved.last().unwrap() <= 7.0 + 1.0);
}
