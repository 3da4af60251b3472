// Shared by the benchmark examples (included with `include!`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cutover binary next to this example's target folder.
fn cutover_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CUTOVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("cutover");
    assert!(bin.exists(), "build the binary first (cargo build): {}", bin.display());
    bin
}

/// Starts an emulator for this process and returns its URL.
fn start_emulator() -> (u16, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let st = Command::new(repo().join("localstack/up"))
        .args(["--port", &port.to_string(), "--exit-with", &std::process::id().to_string()])
        .env("EMU_ECS_CONVERGE_SECONDS", "0.5")
        .status()
        .unwrap();
    assert!(st.success());
    (port, format!("http://127.0.0.1:{port}"))
}

fn seed(port: u16, dir: &Path, name: &str, extra: &[&str]) {
    let st = Command::new(repo().join("localstack/seed"))
        .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap(), "--name", name])
        .args(["--table", &format!("bench-{name}")])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

fn cutover(url: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cutover_bin())
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .args(args)
        .output()
        .unwrap()
}

fn must(url: &str, dir: &Path, args: &[&str]) {
    let o = cutover(url, dir, args);
    assert!(o.status.success(), "cutover {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[allow(dead_code)]
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A runtime and an SDK config for an observer that talks to the emulator directly.
#[allow(dead_code)]
fn observer(url: &str) -> (tokio::runtime::Runtime, aws_config::SdkConfig) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conf = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(cutover::aws::https_client())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "observer", "x", None, None, "bench",
            ))
            .load(),
    );
    (rt, conf)
}
