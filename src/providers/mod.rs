//! The traffic backends (ECS + ALB, SageMaker) behind three small interfaces:
//! `Router` moves and reads production weights, `Release` puts versions on a
//! colour and reaches one colour, `Stack` owns the resources. `Provider` is
//! the one factory-built value the commands use.
pub mod ecs;
pub mod sagemaker;

use std::time::Duration;

use crate::aws::Clients;
use crate::config::{Backend, Config, ValidateRequest};
use crate::error::Result;
use crate::output::Out;
use crate::probe::Outcome;
use crate::rollout::{Color, Status, Weights};
use crate::template::Model;

/// What `deploy` rendered and checked before any AWS call.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub color: Color,
    pub version: String,
    /// The colour serving production now, if any.
    pub live: Option<Color>,
    pub artefact: Artefact,
}

/// The provider-specific thing a version becomes.
#[derive(Clone, Debug)]
pub enum Artefact {
    /// A checked RegisterTaskDefinition body.
    TaskDefinition(ecs::taskdef::TaskDef),
    /// A SageMaker model to create.
    Model(sagemaker::ModelSpec),
}

/// Moves production traffic between the colours and reads it back.
#[allow(async_fn_in_trait)]
pub trait Router {
    /// Production weights as AWS reports them; None when nothing routes yet.
    async fn weights(&self) -> Result<Option<Weights>>;
    /// Sets production weights (the caller reads them back).
    async fn set_weights(&self, w: Weights) -> Result<()>;
    /// Healthy targets (ECS) or in-service instances (SageMaker) of a colour.
    async fn healthy(&self, c: Color) -> Result<u32>;
    /// How long weights may take to read back as set.
    fn settle_timeout(&self) -> Duration {
        Duration::from_secs(3)
    }
}

/// Puts versions on a colour, takes a colour out of service, reaches one colour.
#[allow(async_fn_in_trait)]
pub trait Release {
    /// Renders and checks everything `deploy` needs; makes no AWS call.
    /// `model` is the registry's model version, for `{{ model.* }}`.
    fn prepare(
        &self,
        color: Color,
        version: &str,
        live: Option<Color>,
        model: Option<&Model>,
    ) -> Result<Prepared>;
    /// Puts the prepared version on its colour and waits until it is healthy.
    /// Returns the artefact's name (task definition ARN, model). No production traffic.
    async fn deploy(&self, p: &Prepared, timeout: Duration, out: &Out) -> Result<String>;
    /// Takes colour `c` out of service after termination_wait and draining.
    async fn retire(&self, c: Color) -> Result<()>;
    /// Before colour `c`'s first traffic: brings it to the live colour's
    /// current capacity and waits until that capacity is healthy.
    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()>;
    /// Applies what autoscaling may do to each colour in `s` (nothing to do
    /// without autoscaling).
    async fn sync_scaling(&self, s: &Status) -> Result<()>;
    /// Sends one request to colour `c` only (test route, or TargetVariant).
    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome;
}

/// The stack's own resources.
#[allow(async_fn_in_trait)]
pub trait Stack {
    /// Fails with Error::Invalid when the stack's resources are not there.
    async fn ensure_provisioned(&self) -> Result<()>;
    /// Deletes every resource of the stack that carries its tags; safe to re-run.
    async fn destroy(&self, out: &Out) -> Result<Vec<String>>;
    /// CloudWatch namespace of the managed alarms' metrics.
    fn metric_namespace(&self) -> &'static str;
    /// CloudWatch dimensions that select colour `c`'s metrics.
    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>>;
}

