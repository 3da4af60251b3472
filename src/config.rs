//! `cutover.toml`: parsed into raw structs, then validated into typed values.
//! Every error names the file, the line and the key.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{invalid, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    pub provider: ProviderKind,
    pub region: Option<String>,
    pub state_table: String,
    /// Lease of the stack lock; a crashed holder's lock frees after this.
    pub lock_lease: Duration,
    pub ecs: Option<EcsConfig>,
    pub sagemaker: Option<SagemakerConfig>,
    pub rollout: RolloutConfig,
    pub alarms: AlarmsConfig,
    pub validate: Option<ValidateConfig>,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    pub steps: Vec<u8>,
    pub bake: Duration,
    pub poll_interval: Duration,
    pub termination_wait: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct AlarmsConfig {
    pub watch: Vec<String>,
    pub create: Vec<ManagedAlarm>,
}

/// An alarm `provision` creates per colour, with that colour's dimensions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedAlarm {
    /// May use {{ name }} and {{ color }}.
    pub name: String,
    pub metric: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default = "default_statistic")]
    pub statistic: String,
    pub threshold: f64,
    #[serde(default = "default_comparison")]
    pub comparison: String,
    #[serde(default = "default_period")]
    pub period: u32,
    #[serde(default = "default_one")]
    pub evaluation_periods: u32,
}

fn default_statistic() -> String {
    "Sum".into()
}
fn default_comparison() -> String {
    "GreaterThanThreshold".into()
}
fn default_period() -> u32 {
    60
}
fn default_one() -> u32 {
    1
}

#[derive(Debug, Clone)]
pub struct ValidateConfig {
    pub url: Option<String>,
    pub requests: Vec<ValidateRequest>,
    pub repeat: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ValidateRequest {
    pub payload: String,
    pub content_type: String,
    pub path: String,
    pub method: String,
    pub expect_status: u16,
    pub expect_body_contains: Option<String>,
    pub expect_json: Vec<(String, serde_json::Value)>,
    pub max_latency: Option<Duration>,
}

// ---- raw TOML shapes ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    provider: Spanned<String>,
    region: Option<String>,
    state: Option<RawState>,
    ecs: Option<RawEcs>,
    sagemaker: Option<RawSagemaker>,
    rollout: Option<RawRollout>,
    alarms: Option<RawAlarms>,
    validate: Option<RawValidate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    table: Spanned<String>,
    lock_lease: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    cluster: String,
    vpc: String,
    subnets: Spanned<Vec<String>>,
    security_groups: Vec<String>,
    task_definition: Spanned<String>,
    container_name: String,
    container_port: u16,
    desired_count: Spanned<u32>,
    #[serde(default = "default_health_path")]
    health_check_path: Spanned<String>,
    #[serde(default = "default_listener")]
    listener_port: u16,
    #[serde(default = "default_test_listener")]
    test_listener_port: Spanned<u16>,
    #[serde(default)]
    assign_public_ip: bool,
    #[serde(default)]
    internal: bool,
}

