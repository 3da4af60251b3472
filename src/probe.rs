//! One request to one colour and its answer: HTTP(S) through reqwest (rustls,
//! system roots plus an optional extra CA), or a provider's own invoke API.
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
/// One request to send to a colour (a `[validate]` entry, a comparison row).
pub struct Request {
    pub payload: String,
    pub content_type: String,
    pub path: String,
    pub method: String,
    pub expect_status: u16,
    pub expect_body_contains: Option<String>,
    pub expect_json: Vec<(String, serde_json::Value)>,
    pub max_latency: Option<Duration>,
}

/// An answer to one request; transport failures are `Err(reason)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub latency: Duration,
}

pub type Outcome = std::result::Result<Answer, String>;

/// An HTTP client for validation, probes and comparison.
pub fn client(ca_pem: Option<&[u8]>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Sends `r` to `base` + its path, with extra headers (e.g. `x-cutover-color`).
pub async fn http(
    client: &reqwest::Client,
    base: &str,
    r: &Request,
    headers: &[(&str, &str)],
) -> Outcome {
    let url = format!("{}{}", base.trim_end_matches('/'), r.path);
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client
        .request(method, &url)
        .header(reqwest::header::CONTENT_TYPE, &r.content_type)
        .body(r.payload.clone());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let start = Instant::now();
    let resp = req.send().await.map_err(|e| describe(&url, e))?;
    let status = resp.status().as_u16();
    // A large answer is a model's business: judge its first MiB, never fail on size.
    let body = read_prefix(resp, MAX_ANSWER).await?;
    Ok(Answer {
        status,
        body,
        latency: start.elapsed(),
    })
}

/// The largest answer cutover reads from anything it calls.
pub const MAX_ANSWER: usize = 1 << 20;

/// Reads a response body of at most `max` bytes (a larger one is an error,
/// and is not read further), as lossy UTF-8.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<String, String> {
    if resp.content_length().is_some_and(|n| n as usize > max) {
        return Err(format!("answer larger than {} KiB", max / 1024));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if buf.len() + chunk.len() > max {
            return Err(format!("answer larger than {} KiB", max / 1024));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The first `max` bytes of a response body (the rest is not read), as
/// lossy UTF-8.
pub async fn read_prefix(mut resp: reqwest::Response, max: usize) -> Result<String, String> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        let room = max - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= max {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// At most `n` bytes of `s`, cut at a character boundary.
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

fn describe(url: &str, e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = format!("{}: {e}", crate::redact::url(url));
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}
