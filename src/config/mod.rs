//! `cutover.toml`: raw TOML shapes (`raw`) checked into typed values (`check`).
//! Every error names the file, the line and the key (`locate`).
mod check;
mod compare;
mod ecs_https;
mod experiment;
mod hooks;
mod locate;
mod raw;
mod registry;
mod route53;
mod scaling;
mod schedule;
mod shadow;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compare::{Golden, Thresholds};
use crate::error::{invalid, Result};

pub use check::name_ok;
pub use experiment::{ExperimentConfig, MetricRef, OnEqual};
pub use hooks::{Hook, HookStage, HookTarget, NotifyConfig};
pub use registry::alias_ok;
pub use route53::Route53Config;
pub use scaling::{Autoscaling, ScalingMetric};
pub use shadow::ShadowConfig;
pub use steps::{check_steps, check_timed_items, strategy_pauses, strategy_steps, StepItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Ecs,
    Sagemaker,
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderKind::Ecs => "ecs",
            ProviderKind::Sagemaker => "sagemaker",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub name: String,
    pub region: Option<String>,
    pub state_table: String,
    /// Lease of the stack lock; a crashed holder's lock frees after this.
    pub lock_lease: Duration,
    /// The provider and its section.
    pub backend: Backend,
    pub rollout: RolloutConfig,
    pub alarms: AlarmsConfig,
    pub validate: Option<ValidateConfig>,
    pub compare: Option<CompareConfig>,
    pub judge: Option<JudgeConfig>,
    /// `[registry]`: MLflow model registry.
    pub registry: Option<RegistryConfig>,
    /// `[[hooks]]`, in file order.
    pub hooks: Vec<Hook>,
    pub notify: NotifyConfig,
    /// `[schedule]`: when `promote` may start or advance a rollout.
    pub schedule: Option<crate::rollout::calendar::Calendar>,
    /// `[experiment]`: an A/B split decided by a business metric.
    pub experiment: Option<ExperimentConfig>,
    /// `[shadow]`: a shadow phase before any weight moves (SageMaker).
    pub shadow: Option<ShadowConfig>,
    /// `[aws] role_arn`: every call for this stack under AssumeRole credentials.
    pub role: Option<crate::aws::Role>,
}

impl Config {
    pub fn provider(&self) -> ProviderKind {
        match self.backend {
            Backend::Ecs(_) => ProviderKind::Ecs,
            Backend::Sagemaker(_) => ProviderKind::Sagemaker,
        }
    }

    /// How long a colour drains after its weight reaches 0 (ECS's
    /// deregistration delay; SageMaker has none).
    pub fn drain(&self) -> std::time::Duration {
        match &self.backend {
            Backend::Ecs(e) => e.deregistration_delay,
            Backend::Sagemaker(_) => std::time::Duration::ZERO,
        }
    }
}

/// The provider the config names, with its checked section.
#[derive(Debug, Clone)]
pub enum Backend {
    Ecs(EcsConfig),
    Sagemaker(SagemakerConfig),
}

#[derive(Debug, Clone)]
pub struct EcsConfig {
    pub cluster: String,
    pub vpc: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Resolved path of the task-definition template.
    pub task_definition: PathBuf,
    pub task_definition_source: String,
    pub container_name: String,
    pub container_port: u16,
    pub desired_count: u32,
    pub health_check_path: String,
    pub listener_port: u16,
    pub test_listener_port: u16,
    pub assign_public_ip: bool,
    /// An internal (not internet-facing) load balancer.
    pub internal: bool,
    /// Target groups' deregistration delay (connection draining).
    pub deregistration_delay: Duration,
    /// `[ecs.autoscaling]`: both services scale with a target-tracking policy.
    pub autoscaling: Option<Autoscaling>,
    /// HTTPS listeners (production and test) when set.
    pub https: Option<Box<Https>>,
    /// An existing (shared) ALB: cutover adds its own listeners to it and
    /// never creates, changes or deletes the ALB itself.
    pub load_balancer_arn: Option<String>,
    /// An existing listener on that ALB where cutover owns one weighted rule
    /// instead of a production listener of its own.
    pub shared_rule: Option<Box<SharedRule>>,
    /// `[route53]`: weighted alias records over one ALB per colour.
    pub route53: Option<Route53Config>,
}

/// `[ecs] listener_arn`, `rule_priority`, `host_header`, `path_pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedRule {
    pub listener_arn: String,
    pub priority: u32,
    pub host_header: Vec<String>,
    pub path_pattern: Vec<String>,
}

/// `[ecs] certificate_arn` and friends.
#[derive(Debug, Clone, PartialEq)]
pub struct Https {
    pub certificate_arn: String,
    pub ssl_policy: String,
    /// An HTTP listener on port 80 that answers 301 to the HTTPS listener.
    pub redirect_http: bool,
}

/// The SslPolicy of cutover's HTTPS listeners unless `ssl_policy` says otherwise.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

