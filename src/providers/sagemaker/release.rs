//! SageMaker releases: a model per version, an endpoint config per change
//! (live variant kept at weight 1, candidate at 0), retirement by removing a
//! variant; one colour is reached with InvokeEndpoint's TargetVariant.
use std::collections::BTreeMap;
use std::time::Duration;

use super::scaling::counts;
use super::{sm_tags, Live, ModelSpec, SageMaker};
use crate::error::{aws, failed, invalid, Result};
use crate::output::Out;
use crate::providers::{Artefact, Prepared, Release, Stack};
use crate::rollout::{Color, Status};
use crate::template::{render, Model, Vars};

impl SageMaker<'_> {
    /// The configured model environment, rendered for `color` at `version`.
    pub(super) fn render_environment(
        &self,
        color: Color,
        version: &str,
        model: Option<&Model>,
    ) -> Result<BTreeMap<String, String>> {
        let vars = Vars::new(&self.name, version, color.as_str(), &self.c.region).with_model(model);
        self.cfg
            .environment
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    render(&format!("sagemaker.environment.{k}"), v, &vars)?,
                ))
            })
            .collect()
    }
}

impl Release for SageMaker<'_> {
    fn prepare(
        &self,
        color: Color,
        version: &str,
        live: Option<Color>,
        model: Option<&Model>,
    ) -> Result<Prepared> {
        let vars = Vars::new(&self.name, version, color.as_str(), &self.c.region).with_model(model);
        let spec = ModelSpec {
            image: render("sagemaker.image", &self.cfg.image, &vars)?,
            model_data: self
                .cfg
                .model_data
                .as_ref()
                .map(|m| render("sagemaker.model_data", m, &vars))
                .transpose()?,
            environment: self.render_environment(color, version, model)?,
            package_arn: None,
        };
        Ok(Prepared {
            color,
            version: version.into(),
            live,
            artefact: Artefact::Model(spec),
        })
    }

    async fn deploy(&self, p: &Prepared, timeout: Duration, out: &Out) -> Result<String> {
        let Artefact::Model(spec) = &p.artefact else {
            return Err(invalid("a SageMaker deploy needs a model"));
        };
        let c = p.color;
        let model = self.create_model(c, &p.version, spec).await?;
        out.info(&format!("model {model} ({})", spec.image));
        let d = self.describe().await?;
        // The candidate gets the live variant's current count (autoscaling or
        // a hand change may have moved it since the config was written).
        let now = d.as_ref().map(counts).unwrap_or_default();
        let count = p
            .live
            .and_then(|l| now.get(&l).copied())
            .unwrap_or(self.cfg.instance_count as i32);
        let new = Live {
            model: model.clone(),
            instance_type: self.cfg.instance_type.clone(),
            count,
        };
        match (d, p.live) {
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
                let variants = self.current_variants(&current, &now).await?;
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
                let keeps: Vec<Color> = live.into_iter().chain([c]).collect();
                self.update_to(&config, &keeps, timeout, out).await?;
                let mut keep = vec![model.clone()];
                if let Some(lv) = live.and_then(|l| variants.get(&l)) {
                    keep.push(lv.model.clone());
                }
                self.clean_unused(Some(&config), &keep).await?;
            }
        }
        Ok(model)
    }

    async fn retire(&self, c: Color) -> Result<()> {
        let Some(d) = self.describe().await? else {
            return Ok(());
        };
        let current = d.endpoint_config_name().unwrap_or_default().to_string();
        let variants = self.current_variants(&current, &counts(&d)).await?;
        if !variants.contains_key(&c) {
            return Ok(()); // already retired
        }
        let live = c.other();
        let lv = variants
            .get(&live)
            .ok_or_else(|| failed(format!("endpoint {} has no live {live} variant", self.name)))?;
        let config = self
            .create_config(vec![Self::variant(live, lv, 1.0)])
            .await?;
        self.update_to(&config, &[live], Duration::from_secs(1800), &Out::silent())
            .await?;
        self.clean_unused(Some(&config), std::slice::from_ref(&lv.model))
            .await
    }

    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()> {
        // The candidate variant got the live variant's count when it was
        // deployed; a shadow becomes a production variant at 0% first.
        self.unshadow(c, out).await.map(|_| ())
    }

    async fn sync_scaling(&self, _s: &Status) -> Result<()> {
        // Variant autoscaling is the user's; it is only set aside around updates.
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

    fn metric_names(&self) -> (&'static str, &'static str, &'static str) {
        ("Invocations", "Invocation5XXErrors", "ModelLatency")
    }
}

impl Stack for SageMaker<'_> {
    async fn ensure_provisioned(&self) -> Result<()> {
        self.check_ownership().await
    }

    async fn destroy(&self, out: &Out) -> Result<Vec<String>> {
        let mut done = Vec::new();
        if let Some(d) = self.describe().await? {
            if !self.owned(d.endpoint_arn().unwrap_or_default()).await? {
                return Ok(done);
            }
            out.info(&format!("  delete SageMaker endpoint {}", self.name));
            self.c
                .sagemaker
                .delete_endpoint()
                .endpoint_name(&self.name)
                .send()
                .await
                .map_err(|e| aws("delete endpoint", e))?;
            done.push(format!("SageMaker endpoint {}", self.name));
        }
        self.clean_unused(None, &[]).await?;
        if self.shadow.is_some() {
            done.extend(self.delete_capture(out).await?);
        }
        Ok(done)
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
}

impl SageMaker<'_> {
    /// Refuses an endpoint with our name that is not ours. The endpoint itself
    /// is created by the first deploy.
    pub async fn check_ownership(&self) -> Result<()> {
        if let Some(d) = self.describe().await? {
            if !self.owned(d.endpoint_arn().unwrap_or_default()).await? {
                return Err(invalid(format!(
                    "SageMaker endpoint {} exists but is not managed by cutover stack {}; refusing to take it over",
                    self.name, self.name
                )));
            }
        }
        Ok(())
    }
}
