//! The command line without AWS: help, flag errors, `init`, and validation
//! over HTTPS against a local model server with a self-signed certificate.
//! Nothing here starts the emulator; AWS_ENDPOINT_URL points at a closed port,
//! so any AWS call would fail with exit 1, not 2.
#[path = "e2e/common/certs.rs"]
mod certs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cutover(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(dir)
        .args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap()
}

fn expect_invalid(dir: &Path, args: &[&str], needle: &str) {
    let out = cutover(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "cutover {args:?}: {err}");
    assert!(
        err.contains(needle),
        "cutover {args:?}: wanted {needle:?} in {err}"
    );
}

#[test]
fn flag_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    expect_invalid(d, &["deploy"], "--version");
    expect_invalid(d, &["shift", "--to", "150"], "150");
    expect_invalid(d, &["destroy"], "--yes");
    expect_invalid(
        d,
        &["-c", "nope.toml", "status"],
        "nope.toml: cannot read config",
    );
    expect_invalid(d, &["frobnicate"], "frobnicate");
    expect_invalid(d, &["deploy", "--version", ""], "cannot be an image tag");
    expect_invalid(d, &["deploy", "--version", "v 1"], "cannot be an image tag");
    expect_invalid(d, &["validate", "--color", "purple"], "purple");
    expect_invalid(d, &["report", "--since", "soon"], "soon");
}

