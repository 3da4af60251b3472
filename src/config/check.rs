//! Raw TOML into typed, checked values; defaults are applied here.
use std::path::Path;
use std::time::Duration;

use super::compare::compare_config;
use super::locate::Locator;
use super::raw::{
    Raw, RawAlarms, RawEcs, RawJudge, RawRequest, RawRollout, RawSagemaker, RawValidate,
};
use super::steps::{check_timed_items, strategy_pauses, strategy_steps};
use super::{
    AlarmsConfig, Backend, Config, EcsConfig, JudgeConfig, JudgeMetric, ManagedAlarm,
    RolloutConfig, SagemakerConfig, ValidateConfig, ValidateRequest,
};
use crate::error::Result;

pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let loc = Locator { path, text };
    let de = toml::Deserializer::parse(text).map_err(|e| loc.syntax_error(&e))?;
    let raw: Raw = serde_path_to_error::deserialize(de).map_err(|e| loc.toml_error(&e))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };

    let name = raw.name.get_ref().clone();
    if !name_ok(&name) {
        return Err(loc.at(
            &raw.name,
            "name",
            format!("\"{name}\" must match [a-z0-9-]{{1,20}} (lowercase letters, digits, '-'; at most 20 characters)"),
        ));
    }
    let (state_table, lock_lease) = match &raw.state {
        Some(s) => {
            let t = s.table.get_ref();
            let ok = (3..=255).contains(&t.len())
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !ok {
                return Err(loc.at(
                    &s.table,
                    "state.table",
                    format!("\"{t}\" is not a valid DynamoDB table name"),
                ));
            }
            let lease = s.lock_lease.unwrap_or(Duration::from_secs(60));
            if lease < Duration::from_secs(1) {
                return Err(loc.key("state.lock_lease", "must be at least 1s".into()));
            }
            (t.clone(), lease)
        }
        None => ("cutover-state".to_string(), Duration::from_secs(60)),
    };
    // Both sections are checked when present; the provider picks one.
    let ecs = raw
        .ecs
        .as_ref()
        .map(|e| ecs_config(&loc, &dir, e))
        .transpose()?;
    let sagemaker = raw
        .sagemaker
        .as_ref()
        .map(|s| sagemaker_config(&loc, s))
        .transpose()?;
    let backend = match raw.provider.get_ref().as_str() {
        "ecs" => Backend::Ecs(ecs.ok_or_else(|| {
            loc.at(
                &raw.provider,
                "ecs",
                "provider is \"ecs\" but the [ecs] section is missing".into(),
            )
        })?),
        "sagemaker" => Backend::Sagemaker(sagemaker.ok_or_else(|| {
            loc.at(
                &raw.provider,
                "sagemaker",
                "provider is \"sagemaker\" but the [sagemaker] section is missing".into(),
            )
        })?),
        other => {
            return Err(loc.at(
                &raw.provider,
                "provider",
                format!("unknown provider \"{other}\" (expected \"ecs\" or \"sagemaker\")"),
            ))
        }
    };
    let mut backend = backend;
    super::route53::check_route53(&loc, raw.route53.as_ref(), &mut backend)?;
    let rollout = rollout_config(&loc, raw.rollout.as_ref())?;
    if rollout.scale_down_after_rollback.is_some() && matches!(backend, Backend::Sagemaker(_)) {
        return Err(loc.key(
            "rollout.scale_down_after_rollback",
            "applies to ECS services; a rolled-back SageMaker variant is removed by the next deploy".into(),
        ));
    }
    let alarms = match &raw.alarms {
        Some(a) => alarms_config(&loc, a)?,
        None => AlarmsConfig::default(),
    };
    let validate = raw
        .validate
        .as_ref()
        .map(|v| validate_config(&loc, &dir, v))
        .transpose()?;
    if rollout.probe_interval.is_some() && validate.is_none() {
        return Err(loc.key(
            "rollout.probe_interval",
            "probes send the [validate] requests; add a [validate] section".into(),
        ));
    }
    let compare = raw
        .compare
        .as_ref()
        .map(|c| compare_config(&loc, &dir, c))
        .transpose()?;
    let judge = raw
        .judge
        .as_ref()
        .map(|j| judge_config(&loc, j))
        .transpose()?;
    let registry = raw
        .registry
        .as_ref()
        .map(|r| super::registry::registry_config(&loc, r))
        .transpose()?;
    let hooks = super::hooks::check_hooks(&loc, &raw.hooks)?;
    let notify = super::hooks::check_notify(&loc, raw.notify.as_ref())?;
    let schedule = super::schedule::check_schedule(&loc, raw.schedule.as_ref())?;
    let mut rollout = rollout;
    let experiment = raw
        .experiment
        .as_ref()
        .map(|e| super::experiment::check_experiment(&loc, e))
        .transpose()?;
    if let Some(e) = &experiment {
        super::experiment::experiment_steps(&mut rollout, e.split);
    }
    let shadow = super::shadow::check_shadow(&loc, raw.shadow.as_ref(), &backend)?;
    let role = aws_role(&loc, raw.aws.as_ref(), &name)?;
    if rollout.sticky.is_some() && matches!(&backend, Backend::Ecs(e) if e.route53.is_some()) {
        return Err(loc.key(
            "rollout.sticky",
            "DNS cannot keep a user on one colour ([route53] switches whole load balancers; clients follow the records' TTL); remove `sticky`".into(),
        ));
    }
    if rollout.sticky.is_some() && matches!(backend, Backend::Sagemaker(_)) {
        return Err(loc.key(
            "rollout.sticky",
            "SageMaker has no stickiness of its own: a client keeps one variant by sending TargetVariant (X-Amzn-SageMaker-Target-Variant) itself; remove `sticky`".into(),
        ));
    }
    Ok(Config {
        path: path.to_path_buf(),
        dir,
        name,
        region: raw.region,
        state_table,
        lock_lease,
        backend,
        rollout,
        alarms,
        validate,
        compare,
        judge,
        registry,
        hooks,
        notify,
        schedule,
        experiment,
        shadow,
        role,
    })
}

