//! MLflow's REST API (2.0 routes): read a model version by number or alias,
//! and move an alias. Auth from MLFLOW_TRACKING_TOKEN (Bearer) or
//! MLFLOW_TRACKING_USERNAME/PASSWORD (basic).
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{ModelRef, Selector};
use crate::error::{failed, invalid, Error, Result};
use crate::redact;
use crate::template::Model;

const TIMEOUT: Duration = Duration::from_secs(15);

enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

/// A client of one tracking server.
pub struct Mlflow {
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

/// One model version as the registry reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub source: String,
    pub run_id: String,
    pub tags: BTreeMap<String, String>,
}

impl ModelVersion {
    /// The `{{ model }}` templates see.
    pub fn template_model(&self) -> Model {
        Model {
            version: self.version.clone(),
            source: self.source.clone(),
            run_id: self.run_id.clone(),
            tags: self.tags.clone(),
            placeholder: false,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    model_version: Wire,
}

#[derive(Deserialize)]
struct Wire {
    name: String,
    version: serde_json::Value,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    tags: Vec<WireTag>,
}

#[derive(Deserialize)]
struct WireTag {
    key: String,
    #[serde(default)]
    value: String,
}

/// Why a call failed: no answer, or an answer that was not a 2xx.
enum Fail {
    Unreachable(String),
    Status(u16, String),
}

impl Mlflow {
    /// The configured URI wins over MLFLOW_TRACKING_URI; `ca_pem` (from
    /// `[validate] ca_file`) adds to the system roots.
    pub fn from_env(configured: Option<&str>, ca_pem: Option<&[u8]>) -> Result<Mlflow> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let uri = configured
            .map(String::from)
            .or_else(|| env("MLFLOW_TRACKING_URI"))
            .ok_or_else(|| {
                invalid("no MLflow tracking server: set [registry] mlflow_tracking_uri or MLFLOW_TRACKING_URI")
            })?;
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(invalid(format!(
                "MLflow tracking URI \"{uri}\" is not http(s):// (only the REST API is supported)"
            )));
        }
        let auth = match (
            env("MLFLOW_TRACKING_TOKEN"),
            env("MLFLOW_TRACKING_USERNAME"),
        ) {
            (Some(t), _) => Auth::Bearer(t),
            (None, Some(u)) => Auth::Basic(u, env("MLFLOW_TRACKING_PASSWORD").unwrap_or_default()),
            (None, None) => Auth::None,
        };
        let plain = uri
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
        let userinfo = uri
            .split_once("://")
            .map(|(_, r)| {
                r.split(['/', '?', '#'])
                    .next()
                    .unwrap_or_default()
                    .contains('@')
            })
            .unwrap_or(false);
        if (!matches!(auth, Auth::None) || userinfo) && plain && !loopback(&uri) {
            return Err(invalid(format!(
                "MLflow credentials (MLFLOW_TRACKING_TOKEN or _USERNAME) would cross the network in clear text to {}; use an https:// tracking URI",
                redact::url(&uri)
            )));
        }
        let http = crate::probe::client(ca_pem, TIMEOUT).map_err(failed)?;
        Ok(Mlflow {
            base: uri.trim_end_matches('/').to_string(),
            auth,
            http,
        })
    }

