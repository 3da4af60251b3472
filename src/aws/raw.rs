//! Signed read-only calls to the services `verify` asks once (EC2, IAM, ACM,
//! ECR), through aws-sigv4 and the SDK's own credential chain: a whole SDK
//! crate each (aws-sdk-ec2 alone is the largest) would cost every build
//! minutes for a handful of Describe calls.
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::{failed, Error, Result};

/// A service answer: the body, or AWS's error code and message.
#[derive(Debug)]
pub enum Answer {
    Ok(String),
    Refused { code: String, message: String },
}

/// The protocol of a service.
#[derive(Clone, Copy)]
pub enum Service {
    Ec2,
    Iam,
    Acm,
    Ecr,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Iam => "iam",
            Service::Acm => "acm",
            Service::Ecr => "ecr",
        }
    }

    fn env_id(self) -> &'static str {
        match self {
            Service::Ec2 => "EC2",
            Service::Iam => "IAM",
            Service::Acm => "ACM",
            Service::Ecr => "ECR",
        }
    }

    fn default_url(self, region: &str) -> String {
        match self {
            Service::Ec2 => format!("https://ec2.{region}.amazonaws.com"),
            Service::Iam => "https://iam.amazonaws.com".into(),
            Service::Acm => format!("https://acm.{region}.amazonaws.com"),
            Service::Ecr => format!("https://api.ecr.{region}.amazonaws.com"),
        }
    }
}

pub struct Raw {
    conf: SdkConfig,
    region: String,
    /// `--endpoint-url`, which beats the per-service variables (as for the SDK clients).
    flag: Option<String>,
    http: reqwest::Client,
    /// Fetched once per run: assume-role and credential_process profiles run once.
    identity: tokio::sync::OnceCell<Identity>,
}

impl Raw {
    pub fn new(conf: &SdkConfig, region: &str, flag: Option<&str>) -> Result<Raw> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| failed(format!("HTTP client: {e}")))?;
        Ok(Raw {
            conf: conf.clone(),
            region: region.into(),
            flag: flag.map(String::from),
            http,
            identity: tokio::sync::OnceCell::new(),
        })
    }

    /// `--endpoint-url`, then AWS_ENDPOINT_URL_<SERVICE>, then
    /// AWS_ENDPOINT_URL, then AWS's own endpoint.
    fn url(&self, s: Service) -> String {
        self.flag
            .clone()
            .or_else(|| {
                std::env::var(format!("AWS_ENDPOINT_URL_{}", s.env_id()))
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .or_else(|| self.conf.endpoint_url().map(String::from))
            .unwrap_or_else(|| s.default_url(&self.region))
    }

    async fn identity(&self, what: &str) -> Result<&Identity> {
        self.identity
            .get_or_try_init(|| async {
                let Some(p) = self.conf.credentials_provider() else {
                    return Err(failed(format!(
                        "{what}: no AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID"
                    )));
                };
                let creds = p.provide_credentials().await.map_err(|e| {
                    Error::Failed(format!(
                        "{what}: no AWS credentials ({e}); set AWS_PROFILE or AWS_ACCESS_KEY_ID"
                    ))
                })?;
                Ok(Identity::from(creds))
            })
            .await
    }

    /// A Query-protocol action (EC2, IAM): form parameters in, XML out.
    pub async fn query(
        &self,
        s: Service,
        version: &str,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Answer> {
        let mut form = vec![
            ("Action".to_string(), action.to_string()),
            ("Version".to_string(), version.to_string()),
        ];
        form.extend_from_slice(params);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (status, text) = self
            .send(
                s,
                action,
                "application/x-www-form-urlencoded; charset=utf-8",
                None,
                body,
            )
            .await?;
        if status < 300 {
            return Ok(Answer::Ok(text));
        }
        Ok(Answer::Refused {
            code: first(&text, "Code").unwrap_or_else(|| format!("HTTP {status}")),
            message: first(&text, "Message").unwrap_or_default(),
        })
    }

    /// A JSON-protocol action (ACM, ECR): `target` is the X-Amz-Target.
    pub async fn json(
        &self,
        s: Service,
        target: &str,
        body: serde_json::Value,
    ) -> Result<std::result::Result<serde_json::Value, Answer>> {
        let action = target.rsplit('.').next().unwrap_or(target);
        let (status, text) = self
            .send(
                s,
                action,
                "application/x-amz-json-1.1",
                Some(target),
                body.to_string(),
            )
            .await?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status < 300 {
            return Ok(Ok(v));
        }
        let code = v["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or_default()
            .to_string();
        Ok(Err(Answer::Refused { code, message }))
    }

    async fn send(
        &self,
        s: Service,
        action: &str,
        content_type: &str,
        target: Option<&str>,
        body: String,
    ) -> Result<(u16, String)> {
        let what = format!("{} {action}", s.env_id());
        let identity = self.identity(&what).await?;
        let url = format!("{}/", self.url(s).trim_end_matches('/'));
        let region = match s {
            Service::Iam => "us-east-1",
            _ => self.region.as_str(),
        };
        let mut headers = vec![("content-type", content_type.to_string())];
        if let Some(t) = target {
            headers.push(("x-amz-target", t.to_string()));
        }
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(region)
            .name(s.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(format!("{what}: signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| failed(format!("{what}: signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed(format!("{what}: signing: {e}")))?
            .into_parts();
        let mut req = self.http.post(&url).body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            failed(format!(
                "{what}: could not reach {url} ({}); check the region, --endpoint-url and the network",
                e.without_url()
            ))
        })?;
        let status = resp.status().as_u16();
        let text = crate::probe::read_capped(resp, crate::probe::MAX_ANSWER)
            .await
            .map_err(|e| failed(format!("{what}: {e}")))?;
        Ok((status, text))
    }
}

/// Form encoding of one key or value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Every `<tag>text</tag>` in an AWS XML answer, unescaped, in order.
pub fn values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

/// The first `<tag>text</tag>`.
pub fn first(xml: &str, tag: &str) -> Option<String> {
    values(xml, tag).into_iter().next()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_answers() {
        let xml = "<DescribeSubnetsResponse><subnetSet><item><subnetId>subnet-1</subnetId><vpcId>vpc-a</vpcId></item>\
                   <item><subnetId>subnet-2</subnetId><vpcId>vpc-b&amp;</vpcId></item></subnetSet></DescribeSubnetsResponse>";
        assert_eq!(values(xml, "subnetId"), ["subnet-1", "subnet-2"]);
        assert_eq!(values(xml, "vpcId"), ["vpc-a", "vpc-b&"]);
        assert_eq!(first(xml, "Code"), None);
        assert_eq!(enc("a b/=&"), "a%20b%2F%3D%26");
    }
}