/// `[aws] role_arn` (and `external_id`): session name `cutover-<name>`.
fn aws_role(
    loc: &Locator,
    raw: Option<&super::raw::RawAws>,
    name: &str,
) -> Result<Option<crate::aws::Role>> {
    let Some(a) = raw else { return Ok(None) };
    let Some(arn) = &a.role_arn else {
        if a.external_id.is_some() {
            return Err(loc.key("aws.external_id", "goes with aws.role_arn".into()));
        }
        return Ok(None);
    };
    let v = arn.get_ref();
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with("role/");
    if !ok {
        return Err(loc.at(
            arn,
            "aws.role_arn",
            format!("\"{v}\" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"),
        ));
    }
    if let Some(x) = &a.external_id {
        if !(2..=1224).contains(&x.len()) {
            return Err(loc.key("aws.external_id", "must be 2 to 1224 characters".into()));
        }
    }
    Ok(Some(crate::aws::Role {
        arn: v.clone(),
        external_id: a.external_id.clone(),
        session: format!("cutover-{name}"),
    }))
}

fn judge_config(loc: &Locator, j: &RawJudge) -> Result<JudgeConfig> {
    let mut metrics = Vec::new();
    for m in j
        .metrics
        .clone()
        .unwrap_or_else(|| vec!["errors".into(), "latency".into()])
    {
        metrics.push(match m.as_str() {
            "errors" => JudgeMetric::Errors,
            "latency" => JudgeMetric::Latency,
            other => {
                return Err(loc.key(
                    "judge.metrics",
                    format!("unknown metric \"{other}\" (expected \"errors\" or \"latency\")"),
                ))
            }
        });
    }
    if metrics.is_empty() {
        return Err(loc.key("judge.metrics", "must name at least one metric".into()));
    }
    let confidence = j.confidence.unwrap_or(0.98);
    if !(0.5..1.0).contains(&confidence) {
        return Err(loc.key(
            "judge.confidence",
            format!("{confidence} must be within 0.5..1 (e.g. 0.98)"),
        ));
    }
    let period = j.period.unwrap_or(Duration::from_secs(60));
    let secs = period.as_secs();
    if period.subsec_nanos() != 0
        || !(secs == 10 || secs == 30 || (secs >= 60 && secs.is_multiple_of(60)))
    {
        return Err(loc.key(
            "judge.period",
            "must be 10s, 30s or a multiple of 60s (CloudWatch periods)".into(),
        ));
    }
    let hold = match j.on_inconclusive.as_deref() {
        None | Some("bake") => false,
        Some("hold") => true,
        Some(o) => {
            return Err(loc.key(
                "judge.on_inconclusive",
                format!("\"{o}\": expected \"hold\" (pause until continue or rollback) or \"bake\" (one more bake, then fail; the default)"),
            ))
        }
    };
    Ok(JudgeConfig {
        metrics,
        confidence,
        hold,
        dry_run: j.dry_run.unwrap_or(false),
        period,
        min_points: j.min_points.unwrap_or(4).max(2) as usize,
        tolerance: j.tolerance.unwrap_or(0.25).max(0.0),
    })
}

