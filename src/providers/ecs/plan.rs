//! ECS provisioning, plan first: `observe` reads AWS (and refuses foreign
//! resources), `plan` turns that into a typed step list with no side effect,
//! and `apply` runs exactly one step. `plan` and `provision` share the list.
use std::collections::BTreeMap;

use aws_sdk_ecs::types as et;
use aws_sdk_elasticloadbalancingv2::types as lt;

use super::traffic::{forward, weights_of};
use super::{ecs_tags, elb_tags, service_name, Ecs, COLOR_HEADER};
use crate::config::EcsConfig;
use crate::error::{aws, failed, invalid, Result};
use crate::rollout::Color;

/// What exists of the stack in AWS.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub cluster: bool,
    pub lb: Option<String>,
    /// Per colour: ARN, health check path, deregistration delay (seconds).
    pub tgs: BTreeMap<Color, (String, Option<String>, Option<u64>)>,
    pub services: Vec<Color>,
    /// The production listener's weights when it exists (None: it forwards elsewhere).
    pub prod: Option<Option<crate::rollout::Weights>>,
    pub test: Option<String>,
    /// Colours that already have an `x-cutover-color` rule on the test listener.
    pub color_rules: Vec<Color>,
    /// With `[ecs.autoscaling]`: the services' scalable targets and policies.
    pub scaling: BTreeMap<Color, super::scaling::Registration>,
    pub policies: BTreeMap<Color, (aws_sdk_applicationautoscaling::types::MetricType, f64)>,
    /// What autoscaling may do to each colour, from the stored rollout (set by the caller).
    pub modes: BTreeMap<Color, crate::rollout::Scaling>,
    /// The HTTP :80 listener that redirects to HTTPS exists.
    pub redirect: bool,
    /// With `[route53]`: each colour's own load balancer (ARN).
    pub color_lbs: BTreeMap<Color, String>,
    /// ... and whether its listener forwards to the colour's group (false: elsewhere).
    pub color_listeners: BTreeMap<Color, bool>,
    /// ... and whether cutover's two weighted records exist.
    pub records: bool,
}

/// One provisioning step.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateCluster,
    CreateLoadBalancer,
    CreateTargetGroup(Color),
    SetHealthCheckPath(Color),
    SetDeregistrationDelay(Color),
    CreateListener,
    /// The weighted rule on an existing listener (`listener_arn`).
    CreateRule,
    CreateTestListener {
        idle: Color,
    },
    CreateColorRule(Color),
    CreateRedirectListener,
    CreateService(Color),
    /// `[route53]`: the colour's own load balancer, and its listener
    /// forwarding to the colour's group.
    CreateColorLoadBalancer(Color),
    CreateColorListener(Color),
    /// `[route53]`: the two weighted alias records, blue 100 / green 0.
    CreateRecords,
    /// Register the colour's scalable target in this mode and put its policy.
    Scaling(Color, crate::rollout::Scaling),
}

/// Where the steps' resources are, filled by `observe` and by each `apply`.
#[derive(Clone, Debug, Default)]
pub struct Known {
    lb: Option<String>,
    color_lb: BTreeMap<Color, String>,
    tg: BTreeMap<Color, String>,
    test: Option<String>,
}

/// The port of the HTTP listener that redirects to HTTPS (`redirect_http`).
pub const REDIRECT_PORT: u16 = 80;

/// "HTTPS" with `certificate_arn`, else "HTTP".
pub(super) fn scheme(cfg: &EcsConfig) -> &'static str {
    if cfg.https.is_some() {
        "HTTPS"
    } else {
        "HTTP"
    }
}

