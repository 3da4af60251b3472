//! ECS provider: two Fargate services behind one ALB. The production listener
//! forwards to target groups `<name>-blue` / `<name>-green` by weight; the test
//! listener forwards only to the idle (candidate) colour.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types as et;
use aws_sdk_elasticloadbalancingv2::types as lt;
use tokio::sync::OnceCell;

use crate::aws::{tags, Clients};
use crate::config::EcsConfig;
use crate::error::{aws, failed, invalid, Error, Result};
use crate::output::Out;
use crate::provider::{Change, Prepared, Provider};
use crate::rollout::{Color, Weights};
use crate::template::{render, Vars};

/// Version rendered into the task definition `provision` registers so the
/// services can exist at 0 tasks before the first deploy. It never runs.
pub const BOOTSTRAP_VERSION: &str = "bootstrap";

pub struct Ecs<'a> {
    c: &'a Clients,
    name: String,
    cfg: EcsConfig,
    arns: OnceCell<Arns>,
}

#[derive(Clone, Debug)]
struct Arns {
    lb: String,
    dns: String,
    tg: BTreeMap<Color, String>,
    prod: String,
    test: Option<String>,
}

fn service_name(stack: &str, c: Color) -> String {
    format!("{stack}-{c}")
}

fn forward(targets: &[(String, u8)]) -> lt::Action {
    let mut fc = lt::ForwardActionConfig::builder();
    for (arn, w) in targets {
        fc = fc.target_groups(
            lt::TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(*w as i32)
                .build(),
        );
    }
    lt::Action::builder()
        .r#type(lt::ActionTypeEnum::Forward)
        .forward_config(fc.build())
        .build()
}

fn elb_tags(stack: &str, c: Option<Color>) -> Vec<lt::Tag> {
    tags(stack, c)
        .into_iter()
        .map(|(k, v)| lt::Tag::builder().key(k).value(v).build())
        .collect()
}

