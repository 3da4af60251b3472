//! SageMaker provider: production variants `blue` and `green` of endpoint
//! `<name>`. Deploys swap endpoint configs with UpdateEndpoint (and check the
//! endpoint really took the new config); traffic moves with
//! UpdateEndpointWeightsAndCapacities, naming every field it keeps.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types as st;
use serde::{Deserialize, Serialize};

use crate::aws::{tags, Clients};
use crate::config::{SagemakerConfig, ValidateRequest};
use crate::error::{aws, failed, invalid, Result};
use crate::output::Out;
use crate::provider::{Change, Prepared, Provider};
use crate::rollout::{Color, Weights};
use crate::template::{render, Vars};

pub struct SageMaker<'a> {
    c: &'a Clients,
    name: String,
    cfg: SagemakerConfig,
}

/// What `deploy` creates the model from.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct ModelSpec {
    image: String,
    model_data: Option<String>,
    package_arn: Option<String>,
}

/// SageMaker names: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::new();
    for ch in raw.chars() {
        let c = if ch.is_ascii_alphanumeric() { ch } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(63);
    out.trim_end_matches('-').to_string()
}

fn sm_tags(stack: &str, c: Option<Color>) -> Vec<st::Tag> {
    tags(stack, c)
        .into_iter()
        .map(|(k, v)| st::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A variant as it stands on the endpoint.
#[derive(Clone, Debug)]
struct Live {
    model: String,
    instance_type: String,
    count: i32,
}

impl<'a> SageMaker<'a> {
    pub fn new(c: &'a Clients, name: &str, cfg: &SagemakerConfig) -> SageMaker<'a> {
        SageMaker {
            c,
            name: name.into(),
            cfg: cfg.clone(),
        }
    }

    async fn describe(
        &self,
    ) -> Result<Option<aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput>>
    {
        match self
            .c
            .sagemaker
            .describe_endpoint()
            .endpoint_name(&self.name)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.message().is_some_and(|m| m.contains("Could not find")) => Ok(None),
            Err(e) => Err(aws("describe endpoint", e)),
        }
    }

    async fn owned(&self, arn: &str) -> Result<bool> {
        let out = self
            .c
            .sagemaker
            .list_tags()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws("list tags", e))?;
        Ok(out
            .tags()
            .iter()
            .any(|t| t.key() == Some("cutover:stack") && t.value() == Some(self.name.as_str())))
    }

    /// The variants of the endpoint's current config.
    async fn current_variants(&self, config: &str) -> Result<BTreeMap<Color, Live>> {
        let out = self
            .c
            .sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| aws("describe endpoint config", e))?;
        let mut found = BTreeMap::new();
        for v in out.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    found.insert(
                        c,
                        Live {
                            model: v.model_name().unwrap_or_default().to_string(),
                            instance_type: v
                                .instance_type()
                                .map(|t| t.as_str().to_string())
                                .unwrap_or_else(|| self.cfg.instance_type.clone()),
                            count: v
                                .initial_instance_count()
                                .unwrap_or(self.cfg.instance_count as i32),
                        },
                    );
                }
            }
        }
        Ok(found)
    }

    fn variant(c: Color, v: &Live, weight: f32) -> st::ProductionVariant {
        st::ProductionVariant::builder()
            .variant_name(c.as_str())
            .model_name(&v.model)
            .instance_type(st::ProductionVariantInstanceType::from(
                v.instance_type.as_str(),
            ))
            .initial_instance_count(v.count)
            .initial_variant_weight(weight)
            .build()
    }

    async fn create_config(&self, variants: Vec<st::ProductionVariant>) -> Result<String> {
        let stamp = crate::state::now_ms();
        let name = sanitize(&format!("{}-{stamp}", self.name));
        self.c
            .sagemaker
            .create_endpoint_config()
            .endpoint_config_name(&name)
            .set_production_variants(Some(variants))
            .set_tags(Some(sm_tags(&self.name, None)))
            .send()
            .await
            .map_err(|e| aws("create endpoint config", e))?;
        Ok(name)
    }

    /// Waits for InService and checks the endpoint really runs `config`.
    async fn wait_in_service(&self, config: &str, timeout: Duration, out: &Out) -> Result<()> {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let d = self
                .describe()
                .await?
                .ok_or_else(|| failed(format!("endpoint {} disappeared", self.name)))?;
            let status = d
                .endpoint_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let line = format!("  endpoint {}: {status}", self.name);
            if line != last {
                out.info(&line);
                last = line;
            }
            match status.as_str() {
                "InService" => {
                    let now = d.endpoint_config_name().unwrap_or_default();
                    if now != config {
                        return Err(failed(format!(
                            "SageMaker rolled the update of endpoint {} back silently: it reports InService on config {now}, not {config}{}",
                            self.name,
                            d.failure_reason().map(|r| format!(" ({r})")).unwrap_or_default()
                        )));
                    }
                    return Ok(());
                }
                "Failed" | "OutOfService" => {
                    return Err(failed(format!(
                        "endpoint {} is {status}: {}",
                        self.name,
                        d.failure_reason().unwrap_or("no reason given")
                    )))
                }
                _ => {}
            }
            if start.elapsed() > timeout {
                return Err(failed(format!(
                    "timed out waiting for endpoint {} to be InService (now {status})",
                    self.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// UpdateEndpoint to `config`, then wait until it really serves it.
    async fn update_to(&self, config: &str, timeout: Duration, out: &Out) -> Result<()> {
        self.c
            .sagemaker
            .update_endpoint()
            .endpoint_name(&self.name)
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| aws("update endpoint", e))?;
        self.wait_in_service(config, timeout, out).await
    }

    async fn create_model(&self, c: Color, version: &str, spec: &ModelSpec) -> Result<String> {
        let model = sanitize(&format!("{}-{c}-{version}", self.name));
        let exists = self
            .c
            .sagemaker
            .describe_model()
            .model_name(&model)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(model);
        }
        let container = st::ContainerDefinition::builder()
            .image(&spec.image)
            .set_model_data_url(spec.model_data.clone())
            .build();
        self.c
            .sagemaker
            .create_model()
            .model_name(&model)
            .execution_role_arn(&self.cfg.execution_role_arn)
            .primary_container(container)
            .set_tags(Some(sm_tags(&self.name, Some(c))))
            .send()
            .await
            .map_err(|e| aws(&format!("create model {model}"), e))?;
        Ok(model)
    }

    /// Deletes our models and endpoint configs the endpoint no longer uses.
    async fn clean_unused(&self, keep_config: Option<&str>, keep_models: &[String]) -> Result<()> {
        let prefix = format!("{}-", self.name);
        let configs = self
            .c
            .sagemaker
            .list_endpoint_configs()
            .name_contains(&prefix)
            .max_results(100)
            .send()
            .await
            .map_err(|e| aws("list endpoint configs", e))?;
        for cfg in configs.endpoint_configs() {
            let n = cfg.endpoint_config_name().unwrap_or_default();
            if Some(n) != keep_config
                && n.starts_with(&prefix)
                && self
                    .owned(cfg.endpoint_config_arn().unwrap_or_default())
                    .await?
            {
                let _ = self
                    .c
                    .sagemaker
                    .delete_endpoint_config()
                    .endpoint_config_name(n)
                    .send()
                    .await;
            }
        }
        let models = self
            .c
            .sagemaker
            .list_models()
            .name_contains(&prefix)
            .max_results(100)
            .send()
            .await
            .map_err(|e| aws("list models", e))?;
        for m in models.models() {
            let n = m.model_name().unwrap_or_default().to_string();
            if !keep_models.contains(&n)
                && n.starts_with(&prefix)
                && self.owned(m.model_arn().unwrap_or_default()).await?
            {
                let _ = self.c.sagemaker.delete_model().model_name(&n).send().await;
            }
        }
        Ok(())
    }

    /// The newest Approved package of a model package group.
    pub async fn latest_approved(&self, group: &str) -> Result<(String, String)> {
        self.c
            .sagemaker
            .describe_model_package_group()
            .model_package_group_name(group)
            .send()
            .await
            .map_err(|_| invalid(format!("model package group \"{group}\" does not exist")))?;
        let out = self
            .c
            .sagemaker
            .list_model_packages()
            .model_package_group_name(group)
            .model_approval_status(st::ModelApprovalStatus::Approved)
            .sort_by(st::ModelPackageSortBy::CreationTime)
            .sort_order(st::SortOrder::Descending)
            .max_results(100)
            .send()
            .await
            .map_err(|e| aws("list model packages", e))?;
        let best = out
            .model_package_summary_list()
            .iter()
            .filter(|p| p.model_approval_status() == Some(&st::ModelApprovalStatus::Approved))
            .max_by_key(|p| {
                (
                    p.model_package_version().unwrap_or(0),
                    p.creation_time().map(|t| t.as_nanos()).unwrap_or(0),
                )
            })
            .ok_or_else(|| {
                invalid(format!(
                    "model package group \"{group}\" has no Approved package"
                ))
            })?;
        let arn = best.model_package_arn().unwrap_or_default().to_string();
        let version = format!("{group}/{}", best.model_package_version().unwrap_or(0));
        Ok((version, arn))
    }
}

impl Provider for SageMaker<'_> {
    fn prepare(&self, color: Color, version: &str) -> Result<Prepared> {
        let vars = Vars {
            name: &self.name,
            version,
            color: color.as_str(),
            region: &self.c.region,
        };
        let spec = ModelSpec {
            image: render("sagemaker.image", &self.cfg.image, &vars)?,
            model_data: match &self.cfg.model_data {
                Some(m) => Some(render("sagemaker.model_data", m, &vars)?),
                None => None,
            },
            package_arn: None,
        };
        Ok(Prepared {
            color,
            version: version.into(),
            body: serde_json::to_string(&spec).expect("spec serialises"),
        })
    }

    async fn resolve_package(&self, group: &str, color: Color) -> Result<Prepared> {
        let (version, arn) = self.latest_approved(group).await?;
        let d = self
            .c
            .sagemaker
            .describe_model_package()
            .model_package_name(&arn)
            .send()
            .await
            .map_err(|e| aws("describe model package", e))?;
        let container = d
            .inference_specification()
            .and_then(|i| i.containers().first())
            .ok_or_else(|| invalid(format!("model package {arn} has no inference container")))?;
        let spec = ModelSpec {
            image: container.image().unwrap_or_default().to_string(),
            model_data: container.model_data_url().map(String::from),
            package_arn: Some(arn),
        };
        Ok(Prepared {
            color,
            version,
            body: serde_json::to_string(&spec).expect("spec serialises"),
        })
    }

    async fn converge(&self, _apply: bool, _out: &Out) -> Result<Vec<Change>> {
        // The endpoint is created by the first deploy; only check ownership here.
        if let Some(d) = self.describe().await? {
            if !self.owned(d.endpoint_arn().unwrap_or_default()).await? {
                return Err(invalid(format!(
                    "SageMaker endpoint {} exists but is not managed by cutover stack {}; refusing to take it over",
                    self.name, self.name
                )));
            }
        }
        Ok(vec![])
    }

    async fn ensure_provisioned(&self) -> Result<()> {
        self.converge(false, &Out::silent()).await.map(|_| ())
    }

    async fn deploy(
        &self,
        p: &Prepared,
        live: Option<Color>,
        timeout: Duration,
        out: &Out,
    ) -> Result<String> {
        let spec: ModelSpec = serde_json::from_str(&p.body).map_err(|e| failed(e.to_string()))?;
        let c = p.color;
        let model = self.create_model(c, &p.version, &spec).await?;
        out.info(&format!("model {model} ({})", spec.image));
        let new = Live {
            model: model.clone(),
            instance_type: self.cfg.instance_type.clone(),
            count: self.cfg.instance_count as i32,
        };
        match (self.describe().await?, live) {
            (None, _) => {
                // First deploy: the endpoint is created with one variant at 100%.
                let config = self
                    .create_config(vec![Self::variant(c, &new, 1.0)])
                    .await?;
                self.c
                    .sagemaker
                    .create_endpoint()
                    .endpoint_name(&self.name)
                    .endpoint_config_name(&config)
                    .set_tags(Some(sm_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create endpoint", e))?;
                self.wait_in_service(&config, timeout, out).await?;
            }
            (Some(d), live) => {
                let current = d.endpoint_config_name().unwrap_or_default().to_string();
                let variants = self.current_variants(&current).await?;
                let mut list = Vec::new();
                if let Some(l) = live {
                    let lv = variants.get(&l).ok_or_else(|| {
                        failed(format!("endpoint {} has no {l} variant", self.name))
                    })?;
                    list.push(Self::variant(l, lv, 1.0));
                }
                list.push(Self::variant(
                    c,
                    &new,
                    if live.is_some() { 0.0 } else { 1.0 },
                ));
                let config = self.create_config(list).await?;
                self.update_to(&config, timeout, out).await?;
                let mut keep: Vec<String> = variants.values().map(|v| v.model.clone()).collect();
                keep.push(model.clone());
                if let Some(l) = live {
                    keep.retain(|m| m == &model || Some(m) == variants.get(&l).map(|v| &v.model));
                }
                self.clean_unused(Some(&config), &keep).await?;
            }
        }
        Ok(model)
    }

    async fn weights(&self) -> Result<Option<Weights>> {
        let Some(d) = self.describe().await? else {
            return Ok(None);
        };
        let mut w: BTreeMap<Color, f32> = BTreeMap::new();
        for v in d.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    let cur = v.current_weight().unwrap_or(0.0);
                    let want = v.desired_weight().unwrap_or(cur);
                    if (cur - want).abs() > f32::EPSILON {
                        // Still moving: report what serves now.
                    }
                    w.insert(c, cur);
                }
            }
        }
        let b = *w.get(&Color::Blue).unwrap_or(&0.0);
        let g = *w.get(&Color::Green).unwrap_or(&0.0);
        if b + g <= 0.0 {
            return Ok(None);
        }
        let blue = ((b / (b + g)) * 100.0).round() as u8;
        Ok(Some(Weights {
            blue,
            green: 100 - blue,
        }))
    }

    async fn set_weights(&self, w: Weights, _v: &BTreeMap<Color, String>) -> Result<()> {
        let d = self
            .describe()
            .await?
            .ok_or_else(|| failed(format!("endpoint {} does not exist", self.name)))?;
        let mut req = self
            .c
            .sagemaker
            .update_endpoint_weights_and_capacities()
            .endpoint_name(&self.name);
        let mut named = 0;
        for v in d.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    named += 1;
                    // Name every field we keep: a partial entry resets the others.
                    req = req.desired_weights_and_capacities(
                        st::DesiredWeightAndCapacity::builder()
                            .variant_name(c.as_str())
                            .desired_weight(w.of(c) as f32 / 100.0)
                            .desired_instance_count(
                                v.current_instance_count()
                                    .or(v.desired_instance_count())
                                    .unwrap_or(self.cfg.instance_count as i32),
                            )
                            .build(),
                    );
                }
            }
        }
        for c in Color::BOTH {
            if w.of(c) > 0
                && !d
                    .production_variants()
                    .iter()
                    .any(|v| v.variant_name() == Some(c.as_str()))
            {
                return Err(failed(format!(
                    "endpoint {} has no {c} variant to send {}% to",
                    self.name,
                    w.of(c)
                )));
            }
        }
        if named == 0 {
            return Err(failed(format!(
                "endpoint {} has no blue/green variants",
                self.name
            )));
        }
        req.send()
            .await
            .map_err(|e| aws("update endpoint weights", e))?;
        Ok(())
    }

    async fn healthy(&self, c: Color) -> Result<u32> {
        let Some(d) = self.describe().await? else {
            return Ok(0);
        };
        let status = d.endpoint_status().map(|s| s.as_str()).unwrap_or_default();
        if status != "InService" && status != "Updating" {
            return Ok(0);
        }
        Ok(d.production_variants()
            .iter()
            .find(|v| v.variant_name() == Some(c.as_str()))
            .map(|v| v.current_instance_count().unwrap_or(0).max(0) as u32)
            .unwrap_or(0))
    }

    async fn retire(&self, c: Color, live: Color) -> Result<()> {
        let Some(d) = self.describe().await? else {
            return Ok(());
        };
        let current = d.endpoint_config_name().unwrap_or_default().to_string();
        let variants = self.current_variants(&current).await?;
        if !variants.contains_key(&c) {
            return Ok(()); // already retired
        }
        let lv = variants
            .get(&live)
            .ok_or_else(|| failed(format!("endpoint {} has no live {live} variant", self.name)))?;
        let config = self
            .create_config(vec![Self::variant(live, lv, 1.0)])
            .await?;
        let quiet = Out::silent();
        self.update_to(&config, Duration::from_secs(1800), &quiet)
            .await?;
        self.clean_unused(Some(&config), std::slice::from_ref(&lv.model))
            .await
    }

    async fn destroy(&self, out: &Out) -> Result<Vec<String>> {
        let mut done = Vec::new();
        if let Some(d) = self.describe().await? {
            if self.owned(d.endpoint_arn().unwrap_or_default()).await? {
                out.info(&format!("  delete SageMaker endpoint {}", self.name));
                self.c
                    .sagemaker
                    .delete_endpoint()
                    .endpoint_name(&self.name)
                    .send()
                    .await
                    .map_err(|e| aws("delete endpoint", e))?;
                done.push(format!("SageMaker endpoint {}", self.name));
            } else {
                return Ok(done);
            }
        }
        self.clean_unused(None, &[]).await?;
        Ok(done)
    }

    async fn test_url(&self) -> Result<Option<String>> {
        Ok(None)
    }

    fn metric_namespace(&self) -> &'static str {
        "AWS/SageMaker"
    }

    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>> {
        Ok(vec![
            ("EndpointName".into(), self.name.clone()),
            ("VariantName".into(), c.as_str().into()),
        ])
    }

    fn settle_timeout(&self) -> Duration {
        // SageMaker applies weight changes asynchronously (Updating -> InService).
        Duration::from_secs(600)
    }

    async fn invoke(
        &self,
        c: Color,
        r: &ValidateRequest,
        timeout: Duration,
    ) -> Option<Result<(u16, String), String>> {
        let call = self
            .c
            .runtime
            .invoke_endpoint()
            .endpoint_name(&self.name)
            .target_variant(c.as_str())
            .content_type(&r.content_type)
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                r.payload.as_bytes().to_vec(),
            ))
            .send();
        Some(match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            )),
            Ok(Ok(o)) => Ok((
                200,
                o.body()
                    .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
                    .unwrap_or_default(),
            )),
            Ok(Err(e)) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(code) => Ok((code, e.message().unwrap_or_default().to_string())),
                None => Err(format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_follow_sagemaker_rules() {
        assert_eq!(sanitize("iris-green-v1.2.3"), "iris-green-v1-2-3");
        assert_eq!(sanitize("iris-blue-fraud/7"), "iris-blue-fraud-7");
        assert_eq!(sanitize("--a__b--"), "a-b");
        assert!(sanitize(&"x".repeat(100)).len() <= 63);
    }
}
