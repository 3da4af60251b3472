//! The validation gate end to end: a real local HTTP model server for ECS
//! (validate.url), and SageMaker InvokeEndpoint with TargetVariant.
use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Stack;

/// A tiny iris "model": answers class 0 for the setosa sample, 2 otherwise,
/// after `delay_ms` (shared, so a test can slow it down).
fn model_server() -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let delay = Arc::new(AtomicU64::new(0));
    let d = delay.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let d = d.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                std::thread::sleep(Duration::from_millis(d.load(Ordering::SeqCst)));
                let (status, body) = if !text.starts_with("POST /invocations") {
                    ("404 Not Found", "{}".to_string())
                } else if text.contains("[[5.1, 3.5, 1.4, 0.2]]") {
                    ("200 OK", "{\"predictions\": [0]}".to_string())
                } else {
                    ("200 OK", "{\"predictions\": [2]}".to_string())
                };
                let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            });
        }
    });
    (port, delay)
}

fn with_validate(s: &Stack, url: &str, payload: &str, extra: &str) {
    let base = std::fs::read_to_string(s.config()).unwrap();
    let base = base.split("\n[validate]").next().unwrap().to_string();
    std::fs::write(
        s.config(),
        format!(
            "{base}\n[validate]\nurl = \"{url}\"\npayload = '{payload}'\nexpect_status = 200\nexpect_body_contains = \"predictions\"\nexpect_json = {{ \"/predictions/0\" = 0 }}\ntimeout = \"3s\"\n{extra}"
        ),
    )
    .unwrap();
}

const GOOD: &str = r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#;
const WRONG: &str = r#"{"data": [[6.3, 3.3, 6.0, 2.5]]}"#;

#[test]
fn ecs_validation_gate() {
    let (port, delay) = model_server();
    let url = format!("http://127.0.0.1:{port}");
    let s = Stack::new("valecs", &["--bake", "0s"]);
    with_validate(&s, &url, GOOD, "max_latency = \"800ms\"\n");
    s.ok(&["check"], 0);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);

    // A passing candidate is ready at 0%.
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    let table = s.ok(&["validate", "--color", "green"], 0);
    assert!(table.contains("PASS"), "{table}");

    // A model that answers wrongly: exit 3, 0% confirmed through ELBv2, the journal keeps it.
    with_validate(&s, &url, WRONG, "");
    s.exits(&["deploy", "--version", "v3"], 3);
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "failed_validation");
    let last = st["last_error"].as_str().unwrap();
    assert!(
        last.contains("/predictions/0") && last.contains("{\"predictions\": [2]}"),
        "{last}"
    );
    assert!(s.ok(&["history"], 0).contains("validation-failed"));
    // shift and promote refuse it until a deploy passes.
    s.ok(&["shift"], 3);
    s.ok(&["shift", "--to", "10"], 3);
    s.ok(&["promote"], 3);
    assert_eq!(s.elb_weights(), (100, 0));
    let out = s.exits(&["validate", "-o", "json"], 3);
    // -o json prints JSON lines: progress events, the result, and (exit 3)
    // the error line last.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.trim().lines().collect();
    let last: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert_eq!(last["exit"], 3);
    assert_eq!(last["error"]["kind"], "safety");
    let v: serde_json::Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["checks"][0]["status"], 200);

    // Too slow for max_latency.
    with_validate(&s, &url, GOOD, "max_latency = \"200ms\"\n");
    delay.store(500, Ordering::SeqCst);
    let out = s.exits(&["deploy", "--version", "v4"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_latency"));
    delay.store(0, Ordering::SeqCst);

    // Connection refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    with_validate(&s, &format!("http://127.0.0.1:{closed}"), GOOD, "");
    let out = s.exits(&["deploy", "--version", "v5"], 3);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.elb_weights(), (100, 0));

    // A passing deploy clears it; the rollout can go.
    with_validate(&s, &url, GOOD, "");
    s.ok(&["deploy", "--version", "v6"], 0);
    s.ok(&["shift"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
}

#[test]
fn bad_validate_config_is_exit_2_at_check() {
    let s = Stack::new("valbad", &[]);
    let base = std::fs::read_to_string(s.config()).unwrap();
    for (section, needle) in [
        (
            "[validate]\npayload_file = \"missing.json\"\n",
            "validate.payload_file",
        ),
        (
            "[validate]\npayload = \"{}\"\nexpect_json = { \"predictions/0\" = 0 }\n",
            "JSON pointer",
        ),
        (
            "[validate]\npayload = \"{}\"\nmax_latency = \"fast\"\n",
            "validate.max_latency",
        ),
        (
            "[validate]\npayload = \"{}\"\nexpect_statuz = 200\n",
            "expect_statuz",
        ),
    ] {
        std::fs::write(s.config(), format!("{base}\n{section}")).unwrap();
        let out = s.run(&["check"]);
        assert_eq!(out.status.code(), Some(2), "{section}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{section}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(s.requests().is_empty());
}

#[test]
fn sagemaker_validation_invokes_the_candidate_variant() {
    let s = Stack::new("valsm", &["--provider", "sagemaker"]);
    let base = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        format!("{base}\n[validate]\npayload = '{GOOD}'\nexpect_body_contains = \"predictions\"\nexpect_json = {{ \"/predictions/0\" = 0 }}\n"),
    )
    .unwrap();
    s.ok(&["provision"], 0);
    // Queue the endpoint's answers: right for v1 (blue), then wrong for v2 (green).
    let queue = |body: &str, variant: &str| {
        let payload = serde_json::json!({"region": "us-east-1", "results": [{"Body": body, "ContentType": "application/json", "InvokedProductionVariant": variant}]}).to_string();
        common::http(
            "POST",
            s.emu.port,
            "/moto-api/static/sagemaker/endpoint-results",
            "application/json",
            &payload,
        );
    };
    queue("{\"predictions\": [0]}", "blue");
    s.ok(&["deploy", "--version", "v1"], 0);
    // The same request again would replay the first answer, so change the payload.
    std::fs::write(
        s.config(),
        format!("{base}\n[validate]\npayload = '{WRONG}'\nexpect_body_contains = \"predictions\"\nexpect_json = {{ \"/predictions/0\" = 0 }}\n"),
    )
    .unwrap();
    queue("{\"predictions\": [2]}", "green");
    s.exits(&["deploy", "--version", "v2"], 3);
    assert_eq!(s.status_json()["rollout"]["state"], "failed_validation");
    // TargetVariant named the candidate each time.
    let log: serde_json::Value =
        serde_json::from_str(&common::http_get(s.emu.port, "/_emulator/requests")).unwrap();
    let variants: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == s.key.as_str() && r["action"] == "InvokeEndpoint")
        .map(|r| r["target_variant"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(variants, vec!["blue".to_string(), "green".to_string()]);
}
