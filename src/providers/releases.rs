//! The registered releases, and what only some releases have (provisioning
//! steps, model packages): a new release is one folder plus a variant here.
use std::rc::Rc;
use std::time::Duration;

use super::{ecs, sagemaker, Finding, Observed, Prepared, Release, ReleaseStep, Stack};
use crate::aws::raw::Raw;
use crate::error::{invalid, Result};
use crate::output::Out;
use crate::rollout::{Color, Status};
use crate::template::Model;

/// The release a stack uses, chosen by `providers::build`.
pub enum Releases<'a> {
    /// Two ECS services, one per colour.
    Ecs(Rc<ecs::Ecs<'a>>),
    /// Two production variants of one SageMaker endpoint.
    SageMaker(Rc<sagemaker::SageMaker<'a>>),
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Releases::Ecs($p) => $e,
            Releases::SageMaker($p) => $e,
        }
    };
}

impl Releases<'_> {
    /// Reads AWS (read-only; foreign resources are refused here) and returns
    /// the release's provisioning steps for a rollout in `status`.
    pub async fn plan_steps(&self, status: &Status) -> Result<(Vec<ReleaseStep>, Observed)> {
        match self {
            Releases::Ecs(p) => {
                let (mut seen, known) = p.observe().await?;
                for c in Color::BOTH {
                    seen.modes.insert(c, crate::rollout::scaling(status, c));
                }
                Ok((p.steps(&seen)?, Some(known)))
            }
            Releases::SageMaker(p) => {
                p.check_ownership().await?;
                Ok((vec![], None))
            }
        }
    }

    /// Runs one release step that `plan_steps` returned.
    pub async fn apply_step(&self, s: &ReleaseStep, seen: &mut Observed) -> Result<()> {
        match (self, seen.as_mut()) {
            (Releases::Ecs(p), Some(known)) => p.apply(s, known).await,
            _ => Ok(()),
        }
    }

    /// A release step as `plan` shows it: (action, resource).
    pub fn describe_step(&self, s: &ReleaseStep) -> (&'static str, String) {
        match self {
            Releases::Ecs(p) => p.describe_step(s),
            Releases::SageMaker(_) => ("create", format!("{s:?}")),
        }
    }

    /// A version from a model package group (SageMaker's Model Registry).
    pub async fn resolve_package(
        &self,
        group: &str,
        color: Color,
        live: Option<Color>,
    ) -> Result<Prepared> {
        match self {
            Releases::SageMaker(sm) => sm.resolve_package(group, color, live).await,
            Releases::Ecs(_) => Err(invalid(
                "--model-package-group works only with provider = \"sagemaker\"",
            )),
        }
    }

    /// The newest Approved package of the configured group, for `--auto-deploy`.
    pub async fn newest_package(
        &self,
        color: Color,
        live: Option<Color>,
    ) -> Result<(String, Prepared)> {
        let Releases::SageMaker(sm) = self else {
            return Err(invalid(
                "--auto-deploy needs `follow` in [registry], or provider = \"sagemaker\" with a model_package_group",
            ));
        };
        let group = sm
            .package_group()
            .ok_or_else(|| invalid("--auto-deploy needs `model_package_group` in [sagemaker]"))?;
        let p = sm.resolve_package(&group, color, live).await?;
        Ok((group, p))
    }

    /// Checks, read-only, that what the config names exists and fits.
    pub async fn verify(&self, raw: &Raw) -> Result<Vec<Finding>> {
        each!(self, p => p.verify(raw).await)
    }

    /// `[shadow]` after validation: the candidate becomes the live colour's
    /// shadow variant (SageMaker only; a no-op elsewhere, where config
    /// checking refuses `[shadow]`).
    pub async fn to_shadow(
        &self,
        c: Color,
        live: Color,
        timeout: Duration,
        out: &Out,
    ) -> Result<()> {
        match self {
            Releases::SageMaker(sm) => sm.to_shadow(c, live, timeout, out).await,
            Releases::Ecs(_) => Ok(()),
        }
    }

    /// Removes colour `c` if it is the endpoint's shadow variant (after a
    /// rollback or a failed gate: a shadow must not keep taking copies).
    pub async fn drop_shadow(&self, c: Color) -> Result<()> {
        match self {
            Releases::SageMaker(sm) => sm.drop_shadow(c).await,
            Releases::Ecs(_) => Ok(()),
        }
    }

    /// The captured answers of colour `c` since `from` (ms): SageMaker Data Capture.
    pub async fn captured(
        &self,
        c: Color,
        from: u64,
    ) -> Result<Vec<crate::compare::capture::Captured>> {
        match self {
            Releases::SageMaker(sm) => sm.captured(c, from).await,
            Releases::Ecs(_) => Ok(vec![]),
        }
    }

    /// Marks a model package live or not (SageMaker's Model Registry); a
    /// no-op elsewhere.
    pub async fn mark_package(&self, arn: &str, live: bool) -> Result<bool> {
        match self {
            Releases::SageMaker(sm) => sm.mark_package(arn, live).await.map(|_| true),
            Releases::Ecs(_) => Ok(false),
        }
    }
}

impl Release for Releases<'_> {
    fn prepare(
        &self,
        color: Color,
        version: &str,
        live: Option<Color>,
        model: Option<&Model>,
    ) -> Result<Prepared> {
        each!(self, p => p.prepare(color, version, live, model))
    }
    async fn deploy(&self, prep: &Prepared, timeout: Duration, out: &Out) -> Result<String> {
        each!(self, p => p.deploy(prep, timeout, out).await)
    }
    async fn retire(&self, c: Color) -> Result<()> {
        each!(self, p => p.retire(c).await)
    }
    async fn healthy(&self, c: Color) -> Result<u32> {
        each!(self, p => p.healthy(c).await)
    }
    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()> {
        each!(self, p => p.match_capacity(c, out).await)
    }
    async fn sync_scaling(&self, s: &Status) -> Result<()> {
        each!(self, p => p.sync_scaling(s).await)
    }
    fn metric_names(&self) -> (&'static str, &'static str, &'static str) {
        each!(self, p => p.metric_names())
    }
}

impl Stack for Releases<'_> {
    async fn ensure_provisioned(&self) -> Result<()> {
        each!(self, p => p.ensure_provisioned().await)
    }
    async fn destroy(&self, out: &Out) -> Result<Vec<String>> {
        each!(self, p => p.destroy(out).await)
    }
    fn metric_namespace(&self) -> &'static str {
        each!(self, p => p.metric_namespace())
    }
    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>> {
        each!(self, p => p.alarm_dimensions(c).await)
    }
}