fn default_health_path() -> Spanned<String> {
    Spanned::new(0..0, "/ping".into())
}
fn default_listener() -> u16 {
    80
}
fn default_test_listener() -> Spanned<u16> {
    Spanned::new(0..0, 8080)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSagemaker {
    execution_role_arn: Option<Spanned<String>>,
    image: String,
    model_data: Option<String>,
    instance_type: String,
    #[serde(default = "default_count")]
    instance_count: Spanned<u32>,
    model_package_group: Option<String>,
}

fn default_count() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    steps: Option<Spanned<Vec<i64>>>,
    strategy: Option<Spanned<String>>,
    canary_percent: Option<Spanned<i64>>,
    linear_step: Option<Spanned<i64>>,
    bake: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    termination_wait: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarms {
    #[serde(default)]
    watch: Vec<String>,
    #[serde(default)]
    create: Vec<ManagedAlarm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidate {
    url: Option<Spanned<String>>,
    payload: Option<String>,
    payload_file: Option<Spanned<String>>,
    content_type: Option<String>,
    path: Option<String>,
    method: Option<String>,
    expect_status: Option<u16>,
    expect_body_contains: Option<String>,
    expect_json: Option<BTreeMap<String, toml::Value>>,
    max_latency: Option<Spanned<String>>,
    #[serde(default)]
    requests: Vec<RawRequest>,
    repeat: Option<u32>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    payload: Option<String>,
    payload_file: Option<Spanned<String>>,
    content_type: Option<String>,
    path: Option<String>,
    method: Option<String>,
    expect_status: Option<u16>,
    expect_body_contains: Option<String>,
    expect_json: Option<BTreeMap<String, toml::Value>>,
    max_latency: Option<Spanned<String>>,
}

// ---- loading ----------------------------------------------------------------

/// Loads and validates a config file. All errors are `Error::Invalid`.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("{}: cannot read config: {e}", path.display())))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let loc = Locator { path, text };
    let raw: Raw = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();

    let name = raw.name.get_ref().clone();
    let name_ok = !name.is_empty()
        && name.len() <= 20
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(loc.at(
            &raw.name,
            "name",
            format!("\"{name}\" must match [a-z0-9-]{{1,20}} (lowercase letters, digits, '-'; at most 20 characters)"),
        ));
    }
    let provider = match raw.provider.get_ref().as_str() {
        "ecs" => ProviderKind::Ecs,
        "sagemaker" => ProviderKind::Sagemaker,
        other => {
            return Err(loc.at(
                &raw.provider,
                "provider",
                format!("unknown provider \"{other}\" (expected \"ecs\" or \"sagemaker\")"),
            ))
        }
    };
    let state_table = match &raw.state {
        Some(s) => {
            let t = s.table.get_ref();
            if t.len() < 3
                || t.len() > 255
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(loc.at(
                    &s.table,
                    "state.table",
                    format!("\"{t}\" is not a valid DynamoDB table name"),
                ));
            }
            t.clone()
        }
        None => "cutover-state".into(),
    };

    let lock_lease = match raw.state.as_ref().and_then(|s| s.lock_lease.as_ref()) {
        Some(l) => {
            let d = humantime::parse_duration(l.get_ref()).map_err(|e| {
                loc.at(
                    l,
                    "state.lock_lease",
                    format!("\"{}\" is not a duration ({e})", l.get_ref()),
                )
            })?;
            if d < Duration::from_secs(1) {
                return Err(loc.at(l, "state.lock_lease", "must be at least 1s".into()));
            }
            d
        }
        None => Duration::from_secs(60),
    };
    let ecs = match (&raw.ecs, provider) {
        (Some(e), _) => Some(ecs_config(&loc, &dir, e)?),
        (None, ProviderKind::Ecs) => {
            return Err(loc.at(
                &raw.provider,
                "ecs",
                "provider is \"ecs\" but the [ecs] section is missing".into(),
            ))
        }
        (None, _) => None,
    };
    let sagemaker = match (&raw.sagemaker, provider) {
        (Some(s), _) => Some(sagemaker_config(&loc, s)?),
        (None, ProviderKind::Sagemaker) => {
            return Err(loc.at(
                &raw.provider,
                "sagemaker",
                "provider is \"sagemaker\" but the [sagemaker] section is missing".into(),
            ))
        }
        (None, _) => None,
    };
    let rollout = rollout_config(&loc, raw.rollout.as_ref())?;
    let alarms = match raw.alarms {
        Some(a) => {
            for m in &a.create {
                check_comparison(&loc, &m.comparison)?;
            }
            AlarmsConfig {
                watch: a.watch,
                create: a.create,
            }
        }
        None => AlarmsConfig::default(),
    };
    let validate = match &raw.validate {
        Some(v) => Some(validate_config(&loc, &dir, v)?),
        None => None,
    };
    Ok(Config {
        path: path.to_path_buf(),
        dir,
        name,
        provider,
        region: raw.region,
        state_table,
        lock_lease,
        ecs,
        sagemaker,
        rollout,
        alarms,
        validate,
    })
}

fn check_comparison(loc: &Locator, c: &str) -> Result<()> {
    const OK: [&str; 4] = [
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ];
    if OK.contains(&c) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{}: key `alarms.create.comparison`: unknown comparison \"{c}\" (expected one of {})",
            loc.path.display(),
            OK.join(", ")
        )))
    }
}