#[cfg(test)]
impl EcsConfig {
    /// A plain stack's `[ecs]` for unit tests.
    pub fn example() -> EcsConfig {
        EcsConfig {
            cluster: "ml".into(),
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-1".into()],
            security_groups: vec![],
            task_definition: "task.json.j2".into(),
            task_definition_source: String::new(),
            container_name: "model".into(),
            container_port: 8080,
            desired_count: 2,
            health_check_path: "/ping".into(),
            listener_port: 80,
            test_listener_port: 8080,
            assign_public_ip: false,
            internal: false,
            deregistration_delay: Duration::from_secs(30),
            autoscaling: None,
            https: None,
            load_balancer_arn: None,
            shared_rule: None,
            route53: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SagemakerConfig {
    pub execution_role_arn: String,
    pub image: String,
    pub model_data: Option<String>,
    pub instance_type: String,
    pub instance_count: u32,
    /// Model registry group that `promote --auto-deploy` follows.
    pub model_package_group: Option<String>,
    /// The model container's environment; values are templates.
    pub environment: BTreeMap<String, String>,
}

/// The MLflow model registry (`[registry]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// Wins over MLFLOW_TRACKING_URI.
    pub tracking_uri: Option<String>,
    pub model: String,
    /// Moved to the live version after a rollout completes.
    pub alias: Option<String>,
    /// The alias `promote --auto-deploy` deploys from.
    pub follow: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    pub steps: Vec<u8>,
    /// Pauses, as the number of steps applied before each (0: before traffic).
    pub pauses: Vec<usize>,
    /// Timed pauses among them: (position, ms, then).
    pub pause_timers: crate::rollout::PauseTimers,
    pub bake: Duration,
    pub poll_interval: Duration,
    pub termination_wait: Duration,
    /// During bakes, send the `[validate]` requests to the candidate this often.
    pub probe_interval: Option<Duration>,
    /// This many probe failures in a row roll back at once.
    pub probe_failures: u32,
    /// A rolled-back ECS candidate is scaled to 0 this long after the rollback.
    pub scale_down_after_rollback: Option<Duration>,
    /// A step that cannot be applied, read back or given healthy capacity in
    /// this long rolls back (reason "stuck").
    pub step_timeout: Option<Duration>,
    /// Target-group stickiness while both colours take traffic (ECS).
    pub sticky: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct AlarmsConfig {
    pub watch: Vec<String>,
    pub create: Vec<ManagedAlarm>,
}

/// An alarm `provision` creates per colour, with that colour's dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedAlarm {
    /// May use {{ name }} and {{ color }}.
    pub name: String,
    pub metric: String,
    pub namespace: Option<String>,
    pub statistic: String,
    pub threshold: f64,
    pub comparison: String,
    pub period: u32,
    pub evaluation_periods: u32,
    pub treat_missing_data: String,
}

#[derive(Debug, Clone)]
pub struct ValidateConfig {
    pub url: Option<String>,
    pub requests: Vec<ValidateRequest>,
    pub repeat: u32,
    pub timeout: Duration,
    /// Extra CA certificate (PEM) trusted for https:// on top of the system roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// `[compare]`: the same requests to both colours, and the gate on how they compare.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub requests_file: PathBuf,
    pub requests: Vec<Golden>,
    pub thresholds: Thresholds,
    /// Request path and content type for rows that do not carry one.
    pub path: String,
    pub content_type: String,
    /// Requests in flight per colour.
    pub concurrency: usize,
    /// Requests per second per colour (pacing, so a big set cannot overload live).
    pub rate: f64,
    /// At most this many rows per run.
    pub max_requests: usize,
    pub timeout: Duration,
}

/// A metric the judge compares between the colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JudgeMetric {
    /// 5XX / requests per period.
    Errors,
    /// TargetResponseTime (ECS) or ModelLatency (SageMaker), per-period average.
    Latency,
}

/// `[judge]`: per-colour metrics over the bake, Mann-Whitney U as Kayenta does.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    pub metrics: Vec<JudgeMetric>,
    pub confidence: f64,
    /// `on_inconclusive = "hold"`: pause at the step instead of one more bake.
    pub hold: bool,
    pub dry_run: bool,
    /// Metric period (ALB and SageMaker publish per minute on AWS).
    pub period: Duration,
    /// Fewer points per colour than this is inconclusive.
    pub min_points: usize,
    /// A shift within this fraction of the stable median is not a regression.
    pub tolerance: f64,
}

/// One validation request; it lives with the HTTP code that sends it.
pub use crate::probe::Request as ValidateRequest;

/// Loads and checks a config file. All errors are `Error::Invalid`.
pub fn load(path: &Path) -> Result<Config> {
    let bytes = std::fs::read(path)
        .map_err(|e| invalid(format!("{}: cannot read config: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "{}: the config is not UTF-8 (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(path, &text)
}

/// Parses and checks config text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let cfg = check::parse(path, text)?;
    if let Ok(v) = text.parse::<toml::Table>() {
        if let Some((key, value)) = placeholder(&v, "") {
            return Err(invalid(format!(
                "{}: key `{key}` still holds the placeholder \"{value}\" that `cutover init` wrote; put the real value there",
                path.display()
            )));
        }
    }
    Ok(cfg)
}

/// The first value (key, text) that still holds an `init` placeholder.
fn placeholder(t: &toml::Table, prefix: &str) -> Option<(String, String)> {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let found = match v {
            toml::Value::String(s) if s.contains("REPLACE") => Some((key.clone(), s.clone())),
            toml::Value::Array(a) => a.iter().find_map(|x| match x {
                toml::Value::String(s) if s.contains("REPLACE") => Some((key.clone(), s.clone())),
                toml::Value::Table(t) => placeholder(t, &key),
                _ => None,
            }),
            toml::Value::Table(t) => placeholder(t, &key),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}
