//! The backends behind three small interfaces: a `Router` moves and reads
//! production weights and reaches one colour; a `Release` puts versions on a
//! colour; a `Stack` owns the resources. A stack is one router over one
//! release, composed by `build` (a new router: one file plus a line in
//! `routers.rs`).
pub mod ecs;
mod releases;
mod routers;
pub mod sagemaker;

use std::rc::Rc;
use std::time::Duration;

use crate::aws::Clients;
use crate::config::{Backend, Config, ValidateRequest};
use crate::error::Result;
use crate::output::Out;
use crate::probe::Outcome;
use crate::rollout::{Color, Status, Weights};
use crate::template::{render, Model, Vars};

/// What `deploy` rendered and checked before any AWS call.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub color: Color,
    pub version: String,
    /// The colour serving production now, if any.
    pub live: Option<Color>,
    pub artefact: Artefact,
}

impl Prepared {
    /// The model package the version came from (SageMaker's Model Registry).
    pub fn package_arn(&self) -> Option<&str> {
        match &self.artefact {
            Artefact::Model(m) => m.package_arn.as_deref(),
            Artefact::TaskDefinition(_) => None,
        }
    }
}

/// One read-only check of something the config names (`verify`).
#[derive(Clone, Debug)]
pub struct Finding {
    pub what: String,
    /// None when it is there and fits.
    pub problem: Option<String>,
}

impl Finding {
    pub fn new(what: String, problem: Option<String>) -> Finding {
        Finding { what, problem }
    }
}

/// The provider-specific thing a version becomes.
#[derive(Clone, Debug)]
pub enum Artefact {
    /// A checked RegisterTaskDefinition body.
    TaskDefinition(ecs::taskdef::TaskDef),
    /// A SageMaker model to create.
    Model(sagemaker::ModelSpec),
}

/// Moves production traffic between the colours, reads it back, and reaches
/// one colour before it has traffic (the test route).
#[allow(async_fn_in_trait)]
pub trait Router {
    /// Production weights as AWS reports them; None when nothing routes yet.
    async fn weights(&self) -> Result<Option<Weights>>;
    /// Sets production weights (the caller reads them back).
    async fn set_weights(&self, w: Weights) -> Result<()>;
    /// How long weights may take to read back as set.
    fn settle_timeout(&self) -> Duration {
        Duration::from_secs(3)
    }
    /// Weights AWS accepted but does not serve yet (a SageMaker endpoint
    /// still Updating); None when what it serves is final.
    async fn landing(&self) -> Result<Option<Weights>> {
        Ok(None)
    }
    /// Sends one request to colour `c` only (test route, or TargetVariant).
    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome;
    /// Base URL that reaches the candidate before it has production traffic;
    /// None where there is no such URL (SageMaker).
    async fn test_url(&self) -> Option<String>;
}

/// Puts versions on a colour, sizes it, and takes it out of service.
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
    /// Healthy targets (ECS) or in-service instances (SageMaker) of a colour.
    async fn healthy(&self, c: Color) -> Result<u32>;
    /// Before colour `c`'s first traffic: brings it to the live colour's
    /// current capacity and waits until that capacity is healthy.
    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()>;
    /// Applies what autoscaling may do to each colour in `s` (nothing to do
    /// without autoscaling).
    async fn sync_scaling(&self, s: &Status) -> Result<()>;
    /// The CloudWatch metric names of a colour: (requests, 5xx errors, latency).
    fn metric_names(&self) -> (&'static str, &'static str, &'static str);
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

/// A provisioning step of the release (ECS: the load balancer, groups,
/// listeners, services; SageMaker has none: the first deploy makes the endpoint).
pub type ReleaseStep = ecs::plan::Step;

/// What planning read of the release, for applying its steps.
pub type Observed = Option<ecs::plan::Known>;

/// Renders the release's templates with `vars` and checks them; no AWS call.
pub fn check_templates(cfg: &Config, vars: &Vars) -> Result<()> {
    match &cfg.backend {
        Backend::Ecs(e) => {
            ecs::taskdef::render(e, vars)?;
        }
        Backend::Sagemaker(s) => {
            render("sagemaker.image", &s.image, vars)?;
            if let Some(m) = &s.model_data {
                render("sagemaker.model_data", m, vars)?;
            }
            for (k, v) in &s.environment {
                render(&format!("sagemaker.environment.{k}"), v, vars)?;
            }
        }
    }
    Ok(())
}

/// What the IAM policy names of the release: the roles it hands to AWS (ECS
/// task and execution roles, for `iam:PassRole`) and its task-definition
/// families (for tagging).
pub fn rendered(cfg: &Config, region: &str) -> Result<crate::aws::calls::Rendered> {
    let mut roles = Vec::new();
    let mut families = Vec::new();
    if let Backend::Ecs(e) = &cfg.backend {
        for c in Color::BOTH {
            // `{{ model.* }}` renders as a placeholder, as in `check`.
            let model = cfg.registry.as_ref().map(|_| Model::placeholder("policy"));
            let vars =
                Vars::new(&cfg.name, "policy", c.as_str(), region).with_model(model.as_ref());
            let td = ecs::taskdef::render(e, &vars)?;
            if !families.contains(&td.family) {
                families.push(td.family.clone());
            }
            for r in [td.execution_role_arn, td.task_role_arn]
                .into_iter()
                .flatten()
            {
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
        }
    }
    Ok(crate::aws::calls::Rendered { roles, families })
}

/// Builds the stack's router and release from the config: the one place
/// that picks them.
pub fn build<'a>(clients: &'a Clients, cfg: &Config) -> (Routers<'a>, Releases<'a>) {
    match &cfg.backend {
        Backend::Ecs(e) => {
            let ecs = Rc::new(ecs::Ecs::new(clients, &cfg.name, e));
            let router = match &e.route53 {
                Some(_) => Routers::Records(ecs::Records::new(ecs.clone())),
                None => Routers::Listener(ecs::Listener::new(ecs.clone(), cfg.rollout.sticky)),
            };
            (router, Releases::Ecs(ecs))
        }
        Backend::Sagemaker(s) => {
            let sm = Rc::new(
                sagemaker::SageMaker::new(clients, &cfg.name, s).with_shadow(cfg.shadow.clone()),
            );
            (
                Routers::Variants(sagemaker::Variants::new(sm.clone())),
                Releases::SageMaker(sm),
            )
        }
    }
}

pub use releases::Releases;
pub use routers::Routers;
