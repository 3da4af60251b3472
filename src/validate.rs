//! The validation gate: real requests to the candidate before it gets traffic.
//! HTTP/1.1 over plain TCP (the test listener or `validate.url`).
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{ValidateConfig, ValidateRequest};

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub request: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub passed: bool,
    pub reason: String,
    /// Response body, truncated to 512 bytes.
    pub body: String,
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Splits `http://host[:port][/prefix]`.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is supported"))?;
    let (hostport, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
        None => (rest, String::new()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse().map_err(|_| format!("{url}: bad port"))?,
        ),
        None => (hostport.to_string(), 80),
    };
    Ok((host, port, prefix))
}

pub async fn http(
    method: &str,
    url: &str,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let (host, port, path) = split_url(url)?;
    let fut = async {
        let mut s = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: cutover\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        parse_response(&buf)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))?
}

fn parse_response(buf: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Checks one response against a request's expectations.
pub fn judge(
    r: &ValidateRequest,
    status: u16,
    body: &str,
    latency: Duration,
) -> Result<(), String> {
    if status != r.expect_status {
        return Err(format!("status {status}, expected {}", r.expect_status));
    }
    if let Some(want) = &r.expect_body_contains {
        if !body.contains(want.as_str()) {
            return Err(format!("body does not contain {want:?}"));
        }
    }
    if !r.expect_json.is_empty() {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
        for (ptr, want) in &r.expect_json {
            match v.pointer(ptr) {
                Some(got) if got == want => {}
                Some(got) => return Err(format!("{ptr} is {got}, expected {want}")),
                None => return Err(format!("{ptr} is missing from the body")),
            }
        }
    }
    if let Some(max) = r.max_latency {
        if latency > max {
            return Err(format!(
                "took {} ms, over max_latency {} ms",
                latency.as_millis(),
                max.as_millis()
            ));
        }
    }
    Ok(())
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Builds a check from one answer (or transport error).
pub fn check_of(
    r: &ValidateRequest,
    label: String,
    res: Result<(u16, String), String>,
    latency: Duration,
) -> Check {
    match res {
        Ok((status, body)) => {
            let verdict = judge(r, status, &body, latency);
            Check {
                request: label,
                status: Some(status),
                latency_ms: latency.as_millis() as u64,
                passed: verdict.is_ok(),
                reason: verdict.err().unwrap_or_else(|| "ok".into()),
                body: truncate(&body, 512),
            }
        }
        Err(e) => Check {
            request: label,
            status: None,
            latency_ms: latency.as_millis() as u64,
            passed: false,
            reason: e,
            body: String::new(),
        },
    }
}

/// Runs every request `repeat` times against `base`.
pub async fn run_http(cfg: &ValidateConfig, base: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for r in &cfg.requests {
        for _ in 0..cfg.repeat {
            let url = format!("{}{}", base.trim_end_matches('/'), r.path);
            let label = format!("{} {url}", r.method);
            let start = Instant::now();
            let res = http(&r.method, &url, &r.content_type, &r.payload, cfg.timeout).await;
            let latency = start.elapsed();
            checks.push(check_of(r, label, res.map(|x| (x.status, x.body)), latency));
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ValidateRequest {
        ValidateRequest {
            payload: "{}".into(),
            content_type: "application/json".into(),
            path: "/invocations".into(),
            method: "POST".into(),
            expect_status: 200,
            expect_body_contains: Some("predictions".into()),
            expect_json: vec![("/predictions/0".into(), serde_json::json!(0))],
            max_latency: Some(Duration::from_millis(100)),
        }
    }

    #[test]
    fn judge_checks_everything() {
        let r = req();
        assert!(judge(&r, 200, r#"{"predictions": [0]}"#, Duration::from_millis(5)).is_ok());
        assert!(judge(&r, 500, r#"{"predictions": [0]}"#, Duration::ZERO)
            .unwrap_err()
            .contains("status 500"));
        assert!(judge(&r, 200, r#"{"predictions": [2]}"#, Duration::ZERO)
            .unwrap_err()
            .contains("/predictions/0"));
        assert!(judge(&r, 200, r#"{"x": 1}"#, Duration::ZERO)
            .unwrap_err()
            .contains("does not contain"));
        assert!(
            judge(&r, 200, r#"{"predictions": [0]}"#, Duration::from_secs(1))
                .unwrap_err()
                .contains("max_latency")
        );
    }

    #[test]
    fn parses_plain_and_chunked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "hi"));
        let r = parse_response(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\nyou\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_str()), (201, "hiyou"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://a:81/x/").unwrap(),
            ("a".into(), 81, "/x".into())
        );
        assert_eq!(split_url("http://a").unwrap(), ("a".into(), 80, "".into()));
        assert!(split_url("https://a").is_err());
    }
}