/// The configured backend, built once per run.
#[allow(clippy::large_enum_variant)] // one per run
pub enum Provider<'a> {
    Ecs(ecs::Ecs<'a>),
    SageMaker(sagemaker::SageMaker<'a>),
}

/// A provisioning step of the release (ECS: the load balancer, groups,
/// listeners, services; SageMaker has none: the first deploy makes the endpoint).
pub type ReleaseStep = ecs::plan::Step;

/// What planning read of the release, for applying its steps.
pub type Observed = Option<ecs::plan::Known>;

impl<'a> Provider<'a> {
    /// Reads AWS (read-only; foreign resources are refused here) and returns
    /// the release's provisioning steps for a rollout in `status`.
    pub async fn plan_steps(&self, status: &Status) -> Result<(Vec<ReleaseStep>, Observed)> {
        match self {
            Provider::Ecs(p) => {
                let (mut seen, known) = p.observe().await?;
                for c in Color::BOTH {
                    seen.modes.insert(c, crate::rollout::scaling(status, c));
                }
                Ok((p.steps(&seen)?, Some(known)))
            }
            Provider::SageMaker(p) => {
                p.check_ownership().await?;
                Ok((vec![], None))
            }
        }
    }

    /// Runs one release step that `plan_steps` returned.
    pub async fn apply_step(&self, s: &ReleaseStep, seen: &mut Observed) -> Result<()> {
        match (self, seen.as_mut()) {
            (Provider::Ecs(p), Some(known)) => p.apply(s, known).await,
            _ => Ok(()),
        }
    }

    /// A release step as `plan` shows it: (action, resource).
    pub fn describe_step(&self, s: &ReleaseStep) -> (&'static str, String) {
        match self {
            Provider::Ecs(p) => p.describe_step(s),
            Provider::SageMaker(_) => ("create", format!("{s:?}")),
        }
    }

    /// The CloudWatch metric names of a colour: (requests, 5xx errors, latency).
    pub fn metric_names(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Provider::Ecs(_) => (
                "RequestCount",
                "HTTPCode_Target_5XX_Count",
                "TargetResponseTime",
            ),
            Provider::SageMaker(_) => ("Invocations", "Invocation5XXErrors", "ModelLatency"),
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
            Provider::SageMaker(sm) => sm.resolve_package(group, color, live).await,
            Provider::Ecs(_) => Err(crate::error::invalid(
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
        let Provider::SageMaker(sm) = self else {
            return Err(crate::error::invalid(
                "--auto-deploy needs `follow` in [registry], or provider = \"sagemaker\" with a model_package_group",
            ));
        };
        let group = sm.package_group().ok_or_else(|| {
            crate::error::invalid("--auto-deploy needs `model_package_group` in [sagemaker]")
        })?;
        let p = sm.resolve_package(&group, color, live).await?;
        Ok((group, p))
    }

    /// Marks a model package live or not (SageMaker's Model Registry); a
    /// no-op elsewhere.
    pub async fn mark_package(&self, arn: &str, live: bool) -> Result<bool> {
        match self {
            Provider::SageMaker(sm) => sm.mark_package(arn, live).await.map(|_| true),
            Provider::Ecs(_) => Ok(false),
        }
    }

    pub fn new(clients: &'a Clients, cfg: &Config) -> Provider<'a> {
        match &cfg.backend {
            Backend::Ecs(e) => Provider::Ecs(ecs::Ecs::new(clients, &cfg.name, e)),
            Backend::Sagemaker(s) => {
                Provider::SageMaker(sagemaker::SageMaker::new(clients, &cfg.name, s))
            }
        }
    }

    /// Base URL that reaches the candidate before it has production traffic
    /// (the ECS test listener); None where there is no such URL (SageMaker).
    pub async fn test_url(&self) -> Option<String> {
        match self {
            Provider::Ecs(e) => e.test_url().await.ok().flatten(),
            Provider::SageMaker(_) => None,
        }
    }
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Provider::Ecs($p) => $e,
            Provider::SageMaker($p) => $e,
        }
    };
}

impl Router for Provider<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        each!(self, p => p.weights().await)
    }
    async fn set_weights(&self, w: Weights) -> Result<()> {
        each!(self, p => p.set_weights(w).await)
    }
    async fn healthy(&self, c: Color) -> Result<u32> {
        each!(self, p => p.healthy(c).await)
    }
    fn settle_timeout(&self) -> Duration {
        each!(self, p => p.settle_timeout())
    }
}

impl Release for Provider<'_> {
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
    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()> {
        each!(self, p => p.match_capacity(c, out).await)
    }
    async fn sync_scaling(&self, s: &Status) -> Result<()> {
        each!(self, p => p.sync_scaling(s).await)
    }
    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome {
        each!(self, p => p.send(c, r, http).await)
    }
}

impl Stack for Provider<'_> {
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