/// The steps that bring `seen` to the config. Pure.
pub fn plan(stack: &str, cfg: &EcsConfig, seen: &Observed) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    if !seen.cluster {
        steps.push(Step::CreateCluster);
    }
    if cfg.route53.is_none() && seen.lb.is_none() {
        steps.push(Step::CreateLoadBalancer);
    }
    for c in Color::BOTH {
        match seen.tgs.get(&c) {
            None => steps.push(Step::CreateTargetGroup(c)),
            Some((_, path, delay)) => {
                if path.as_deref() != Some(cfg.health_check_path.as_str()) {
                    steps.push(Step::SetHealthCheckPath(c));
                }
                if *delay != Some(cfg.deregistration_delay.as_secs()) {
                    steps.push(Step::SetDeregistrationDelay(c));
                }
            }
        }
    }
    // A fresh target group gets its delay right after creation.
    for c in Color::BOTH {
        if !seen.tgs.contains_key(&c) {
            steps.push(Step::SetDeregistrationDelay(c));
        }
    }
    if cfg.route53.is_some() {
        return dns_steps(stack, cfg, seen, steps);
    }
    match seen.prod {
        None if cfg.shared_rule.is_some() => steps.push(Step::CreateRule),
        None => steps.push(Step::CreateListener),
        Some(None) if seen.tgs.len() == 2 && cfg.shared_rule.is_some() => {
            return Err(invalid(format!(
                "cutover's rule at priority {} does not forward to {stack}-blue/{stack}-green; fix it by hand or run `cutover destroy`",
                cfg.shared_rule.as_ref().map_or(0, |r| r.priority)
            )))
        }
        Some(None) if seen.tgs.len() == 2 => {
            return Err(invalid(format!(
                "listener :{} on load balancer {stack} does not forward to {stack}-blue/{stack}-green; fix it by hand or run `cutover destroy`",
                cfg.listener_port
            )))
        }
        Some(_) => {}
    }
    if seen.test.is_none() {
        // The idle colour: the one with no traffic (green on a new stack).
        let idle = match seen.prod {
            Some(Some(w)) if w.green == 100 => Color::Blue,
            _ => Color::Green,
        };
        steps.push(Step::CreateTestListener { idle });
    }
    for c in Color::BOTH {
        if !seen.color_rules.contains(&c) {
            steps.push(Step::CreateColorRule(c));
        }
    }
    if cfg.https.as_ref().is_some_and(|h| h.redirect_http) && !seen.redirect {
        steps.push(Step::CreateRedirectListener);
    }
    services_and_scaling(cfg, seen, &mut steps);
    Ok(steps)
}

fn services_and_scaling(cfg: &EcsConfig, seen: &Observed, steps: &mut Vec<Step>) {
    for c in Color::BOTH {
        if !seen.services.contains(&c) {
            steps.push(Step::CreateService(c));
        }
    }
    steps.extend(
        super::scaling::to_register(cfg, &seen.modes, &seen.scaling, &seen.policies)
            .into_iter()
            .map(|(c, mode)| Step::Scaling(c, mode)),
    );
}

/// `[route53]`: a load balancer and listener per colour, then the records.
fn dns_steps(
    stack: &str,
    cfg: &EcsConfig,
    seen: &Observed,
    mut steps: Vec<Step>,
) -> Result<Vec<Step>> {
    for c in Color::BOTH {
        if !seen.color_lbs.contains_key(&c) {
            steps.push(Step::CreateColorLoadBalancer(c));
        }
        match seen.color_listeners.get(&c) {
            None => steps.push(Step::CreateColorListener(c)),
            Some(false) => {
                return Err(invalid(format!(
                    "listener :{} on load balancer {stack}-{c} does not forward to {stack}-{c}; fix it by hand or run `cutover destroy`",
                    cfg.listener_port
                )))
            }
            Some(true) => {}
        }
    }
    if !seen.records {
        steps.push(Step::CreateRecords);
    }
    services_and_scaling(cfg, seen, &mut steps);
    Ok(steps)
}

