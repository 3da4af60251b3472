//! SageMaker capacity: the variants' current instance counts, and variant
//! autoscaling (`endpoint/<name>/variant/<variant>`) set aside around an
//! UpdateEndpoint that removes a variant, which AWS refuses while a removed
//! variant is a scalable target. Registrations are whatever exists; cutover
//! keeps their min/max, suspended state and policies.
use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types as at;
use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;

use super::SageMaker;
use crate::error::{aws, Result};
use crate::output::Out;
use crate::rollout::Color;

/// A variant's registration, kept to be restored after the update.
pub(super) struct Saved {
    target: at::ScalableTarget,
    policies: Vec<at::ScalingPolicy>,
}

/// The variants' current instance counts (desired while one is moving).
pub(super) fn counts(d: &DescribeEndpointOutput) -> BTreeMap<Color, i32> {
    let mut found = BTreeMap::new();
    for v in d.production_variants() {
        for c in Color::BOTH {
            if v.variant_name() == Some(c.as_str()) {
                if let Some(n) = v.current_instance_count().or(v.desired_instance_count()) {
                    found.insert(c, n);
                }
            }
        }
    }
    found
}

const DIMENSION: at::ScalableDimension =
    at::ScalableDimension::SageMakerVariantDesiredInstanceCount;

impl SageMaker<'_> {
    fn variant_id(&self, c: Color) -> String {
        format!("endpoint/{}/variant/{c}", self.name)
    }

    /// Deregisters the variants' scalable targets and returns them (with
    /// their policies) for `restore`.
    pub(super) async fn set_scaling_aside(&self, out: &Out) -> Result<Vec<Saved>> {
        let ids: Vec<String> = Color::BOTH.iter().map(|c| self.variant_id(*c)).collect();
        let targets = self
            .c
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(at::ServiceNamespace::Sagemaker)
            .scalable_dimension(DIMENSION)
            .set_resource_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| aws("describe scalable targets", e))?;
        let mut saved = Vec::new();
        for t in targets.scalable_targets() {
            if !ids.iter().any(|i| i == t.resource_id()) {
                continue;
            }
            let policies = self
                .c
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(at::ServiceNamespace::Sagemaker)
                .resource_id(t.resource_id())
                .scalable_dimension(DIMENSION)
                .send()
                .await
                .map_err(|e| aws("describe scaling policies", e))?
                .scaling_policies()
                .iter()
                .filter(|p| p.resource_id() == t.resource_id())
                .cloned()
                .collect();
            out.info(&format!(
                "  deregister variant autoscaling {} (min {}, max {}) for the update",
                t.resource_id(),
                t.min_capacity(),
                t.max_capacity()
            ));
            self.c
                .autoscaling
                .deregister_scalable_target()
                .service_namespace(at::ServiceNamespace::Sagemaker)
                .resource_id(t.resource_id())
                .scalable_dimension(DIMENSION)
                .send()
                .await
                .map_err(|e| aws("deregister scalable target", e))?;
            saved.push(Saved {
                target: t.clone(),
                policies,
            });
        }
        Ok(saved)
    }

    /// Registers again what `set_scaling_aside` took, for the variants the
    /// endpoint still has.
    pub(super) async fn restore_scaling(&self, saved: Vec<Saved>, out: &Out) -> Result<()> {
        let Some(d) = self.describe().await? else {
            return Ok(());
        };
        let have = counts(&d);
        for s in saved {
            let t = &s.target;
            let still = Color::BOTH
                .iter()
                .any(|c| have.contains_key(c) && self.variant_id(*c) == t.resource_id());
            if !still {
                continue;
            }
            out.info(&format!(
                "  register variant autoscaling {} again",
                t.resource_id()
            ));
            self.c
                .autoscaling
                .register_scalable_target()
                .service_namespace(at::ServiceNamespace::Sagemaker)
                .resource_id(t.resource_id())
                .scalable_dimension(DIMENSION)
                .min_capacity(t.min_capacity())
                .max_capacity(t.max_capacity())
                .set_suspended_state(t.suspended_state().cloned())
                .send()
                .await
                .map_err(|e| aws("register scalable target", e))?;
            for p in &s.policies {
                self.c
                    .autoscaling
                    .put_scaling_policy()
                    .policy_name(p.policy_name())
                    .service_namespace(at::ServiceNamespace::Sagemaker)
                    .resource_id(t.resource_id())
                    .scalable_dimension(DIMENSION)
                    .policy_type(p.policy_type().clone())
                    .set_target_tracking_scaling_policy_configuration(
                        p.target_tracking_scaling_policy_configuration().cloned(),
                    )
                    .set_step_scaling_policy_configuration(
                        p.step_scaling_policy_configuration().cloned(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws("put scaling policy", e))?;
            }
        }
        Ok(())
    }
}