    pub fn uri(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, route: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}/api/2.0/mlflow/{route}", self.base));
        match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> std::result::Result<String, Fail> {
        let resp = req.send().await.map_err(|e| Fail::Unreachable(chain(e)))?;
        let status = resp.status().as_u16();
        let body = crate::probe::read_capped(resp, crate::probe::MAX_ANSWER)
            .await
            .map_err(Fail::Unreachable)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        // MLflow errors are {"error_code", "message"}; a proxy's may be HTML.
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| {
                body.chars()
                    .take(120)
                    .collect::<String>()
                    .replace('\n', " ")
            });
        Err(Fail::Status(status, msg))
    }

    /// Resolves a reference; every failure is exit 2 (nothing was changed).
    pub async fn resolve(&self, r: &ModelRef) -> Result<ModelVersion> {
        let (route, query) = match &r.sel {
            Selector::Version(v) => ("model-versions/get", [("name", &r.model), ("version", v)]),
            Selector::Alias(a) => (
                "registered-models/alias",
                [("name", &r.model), ("alias", a)],
            ),
        };
        let req = self.request(reqwest::Method::GET, route).query(&query);
        let answer = match self.send(req).await {
            // A version lookup says "version not found" for a missing model too.
            Err(Fail::Status(404, m)) if !self.model_exists(&r.model).await => Err(Fail::Status(
                404,
                format!("registered model {} does not exist ({m})", r.model),
            )),
            other => other,
        };
        let body = answer.map_err(|f| match f {
            Fail::Unreachable(e) => invalid(format!(
                "{r}: MLflow at {} is unreachable: {e}",
                redact::url(&self.base)
            )),
            Fail::Status(404, m) | Fail::Status(400, m) => invalid(format!("{r}: {m}")),
            Fail::Status(s, m) => invalid(format!(
                "{r}: MLflow at {} answered {s}: {m}",
                redact::url(&self.base)
            )),
        })?;
        let w: Envelope = serde_json::from_str(&body).map_err(|e| {
            invalid(format!(
                "{r}: MLflow at {} sent an unexpected answer: {e}",
                redact::url(&self.base)
            ))
        })?;
        let w = w.model_version;
        let version = match w.version {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        // The version becomes part of names and tags: MLflow numbers versions,
        // so anything else is refused rather than rendered.
        if !version_number(&version) {
            return Err(invalid(format!(
                "{r}: MLflow answered version {:?}, which is not a version number; refusing to deploy it",
                crate::probe::truncate(&version, 40)
            )));
        }
        Ok(ModelVersion {
            name: w.name,
            version,
            source: w.source.unwrap_or_default(),
            run_id: w.run_id.unwrap_or_default(),
            tags: w.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        })
    }

    async fn model_exists(&self, model: &str) -> bool {
        let req = self
            .request(reqwest::Method::GET, "registered-models/get")
            .query(&[("name", model)]);
        !matches!(self.send(req).await, Err(Fail::Status(404, _)))
    }

    /// Points `alias` of `model` at `version` (MLflow moves an alias that is set).
    pub async fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<()> {
        let req = self
            .request(reqwest::Method::POST, "registered-models/alias")
            .json(&json!({"name": model, "alias": alias, "version": version}));
        self.send(req).await.map(|_| ()).map_err(|f| {
            let why = match f {
                Fail::Unreachable(e) => {
                    format!("MLflow at {} is unreachable: {e}", redact::url(&self.base))
                }
                Fail::Status(s, m) => {
                    format!("MLflow at {} answered {s}: {m}", redact::url(&self.base))
                }
            };
            Error::Failed(format!(
                "setting alias {alias} of {model} to {version}: {why}"
            ))
        })
    }
}

/// An error with its sources on one line (reqwest hides the cause inside).
/// An MLflow version as MLflow gives it: 1 to 18 digits.
fn version_number(v: &str) -> bool {
    !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a URL's host is this machine (127.0.0.0/8, ::1, localhost).
fn loopback(uri: &str) -> bool {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod auth_tests {
    use super::{loopback, version_number};

    #[test]
    fn only_numbered_versions_are_taken() {
        assert!(version_number("12"));
        assert!(!version_number("1\", \"user\": \"0"));
        assert!(!version_number(""));
        assert!(!version_number(&"9".repeat(19)));
    }

    #[test]
    fn only_loopback_may_take_credentials_over_http() {
        assert!(loopback("http://127.0.0.1:5000"));
        assert!(loopback("http://localhost/x"));
        assert!(loopback("http://[::1]:5000"));
        assert!(!loopback("http://mlflow.internal:5000"));
        assert!(!loopback("http://127.0.0.1.evil.example"));
    }
}