impl Ecs<'_> {
    /// The steps that bring what `observe` saw to the config.
    pub fn steps(&self, seen: &Observed) -> Result<Vec<Step>> {
        plan(&self.name, &self.cfg, seen)
    }

    /// A step as `plan` prints it.
    pub fn describe_step(&self, s: &Step) -> (&'static str, String) {
        s.describe(&self.name, &self.cfg)
    }

    /// Reads what exists; resources with our names but not our tags are refused here,
    /// before any write.
    pub async fn observe(&self) -> Result<(Observed, Known)> {
        let mut seen = Observed {
            cluster: self.cluster_active().await?,
            ..Observed::default()
        };
        let mut known = Known::default();
        let lb = if self.dns_mode() {
            None
        } else {
            self.find_lb().await?
        };
        if let Some(l) = &lb {
            let arn = l.load_balancer_arn().unwrap_or_default().to_string();
            // An existing ALB from the config is used as is; ours must carry our tag.
            if self.cfg.load_balancer_arn.is_none() {
                self.check_owner("load balancer", &self.name, &arn).await?;
            }
            seen.lb = Some(arn.clone());
            known.lb = Some(arn);
        }
        for c in Color::BOTH {
            if let Some(t) = self.find_tg(c).await? {
                let arn = t.target_group_arn().unwrap_or_default().to_string();
                self.check_owner("target group", &self.tg_name(c), &arn)
                    .await?;
                let delay = self.deregistration_delay(&arn).await?;
                seen.tgs.insert(
                    c,
                    (arn.clone(), t.health_check_path().map(String::from), delay),
                );
                known.tg.insert(c, arn);
            }
        }
        if seen.cluster {
            for (c, s) in self.services().await? {
                if !self.ours(s.tags()) {
                    return Err(invalid(format!(
                        "service {} in cluster {} exists but is not managed by cutover stack {}; refusing to take it over",
                        service_name(&self.name, c),
                        self.cfg.cluster,
                        self.name
                    )));
                }
                seen.services.push(c);
            }
            if self.cfg.autoscaling.is_some() {
                seen.scaling = self.registered().await?;
                seen.policies = self.policies().await?;
            }
        }
        if self.dns_mode() {
            self.observe_colors(&mut seen, &mut known).await?;
            return Ok((seen, known));
        }
        // With listener_arn, the production route is a rule, not a listener of ours.
        let mut our_ports = vec![self.cfg.test_listener_port as i32];
        if self.cfg.shared_rule.is_none() {
            our_ports.push(self.cfg.listener_port as i32);
        }
        if let Some(r) = self.shared_rule().await? {
            seen.prod = Some(weights_of(r.actions(), &known.tg));
        }
        if self.cfg.https.as_ref().is_some_and(|h| h.redirect_http) {
            our_ports.push(REDIRECT_PORT as i32);
        }
        if let Some(lb) = &seen.lb {
            for l in self.listeners(lb).await? {
                // On a shared ALB the listeners on our ports must be ours.
                let port = l.port().unwrap_or(0);
                if self.cfg.load_balancer_arn.is_some() && our_ports.contains(&port) {
                    let arn = l.listener_arn().unwrap_or_default();
                    self.check_owner("listener", &format!(":{port} ({arn})"), arn)
                        .await?;
                }
                if l.port() == Some(REDIRECT_PORT as i32)
                    && self.cfg.https.as_ref().is_some_and(|h| h.redirect_http)
                {
                    seen.redirect = true;
                } else if self.cfg.shared_rule.is_none()
                    && l.port() == Some(self.cfg.listener_port as i32)
                {
                    seen.prod = Some(weights_of(l.default_actions(), &known.tg));
                } else if l.port() == Some(self.cfg.test_listener_port as i32) {
                    let arn = l.listener_arn().unwrap_or_default().to_string();
                    for r in self.rules(&arn).await? {
                        for c in Color::BOTH {
                            if rule_matches_color(&r, c) {
                                seen.color_rules.push(c);
                            }
                        }
                    }
                    seen.test = Some(arn.clone());
                    known.test = Some(arn);
                }
            }
        }
        Ok((seen, known))
    }

    /// `[route53]`: each colour's load balancer and listener, and the records.
    async fn observe_colors(&self, seen: &mut Observed, known: &mut Known) -> Result<()> {
        for c in Color::BOTH {
            let name = self.color_lb_name(c);
            let Some(lb) = self.find_lb_named(&name).await? else {
                continue;
            };
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            self.check_owner("load balancer", &name, &arn).await?;
            for l in self.listeners(&arn).await? {
                if l.port() == Some(self.cfg.listener_port as i32) {
                    let own: BTreeMap<Color, String> = known
                        .tg
                        .get(&c)
                        .map(|t| (c, t.clone()))
                        .into_iter()
                        .collect();
                    let right =
                        weights_of(l.default_actions(), &own).is_some_and(|w| w.of(c) == 100);
                    seen.color_listeners.insert(c, right);
                }
            }
            seen.color_lbs.insert(c, arn.clone());
            known.color_lb.insert(c, arn);
        }
        // Refuses record sets of the name that are not ours, before any write.
        seen.records = self.own_records().await?.len() == 2;
        Ok(())
    }

    async fn deregistration_delay(&self, tg: &str) -> Result<Option<u64>> {
        let out = self
            .c
            .elb
            .describe_target_group_attributes()
            .target_group_arn(tg)
            .send()
            .await
            .map_err(|e| aws("describe target group attributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok()))
    }

    /// Runs one step; `known` gains what it created.
    pub async fn apply(&self, step: &Step, known: &mut Known) -> Result<()> {
        let need = |what: &str, v: Option<&String>| {
            v.cloned()
                .ok_or_else(|| failed(format!("provision step needs the {what}, which is missing")))
        };
        match step {
            Step::CreateCluster => {
                self.c
                    .ecs
                    .create_cluster()
                    .cluster_name(&self.cfg.cluster)
                    .set_tags(Some(ecs_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create cluster", e))?;
            }
            Step::CreateLoadBalancer => {
                let o = self
                    .c
                    .elb
                    .create_load_balancer()
                    .name(&self.name)
                    .set_subnets(Some(self.cfg.subnets.clone()))
                    .set_security_groups(Some(self.cfg.security_groups.clone()))
                    .scheme(if self.cfg.internal {
                        lt::LoadBalancerSchemeEnum::Internal
                    } else {
                        lt::LoadBalancerSchemeEnum::InternetFacing
                    })
                    .r#type(lt::LoadBalancerTypeEnum::Application)
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create load balancer", e))?;
                known.lb = o
                    .load_balancers()
                    .first()
                    .and_then(|l| l.load_balancer_arn().map(String::from));
            }
            Step::CreateColorLoadBalancer(c) => {
                let o = self
                    .c
                    .elb
                    .create_load_balancer()
                    .name(self.color_lb_name(*c))
                    .set_subnets(Some(self.cfg.subnets.clone()))
                    .set_security_groups(Some(self.cfg.security_groups.clone()))
                    .scheme(if self.cfg.internal {
                        lt::LoadBalancerSchemeEnum::Internal
                    } else {
                        lt::LoadBalancerSchemeEnum::InternetFacing
                    })
                    .r#type(lt::LoadBalancerTypeEnum::Application)
                    .set_tags(Some(elb_tags(&self.name, Some(*c))))
                    .send()
                    .await
                    .map_err(|e| aws("create load balancer", e))?;
                if let Some(arn) = o
                    .load_balancers()
                    .first()
                    .and_then(|l| l.load_balancer_arn())
                {
                    known.color_lb.insert(*c, arn.to_string());
                }
            }
            Step::CreateColorListener(c) => {
                self.listener(need("load balancer", known.color_lb.get(c))?)
                    .port(self.cfg.listener_port as i32)
                    .default_actions(forward(&[(need("target group", known.tg.get(c))?, 1)]))
                    .set_tags(Some(elb_tags(&self.name, Some(*c))))
                    .send()
                    .await
                    .map_err(|e| aws("create listener", e))?;
            }
            Step::CreateRecords => {
                self.write_records(crate::rollout::Weights::all(Color::Blue))
                    .await?;
            }
            Step::CreateTargetGroup(c) => {
                let o = self
                    .c
                    .elb
                    .create_target_group()
                    .name(self.tg_name(*c))
                    .protocol(lt::ProtocolEnum::Http)
                    .port(self.cfg.container_port as i32)
                    .vpc_id(&self.cfg.vpc)
                    .target_type(lt::TargetTypeEnum::Ip)
                    .health_check_path(&self.cfg.health_check_path)
                    .health_check_interval_seconds(10)
                    .healthy_threshold_count(2)
                    .set_tags(Some(elb_tags(&self.name, Some(*c))))
                    .send()
                    .await
                    .map_err(|e| aws("create target group", e))?;
                if let Some(arn) = o.target_groups().first().and_then(|t| t.target_group_arn()) {
                    known.tg.insert(*c, arn.to_string());
                }
            }
            Step::SetHealthCheckPath(c) => {
                self.c
                    .elb
                    .modify_target_group()
                    .target_group_arn(need("target group", known.tg.get(c))?)
                    .health_check_path(&self.cfg.health_check_path)
                    .send()
                    .await
                    .map_err(|e| aws("modify target group", e))?;
            }
            Step::SetDeregistrationDelay(c) => {
                self.c
                    .elb
                    .modify_target_group_attributes()
                    .target_group_arn(need("target group", known.tg.get(c))?)
                    .attributes(
                        lt::TargetGroupAttribute::builder()
                            .key("deregistration_delay.timeout_seconds")
                            .value(self.cfg.deregistration_delay.as_secs().to_string())
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws("set deregistration delay", e))?;
            }
            Step::CreateListener => {
                let (b, g) = (
                    need("blue target group", known.tg.get(&Color::Blue))?,
                    need("green target group", known.tg.get(&Color::Green))?,
                );
                self.listener(need("load balancer", known.lb.as_ref())?)
                    .port(self.cfg.listener_port as i32)
                    .default_actions(forward(&[(b, 100), (g, 0)]))
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create listener", e))?;
            }
            Step::CreateRule => {
                let (b, g) = (
                    need("blue target group", known.tg.get(&Color::Blue))?,
                    need("green target group", known.tg.get(&Color::Green))?,
                );
                let r = self
                    .cfg
                    .shared_rule
                    .as_ref()
                    .ok_or_else(|| failed("provision step needs listener_arn".to_string()))?;
                let mut conds = Vec::new();
                if !r.host_header.is_empty() {
                    conds.push(
                        lt::RuleCondition::builder()
                            .field("host-header")
                            .host_header_config(
                                lt::HostHeaderConditionConfig::builder()
                                    .set_values(Some(r.host_header.clone()))
                                    .build(),
                            )
                            .build(),
                    );
                }
                if !r.path_pattern.is_empty() {
                    conds.push(
                        lt::RuleCondition::builder()
                            .field("path-pattern")
                            .path_pattern_config(
                                lt::PathPatternConditionConfig::builder()
                                    .set_values(Some(r.path_pattern.clone()))
                                    .build(),
                            )
                            .build(),
                    );
                }
                self.c
                    .elb
                    .create_rule()
                    .listener_arn(&r.listener_arn)
                    .priority(r.priority as i32)
                    .set_conditions(Some(conds))
                    .actions(forward(&[(b, 100), (g, 0)]))
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create rule", e))?;
            }
            Step::CreateTestListener { idle } => {
                let o = self
                    .listener(need("load balancer", known.lb.as_ref())?)
                    .port(self.cfg.test_listener_port as i32)
                    .default_actions(forward(&[(need("target group", known.tg.get(idle))?, 1)]))
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create test listener", e))?;
                known.test = o
                    .listeners()
                    .first()
                    .and_then(|l| l.listener_arn().map(String::from));
            }
            Step::CreateColorRule(c) => {
                let cond = lt::RuleCondition::builder()
                    .field("http-header")
                    .http_header_config(
                        lt::HttpHeaderConditionConfig::builder()
                            .http_header_name(COLOR_HEADER)
                            .values(c.as_str())
                            .build(),
                    )
                    .build();
                self.c
                    .elb
                    .create_rule()
                    .listener_arn(need("test listener", known.test.as_ref())?)
                    .priority(if *c == Color::Blue { 1 } else { 2 })
                    .conditions(cond)
                    .actions(forward(&[(need("target group", known.tg.get(c))?, 1)]))
                    .set_tags(Some(elb_tags(&self.name, Some(*c))))
                    .send()
                    .await
                    .map_err(|e| aws("create test route rule", e))?;
            }
            Step::CreateRedirectListener => {
                let redirect = lt::RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port(self.cfg.listener_port.to_string())
                    .status_code(lt::RedirectActionStatusCodeEnum::Http301)
                    .build();
                self.c
                    .elb
                    .create_listener()
                    .load_balancer_arn(need("load balancer", known.lb.as_ref())?)
                    .protocol(lt::ProtocolEnum::Http)
                    .port(REDIRECT_PORT as i32)
                    .default_actions(
                        lt::Action::builder()
                            .r#type(lt::ActionTypeEnum::Redirect)
                            .redirect_config(redirect)
                            .build(),
                    )
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create redirect listener", e))?;
            }
            Step::CreateService(c) => {
                let td = self.bootstrap_taskdef(*c)?;
                let td = self.register_taskdef(*c, &td).await?;
                let tg = need("target group", known.tg.get(c))?;
                self.create_service(*c, &tg, &td).await?;
            }
            Step::Scaling(c, mode) => {
                self.register(*c, *mode).await?;
                self.put_policy(*c).await?;
            }
        }
        Ok(())
    }

    /// A CreateListener on `lb` with the configured protocol (HTTPS: certificate and policy).
    fn listener(
        &self,
        lb: String,
    ) -> aws_sdk_elasticloadbalancingv2::operation::create_listener::builders::CreateListenerFluentBuilder
    {
        let req = self.c.elb.create_listener().load_balancer_arn(lb);
        match &self.cfg.https {
            None => req.protocol(lt::ProtocolEnum::Http),
            Some(h) => req
                .protocol(lt::ProtocolEnum::Https)
                .ssl_policy(&h.ssl_policy)
                .certificates(
                    lt::Certificate::builder()
                        .certificate_arn(&h.certificate_arn)
                        .build(),
                ),
        }
    }

    async fn create_service(&self, c: Color, tg_arn: &str, taskdef: &str) -> Result<()> {
        let vpc = et::AwsVpcConfiguration::builder()
            .set_subnets(Some(self.cfg.subnets.clone()))
            .set_security_groups(Some(self.cfg.security_groups.clone()))
            .assign_public_ip(if self.cfg.assign_public_ip {
                et::AssignPublicIp::Enabled
            } else {
                et::AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let breaker = et::DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(false)
            .build();
        let svc = service_name(&self.name, c);
        self.c
            .ecs
            .create_service()
            .cluster(&self.cfg.cluster)
            .service_name(&svc)
            .task_definition(taskdef)
            .desired_count(0)
            .launch_type(et::LaunchType::Fargate)
            .network_configuration(
                et::NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                et::LoadBalancer::builder()
                    .target_group_arn(tg_arn)
                    .container_name(&self.cfg.container_name)
                    .container_port(self.cfg.container_port as i32)
                    .build(),
            )
            .deployment_configuration(
                et::DeploymentConfiguration::builder()
                    .minimum_healthy_percent(100)
                    .maximum_percent(200)
                    .deployment_circuit_breaker(breaker)
                    .build(),
            )
            .health_check_grace_period_seconds(30)
            .propagate_tags(et::PropagateTags::Service)
            .set_tags(Some(ecs_tags(&self.name, Some(c))))
            .send()
            .await
            .map_err(|e| aws(&format!("create service {svc}"), e))?;
        Ok(())
    }
}

/// Whether a listener rule is the `x-cutover-color: c` route.
fn rule_matches_color(r: &lt::Rule, c: Color) -> bool {
    r.conditions().iter().any(|cond| {
        cond.http_header_config().is_some_and(|h| {
            h.http_header_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(COLOR_HEADER))
                && h.values().iter().any(|v| v == c.as_str())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EcsConfig {
        EcsConfig::example()
    }

    fn lines(steps: &[Step]) -> String {
        steps
            .iter()
            .map(|s| {
                let (a, r) = s.describe("iris", &cfg());
                format!("{a} {r}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn fresh_stack_plan() {
        let steps = plan("iris", &cfg(), &Observed::default()).unwrap();
        insta::assert_snapshot!(lines(&steps));
    }

    #[test]
    fn https_stack_plans_the_redirect_listener_once() {
        let mut c = cfg();
        c.listener_port = 443;
        c.https = Some(Box::new(crate::config::Https {
            certificate_arn: "arn:aws:acm:us-east-1:1:certificate/x".into(),
            ssl_policy: crate::config::DEFAULT_SSL_POLICY.into(),
            redirect_http: true,
        }));
        let steps = plan("iris", &c, &Observed::default()).unwrap();
        assert!(steps.contains(&Step::CreateRedirectListener));
        assert_eq!(
            Step::CreateListener.describe("iris", &c).1,
            "listener HTTPS:443 forwarding iris-blue 100% / iris-green 0%"
        );
        let seen = Observed {
            redirect: true,
            ..Observed::default()
        };
        let steps = plan("iris", &c, &seen).unwrap();
        assert!(!steps.contains(&Step::CreateRedirectListener));
    }

    #[test]
    fn converged_stack_plans_nothing() {
        let mut seen = Observed {
            cluster: true,
            lb: Some("lb".into()),
            services: Color::BOTH.to_vec(),
            prod: Some(Some(crate::rollout::Weights::all(Color::Blue))),
            test: Some("test".into()),
            color_rules: Color::BOTH.to_vec(),
            ..Observed::default()
        };
        for c in Color::BOTH {
            seen.tgs
                .insert(c, (format!("tg-{c}"), Some("/ping".into()), Some(30)));
        }
        assert_eq!(plan("iris", &cfg(), &seen).unwrap(), vec![]);
        // An older stack without the test route rules and with AWS's default delay.
        seen.color_rules.clear();
        seen.tgs.insert(
            Color::Green,
            ("tg-green".into(), Some("/ping".into()), Some(300)),
        );
        assert_eq!(
            plan("iris", &cfg(), &seen).unwrap(),
            vec![
                Step::SetDeregistrationDelay(Color::Green),
                Step::CreateColorRule(Color::Blue),
                Step::CreateColorRule(Color::Green)
            ]
        );
        // A production listener that forwards elsewhere is refused.
        seen.prod = Some(None);
        assert!(plan("iris", &cfg(), &seen).is_err());
    }
}
