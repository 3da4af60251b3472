//! Benchmark: an idle `promote` tick (whole process) against the emulator,
//! compared with one `aws elbv2 describe-listeners` process (target <= 0.15x),
//! and 200 stacks (STACKS) ticked in one run against 1 stack (target <= 3x).
//!
//!     cargo build && cargo run --example promote_bench
use std::time::Instant;

include!("support/bench.rs");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_ms(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(15);
    let (port, url) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(port, d, "pbench", &["--bake", "1h"]);
    must(&url, d, &["provision"]);
    must(&url, d, &["deploy", "--version", "v1"]);

    // 1. Idle tick, whole process.
    let tick = median(
        (0..runs)
            .map(|_| time_ms(|| must(&url, d, &["-q", "promote"])))
            .collect(),
    );

    // 2. One AWS CLI process describing the listeners.
    let st: serde_json::Value =
        serde_json::from_slice(&cutover(&url, d, &["status", "-o", "json"]).stdout).unwrap();
    let _ = st;
    let home = std::env::var("CUTOVER_EMU_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cutover/emulator")
        });
    let py = home.join("venv/bin/python");
    let aws_cli = which("aws");
    let lb_arn = {
        let o = Command::new(&py)
            .args(["-c", "import boto3,sys; print(boto3.client('elbv2').describe_load_balancers(Names=['pbench'])['LoadBalancers'][0]['LoadBalancerArn'])"])
            .env("AWS_ENDPOINT_URL", &url).env("AWS_ACCESS_KEY_ID", "x").env("AWS_SECRET_ACCESS_KEY", "x").env("AWS_DEFAULT_REGION", "us-east-1")
            .output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let (label, cli) = match &aws_cli {
        Some(aws) => ("aws elbv2 describe-listeners", {
            let (aws, arn, url) = (aws.clone(), lb_arn.clone(), url.clone());
            Box::new(move || {
                let st = Command::new(&aws)
                    .args([
                        "elbv2",
                        "describe-listeners",
                        "--load-balancer-arn",
                        &arn,
                        "--endpoint-url",
                        &url,
                    ])
                    .env("AWS_ACCESS_KEY_ID", "x")
                    .env("AWS_SECRET_ACCESS_KEY", "x")
                    .env("AWS_DEFAULT_REGION", "us-east-1")
                    .stdout(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert!(st.success());
            }) as Box<dyn FnMut()>
        }),
        None => ("python boto3 describe_listeners (no `aws` on PATH)", {
            let (py, arn, url) = (py.clone(), lb_arn.clone(), url.clone());
            Box::new(move || {
                let st = Command::new(&py)
                    .args(["-c", &format!("import boto3; boto3.client('elbv2').describe_listeners(LoadBalancerArn='{arn}')")])
                    .env("AWS_ENDPOINT_URL", &url).env("AWS_ACCESS_KEY_ID", "x").env("AWS_SECRET_ACCESS_KEY", "x").env("AWS_DEFAULT_REGION", "us-east-1")
                    .status().unwrap();
                assert!(st.success());
            }) as Box<dyn FnMut()>
        }),
    };
    let mut cli = cli;
    let cli_ms = median((0..5).map(|_| time_ms(&mut cli)).collect());

    // 3. Many stacks in one run (sharing the state table) against 1 stack.
    let stacks: usize = std::env::var("STACKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(200);
    let many = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(d.join("cutover.toml")).unwrap();
    std::fs::copy(d.join("task.json.j2"), many.path().join("task.json.j2")).unwrap();
    for i in 0..stacks {
        let text = base.replace("name = \"pbench\"", &format!("name = \"stack{i:03}\""));
        std::fs::write(many.path().join(format!("stack{i:03}.toml")), text).unwrap();
    }
    let one = many.path().join("stack000.toml");
    let one_ms = median(
        (0..5)
            .map(|_| time_ms(|| must(&url, d, &["-q", "promote", "-c", one.to_str().unwrap()])))
            .collect(),
    );
    let many_ms = median(
        (0..5)
            .map(|_| {
                time_ms(|| {
                    must(
                        &url,
                        d,
                        &["-q", "promote", "-c", many.path().to_str().unwrap()],
                    )
                })
            })
            .collect(),
    );

    println!("idle promote tick (whole process):   {tick:>8.1} ms (median of {runs})");
    println!("{label}: {cli_ms:>8.1} ms (median of 5)");
    println!(
        "ratio tick / cli:                    {:>8.3}  (target <= 0.15)",
        tick / cli_ms
    );
    println!("promote, 1 stack:                    {one_ms:>8.1} ms");
    println!("promote, {stacks} stacks in one run:      {many_ms:>8.1} ms");
    println!(
        "ratio {stacks} / 1:                       {:>8.2}  (target <= 3)",
        many_ms / one_ms
    );
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}
