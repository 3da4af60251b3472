//! Endpoint mechanics: variants of the current config, new configs,
//! UpdateEndpoint with the silent-rollback check, models and their cleanup.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types as st;

use super::{is_not_found, sanitize, sm_tags, Live, ModelSpec, SageMaker};
use crate::error::{aws, failed, Result};
use crate::output::Out;
use crate::rollout::Color;

impl SageMaker<'_> {
    /// The variants of the endpoint's current config, with the instance
    /// counts they run now (`now`) over the config's initial ones.
    pub(super) async fn current_variants(
        &self,
        config: &str,
        now: &BTreeMap<Color, i32>,
    ) -> Result<BTreeMap<Color, Live>> {
        let out = self
            .c
            .sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| aws("describe endpoint config", e))?;
        let mut found = BTreeMap::new();
        // A shadow variant counts too (retiring it removes it).
        for v in out
            .production_variants()
            .iter()
            .chain(out.shadow_production_variants())
        {
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
                            count: now.get(&c).copied().unwrap_or(
                                v.initial_instance_count()
                                    .unwrap_or(self.cfg.instance_count as i32),
                            ),
                        },
                    );
                }
            }
        }
        Ok(found)
    }

    /// A fresh endpoint config name: `<stack>-<ms>`.
    pub(super) fn new_config_name(&self) -> String {
        sanitize(&format!("{}-{}", self.name, crate::store::now_ms()))
    }

    pub(super) async fn create_config(
        &self,
        variants: Vec<st::ProductionVariant>,
    ) -> Result<String> {
        let name = self.new_config_name();
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
    pub(super) async fn wait_in_service(
        &self,
        config: &str,
        timeout: Duration,
        out: &Out,
    ) -> Result<()> {
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
            crate::signal::pause(Duration::from_millis(500)).await?;
        }
    }

    /// UpdateEndpoint to `config` (whose variants are `keeps`), then wait
    /// until it really serves it. When the update removes a variant, variant
    /// autoscaling is set aside for it and restored after.
    pub(super) async fn update_to(
        &self,
        config: &str,
        keeps: &[Color],
        timeout: Duration,
        out: &Out,
    ) -> Result<()> {
        let removes = match self.describe().await? {
            Some(d) => super::scaling::counts(&d)
                .keys()
                .any(|c| !keeps.contains(c)),
            None => false,
        };
        let saved = if removes {
            self.set_scaling_aside(out).await?
        } else {
            Vec::new()
        };
        let res = self.update_and_wait(config, timeout, out).await;
        if !saved.is_empty() {
            self.restore_scaling(saved, out).await?;
        }
        res
    }

    async fn update_and_wait(&self, config: &str, timeout: Duration, out: &Out) -> Result<()> {
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

    pub(super) async fn create_model(
        &self,
        c: Color,
        version: &str,
        spec: &ModelSpec,
    ) -> Result<String> {
        let model = model_name(&self.name, c, version, spec, &self.cfg.execution_role_arn);
        // The name carries a hash of the contents, so an existing model of
        // that name is this very artefact.
        match self
            .c
            .sagemaker
            .describe_model()
            .model_name(&model)
            .send()
            .await
        {
            Ok(_) => return Ok(model),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(aws(&format!("describe model {model}"), e)),
        }
        let container = st::ContainerDefinition::builder()
            .image(&spec.image)
            .set_model_data_url(spec.model_data.clone())
            .set_environment((!spec.environment.is_empty()).then(|| {
                spec.environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
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

    /// Deletes our models and endpoint configs the endpoint no longer uses
    /// (every page); a failed delete is reported, not dropped.
    pub(super) async fn clean_unused(
        &self,
        keep_config: Option<&str>,
        keep_models: &[String],
    ) -> Result<()> {
        let prefix = format!("{}-", self.name);
        let mut configs = self
            .c
            .sagemaker
            .list_endpoint_configs()
            .name_contains(&prefix)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut doomed = Vec::new();
        while let Some(cfg) = configs.next().await {
            let cfg = cfg.map_err(|e| aws("list endpoint configs", e))?;
            let n = cfg.endpoint_config_name().unwrap_or_default().to_string();
            if Some(n.as_str()) != keep_config && n.starts_with(&prefix) {
                doomed.push((n, cfg.endpoint_config_arn().unwrap_or_default().to_string()));
            }
        }
        for (n, arn) in doomed {
            if self.owned(&arn).await? {
                match self
                    .c
                    .sagemaker
                    .delete_endpoint_config()
                    .endpoint_config_name(&n)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(aws(&format!("delete endpoint config {n}"), e)),
                }
            }
        }
        let mut models = self
            .c
            .sagemaker
            .list_models()
            .name_contains(&prefix)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut doomed = Vec::new();
        while let Some(m) = models.next().await {
            let m = m.map_err(|e| aws("list models", e))?;
            let n = m.model_name().unwrap_or_default().to_string();
            if !keep_models.contains(&n) && n.starts_with(&prefix) {
                doomed.push((n, m.model_arn().unwrap_or_default().to_string()));
            }
        }
        for (n, arn) in doomed {
            if self.owned(&arn).await? {
                match self.c.sagemaker.delete_model().model_name(&n).send().await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(aws(&format!("delete model {n}"), e)),
                }
            }
        }
        Ok(())
    }
}

/// `<stack>-<colour>-<version>`, cut to fit, and a hash of everything the
/// model holds (stack, colour, version, image, model data, environment,
/// role): `1.2`, `1_2` and `1-2`, long versions cut at 63 characters, and
/// stack `iris` version `blue-v1` against stack `iris-blue` version `v1` all
/// get different names, as does a changed image under the same version.
pub fn model_name(stack: &str, c: Color, version: &str, spec: &ModelSpec, role: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        stack,
        c.as_str(),
        version,
        &spec.image,
        spec.model_data.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in &spec.environment {
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.update(role.as_bytes());
    let tag = hex::encode(&h.finalize()[..5]);
    let mut base = sanitize(&format!("{stack}-{c}-{version}"));
    base.truncate(63 - tag.len() - 1);
    format!("{}-{tag}", base.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str) -> ModelSpec {
        ModelSpec {
            image: image.into(),
            model_data: None,
            environment: Default::default(),
            package_arn: None,
        }
    }

    #[test]
    fn different_artefacts_never_share_a_name() {
        let s = spec("repo/iris:1");
        let n = |stack, c, v: &str, sp: &ModelSpec| model_name(stack, c, v, sp, "arn:role");
        let names = [
            n("iris", Color::Green, "1.2", &s),
            n("iris", Color::Green, "1_2", &s),
            n("iris", Color::Green, "1-2", &s),
            n("iris", Color::Blue, "green-v1", &s),
            n("iris-blue", Color::Green, "v1", &s),
            n("iris", Color::Green, &"x".repeat(80), &s),
            n("iris", Color::Green, &format!("{}y", "x".repeat(80)), &s),
            n("iris", Color::Green, "1.2", &spec("repo/iris:2")),
        ];
        for (i, a) in names.iter().enumerate() {
            assert!(a.len() <= 63, "{a}");
            assert!(a.starts_with("iris-"), "{a}");
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The same artefact keeps its name (a retried deploy reuses it).
        assert_eq!(names[0], n("iris", Color::Green, "1.2", &s));
        assert!(names[0].starts_with("iris-green-1-2-"), "{}", names[0]);
    }
}
