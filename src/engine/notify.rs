//! Events: every journal entry goes to `[notify] url` (an HTTP POST with
//! retries and a short timeout) and `[notify] eventbridge_bus` (PutEvents),
//! from a background task, so a slow or failing sink never blocks a rollout.
//! The run waits a few seconds at its end for what is still queued.
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::aws::Clients;
use crate::config::{Config, NotifyConfig};
use crate::output::Out;
use crate::store::JournalEntry;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(3);

struct Sinks {
    stack: String,
    url: Option<String>,
    notify: NotifyConfig,
    ca: Option<Vec<u8>>,
    bus: Option<String>,
    eventbridge: aws_sdk_eventbridge::Client,
    out: Out,
}

pub struct Notifier {
    sinks: Option<std::sync::Arc<Sinks>>,
    worker: Mutex<Option<(mpsc::UnboundedSender<Value>, tokio::task::JoinHandle<()>)>>,
}

/// The JSON of one journal entry, as sinks receive it.
pub fn event_json(stack: &str, e: &JournalEntry, step: usize) -> Value {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(e.at);
    json!({
        "stack": stack,
        "event": e.event,
        "at": e.at,
        "time": humantime::format_rfc3339_millis(time).to_string(),
        "phase": e.phase,
        "step": step,
        "weights": e.weights,
        "detail": e.detail,
    })
}

impl Notifier {
    pub fn new(cfg: &Config, clients: &Clients, out: &Out) -> Notifier {
        let n = &cfg.notify;
        let sinks = (n.url.is_some() || n.eventbridge_bus.is_some()).then(|| {
            std::sync::Arc::new(Sinks {
                stack: cfg.name.clone(),
                url: n.url.clone(),
                notify: n.clone(),
                ca: cfg.validate.as_ref().and_then(|v| v.ca_pem.clone()),
                bus: n.eventbridge_bus.clone(),
                eventbridge: clients.eventbridge.clone(),
                out: out.clone(),
            })
        });
        Notifier {
            sinks,
            worker: Mutex::new(None),
        }
    }

    /// Queues one event; the background task is started on first use.
    pub fn send(&self, event: Value) {
        let Some(sinks) = &self.sinks else { return };
        let Ok(mut w) = self.worker.lock() else {
            return;
        };
        let (tx, _) = w.get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
            let sinks = sinks.clone();
            let task = tokio::spawn(async move {
                for v in sinks.notify.unset_vars() {
                    sinks.out.warn(&format!(
                        "[notify] names environment variable {v}, which is not set: webhook posts go without it"
                    ));
                }
                // `[validate] ca_file` adds to the system roots here too.
                let http = crate::probe::client(sinks.ca.as_deref(), TIMEOUT);
                while let Some(ev) = rx.recv().await {
                    if let (Some(url), Ok(http)) = (&sinks.url, &http) {
                        if let Err(e) = post(http, url, &sinks.notify, &ev).await {
                            sinks.out.warn(&format!(
                                "notify: POST {} failed: {e}",
                                crate::redact::origin(url)
                            ));
                        }
                    }
                    if let Some(bus) = &sinks.bus {
                        if let Err(e) = put_event(&sinks, bus, &ev).await {
                            sinks
                                .out
                                .warn(&format!("notify: PutEvents on {bus} failed: {e}"));
                        }
                    }
                }
            });
            (tx, task)
        });
        let _ = tx.send(event);
    }

    /// Closes the queue and waits up to `limit` for the queued events.
    pub async fn drain(&self, limit: Duration) {
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some((tx, task)) = worker {
            drop(tx);
            let _ = tokio::time::timeout(limit, task).await;
        }
    }
}

/// The headers a webhook post carries besides its JSON body: the configured
/// one (its value from the environment) and, with `secret_env`, the body's
/// HMAC-SHA256 as `X-Cutover-Signature: sha256=<hex>`.
pub fn webhook_headers(n: &NotifyConfig, body: &[u8]) -> Vec<(String, String)> {
    use hmac::{KeyInit, Mac};
    let mut h = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some((name, env)) = &n.header {
        if let Ok(v) = std::env::var(env) {
            h.push((name.clone(), v));
        }
    }
    if let Some(key) = n.secret_env.as_ref().and_then(|e| std::env::var(e).ok()) {
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) {
            mac.update(body);
            h.push((
                "x-cutover-signature".to_string(),
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            ));
        }
    }
    h
}

/// Posts `ev` with the webhook's headers.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    n: &NotifyConfig,
    ev: &Value,
) -> Result<reqwest::Response, reqwest::Error> {
    let body = serde_json::to_vec(ev).unwrap_or_default();
    let mut req = http.post(url);
    for (k, v) in webhook_headers(n, &body) {
        req = req.header(k, v);
    }
    req.body(body).send().await
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    n: &NotifyConfig,
    ev: &Value,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match post_json(http, url, n, ev).await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("status {}", r.status().as_u16()),
            Err(e) => last = e.without_url().to_string(),
        }
    }
    Err(last)
}

async fn put_event(s: &Sinks, bus: &str, ev: &Value) -> Result<(), String> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source("cutover")
        .detail_type(ev["event"].as_str().unwrap_or("event"))
        .resources(&s.stack)
        .detail(ev.to_string())
        .build();
    let out = tokio::time::timeout(
        TIMEOUT * ATTEMPTS,
        s.eventbridge.put_events().entries(entry).send(),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| {
        format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        )
    })?;
    if out.failed_entry_count() > 0 {
        let why = out
            .entries()
            .iter()
            .filter_map(|e| e.error_message())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("rejected: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_posts_carry_the_header_and_a_signature_of_the_body() {
        std::env::set_var("CUTOVER_TEST_HOOK_TOKEN", "Bearer t0ken");
        std::env::set_var("CUTOVER_TEST_HOOK_KEY", "key");
        let n = NotifyConfig {
            url: Some("https://h.example/x".into()),
            header: Some(("Authorization".into(), "CUTOVER_TEST_HOOK_TOKEN".into())),
            secret_env: Some("CUTOVER_TEST_HOOK_KEY".into()),
            ..NotifyConfig::default()
        };
        let h = webhook_headers(&n, b"The quick brown fox jumps over the lazy dog");
        assert!(h.contains(&("Authorization".into(), "Bearer t0ken".into())));
        // RFC 4231-style known answer: HMAC-SHA256("key", "The quick brown fox ...").
        assert!(h.contains(&(
            "x-cutover-signature".into(),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8".into()
        )));
    }
}