fn ecs_config(loc: &Locator, dir: &Path, e: &RawEcs) -> Result<EcsConfig> {
    if e.subnets.get_ref().is_empty() {
        return Err(loc.at(
            &e.subnets,
            "ecs.subnets",
            "needs at least one subnet".into(),
        ));
    }
    if *e.desired_count.get_ref() == 0 {
        return Err(loc.at(
            &e.desired_count,
            "ecs.desired_count",
            "must be at least 1".into(),
        ));
    }
    if *e.test_listener_port.get_ref() == e.listener_port {
        return Err(loc.at(
            &e.test_listener_port,
            "ecs.test_listener_port",
            "must differ from listener_port".into(),
        ));
    }
    let hp = e.health_check_path.get_ref();
    if !hp.starts_with('/') {
        return Err(loc.at(
            &e.health_check_path,
            "ecs.health_check_path",
            format!("\"{hp}\" must start with '/'"),
        ));
    }
    let td = dir.join(e.task_definition.get_ref());
    let source = std::fs::read_to_string(&td).map_err(|err| {
        loc.at(
            &e.task_definition,
            "ecs.task_definition",
            format!("cannot read template {}: {err}", td.display()),
        )
    })?;
    Ok(EcsConfig {
        cluster: e.cluster.clone(),
        vpc: e.vpc.clone(),
        subnets: e.subnets.get_ref().clone(),
        security_groups: e.security_groups.clone(),
        task_definition: td,
        task_definition_source: source,
        container_name: e.container_name.clone(),
        container_port: e.container_port,
        desired_count: *e.desired_count.get_ref(),
        health_check_path: hp.clone(),
        listener_port: e.listener_port,
        test_listener_port: *e.test_listener_port.get_ref(),
        assign_public_ip: e.assign_public_ip,
        internal: e.internal,
    })
}

fn sagemaker_config(loc: &Locator, s: &RawSagemaker) -> Result<SagemakerConfig> {
    let role = match &s.execution_role_arn {
        Some(r) if r.get_ref().starts_with("arn:") => r.get_ref().clone(),
        Some(r) => {
            return Err(loc.at(
                r,
                "sagemaker.execution_role_arn",
                format!("\"{}\" is not an IAM role ARN", r.get_ref()),
            ))
        }
        None => {
            return Err(invalid(format!(
                "{}: key `sagemaker.execution_role_arn`: missing (the IAM role SageMaker assumes to run the model)",
                loc.path.display()
            )))
        }
    };
    if *s.instance_count.get_ref() == 0 {
        return Err(loc.at(
            &s.instance_count,
            "sagemaker.instance_count",
            "must be at least 1".into(),
        ));
    }
    Ok(SagemakerConfig {
        execution_role_arn: role,
        image: s.image.clone(),
        model_data: s.model_data.clone(),
        instance_type: s.instance_type.clone(),
        instance_count: *s.instance_count.get_ref(),
        model_package_group: s.model_package_group.clone(),
    })
}

/// Expands a strategy shorthand into steps.
pub fn strategy_steps(
    strategy: &str,
    canary: Option<i64>,
    linear: Option<i64>,
) -> Result<Vec<u8>, String> {
    match strategy {
        "all-at-once" => Ok(vec![100]),
        "canary" => {
            let p = canary.unwrap_or(10);
            if !(1..=99).contains(&p) {
                return Err(format!("canary_percent {p} must be within 1..=99"));
            }
            Ok(vec![p as u8, 100])
        }
        "linear" => {
            let s = linear.unwrap_or(25);
            if !(1..=100).contains(&s) {
                return Err(format!("linear_step {s} must be within 1..=100"));
            }
            let mut v: Vec<u8> = (1..)
                .map(|i| i * s)
                .take_while(|w| *w < 100)
                .map(|w| w as u8)
                .collect();
            v.push(100);
            Ok(v)
        }
        other => Err(format!(
            "unknown strategy \"{other}\" (expected \"all-at-once\", \"canary\" or \"linear\")"
        )),
    }
}

/// Steps rise strictly, each within 1..=100, and the last is 100.
pub fn check_steps(steps: &[i64]) -> Result<Vec<u8>, String> {
    if steps.is_empty() {
        return Err("must list at least one step".into());
    }
    for (i, s) in steps.iter().enumerate() {
        if !(1..=100).contains(s) {
            return Err(format!("step {s} is outside 1..=100"));
        }
        if i > 0 && *s <= steps[i - 1] {
            return Err(format!(
                "steps must rise strictly, but {} is followed by {s}",
                steps[i - 1]
            ));
        }
    }
    if *steps.last().unwrap() != 100 {
        return Err(format!(
            "the last step must be 100, not {}",
            steps.last().unwrap()
        ));
    }
    Ok(steps.iter().map(|s| *s as u8).collect())
}