#[test]
fn help_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for c in [
        "check",
        "plan",
        "provision",
        "deploy",
        "shift",
        "promote",
        "rollback",
        "status",
        "history",
        "report",
        "destroy",
        "init",
        "completions",
        "validate",
    ] {
        let out = cutover(dir.path(), &[c, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{c}: {text}");
    }
    let out = cutover(dir.path(), &["completions", "bash"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cutover"));
}

#[test]
fn init_writes_a_config_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    for provider in ["ecs", "sagemaker"] {
        let sub = dir.path().join(provider);
        let args = ["init", "--provider", provider, "--name", "demo", "--dir"];
        let mut a: Vec<&str> = args.to_vec();
        a.push(sub.to_str().unwrap());
        assert!(cutover(dir.path(), &a).status.success());
        // init's placeholders are refused, naming the key.
        let out = cutover(&sub, &["check"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("placeholder"), "{err}");
        assert!(
            err.contains("`ecs.") || err.contains("`sagemaker."),
            "{err}"
        );
        let cfg = sub.join("cutover.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("REPLACE", "0abc")).unwrap();
        let out = cutover(&sub, &["check"]);
        assert!(
            out.status.success(),
            "{provider}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A second init refuses to overwrite.
        assert_eq!(cutover(dir.path(), &a).status.code(), Some(2));
        // iam-policy renders `{{ model.* }}` with a placeholder, as check does.
        if provider == "ecs" {
            let td = sub.join("task.json.j2");
            let t = std::fs::read_to_string(&td).unwrap();
            let t: Vec<String> = t
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("\"image\"") {
                        "      \"image\": \"{{ model.tags.image }}\",".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            std::fs::write(&td, t.join("\n")).unwrap();
            let text = std::fs::read_to_string(&cfg).unwrap();
            std::fs::write(&cfg, format!("{text}\n[registry]\nmodel = \"demo\"\n")).unwrap();
            let out = cutover(&sub, &["iam-policy", "--for", "run"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(doc["Statement"].as_array().unwrap().len() > 3);
        }
    }
}

/// A reference model server over HTTPS with a certificate from a fresh private CA.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(dir: &Path) -> TlsServer {
    // A private CA (ca.pem) and a server certificate for 127.0.0.1 signed by it.
    certs::make_ca(dir);
    certs::make_server_cert(dir, "IP:127.0.0.1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .arg(repo().join("localstack/model_server.py"))
        .args([
            "--port",
            &port.to_string(),
            "--tls-cert",
            "srv.pem",
            "--tls-key",
            "srv.key",
        ])
        .current_dir(dir)
        .env("MODEL_VERSION", "v1")
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsServer { child, port }
}

#[test]
fn validate_speaks_https_with_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let srv = tls_server(d);
    assert!(cutover(d, &["init", "--provider", "ecs", "--name", "tls"])
        .status
        .success());
    let base = std::fs::read_to_string(d.join("cutover.toml")).unwrap();
    let base = base
        .split("\n[validate]")
        .next()
        .unwrap()
        .replace("REPLACE", "0abc");
    let validate = format!(
        "\n[validate]\nurl = \"https://127.0.0.1:{}\"\npayload = '{{\"data\": [[5.1, 3.5, 1.4, 0.2]]}}'\nexpect_json = {{ \"/predictions/0\" = 0 }}\ntimeout = \"5s\"\n",
        srv.port
    );
    // Without the CA the self-signed certificate is refused.
    std::fs::write(d.join("cutover.toml"), format!("{base}{validate}")).unwrap();
    let out = cutover(d, &["validate", "--color", "green"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));
    // With ca_file it is trusted and the answer is judged.
    std::fs::write(
        d.join("cutover.toml"),
        format!("{base}{validate}ca_file = \"ca.pem\"\n"),
    )
    .unwrap();
    let out = cutover(d, &["validate", "--color", "green"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS"));
    // A ca_file that is not a certificate is bad input.
    std::fs::write(d.join("junk.pem"), "not a cert").unwrap();
    std::fs::write(
        d.join("cutover.toml"),
        format!("{base}{validate}ca_file = \"junk.pem\"\n"),
    )
    .unwrap();
    expect_invalid(d, &["check"], "validate.ca_file");
    // Nor is a PEM frame around garbage.
    std::fs::write(
        d.join("junk.pem"),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    expect_invalid(d, &["check"], "validate.ca_file");
}

/// The committed man pages are the ones the clap definitions give
/// (regenerate with `cargo run --example man -- man/`).
#[test]
fn man_pages_are_current_and_show_examples() {
    let pages = cutover::cli::man_pages().unwrap();
    assert!(pages.len() >= 19, "{}", pages.len());
    for (n, fresh) in &pages {
        let committed = std::fs::read(repo().join("man").join(n)).unwrap_or_else(|_| {
            panic!("man/{n} is missing; run `cargo run --example man -- man/`")
        });
        assert!(
            *fresh == committed,
            "man/{n} is stale; run `cargo run --example man -- man/`"
        );
    }
    let deploy = &pages
        .iter()
        .find(|(n, _)| n == "cutover-deploy.1")
        .unwrap()
        .1;
    let deploy = String::from_utf8_lossy(deploy);
    assert!(
        deploy.contains("cutover deploy \\-\\-version v2"),
        "{deploy}"
    );
}

/// Every command's help has an example.
#[test]
fn every_command_help_has_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let help = String::from_utf8(cutover(dir.path(), &["help"]).stdout).unwrap();
    let cmds: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| l.as_bytes().get(2).is_some_and(|b| b.is_ascii_lowercase()))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(cmds.len() >= 18, "{cmds:?}");
    for c in cmds {
        let out = cutover(dir.path(), &[c, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let example = text.split("Example").nth(1);
        assert!(
            example.is_some_and(|e| e.contains("cutover ")),
            "{c} --help has no example:\n{text}"
        );
    }
}

/// `examples/iam-policy.json` is what `iam-policy` prints for `init`'s ECS
/// config (its placeholders filled in); without `--schedule-role` it cannot
/// create a schedule nor pass a role to EventBridge Scheduler.
#[test]
fn the_example_policy_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let out = cutover(dir.path(), &["init", "--provider", "ecs", "--name", "iris"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.path().join("cutover.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("REPLACE", "0123456789abcdef0")).unwrap();
    let out = cutover(dir.path(), &["iam-policy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/iam-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        got, want,
        "examples/iam-policy.json is stale: regenerate it from `cutover iam-policy`"
    );
    let text = got.to_string();
    assert!(
        !text.contains("scheduler:CreateSchedule") && !text.contains("scheduler.amazonaws.com")
    );
}
