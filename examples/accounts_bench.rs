//! Benchmark: one idle `promote -c dir/` tick over 1,000 stacks in 3 Regions
//! under 2 roles (AssumeRole per region and role), with 50 ms added to every
//! AWS call by the fault proxy, against one stack's tick (target: at most
//! 3x, and at most 20 s); peak RSS for 100 and 1,000 stacks.
//!
//!     cargo build && cargo run --example accounts_bench
use std::time::{Duration, Instant};

include!("support/bench.rs");

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const ROLES: [&str; 2] = [
    "arn:aws:iam::123456789012:role/cutover-a",
    "arn:aws:iam::123456789012:role/cutover-b",
];

/// Runs cutover and returns (wall ms, peak RSS in MiB, exit code).
fn measured(url: &str, dir: &Path, args: &[&str]) -> (f64, f64, i32) {
    let t = Instant::now();
    let mut child = Command::new(cutover_bin())
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak_kb = 0u64;
    let code = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(v) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                let kb: u64 = v
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        t.elapsed().as_secs_f64() * 1000.0,
        peak_kb as f64 / 1024.0,
        code,
    )
}

fn proxy(upstream: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .arg(repo().join("localstack/faults.py"))
        .args([
            "--listen-port",
            "0",
            "--upstream",
            upstream,
            "--rate",
            "1",
            "--kinds",
            "latency",
            "--latency-ms",
            "50",
        ])
        .args(["--exit-with", &std::process::id().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

fn main() {
    let (port, url) = start_emulator();
    let (_proxy, slow) = proxy(&url);
    // One provisioned stack per Region gives each Region its state table.
    let bases: Vec<_> = REGIONS
        .iter()
        .map(|r| {
            let dir = tempfile::tempdir().unwrap();
            let name = format!(
                "acct-{}",
                r.replace('-', "").chars().take(8).collect::<String>()
            );
            seed(port, dir.path(), &name, &["--region", r]);
            must(&url, dir.path(), &["provision"]);
            (dir, name)
        })
        .collect();
    let write = |n: usize| {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            let (base, name) = &bases[i % REGIONS.len()];
            let text = std::fs::read_to_string(base.path().join("cutover.toml")).unwrap();
            let role = ROLES[(i / REGIONS.len()) % ROLES.len()];
            let text = text.replace(
                &format!("name = \"{name}\""),
                &format!("name = \"s{i:04}\""),
            ) + &format!("\n[aws]\nrole_arn = \"{role}\"\n");
            std::fs::write(dir.path().join(format!("s{i:04}.toml")), text).unwrap();
            if i < REGIONS.len() {
                std::fs::copy(
                    base.path().join("task.json.j2"),
                    dir.path().join("task.json.j2"),
                )
                .unwrap();
            }
        }
        dir
    };
    // Every stack has its state record, as provisioned stacks do (copied from
    // its Region's provisioned stack: an idle fleet).
    let py = std::env::var("CUTOVER_EMU_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cutover/emulator")
        })
        .join("venv/bin/python");
    for (r, (_, name)) in REGIONS.iter().zip(&bases) {
        let names: Vec<String> = (0..1000)
            .filter(|i| i % REGIONS.len() == REGIONS.iter().position(|x| x == r).unwrap())
            .map(|i| format!("s{i:04}"))
            .collect();
        let script = format!(
            "import boto3,json,sys\nt=boto3.resource('dynamodb',region_name='{r}').Table('bench-{name}')\nitem=t.get_item(Key={{'pk':'{name}','sk':'state'}})['Item']\nwith t.batch_writer() as b:\n  for n in json.loads(sys.argv[1]):\n    i=dict(item); i['pk']=n; b.put_item(Item=i)\n"
        );
        let st = Command::new(&py)
            .args(["-c", &script, &serde_json::to_string(&names).unwrap()])
            .env("AWS_ENDPOINT_URL", &url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .status()
            .unwrap();
        assert!(st.success(), "seeding state records in {r}");
    }
    let one = write(1);
    let hundred = write(100);
    let thousand = write(1000);
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let run = |d: &tempfile::TempDir, n: usize| {
        let mut ms = Vec::new();
        let mut rss = 0f64;
        for _ in 0..n {
            let (t, r, code) = measured(
                &slow,
                d.path(),
                &["-q", "promote", "-c", d.path().to_str().unwrap()],
            );
            assert_eq!(code, 0, "promote -c {}", d.path().display());
            ms.push(t);
            rss = rss.max(r);
        }
        (median(ms), rss)
    };
    let (one_ms, one_rss) = run(&one, 5);
    let (h_ms, h_rss) = run(&hundred, 3);
    let (k_ms, k_rss) = run(&thousand, 3);
    println!("idle promote tick, 50 ms added to every AWS call (median):");
    println!("  1 stack (1 role, 1 Region):          {one_ms:>8.0} ms, peak RSS {one_rss:.1} MiB");
    println!("  100 stacks:                          {h_ms:>8.0} ms, peak RSS {h_rss:.1} MiB");
    println!("  1,000 stacks (3 Regions x 2 roles):  {k_ms:>8.0} ms, peak RSS {k_rss:.1} MiB");
    println!(
        "  ratio 1,000 / 1: {:.2} (target <= 3); absolute {:.1} s (target <= 20 s)",
        k_ms / one_ms,
        k_ms / 1000.0
    );
}