/// `[a-z0-9-]{1,20}`.
pub fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 20
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn one_of(loc: &Locator, key: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(loc.key(
        key,
        format!(
            "unknown value \"{value}\" (expected one of {})",
            allowed.join(", ")
        ),
    ))
}

fn alarms_config(loc: &Locator, a: &RawAlarms) -> Result<AlarmsConfig> {
    let mut create = Vec::new();
    for m in &a.create {
        let comparison = m
            .comparison
            .clone()
            .unwrap_or_else(|| "GreaterThanThreshold".into());
        one_of(
            loc,
            "alarms.create.comparison",
            &comparison,
            &[
                "GreaterThanOrEqualToThreshold",
                "GreaterThanThreshold",
                "LessThanThreshold",
                "LessThanOrEqualToThreshold",
            ],
        )?;
        let statistic = m.statistic.clone().unwrap_or_else(|| "Sum".into());
        one_of(
            loc,
            "alarms.create.statistic",
            &statistic,
            &["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
        )?;
        let treat = m
            .treat_missing_data
            .clone()
            .unwrap_or_else(|| "notBreaching".into());
        one_of(
            loc,
            "alarms.create.treat_missing_data",
            &treat,
            &["breaching", "notBreaching", "ignore", "missing"],
        )?;
        let period = m.period.unwrap_or(60);
        if !(period == 10 || period == 30 || (period >= 60 && period.is_multiple_of(60))) {
            return Err(loc.key(
                "alarms.create.period",
                format!("{period} must be 10, 30 or a multiple of 60 (seconds)"),
            ));
        }
        create.push(ManagedAlarm {
            name: m.name.clone(),
            metric: m.metric.clone(),
            namespace: m.namespace.clone(),
            statistic,
            threshold: m.threshold,
            comparison,
            period,
            evaluation_periods: m.evaluation_periods.unwrap_or(1).max(1),
            treat_missing_data: treat,
        });
    }
    Ok(AlarmsConfig {
        watch: a.watch.clone(),
        create,
    })
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
    let https = super::ecs_https::https(loc, e)?;
    let listener_port = e
        .listener_port
        .unwrap_or(if https.is_some() { 443 } else { 80 });
    let test_listener_port = match &e.test_listener_port {
        Some(p) if *p.get_ref() == listener_port => {
            return Err(loc.at(
                p,
                "ecs.test_listener_port",
                "must differ from listener_port".into(),
            ))
        }
        Some(p) => *p.get_ref(),
        None if listener_port == 8080 => {
            return Err(loc.key(
                "ecs.test_listener_port",
                "must differ from listener_port (8080); set it".into(),
            ))
        }
        None => 8080,
    };
    let health_check_path = match &e.health_check_path {
        Some(hp) if !hp.get_ref().starts_with('/') => {
            return Err(loc.at(
                hp,
                "ecs.health_check_path",
                format!("\"{}\" must start with '/'", hp.get_ref()),
            ))
        }
        Some(hp) => hp.get_ref().clone(),
        None => "/ping".into(),
    };
    let delay = e.deregistration_delay.unwrap_or(Duration::from_secs(30));
    if delay > Duration::from_secs(3600) {
        return Err(loc.key(
            "ecs.deregistration_delay",
            "must be at most 1h (AWS allows 0-3600 seconds)".into(),
        ));
    }
    let autoscaling = e
        .autoscaling
        .as_ref()
        .map(|a| super::scaling::autoscaling(loc, a, *e.desired_count.get_ref()))
        .transpose()?;
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
        health_check_path,
        listener_port,
        test_listener_port,
        assign_public_ip: e.assign_public_ip,
        internal: e.internal,
        deregistration_delay: delay,
        autoscaling,
        https,
        load_balancer_arn: super::ecs_https::load_balancer_arn(loc, e)?,
        shared_rule: super::ecs_https::shared_rule(loc, e)?,
        route53: None,
    })
    .and_then(|c| super::ecs_https::lb_of_listener(loc, c))
    .and_then(|c| super::ecs_https::check_ports(loc, c))
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
            return Err(loc.key(
                "sagemaker.execution_role_arn",
                "missing (the IAM role SageMaker assumes to run the model)".into(),
            ))
        }
    };
    let count = match &s.instance_count {
        Some(c) if *c.get_ref() == 0 => {
            return Err(loc.at(c, "sagemaker.instance_count", "must be at least 1".into()))
        }
        Some(c) => *c.get_ref(),
        None => 1,
    };
    Ok(SagemakerConfig {
        execution_role_arn: role,
        image: s.image.clone(),
        model_data: s.model_data.clone(),
        instance_type: s.instance_type.clone(),
        instance_count: count,
        model_package_group: s.model_package_group.clone(),
        environment: s.environment.clone(),
    })
}

