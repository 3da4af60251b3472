//! The one interface a traffic backend implements (ECS + ALB, SageMaker).
//! Everything generic (state, steps, alarms, read-back) lives above it.
use std::time::Duration;

use crate::error::Result;
use crate::output::Out;
use crate::rollout::{Color, Weights};

/// One thing `provision` would create or change.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    pub action: String,
    pub resource: String,
}

impl Change {
    pub fn new(action: &str, resource: impl Into<String>) -> Change {
        Change {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

/// What `deploy` rendered and checked before any AWS call.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub color: Color,
    pub version: String,
    /// Provider-specific rendered body (ECS: the task definition JSON).
    pub body: String,
}

#[allow(async_fn_in_trait)]
pub trait Provider {
    /// Renders and checks everything `deploy` needs; makes no AWS call.
    fn prepare(&self, color: Color, version: &str) -> Result<Prepared>;

    /// Reads AWS and returns what provisioning would change; with `apply`, does it.
    /// Resources with our names but not our tags are refused (Error::Invalid).
    async fn converge(&self, apply: bool, out: &Out) -> Result<Vec<Change>>;

    /// Fails with Error::Invalid when the stack's resources are not there.
    async fn ensure_provisioned(&self) -> Result<()>;

    /// Puts the prepared version on its colour and waits until it is healthy.
    /// Returns the artefact (task definition ARN, model name). Sends no production traffic.
    async fn deploy(
        &self,
        p: &Prepared,
        live: Option<Color>,
        timeout: Duration,
        out: &Out,
    ) -> Result<String>;

    /// Production weights as AWS reports them; None when nothing routes yet.
    async fn weights(&self) -> Result<Option<Weights>>;

    /// Sets production weights (the caller reads them back).
    async fn set_weights(
        &self,
        w: Weights,
        versions: &std::collections::BTreeMap<Color, String>,
    ) -> Result<()>;

    /// Healthy targets (ECS) or in-service instances (SageMaker) of a colour.
    async fn healthy(&self, c: Color) -> Result<u32>;

    /// Takes the old colour out of service after termination_wait.
    async fn retire(&self, c: Color, live: Color) -> Result<()>;

    /// Deletes every resource of the stack that carries its tags; safe to re-run.
    async fn destroy(&self, out: &Out) -> Result<Vec<String>>;

    /// Base URL that reaches only the candidate (validation), if any.
    async fn test_url(&self) -> Result<Option<String>>;

    /// CloudWatch namespace of the managed alarms' metrics.
    fn metric_namespace(&self) -> &'static str;

    /// CloudWatch dimensions that select colour `c`'s metrics.
    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>>;

    /// How long weights may take to read back as set.
    fn settle_timeout(&self) -> Duration {
        Duration::from_secs(3)
    }

    /// Resolves the newest Approved package of a model registry group (read-only).
    async fn resolve_package(&self, group: &str, _color: Color) -> Result<Prepared> {
        Err(crate::error::invalid(format!(
            "--model-package-group {group}: model packages work only with provider = \"sagemaker\""
        )))
    }

    /// Sends one validation request to colour `c` through the provider's own
    /// API (SageMaker InvokeEndpoint); None means "use HTTP to test_url".
    async fn invoke(
        &self,
        _c: Color,
        _r: &crate::config::ValidateRequest,
        _timeout: Duration,
    ) -> Option<std::result::Result<(u16, String), String>> {
        None
    }
}
