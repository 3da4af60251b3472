//! The TOML shapes exactly as written (serde). Checks and defaults live in `check`.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::steps::StepItem;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub name: Spanned<String>,
    pub provider: Spanned<String>,
    pub region: Option<String>,
    pub state: Option<RawState>,
    pub ecs: Option<RawEcs>,
    pub sagemaker: Option<RawSagemaker>,
    pub rollout: Option<RawRollout>,
    pub alarms: Option<RawAlarms>,
    pub validate: Option<RawValidate>,
    pub compare: Option<RawCompare>,
    pub judge: Option<RawJudge>,
    pub registry: Option<RawRegistry>,
    #[serde(default)]
    pub hooks: Vec<RawHook>,
    pub notify: Option<RawNotify>,
    pub schedule: Option<RawSchedule>,
    pub experiment: Option<RawExperiment>,
    pub route53: Option<RawRoute53>,
    pub shadow: Option<RawShadow>,
    pub aws: Option<RawAws>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAws {
    pub role_arn: Option<Spanned<String>>,
    pub external_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShadow {
    pub sampling: Spanned<i64>,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub capture: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute53 {
    pub hosted_zone_id: Spanned<String>,
    pub record: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub split: Spanned<i64>,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub min_samples: Option<u64>,
    pub success: RawMetricRef,
    pub trials: RawMetricRef,
    pub alpha: Option<f64>,
    pub min_effect: Option<f64>,
    pub on_equal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetricRef {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub windows: Option<Vec<Spanned<String>>>,
    pub timezone: Option<Spanned<String>>,
    pub freeze: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub on: Spanned<String>,
    pub run: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub url: Option<Spanned<String>>,
    pub eventbridge_bus: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub header_env: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub table: Spanned<String>,
    #[serde(default, with = "humantime_serde")]
    pub lock_lease: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEcs {
    pub cluster: String,
    pub vpc: String,
    pub subnets: Spanned<Vec<String>>,
    pub security_groups: Vec<String>,
    pub task_definition: Spanned<String>,
    pub container_name: String,
    pub container_port: u16,
    pub desired_count: Spanned<u32>,
    pub health_check_path: Option<Spanned<String>>,
    pub listener_port: Option<u16>,
    pub test_listener_port: Option<Spanned<u16>>,
    #[serde(default)]
    pub assign_public_ip: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default, with = "humantime_serde")]
    pub deregistration_delay: Option<Duration>,
    /// HTTPS production (and test) listener with this ACM/IAM certificate.
    pub certificate_arn: Option<Spanned<String>>,
    pub ssl_policy: Option<String>,
    pub redirect_http: Option<Spanned<bool>>,
    /// An existing ALB that cutover uses but never creates or deletes.
    pub load_balancer_arn: Option<Spanned<String>>,
    /// An existing listener: cutover owns one rule on it.
    pub listener_arn: Option<Spanned<String>>,
    pub rule_priority: Option<Spanned<i64>>,
    #[serde(default)]
    pub host_header: Vec<String>,
    #[serde(default)]
    pub path_pattern: Vec<String>,
    pub autoscaling: Option<RawAutoscaling>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaling {
    pub min: u32,
    pub max: u32,
    pub metric: Option<String>,
    pub target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSagemaker {
    pub execution_role_arn: Option<Spanned<String>>,
    pub image: String,
    pub model_data: Option<String>,
    pub instance_type: String,
    pub instance_count: Option<Spanned<u32>>,
    pub model_package_group: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    pub steps: Option<Spanned<Vec<StepItem>>>,
    pub strategy: Option<Spanned<String>>,
    /// With `strategy`: "none" | "before" | "after-first" | "each".
    pub pause: Option<Spanned<String>>,
    pub canary_percent: Option<i64>,
    pub linear_step: Option<i64>,
    #[serde(default, with = "humantime_serde")]
    pub bake: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub termination_wait: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub probe_interval: Option<Duration>,
    pub probe_failures: Option<Spanned<u32>>,
    #[serde(default, with = "humantime_serde")]
    pub scale_down_after_rollback: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub step_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub sticky: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlarms {
    #[serde(default)]
    pub watch: Vec<String>,
    #[serde(default)]
    pub create: Vec<RawManagedAlarm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManagedAlarm {
    pub name: String,
    pub metric: String,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub threshold: f64,
    pub comparison: Option<String>,
    pub period: Option<u32>,
    pub evaluation_periods: Option<u32>,
    pub treat_missing_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValidate {
    pub url: Option<Spanned<String>>,
    pub payload: Option<String>,
    pub payload_file: Option<Spanned<String>>,
    pub content_type: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    pub expect_status: Option<u16>,
    pub expect_body_contains: Option<String>,
    pub expect_json: Option<BTreeMap<String, toml::Value>>,
    #[serde(default, with = "humantime_serde")]
    pub max_latency: Option<Duration>,
    #[serde(default)]
    pub requests: Vec<RawRequest>,
    pub repeat: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub ca_file: Option<Spanned<String>>,
}

impl RawValidate {
    /// The request given by the section's own keys, if it has a payload.
    pub fn top(&self) -> Option<RawRequest> {
        (self.payload.is_some() || self.payload_file.is_some()).then(|| RawRequest {
            payload: self.payload.clone(),
            payload_file: self.payload_file.clone(),
            content_type: self.content_type.clone(),
            path: self.path.clone(),
            method: self.method.clone(),
            expect_status: self.expect_status,
            expect_body_contains: self.expect_body_contains.clone(),
            expect_json: self.expect_json.clone(),
            max_latency: self.max_latency,
        })
    }
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub payload: Option<String>,
    pub payload_file: Option<Spanned<String>>,
    pub content_type: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    pub expect_status: Option<u16>,
    pub expect_body_contains: Option<String>,
    pub expect_json: Option<BTreeMap<String, toml::Value>>,
    #[serde(default, with = "humantime_serde")]
    pub max_latency: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    pub requests: Spanned<String>,
    pub output: Option<String>,
    pub tolerance: Option<f64>,
    pub min_agreement: Option<f64>,
    pub min_accuracy: Option<f64>,
    pub max_latency_ratio: Option<f64>,
    pub path: Option<String>,
    pub content_type: Option<String>,
    pub concurrency: Option<u32>,
    pub rate: Option<f64>,
    pub max_requests: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJudge {
    pub metrics: Option<Vec<String>>,
    pub confidence: Option<f64>,
    pub dry_run: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    pub min_points: Option<u32>,
    pub tolerance: Option<f64>,
    pub on_inconclusive: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    pub mlflow_tracking_uri: Option<String>,
    pub model: String,
    pub alias: Option<String>,
    pub follow: Option<String>,
}