fn rollout_config(loc: &Locator, r: Option<&RawRollout>) -> Result<RolloutConfig> {
    let mut cfg = RolloutConfig {
        steps: vec![10, 50, 100],
        pauses: vec![],
        pause_timers: vec![],
        bake: Duration::from_secs(300),
        poll_interval: Duration::from_secs(5),
        termination_wait: Duration::from_secs(1800),
        probe_interval: None,
        probe_failures: 3,
        scale_down_after_rollback: None,
        step_timeout: None,
        sticky: None,
    };
    let Some(r) = r else { return Ok(cfg) };
    match (&r.steps, &r.strategy) {
        (Some(_), Some(st)) => {
            return Err(loc.at(
                st,
                "rollout.strategy",
                "give either `steps` or `strategy`, not both".into(),
            ));
        }
        (Some(s), None) => {
            (cfg.steps, cfg.pauses, cfg.pause_timers) =
                check_timed_items(s.get_ref()).map_err(|m| loc.at(s, "rollout.steps", m))?;
        }
        (None, Some(st)) => {
            cfg.steps = strategy_steps(st.get_ref(), r.canary_percent, r.linear_step)
                .map_err(|m| loc.at(st, "rollout.strategy", m))?;
        }
        (None, None) => {}
    }
    if let Some(p) = &r.pause {
        if r.strategy.is_none() {
            return Err(loc.at(
                p,
                "rollout.pause",
                "`pause` goes with `strategy`; with `steps`, write \"pause\" into the list".into(),
            ));
        }
        cfg.pauses =
            strategy_pauses(p.get_ref(), &cfg.steps).map_err(|m| loc.at(p, "rollout.pause", m))?;
    }
    cfg.scale_down_after_rollback = r.scale_down_after_rollback;
    cfg.step_timeout = r.step_timeout;
    cfg.sticky = r.sticky;
    if cfg
        .sticky
        .is_some_and(|d| !(1..=604_800).contains(&d.as_secs()))
    {
        return Err(loc.key(
            "rollout.sticky",
            "must be within 1s..=7d (target-group stickiness, DurationSeconds)".into(),
        ));
    }
    if cfg.step_timeout.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(loc.key(
            "rollout.step_timeout",
            "must be at least 1s (e.g. \"15m\")".into(),
        ));
    }
    cfg.bake = r.bake.unwrap_or(cfg.bake);
    cfg.poll_interval = r.poll_interval.unwrap_or(cfg.poll_interval);
    cfg.termination_wait = r.termination_wait.unwrap_or(cfg.termination_wait);
    if cfg.poll_interval.is_zero() {
        return Err(loc.key("rollout.poll_interval", "must be above zero".into()));
    }
    if let Some(p) = r.probe_interval {
        if p < Duration::from_millis(100) {
            return Err(loc.key("rollout.probe_interval", "must be at least 100ms".into()));
        }
        cfg.probe_interval = Some(p);
    }
    if let Some(f) = &r.probe_failures {
        if *f.get_ref() == 0 {
            return Err(loc.at(f, "rollout.probe_failures", "must be at least 1".into()));
        }
        cfg.probe_failures = *f.get_ref();
    }
    Ok(cfg)
}