fn rollout_config(loc: &Locator, r: Option<&RawRollout>) -> Result<RolloutConfig> {
    let mut cfg = RolloutConfig {
        steps: vec![10, 50, 100],
        bake: Duration::from_secs(300),
        poll_interval: Duration::from_secs(5),
        termination_wait: Duration::from_secs(1800),
    };
    let Some(r) = r else { return Ok(cfg) };
    match (&r.steps, &r.strategy) {
        (Some(s), Some(st)) => {
            let _ = s;
            return Err(loc.at(
                st,
                "rollout.strategy",
                "give either `steps` or `strategy`, not both".into(),
            ));
        }
        (Some(s), None) => {
            cfg.steps = check_steps(s.get_ref()).map_err(|m| loc.at(s, "rollout.steps", m))?;
        }
        (None, Some(st)) => {
            cfg.steps = strategy_steps(
                st.get_ref(),
                r.canary_percent.as_ref().map(|c| *c.get_ref()),
                r.linear_step.as_ref().map(|c| *c.get_ref()),
            )
            .map_err(|m| loc.at(st, "rollout.strategy", m))?;
        }
        (None, None) => {}
    }
    let dur = |v: &Option<Spanned<String>>, key: &str, dflt: Duration| -> Result<Duration> {
        match v {
            None => Ok(dflt),
            Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
                loc.at(
                    s,
                    key,
                    format!(
                        "\"{}\" is not a duration ({e}); try \"30s\" or \"5m\"",
                        s.get_ref()
                    ),
                )
            }),
        }
    };
    cfg.bake = dur(&r.bake, "rollout.bake", cfg.bake)?;
    cfg.poll_interval = dur(&r.poll_interval, "rollout.poll_interval", cfg.poll_interval)?;
    cfg.termination_wait = dur(
        &r.termination_wait,
        "rollout.termination_wait",
        cfg.termination_wait,
    )?;
    if cfg.poll_interval.is_zero() {
        let s = r.poll_interval.as_ref().unwrap();
        return Err(loc.at(s, "rollout.poll_interval", "must be above zero".into()));
    }
    Ok(cfg)
}

fn validate_config(loc: &Locator, dir: &Path, v: &RawValidate) -> Result<ValidateConfig> {
    let top = RawRequest {
        payload: v.payload.clone(),
        payload_file: v.payload_file.clone(),
        content_type: v.content_type.clone(),
        path: v.path.clone(),
        method: v.method.clone(),
        expect_status: v.expect_status,
        expect_body_contains: v.expect_body_contains.clone(),
        expect_json: v.expect_json.clone(),
        max_latency: v.max_latency.clone(),
    };
    let mut raws: Vec<&RawRequest> = Vec::new();
    if top.payload.is_some() || top.payload_file.is_some() {
        raws.push(&top);
    }
    raws.extend(v.requests.iter());
    if raws.is_empty() {
        return Err(invalid(format!(
            "{}: key `validate.payload`: [validate] needs a `payload`, a `payload_file` or [[validate.requests]]",
            loc.path.display()
        )));
    }
    let mut requests = Vec::new();
    for r in raws {
        let payload = match (&r.payload, &r.payload_file) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => {
                let p = dir.join(f.get_ref());
                std::fs::read_to_string(&p).map_err(|e| {
                    loc.at(
                        f,
                        "validate.payload_file",
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?
            }
            (Some(_), Some(f)) => {
                return Err(loc.at(
                    f,
                    "validate.payload_file",
                    "give `payload` or `payload_file`, not both".into(),
                ))
            }
            (None, None) => {
                return Err(invalid(format!(
                    "{}: key `validate.requests`: each request needs `payload` or `payload_file`",
                    loc.path.display()
                )))
            }
        };
        let mut expect_json = Vec::new();
        for (ptr, val) in r.expect_json.clone().unwrap_or_default() {
            if !(ptr.is_empty() || ptr.starts_with('/')) {
                return Err(invalid(format!(
                    "{}: key `validate.expect_json`: \"{ptr}\" is not a JSON pointer (it must start with '/')",
                    loc.path.display()
                )));
            }
            let json = serde_json::to_value(&val).map_err(|e| invalid(e.to_string()))?;
            expect_json.push((ptr, json));
        }
        let max_latency = match &r.max_latency {
            Some(s) => Some(humantime::parse_duration(s.get_ref()).map_err(|e| {
                loc.at(
                    s,
                    "validate.max_latency",
                    format!("\"{}\" is not a duration ({e})", s.get_ref()),
                )
            })?),
            None => None,
        };
        let method = r
            .method
            .clone()
            .unwrap_or_else(|| "POST".into())
            .to_uppercase();
        requests.push(ValidateRequest {
            payload,
            content_type: r
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
            path: r.path.clone().unwrap_or_else(|| "/invocations".into()),
            method,
            expect_status: r.expect_status.unwrap_or(200),
            expect_body_contains: r.expect_body_contains.clone(),
            expect_json,
            max_latency,
        });
    }
    if let Some(u) = &v.url {
        if !u.get_ref().starts_with("http://") {
            return Err(loc.at(
                u,
                "validate.url",
                format!("\"{}\" must be an http:// URL", u.get_ref()),
            ));
        }
    }
    let timeout = match &v.timeout {
        Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
            loc.at(
                s,
                "validate.timeout",
                format!("\"{}\" is not a duration ({e})", s.get_ref()),
            )
        })?,
        None => Duration::from_secs(10),
    };
    Ok(ValidateConfig {
        url: v
            .url
            .as_ref()
            .map(|u| u.get_ref().trim_end_matches('/').to_string()),
        requests,
        repeat: v.repeat.unwrap_or(1).max(1),
        timeout,
    })
}

