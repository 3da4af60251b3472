//! SageMaker Model Registry: the newest Approved package of a group, resolved
//! into a model to deploy; the live package marked `cutover:live=<stack>`.
use aws_sdk_sagemaker::types as st;

use super::{is_not_found, ModelSpec, SageMaker};
use crate::error::{aws, invalid, Result};
use crate::providers::{Artefact, Prepared};
use crate::rollout::Color;

/// Customer metadata key on the package that serves a stack's production.
pub const LIVE_KEY: &str = "cutover:live";

impl SageMaker<'_> {
    /// Sets (`live`) or removes `cutover:live=<stack>` on a model package.
    pub async fn mark_package(&self, arn: &str, live: bool) -> Result<()> {
        let req = self
            .c
            .sagemaker
            .update_model_package()
            .model_package_arn(arn);
        let req = if live {
            req.customer_metadata_properties(LIVE_KEY, &self.name)
        } else {
            req.customer_metadata_properties_to_remove(LIVE_KEY)
        };
        req.send()
            .await
            .map_err(|e| aws(&format!("update model package {arn}"), e))?;
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
            .map_err(|e| {
                if is_not_found(&e) {
                    invalid(format!("model package group \"{group}\" does not exist"))
                } else {
                    aws(&format!("describe model package group {group}"), e)
                }
            })?;
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

    /// The newest Approved package of `group` as a prepared deploy onto `color`.
    pub async fn resolve_package(
        &self,
        group: &str,
        color: Color,
        live: Option<Color>,
    ) -> Result<Prepared> {
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
        let mut environment = self.render_environment(color, &version, None)?;
        for (k, v) in container.environment().into_iter().flatten() {
            environment.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(Prepared {
            color,
            version,
            live,
            artefact: Artefact::Model(ModelSpec {
                image: container.image().unwrap_or_default().to_string(),
                model_data: container.model_data_url().map(String::from),
                environment,
                package_arn: Some(arn),
            }),
        })
    }
}
