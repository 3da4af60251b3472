//! SageMaker traffic: variant weights (CurrentWeight) and in-service instances.
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sagemaker::types as st;

use super::SageMaker;
use crate::error::{aws, failed, Result};
use crate::providers::Router;
use crate::rollout::{Color, Weights};

impl Router for SageMaker<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        let Some(d) = self.describe().await? else {
            return Ok(None);
        };
        // What serves now: CurrentWeight (DesiredWeight may still be moving).
        let mut w: BTreeMap<Color, f64> = BTreeMap::new();
        for v in d.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    w.insert(c, v.current_weight().unwrap_or(0.0) as f64);
                }
            }
        }
        let of = |c: Color| w.get(&c).copied().unwrap_or(0.0);
        Ok(Weights::from_relative(of(Color::Blue), of(Color::Green)))
    }

    async fn set_weights(&self, w: Weights) -> Result<()> {
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

    fn settle_timeout(&self) -> Duration {
        // SageMaker applies weight changes asynchronously (Updating -> InService).
        Duration::from_secs(600)
    }
}
