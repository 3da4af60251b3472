//! SageMaker provider: production variants `blue` and `green` of endpoint
//! `<name>`. Deploys swap endpoint configs with UpdateEndpoint (and check the
//! endpoint really took the new config); traffic moves with
//! UpdateEndpointWeightsAndCapacities, naming every field it keeps.
mod endpoint;
pub mod registry;
mod release;
mod scaling;
mod shadow;
mod traffic;
mod verify;

pub use traffic::Variants;

use std::collections::BTreeMap;

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::types as st;

use crate::aws::{tags, Clients};
use crate::config::SagemakerConfig;
use crate::error::{aws, Result};
use crate::rollout::Color;

pub struct SageMaker<'a> {
    c: &'a Clients,
    name: String,
    cfg: SagemakerConfig,
    /// `[shadow]`: the candidate's shadow phase.
    shadow: Option<crate::config::ShadowConfig>,
}

/// What `deploy` creates the model from.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub image: String,
    pub model_data: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub package_arn: Option<String>,
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

/// SageMaker answers a missing endpoint, model or config with a
/// ValidationException "Could not find …" or "… does not exist" (it has no
/// NotFound error type).
pub fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().is_some_and(|s| {
        s.code() == Some("ValidationException")
            && s.message()
                .is_some_and(|m| m.contains("Could not find") || m.contains("does not exist"))
    })
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
    /// The model package group `--auto-deploy` follows, if configured.
    pub fn package_group(&self) -> Option<String> {
        self.cfg.model_package_group.clone()
    }

    pub fn new(c: &'a Clients, name: &str, cfg: &SagemakerConfig) -> SageMaker<'a> {
        SageMaker {
            c,
            name: name.into(),
            cfg: cfg.clone(),
            shadow: None,
        }
    }

    /// With `[shadow]`.
    pub fn with_shadow(mut self, s: Option<crate::config::ShadowConfig>) -> Self {
        self.shadow = s;
        self
    }

    async fn describe(&self) -> Result<Option<DescribeEndpointOutput>> {
        match self
            .c
            .sagemaker
            .describe_endpoint()
            .endpoint_name(&self.name)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if is_not_found(&e) => Ok(None),
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