fn ecs_tags(stack: &str, c: Option<Color>) -> Vec<et::Tag> {
    tags(stack, c)
        .into_iter()
        .map(|(k, v)| et::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Weights from a listener's default actions, as percentages per colour.
fn weights_of(actions: &[lt::Action], tg: &BTreeMap<Color, String>) -> Option<Weights> {
    let mut raw: BTreeMap<Color, i64> = BTreeMap::new();
    for a in actions {
        if a.r#type() != Some(&lt::ActionTypeEnum::Forward) {
            continue;
        }
        let tuples = a
            .forward_config()
            .map(|f| f.target_groups())
            .unwrap_or_default();
        if tuples.is_empty() {
            if let Some(arn) = a.target_group_arn() {
                for (c, t) in tg {
                    if t == arn {
                        raw.insert(*c, 1);
                    }
                }
            }
        }
        for t in tuples {
            for (c, arn) in tg {
                if t.target_group_arn() == Some(arn.as_str()) {
                    *raw.entry(*c).or_default() += t.weight().unwrap_or(1) as i64;
                }
            }
        }
    }
    let b = raw.get(&Color::Blue).copied().unwrap_or(0);
    let g = raw.get(&Color::Green).copied().unwrap_or(0);
    if b + g == 0 {
        return None;
    }
    let blue = ((b * 100 + (b + g) / 2) / (b + g)) as u8;
    Some(Weights {
        blue,
        green: 100 - blue,
    })
}

impl<'a> Ecs<'a> {
    pub fn new(c: &'a Clients, name: &str, cfg: &EcsConfig) -> Ecs<'a> {
        Ecs {
            c,
            name: name.into(),
            cfg: cfg.clone(),
            arns: OnceCell::new(),
        }
    }

    fn tg_name(&self, c: Color) -> String {
        format!("{}-{c}", self.name)
    }

    fn render_taskdef(&self, c: Color, version: &str) -> Result<String> {
        let what = self.cfg.task_definition.display().to_string();
        let body = render(
            &what,
            &self.cfg.task_definition_source,
            &Vars {
                name: &self.name,
                version,
                color: c.as_str(),
                region: &self.c.region,
            },
        )?;
        crate::taskdef::parse(
            &what,
            &body,
            &self.cfg.container_name,
            self.cfg.container_port,
        )?;
        Ok(body)
    }

    /// Whether ECS tags carry this stack's `cutover:stack` tag.
    fn ours(&self, tags: &[et::Tag]) -> bool {
        tags.iter()
            .any(|t| t.key() == Some("cutover:stack") && t.value() == Some(self.name.as_str()))
    }

    async fn owner_of(&self, arn: &str) -> Result<Option<String>> {
        let out = self
            .c
            .elb
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| aws("describe tags", e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .find(|t| t.key() == Some("cutover:stack"))
            .and_then(|t| t.value().map(String::from)))
    }

    async fn check_owner(&self, kind: &str, name: &str, arn: &str) -> Result<()> {
        match self.owner_of(arn).await? {
            Some(s) if s == self.name => Ok(()),
            Some(s) => Err(invalid(format!(
                "{kind} {name} belongs to cutover stack \"{s}\", not \"{}\"; refusing to touch it",
                self.name
            ))),
            None => Err(invalid(format!(
                "{kind} {name} exists but is not managed by cutover (no cutover:stack={} tag); refusing to take it over",
                self.name
            ))),
        }
    }

    async fn find_lb(&self) -> Result<Option<lt::LoadBalancer>> {
        match self
            .c
            .elb
            .describe_load_balancers()
            .names(&self.name)
            .send()
            .await
        {
            Ok(o) => Ok(o.load_balancers().first().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_load_balancer_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("describe load balancers", e)),
        }
    }

    async fn find_tg(&self, c: Color) -> Result<Option<lt::TargetGroup>> {
        match self
            .c
            .elb
            .describe_target_groups()
            .names(self.tg_name(c))
            .send()
            .await
        {
            Ok(o) => Ok(o.target_groups().first().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_target_group_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("describe target groups", e)),
        }
    }

    async fn listeners(&self, lb: &str) -> Result<Vec<lt::Listener>> {
        let out = self
            .c
            .elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .send()
            .await
            .map_err(|e| aws("describe listeners", e))?;
        Ok(out.listeners().to_vec())
    }

    async fn cluster_active(&self) -> Result<bool> {
        let out = self
            .c
            .ecs
            .describe_clusters()
            .clusters(&self.cfg.cluster)
            .send()
            .await
            .map_err(|e| aws("describe clusters", e))?;
        Ok(out.clusters().iter().any(|c| c.status() == Some("ACTIVE")))
    }

    async fn services(&self) -> Result<BTreeMap<Color, et::Service>> {
        let mut req = self
            .c
            .ecs
            .describe_services()
            .cluster(&self.cfg.cluster)
            .include(et::ServiceField::Tags);
        for c in Color::BOTH {
            req = req.services(service_name(&self.name, c));
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_cluster_not_found_exception()) =>
            {
                return Ok(BTreeMap::new())
            }
            Err(e) => return Err(aws("describe services", e)),
        };
        let mut found = BTreeMap::new();
        for s in out.services() {
            if s.status() == Some("INACTIVE") {
                continue;
            }
            for c in Color::BOTH {
                if s.service_name() == Some(service_name(&self.name, c).as_str()) {
                    found.insert(c, s.clone());
                }
            }
        }
        Ok(found)
    }

    /// The stack's ARNs, looked up once per run.
    async fn arns(&self) -> Result<&Arns> {
        self.arns
            .get_or_try_init(|| async {
                let missing = |what: String| {
                    invalid(format!(
                        "stack {} is not provisioned ({what} is missing); run `cutover provision`",
                        self.name
                    ))
                };
                let lb = self
                    .find_lb()
                    .await?
                    .ok_or_else(|| missing(format!("load balancer {}", self.name)))?;
                let lb_arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                let mut tg = BTreeMap::new();
                for c in Color::BOTH {
                    let t = self
                        .find_tg(c)
                        .await?
                        .ok_or_else(|| missing(format!("target group {}", self.tg_name(c))))?;
                    tg.insert(c, t.target_group_arn().unwrap_or_default().to_string());
                }
                let ls = self.listeners(&lb_arn).await?;
                let port_arn = |p: u16| {
                    ls.iter()
                        .find(|l| l.port() == Some(p as i32))
                        .and_then(|l| l.listener_arn().map(String::from))
                };
                let prod = port_arn(self.cfg.listener_port)
                    .ok_or_else(|| missing(format!("listener :{}", self.cfg.listener_port)))?;
                Ok::<Arns, Error>(Arns {
                    lb: lb_arn,
                    dns: lb.dns_name().unwrap_or_default().to_string(),
                    tg,
                    prod,
                    test: port_arn(self.cfg.test_listener_port),
                })
            })
            .await
    }

    async fn register_taskdef(&self, c: Color, body: &str) -> Result<String> {
        let what = self.cfg.task_definition.display().to_string();
        let td = crate::taskdef::parse(
            &what,
            body,
            &self.cfg.container_name,
            self.cfg.container_port,
        )?;
        let out = td
            .apply(
                self.c.ecs.register_task_definition(),
                &tags(&self.name, Some(c)),
            )
            .send()
            .await
            .map_err(|e| aws("register task definition", e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(String::from)
            .ok_or_else(|| failed("RegisterTaskDefinition returned no ARN"))
    }

    async fn point_test_listener(&self, arns: &Arns, c: Color) -> Result<()> {
        if let Some(test) = &arns.test {
            self.c
                .elb
                .modify_listener()
                .listener_arn(test)
                .default_actions(forward(&[(arns.tg[&c].clone(), 1)]))
                .send()
                .await
                .map_err(|e| aws("point the test listener", e))?;
        }
        Ok(())
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
        self.c
            .ecs
            .create_service()
            .cluster(&self.cfg.cluster)
            .service_name(service_name(&self.name, c))
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
            .map_err(|e| {
                aws(
                    &format!("create service {}", service_name(&self.name, c)),
                    e,
                )
            })?;
        Ok(())
    }

    /// Deregisters every ACTIVE revision of the template's families that
    /// carries this stack's tag.
    async fn deregister_task_definitions(&self, out: &Out) -> Result<Vec<String>> {
        let mut families = Vec::new();
        for c in Color::BOTH {
            let body = self.render_taskdef(c, BOOTSTRAP_VERSION)?;
            let what = self.cfg.task_definition.display().to_string();
            let td = crate::taskdef::parse(
                &what,
                &body,
                &self.cfg.container_name,
                self.cfg.container_port,
            )?;
            if !families.contains(&td.family) {
                families.push(td.family);
            }
        }
        let mut done = Vec::new();
        for family in families {
            let list = self
                .c
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(et::TaskDefinitionStatus::Active)
                .send()
                .await
                .map_err(|e| aws("list task definitions", e))?;
            for arn in list.task_definition_arns() {
                let d = self
                    .c
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .include(et::TaskDefinitionField::Tags)
                    .send()
                    .await
                    .map_err(|e| aws("describe task definition", e))?;
                let ours = self.ours(d.tags());
                if ours {
                    self.c
                        .ecs
                        .deregister_task_definition()
                        .task_definition(arn)
                        .send()
                        .await
                        .map_err(|e| aws("deregister task definition", e))?;
                    done.push(format!("task definition {arn}"));
                }
            }
        }
        if !done.is_empty() {
            out.info(&format!(
                "  deregister {} task definition revision(s)",
                done.len()
            ));
        }
        Ok(done)
    }

    async fn healthy_in(&self, tg: &str) -> Result<u32> {
        let out = self
            .c
            .elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .map_err(|e| aws("describe target health", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state())
                    == Some(&lt::TargetHealthStateEnum::Healthy)
            })
            .count() as u32)
    }
}

impl Provider for Ecs<'_> {
    fn prepare(&self, color: Color, version: &str) -> Result<Prepared> {
        Ok(Prepared {
            color,
            version: version.into(),
            body: self.render_taskdef(color, version)?,
        })
    }

    async fn converge(&self, apply: bool, out: &Out) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        let note = |c: Change, changes: &mut Vec<Change>| {
            if apply {
                out.info(&format!("  {} {}", c.action, c.resource));
            }
            changes.push(c);
        };
        // Look everything up first, so foreign resources are refused before any write.
        let cluster_ok = self.cluster_active().await?;
        let lb = self.find_lb().await?;
        if let Some(l) = &lb {
            self.check_owner(
                "load balancer",
                &self.name,
                l.load_balancer_arn().unwrap_or_default(),
            )
            .await?;
        }
        let mut tgs = BTreeMap::new();
        for c in Color::BOTH {
            if let Some(t) = self.find_tg(c).await? {
                self.check_owner(
                    "target group",
                    &self.tg_name(c),
                    t.target_group_arn().unwrap_or_default(),
                )
                .await?;
                tgs.insert(c, t);
            }
        }
        let services = if cluster_ok {
            self.services().await?
        } else {
            BTreeMap::new()
        };
        for (c, s) in &services {
            let ours = self.ours(s.tags());
            if !ours {
                return Err(invalid(format!(
                    "service {} in cluster {} exists but is not managed by cutover stack {}; refusing to take it over",
                    service_name(&self.name, *c),
                    self.cfg.cluster,
                    self.name
                )));
            }
        }
        let listeners = match &lb {
            Some(l) => {
                self.listeners(l.load_balancer_arn().unwrap_or_default())
                    .await?
            }
            None => vec![],
        };

        // Cluster.
        if !cluster_ok {
            note(
                Change::new("create", format!("ECS cluster {}", self.cfg.cluster)),
                &mut changes,
            );
            if apply {
                self.c
                    .ecs
                    .create_cluster()
                    .cluster_name(&self.cfg.cluster)
                    .set_tags(Some(ecs_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create cluster", e))?;
            }
        }
        // Load balancer.
        let mut lb_arn = lb
            .as_ref()
            .and_then(|l| l.load_balancer_arn().map(String::from));
        if lb.is_none() {
            note(
                Change::new("create", format!("load balancer {}", self.name)),
                &mut changes,
            );
            if apply {
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
                lb_arn = o
                    .load_balancers()
                    .first()
                    .and_then(|l| l.load_balancer_arn().map(String::from));
            }
        }
        // Target groups.
        let mut tg_arn: BTreeMap<Color, String> = BTreeMap::new();
        for c in Color::BOTH {
            match tgs.get(&c) {
                Some(t) => {
                    let arn = t.target_group_arn().unwrap_or_default().to_string();
                    if t.health_check_path() != Some(self.cfg.health_check_path.as_str()) {
                        note(
                            Change::new(
                                "update",
                                format!(
                                    "target group {} health check path -> {}",
                                    self.tg_name(c),
                                    self.cfg.health_check_path
                                ),
                            ),
                            &mut changes,
                        );
                        if apply {
                            self.c
                                .elb
                                .modify_target_group()
                                .target_group_arn(&arn)
                                .health_check_path(&self.cfg.health_check_path)
                                .send()
                                .await
                                .map_err(|e| aws("modify target group", e))?;
                        }
                    }
                    tg_arn.insert(c, arn);
                }
                None => {
                    note(
                        Change::new(
                            "create",
                            format!(
                                "target group {} (ip, HTTP:{})",
                                self.tg_name(c),
                                self.cfg.container_port
                            ),
                        ),
                        &mut changes,
                    );
                    if apply {
                        let o = self
                            .c
                            .elb
                            .create_target_group()
                            .name(self.tg_name(c))
                            .protocol(lt::ProtocolEnum::Http)
                            .port(self.cfg.container_port as i32)
                            .vpc_id(&self.cfg.vpc)
                            .target_type(lt::TargetTypeEnum::Ip)
                            .health_check_path(&self.cfg.health_check_path)
                            .health_check_interval_seconds(10)
                            .healthy_threshold_count(2)
                            .set_tags(Some(elb_tags(&self.name, Some(c))))
                            .send()
                            .await
                            .map_err(|e| aws("create target group", e))?;
                        let arn = o
                            .target_groups()
                            .first()
                            .and_then(|t| t.target_group_arn())
                            .unwrap_or_default();
                        tg_arn.insert(c, arn.to_string());
                    }
                }
            }
        }
        // Listeners.
        let has = |p: u16| listeners.iter().any(|l| l.port() == Some(p as i32));
        let prod_exists = has(self.cfg.listener_port);
        if !prod_exists {
            note(
                Change::new(
                    "create",
                    format!(
                        "listener :{} forwarding {}-blue 100% / {}-green 0%",
                        self.cfg.listener_port, self.name, self.name
                    ),
                ),
                &mut changes,
            );
            if apply {
                self.c
                    .elb
                    .create_listener()
                    .load_balancer_arn(lb_arn.clone().unwrap_or_default())
                    .protocol(lt::ProtocolEnum::Http)
                    .port(self.cfg.listener_port as i32)
                    .default_actions(forward(&[
                        (tg_arn[&Color::Blue].clone(), 100),
                        (tg_arn[&Color::Green].clone(), 0),
                    ]))
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create listener", e))?;
            }
        } else if let Some(l) = listeners
            .iter()
            .find(|l| l.port() == Some(self.cfg.listener_port as i32))
        {
            if !tg_arn.is_empty() && weights_of(l.default_actions(), &tg_arn).is_none() {
                return Err(invalid(format!(
                    "listener :{} on load balancer {} does not forward to {}-blue/{}-green; fix it by hand or run `cutover destroy`",
                    self.cfg.listener_port, self.name, self.name, self.name
                )));
            }
        }
        if !has(self.cfg.test_listener_port) {
            // The idle colour: the one with weight 0 on the production listener (green on a new stack).
            let idle = listeners
                .iter()
                .find(|l| l.port() == Some(self.cfg.listener_port as i32))
                .and_then(|l| weights_of(l.default_actions(), &tg_arn))
                .map(|w| {
                    if w.blue == 100 {
                        Color::Green
                    } else if w.green == 100 {
                        Color::Blue
                    } else {
                        Color::Green
                    }
                })
                .unwrap_or(Color::Green);
            note(
                Change::new(
                    "create",
                    format!(
                        "test listener :{} forwarding {}-{idle}",
                        self.cfg.test_listener_port, self.name
                    ),
                ),
                &mut changes,
            );
            if apply {
                self.c
                    .elb
                    .create_listener()
                    .load_balancer_arn(lb_arn.clone().unwrap_or_default())
                    .protocol(lt::ProtocolEnum::Http)
                    .port(self.cfg.test_listener_port as i32)
                    .default_actions(forward(&[(tg_arn[&idle].clone(), 1)]))
                    .set_tags(Some(elb_tags(&self.name, None)))
                    .send()
                    .await
                    .map_err(|e| aws("create test listener", e))?;
            }
        }
        // Services (at 0 tasks until the first deploy).
        for c in Color::BOTH {
            if services.contains_key(&c) {
                continue;
            }
            note(
                Change::new(
                    "create",
                    format!(
                        "ECS service {} in {} (Fargate, 0 tasks)",
                        service_name(&self.name, c),
                        self.cfg.cluster
                    ),
                ),
                &mut changes,
            );
            if apply {
                let body = self.render_taskdef(c, BOOTSTRAP_VERSION)?;
                let td = self.register_taskdef(c, &body).await?;
                self.create_service(c, &tg_arn[&c], &td).await?;
            }
        }
        Ok(changes)
    }

    async fn ensure_provisioned(&self) -> Result<()> {
        self.arns().await?;
        let services = self.services().await?;
        for c in Color::BOTH {
            if !services.contains_key(&c) {
                return Err(invalid(format!(
                    "stack {} is not provisioned (ECS service {} is missing in cluster {}); run `cutover provision`",
                    self.name,
                    service_name(&self.name, c),
                    self.cfg.cluster
                )));
            }
        }
        Ok(())
    }

    async fn deploy(
        &self,
        p: &Prepared,
        _live: Option<Color>,
        timeout: Duration,
        out: &Out,
    ) -> Result<String> {
        let arns = self.arns().await?.clone();
        let c = p.color;
        let svc = service_name(&self.name, c);
        let td = self.register_taskdef(c, &p.body).await?;
        out.info(&format!("registered {td}"));
        self.c
            .ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(&svc)
            .task_definition(&td)
            .desired_count(self.cfg.desired_count as i32)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| aws(&format!("update service {svc}"), e))?;
        let want = self.cfg.desired_count;
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let services = self.services().await?;
            let s = services
                .get(&c)
                .ok_or_else(|| failed(format!("service {svc} disappeared")))?;
            let primary = s
                .deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"));
            let state = primary
                .and_then(|d| d.rollout_state())
                .map(|r| r.as_str().to_string())
                .unwrap_or_else(|| "?".into());
            // On AWS the PRIMARY deployment carries the new task definition; some
            // emulators only update the service's, so accept either.
            let on_td = primary.and_then(|d| d.task_definition()) == Some(td.as_str())
                || s.task_definition() == Some(td.as_str());
            let running = primary
                .map(|d| d.running_count())
                .unwrap_or(0)
                .max(s.running_count())
                .max(0) as u32;
            let healthy = self.healthy_in(&arns.tg[&c]).await?;
            let line = format!("  {svc}: deployment {state}, running {running}/{want}, healthy targets {healthy}/{want}");
            if line != last {
                out.info(&line);
                last = line;
            }
            if state == "FAILED" {
                let why = primary
                    .and_then(|d| d.rollout_state_reason())
                    .unwrap_or("no reason given");
                return Err(failed(format!("ECS deployment of {svc} failed: {why}")));
            }
            if on_td && state == "COMPLETED" && running >= want && healthy >= want {
                break;
            }
            if start.elapsed() > timeout {
                return Err(failed(format!(
                    "timed out after {} waiting for {svc} to become healthy ({running}/{want} running, {healthy}/{want} healthy)",
                    humantime::format_duration(Duration::from_secs(timeout.as_secs()))
                )));
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        self.point_test_listener(&arns, c).await?;
        Ok(td)
    }

    async fn weights(&self) -> Result<Option<Weights>> {
        let arns = self.arns().await?;
        let ls = self.listeners(&arns.lb).await?;
        let l = ls
            .iter()
            .find(|l| l.listener_arn() == Some(arns.prod.as_str()))
            .ok_or_else(|| failed(format!("listener :{} is gone", self.cfg.listener_port)))?;
        Ok(weights_of(l.default_actions(), &arns.tg))
    }

    async fn set_weights(&self, w: Weights, _versions: &BTreeMap<Color, String>) -> Result<()> {
        let arns = self.arns().await?;
        let action = forward(&[
            (arns.tg[&Color::Blue].clone(), w.blue),
            (arns.tg[&Color::Green].clone(), w.green),
        ]);
        self.c
            .elb
            .modify_listener()
            .listener_arn(&arns.prod)
            .default_actions(action)
            .send()
            .await
            .map_err(|e| aws("set listener weights", e))?;
        // With all traffic on one colour, the test listener shows the other (idle) one.
        for c in Color::BOTH {
            if w.of(c) == 100 {
                self.point_test_listener(arns, c.other()).await?;
            }
        }
        Ok(())
    }

    async fn healthy(&self, c: Color) -> Result<u32> {
        let arns = self.arns().await?;
        self.healthy_in(&arns.tg[&c]).await
    }

    async fn retire(&self, c: Color, _live: Color) -> Result<()> {
        let svc = service_name(&self.name, c);
        self.c
            .ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(&svc)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| aws(&format!("scale {svc} to 0"), e))?;
        Ok(())
    }

    async fn destroy(&self, out: &Out) -> Result<Vec<String>> {
        let mut done = Vec::new();
        // Services first (scale to 0, delete), then listeners, the ALB, target groups, the cluster.
        for (c, s) in self.services().await? {
            let ours = self.ours(s.tags());
            if !ours || s.status() != Some("ACTIVE") {
                continue;
            }
            let svc = service_name(&self.name, c);
            out.info(&format!("  delete ECS service {svc}"));
            let _ = self
                .c
                .ecs
                .update_service()
                .cluster(&self.cfg.cluster)
                .service(&svc)
                .desired_count(0)
                .send()
                .await;
            self.c
                .ecs
                .delete_service()
                .cluster(&self.cfg.cluster)
                .service(&svc)
                .force(true)
                .send()
                .await
                .map_err(|e| aws(&format!("delete service {svc}"), e))?;
            done.push(format!("ECS service {svc}"));
        }
        done.extend(self.deregister_task_definitions(out).await?);
        if let Some(lb) = self.find_lb().await? {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            if self.owner_of(&arn).await?.as_deref() == Some(self.name.as_str()) {
                for l in self.listeners(&arn).await? {
                    if let Some(la) = l.listener_arn() {
                        out.info(&format!("  delete listener :{}", l.port().unwrap_or(0)));
                        self.c
                            .elb
                            .delete_listener()
                            .listener_arn(la)
                            .send()
                            .await
                            .map_err(|e| aws("delete listener", e))?;
                        done.push(format!("listener :{}", l.port().unwrap_or(0)));
                    }
                }
                out.info(&format!("  delete load balancer {}", self.name));
                self.c
                    .elb
                    .delete_load_balancer()
                    .load_balancer_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws("delete load balancer", e))?;
                done.push(format!("load balancer {}", self.name));
            }
        }
        for c in Color::BOTH {
            let Some(t) = self.find_tg(c).await? else {
                continue;
            };
            let arn = t.target_group_arn().unwrap_or_default().to_string();
            if self.owner_of(&arn).await?.as_deref() != Some(self.name.as_str()) {
                continue;
            }
            out.info(&format!("  delete target group {}", self.tg_name(c)));
            // The ALB releases its target groups a little after it is deleted.
            let mut tries = 0;
            loop {
                match self
                    .c
                    .elb
                    .delete_target_group()
                    .target_group_arn(&arn)
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(e)
                        if tries < 30
                            && e.as_service_error()
                                .is_some_and(|x| x.is_resource_in_use_exception()) =>
                    {
                        tries += 1;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => return Err(aws("delete target group", e)),
                }
            }
            done.push(format!("target group {}", self.tg_name(c)));
        }
        let cl = self
            .c
            .ecs
            .describe_clusters()
            .clusters(&self.cfg.cluster)
            .include(et::ClusterField::Tags)
            .send()
            .await
            .map_err(|e| aws("describe clusters", e))?;
        if let Some(cluster) = cl.clusters().iter().find(|c| c.status() == Some("ACTIVE")) {
            let ours = self.ours(cluster.tags());
            if ours && cluster.active_services_count() == 0 {
                out.info(&format!("  delete ECS cluster {}", self.cfg.cluster));
                self.c
                    .ecs
                    .delete_cluster()
                    .cluster(&self.cfg.cluster)
                    .send()
                    .await
                    .map_err(|e| aws("delete cluster", e))?;
                done.push(format!("ECS cluster {}", self.cfg.cluster));
            }
        }
        Ok(done)
    }

    fn metric_namespace(&self) -> &'static str {
        "AWS/ApplicationELB"
    }

    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>> {
        // ALB metric dimensions are the ARN suffixes: "targetgroup/…" and "app/…".
        let arns = self.arns().await?;
        let resource = |arn: &str| {
            arn.rsplit_once(':')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default()
        };
        let lb = resource(&arns.lb);
        Ok(vec![
            ("TargetGroup".into(), resource(&arns.tg[&c])),
            (
                "LoadBalancer".into(),
                lb.trim_start_matches("loadbalancer/").to_string(),
            ),
        ])
    }

    async fn test_url(&self) -> Result<Option<String>> {
        let arns = self.arns().await?;
        Ok(arns
            .test
            .as_ref()
            .map(|_| format!("http://{}:{}", arns.dns, self.cfg.test_listener_port)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_from_forward_config() {
        let tg: BTreeMap<Color, String> = [
            (Color::Blue, "b".to_string()),
            (Color::Green, "g".to_string()),
        ]
        .into();
        let a = forward(&[("b".into(), 90), ("g".into(), 10)]);
        assert_eq!(
            weights_of(&[a], &tg),
            Some(Weights {
                blue: 90,
                green: 10
            })
        );
        let single = lt::Action::builder()
            .r#type(lt::ActionTypeEnum::Forward)
            .target_group_arn("g")
            .build();
        assert_eq!(
            weights_of(&[single], &tg),
            Some(Weights {
                blue: 0,
                green: 100
            })
        );
        let foreign = forward(&[("x".into(), 1)]);
        assert_eq!(weights_of(&[foreign], &tg), None);
        // Relative ALB weights are read back as percentages.
        let rel = forward(&[("b".into(), 3), ("g".into(), 1)]);
        assert_eq!(
            weights_of(&[rel], &tg),
            Some(Weights {
                blue: 75,
                green: 25
            })
        );
    }
}