fn request(loc: &Locator, dir: &Path, r: &RawRequest) -> Result<ValidateRequest> {
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
            return Err(loc.key(
                "validate.requests",
                "each request needs `payload` or `payload_file`".into(),
            ))
        }
    };
    let mut expect_json = Vec::new();
    for (ptr, val) in r.expect_json.clone().unwrap_or_default() {
        if !(ptr.is_empty() || ptr.starts_with('/')) {
            return Err(loc.key(
                "validate.expect_json",
                format!("\"{ptr}\" is not a JSON pointer (it must start with '/')"),
            ));
        }
        let json = serde_json::to_value(&val)
            .map_err(|e| loc.key("validate.expect_json", e.to_string()))?;
        expect_json.push((ptr, json));
    }
    let method = r
        .method
        .clone()
        .unwrap_or_else(|| "POST".into())
        .to_uppercase();
    if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(loc.key(
            "validate.method",
            format!("\"{method}\" is not an HTTP method"),
        ));
    }
    let path = r.path.clone().unwrap_or_else(|| "/invocations".into());
    if !path.starts_with('/') {
        return Err(loc.key("validate.path", format!("\"{path}\" must start with '/'")));
    }
    Ok(ValidateRequest {
        payload,
        content_type: r
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".into()),
        path,
        method,
        expect_status: r.expect_status.unwrap_or(200),
        expect_body_contains: r.expect_body_contains.clone(),
        expect_json,
        max_latency: r.max_latency,
    })
}

fn validate_config(loc: &Locator, dir: &Path, v: &RawValidate) -> Result<ValidateConfig> {
    let mut raws: Vec<RawRequest> = v.top().into_iter().collect();
    raws.extend(v.requests.iter().cloned());
    if raws.is_empty() {
        return Err(loc.key(
            "validate.payload",
            "[validate] needs a `payload`, a `payload_file` or [[validate.requests]]".into(),
        ));
    }
    let requests = raws
        .iter()
        .map(|r| request(loc, dir, r))
        .collect::<Result<Vec<_>>>()?;
    if let Some(u) = &v.url {
        let s = u.get_ref();
        if !(s.starts_with("http://") || s.starts_with("https://"))
            || reqwest::Url::parse(s).is_err()
        {
            return Err(loc.at(
                u,
                "validate.url",
                format!("\"{s}\" must be an http:// or https:// URL"),
            ));
        }
    }
    let ca_pem = match &v.ca_file {
        Some(f) => {
            let p = dir.join(f.get_ref());
            let pem = std::fs::read(&p).map_err(|e| {
                loc.at(
                    f,
                    "validate.ca_file",
                    format!("cannot read {}: {e}", p.display()),
                )
            })?;
            // A client must accept it as a root: a PEM frame around garbage does not pass.
            if !pem.starts_with(b"-----BEGIN")
                || crate::probe::client(Some(&pem), std::time::Duration::from_secs(5)).is_err()
            {
                return Err(loc.at(
                    f,
                    "validate.ca_file",
                    format!("{} is not a PEM certificate", p.display()),
                ));
            }
            Some(pem)
        }
        None => None,
    };
    Ok(ValidateConfig {
        url: v
            .url
            .as_ref()
            .map(|u| u.get_ref().trim_end_matches('/').to_string()),
        requests,
        repeat: v.repeat.unwrap_or(1).max(1),
        timeout: v.timeout.unwrap_or(Duration::from_secs(10)),
        ca_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ProviderKind};
    use crate::error::Error;

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
        assert_eq!(c.provider(), ProviderKind::Sagemaker);
        assert_eq!(c.state_table, "cutover-state");
        assert_eq!(c.rollout.steps, vec![10, 50, 100]);
        assert_eq!(c.rollout.bake, Duration::from_secs(300));
        let crate::config::Backend::Sagemaker(sm) = c.backend else {
            panic!("sagemaker")
        };
        assert_eq!(sm.instance_count, 1);
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