/// Turns byte spans into `file:line: key `k`: message`.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn at<T>(&self, s: &Spanned<T>, key: &str, msg: String) -> Error {
        let span = s.span();
        if span.start == 0 && span.end == 0 {
            return invalid(format!("{}: key `{key}`: {msg}", self.path.display()));
        }
        invalid(format!(
            "{}:{}: key `{key}`: {msg}",
            self.path.display(),
            self.line_of(span.start)
        ))
    }

    fn toml_error(&self, e: &toml::de::Error) -> Error {
        let msg = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let line_no = self.line_of(span.start);
                let line = self.text.lines().nth(line_no - 1).unwrap_or("");
                let key = line
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').to_string())
                    .filter(|k| !k.is_empty() && !k.starts_with('['))
                    .map(|k| {
                        let section = self
                            .text
                            .lines()
                            .take(line_no - 1)
                            .filter(|l| l.trim_start().starts_with('['))
                            .last()
                            .map(|l| {
                                l.trim()
                                    .trim_matches(|c| c == '[' || c == ']')
                                    .trim()
                                    .to_string()
                            });
                        match section {
                            Some(sec) if !sec.is_empty() => format!("{sec}.{k}"),
                            _ => k,
                        }
                    });
                match key {
                    Some(k) => invalid(format!(
                        "{}:{line_no}: key `{k}`: {msg}",
                        self.path.display()
                    )),
                    None => invalid(format!("{}:{line_no}: {msg}", self.path.display())),
                }
            }
            None => invalid(format!("{}: {msg}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "iris"
provider = "sagemaker"

[sagemaker]
execution_role_arn = "arn:aws:iam::123456789012:role/sm"
image = "img:{{ version }}"
instance_type = "ml.m5.large"
"#;

    fn p(text: &str) -> Result<Config> {
        parse(Path::new("cutover.toml"), text)
    }

    fn err(text: &str) -> String {
        match p(text) {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = p(BASE).unwrap();
        assert_eq!(c.name, "iris");
        assert_eq!(c.provider, ProviderKind::Sagemaker);
        assert_eq!(c.state_table, "cutover-state");
        assert_eq!(c.rollout.steps, vec![10, 50, 100]);
        assert_eq!(c.rollout.bake, Duration::from_secs(300));
        assert_eq!(c.sagemaker.unwrap().instance_count, 1);
    }

    #[test]
    fn bad_name_names_line_and_key() {
        let m = err(&BASE.replace("\"iris\"", "\"Iris\""));
        assert!(m.starts_with("cutover.toml:2: key `name`"), "{m}");
        let m = err(&BASE.replace("\"iris\"", "\"abcdefghijklmnopqrstu\""));
        assert!(m.contains("key `name`"), "{m}");
    }

    #[test]
    fn unknown_provider() {
        let m = err(&BASE.replace("provider = \"sagemaker\"", "provider = \"k8s\""));
        assert!(
            m.contains("cutover.toml:3: key `provider`: unknown provider \"k8s\""),
            "{m}"
        );
    }

    #[test]
    fn unknown_key_rejected() {
        let m = err(&format!("{BASE}\nbogus = 1\n"));
        assert!(m.contains("bogus"), "{m}");
        assert!(m.contains("cutover.toml:"), "{m}");
    }

    #[test]
    fn steps_rules() {
        for (steps, want) in [
            ("[50, 10, 100]", "rise strictly"),
            ("[10, 50]", "last step must be 100"),
            ("[0, 100]", "outside 1..=100"),
            ("[10, 150]", "outside 1..=100"),
            ("[10, 10, 100]", "rise strictly"),
            ("[]", "at least one"),
        ] {
            let m = err(&format!("{BASE}\n[rollout]\nsteps = {steps}\n"));
            assert!(
                m.contains("key `rollout.steps`") && m.contains(want),
                "{steps}: {m}"
            );
            assert!(m.contains("cutover.toml:11:"), "{m}");
        }
    }

    #[test]
    fn strategies_expand() {
        let c = p(&format!(
            "{BASE}\n[rollout]\nstrategy = \"linear\"\nlinear_step = 30\n"
        ))
        .unwrap();
        assert_eq!(c.rollout.steps, vec![30, 60, 90, 100]);
        let c = p(&format!(
            "{BASE}\n[rollout]\nstrategy = \"canary\"\ncanary_percent = 5\n"
        ))
        .unwrap();
        assert_eq!(c.rollout.steps, vec![5, 100]);
        let c = p(&format!("{BASE}\n[rollout]\nstrategy = \"all-at-once\"\n")).unwrap();
        assert_eq!(c.rollout.steps, vec![100]);
        let m = err(&format!("{BASE}\n[rollout]\nstrategy = \"yolo\"\n"));
        assert!(m.contains("rollout.strategy"), "{m}");
    }

    #[test]
    fn bad_bake() {
        let m = err(&format!("{BASE}\n[rollout]\nbake = \"soon\"\n"));
        assert!(m.contains("cutover.toml:11: key `rollout.bake`"), "{m}");
        let c = p(&format!(
            "{BASE}\n[rollout]\nbake = \"3s\"\npoll_interval = \"250ms\"\n"
        ))
        .unwrap();
        assert_eq!(c.rollout.bake, Duration::from_secs(3));
        assert_eq!(c.rollout.poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn missing_sections() {
        let m = err("name = \"iris\"\nprovider = \"ecs\"\n");
        assert!(m.contains("[ecs] section is missing"), "{m}");
        let m = err("name = \"iris\"\nprovider = \"sagemaker\"\n");
        assert!(m.contains("[sagemaker] section is missing"), "{m}");
    }

    #[test]
    fn sagemaker_rules() {
        let m = err(&BASE.replace(
            "execution_role_arn = \"arn:aws:iam::123456789012:role/sm\"\n",
            "",
        ));
        assert!(m.contains("sagemaker.execution_role_arn"), "{m}");
        let m = err(&format!("{BASE}instance_count = 0\n"));
        assert!(m.contains("sagemaker.instance_count"), "{m}");
    }

    #[test]
    fn wrong_type_names_key() {
        let m = err(&format!("{BASE}\n[rollout]\nsteps = \"ten\"\n"));
        assert!(m.contains("cutover.toml:11: key `rollout.steps`"), "{m}");
    }

    #[test]
    fn validate_section() {
        let c = p(&format!(
            "{BASE}\n[validate]\npayload = '{{\"data\": 1}}'\nexpect_body_contains = \"predictions\"\n"
        ))
        .unwrap();
        let v = c.validate.unwrap();
        assert_eq!(v.requests.len(), 1);
        assert_eq!(v.requests[0].path, "/invocations");
        assert_eq!(v.requests[0].method, "POST");
        let m = err(&format!(
            "{BASE}\n[validate]\npayload_file = \"nope.json\"\n"
        ));
        assert!(m.contains("validate.payload_file"), "{m}");
    }
}
