//! ECS provider: two Fargate services behind one ALB. The production listener
//! forwards to target groups `<name>-blue` / `<name>-green` by weight; the test
//! listener forwards to the idle colour, and to either colour for requests
//! with the header `x-cutover-color: blue|green`.
mod describe;
mod destroy;
mod dns;
pub mod plan;
mod release;
mod scaling;
pub mod taskdef;
mod traffic;
mod verify;

use std::collections::BTreeMap;

use aws_sdk_ecs::types as et;
use aws_sdk_elasticloadbalancingv2::types as lt;
use tokio::sync::OnceCell;

use crate::aws::{tags, Clients};
use crate::config::EcsConfig;
use crate::error::{aws, invalid, Error, Result};
use crate::rollout::Color;
use crate::template::{Model, Vars};

pub use dns::{Records, Resolved, ALIAS_TTL};
pub use traffic::{weights_of, Listener};
pub use verify::role;

/// Version rendered into the task definition `provision` registers so the
/// services can exist at 0 tasks before the first deploy. It never runs.
pub const BOOTSTRAP_VERSION: &str = "bootstrap";

/// The header that picks a colour on the test listener.
pub const COLOR_HEADER: &str = "x-cutover-color";

pub struct Ecs<'a> {
    c: &'a Clients,
    name: String,
    cfg: EcsConfig,
    arns: OnceCell<Arns>,
}

/// The stack's ARNs, looked up once per run.
#[derive(Clone, Debug)]
struct Arns {
    lb: String,
    dns: String,
    tg: BTreeMap<Color, String>,
    prod: traffic::Route,
    test: Option<String>,
    /// With `[route53]`: each colour's own load balancer.
    by_color: BTreeMap<Color, ColorLb>,
}

/// A colour's own load balancer (`[route53]`).
#[derive(Clone, Debug)]
struct ColorLb {
    arn: String,
    dns: String,
    /// Its canonical hosted zone, for alias records.
    zone: String,
}

impl Arns {
    /// The load balancer that carries colour `c`'s traffic.
    fn lb_of(&self, c: Color) -> &str {
        self.by_color
            .get(&c)
            .map_or(self.lb.as_str(), |l| l.arn.as_str())
    }
}

fn service_name(stack: &str, c: Color) -> String {
    format!("{stack}-{c}")
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

impl<'a> Ecs<'a> {
    pub fn new(c: &'a Clients, name: &str, cfg: &EcsConfig) -> Ecs<'a> {
        Ecs {
            c,
            name: name.into(),
            cfg: cfg.clone(),
            arns: OnceCell::new(),
        }
    }

    /// With `[route53]` each colour has its own load balancer `<name>-<color>`.
    fn dns_mode(&self) -> bool {
        self.cfg.route53.is_some()
    }

    fn color_lb_name(&self, c: Color) -> String {
        format!("{}-{c}", self.name)
    }

    /// A load balancer of this stack by name, if it exists.
    async fn find_lb_named(&self, name: &str) -> Result<Option<lt::LoadBalancer>> {
        match self
            .c
            .elb
            .describe_load_balancers()
            .names(name)
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

    fn tg_name(&self, c: Color) -> String {
        format!("{}-{c}", self.name)
    }

    /// The never-run task definition that lets services exist before a deploy
    /// (a placeholder model, so templates using `{{ model.* }}` render too).
    fn bootstrap_taskdef(&self, c: Color) -> Result<taskdef::TaskDef> {
        let model = Model::placeholder(BOOTSTRAP_VERSION);
        self.render_taskdef(c, BOOTSTRAP_VERSION, Some(&model))
    }

    /// Renders and checks the task definition for `c` at `version`.
    fn render_taskdef(
        &self,
        c: Color,
        version: &str,
        model: Option<&Model>,
    ) -> Result<taskdef::TaskDef> {
        let vars = Vars::new(&self.name, version, c.as_str(), &self.c.region).with_model(model);
        taskdef::render(&self.cfg, &vars)
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

    /// The stack's ALB: `<name>`, or the existing one `load_balancer_arn` names
    /// (which must exist).
    async fn find_lb(&self) -> Result<Option<lt::LoadBalancer>> {
        let req = self.c.elb.describe_load_balancers();
        let req = match &self.cfg.load_balancer_arn {
            Some(arn) => req.load_balancer_arns(arn),
            None => req.names(&self.name),
        };
        match req.send().await {
            Ok(o) => Ok(o.load_balancers().first().cloned()),
            Err(e)
                if self.cfg.load_balancer_arn.is_some()
                    && e.as_service_error()
                        .is_some_and(|x| x.is_load_balancer_not_found_exception()) =>
            {
                Err(invalid(format!(
                    "load balancer {} (ecs.load_balancer_arn) does not exist",
                    self.cfg.load_balancer_arn.as_deref().unwrap_or_default()
                )))
            }
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
        let mut pages = self
            .c
            .elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            all.extend_from_slice(page.map_err(|e| aws("describe listeners", e))?.listeners());
        }
        Ok(all)
    }

    async fn rules(&self, listener: &str) -> Result<Vec<lt::Rule>> {
        // DescribeRules has a marker but no SDK paginator; follow it by hand.
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .c
                .elb
                .describe_rules()
                .listener_arn(listener)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws("describe rules", e))?;
            all.extend_from_slice(out.rules());
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(all),
            }
        }
    }

    /// The rule at `rule_priority` on `listener_arn`, which must be ours.
    async fn shared_rule(&self) -> Result<Option<lt::Rule>> {
        let Some(sr) = &self.cfg.shared_rule else {
            return Ok(None);
        };
        let prio = sr.priority.to_string();
        let Some(r) = self
            .rules(&sr.listener_arn)
            .await?
            .into_iter()
            .find(|r| r.priority() == Some(prio.as_str()))
        else {
            return Ok(None);
        };
        let arn = r.rule_arn().unwrap_or_default().to_string();
        self.check_owner(
            "rule",
            &format!("at priority {} ({arn})", sr.priority),
            &arn,
        )
        .await?;
        Ok(Some(r))
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
                if self.dns_mode() {
                    return self.color_arns().await;
                }
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
                let prod = match &self.cfg.shared_rule {
                    Some(r) => {
                        let rule = self.shared_rule().await?.ok_or_else(|| {
                            missing(format!("the rule at priority {}", r.priority))
                        })?;
                        traffic::Route::Rule(rule.rule_arn().unwrap_or_default().to_string())
                    }
                    None => {
                        traffic::Route::Listener(port_arn(self.cfg.listener_port).ok_or_else(
                            || missing(format!("listener :{}", self.cfg.listener_port)),
                        )?)
                    }
                };
                Ok::<Arns, Error>(Arns {
                    lb: lb_arn,
                    dns: lb.dns_name().unwrap_or_default().to_string(),
                    tg,
                    prod,
                    test: port_arn(self.cfg.test_listener_port),
                    by_color: BTreeMap::new(),
                })
            })
            .await
    }

    /// `arns` with `[route53]`: a load balancer per colour, no test listener.
    async fn color_arns(&self) -> Result<Arns> {
        let missing = |what: String| {
            invalid(format!(
                "stack {} is not provisioned ({what} is missing); run `cutover provision`",
                self.name
            ))
        };
        let mut tg = BTreeMap::new();
        let mut by_color = BTreeMap::new();
        let mut prod = None;
        for c in Color::BOTH {
            let t = self
                .find_tg(c)
                .await?
                .ok_or_else(|| missing(format!("target group {}", self.tg_name(c))))?;
            tg.insert(c, t.target_group_arn().unwrap_or_default().to_string());
            let name = self.color_lb_name(c);
            let lb = self
                .find_lb_named(&name)
                .await?
                .ok_or_else(|| missing(format!("load balancer {name}")))?;
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let ls = self.listeners(&arn).await?;
            let l = ls
                .iter()
                .find(|l| l.port() == Some(self.cfg.listener_port as i32))
                .and_then(|l| l.listener_arn().map(String::from))
                .ok_or_else(|| {
                    missing(format!("listener :{} on {name}", self.cfg.listener_port))
                })?;
            prod.get_or_insert(l);
            by_color.insert(
                c,
                ColorLb {
                    arn,
                    dns: lb.dns_name().unwrap_or_default().to_string(),
                    zone: lb
                        .canonical_hosted_zone_id()
                        .unwrap_or_default()
                        .to_string(),
                },
            );
        }
        let blue = by_color[&Color::Blue].clone();
        Ok(Arns {
            lb: blue.arn,
            dns: blue.dns,
            tg,
            prod: traffic::Route::Listener(prod.unwrap_or_default()),
            test: None,
            by_color,
        })
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

    /// Base URL of the test listener, which reaches one colour by header.
    pub async fn test_url(&self) -> Result<Option<String>> {
        let arns = self.arns().await?;
        Ok(arns.test.as_ref().map(|_| {
            let scheme = if self.cfg.https.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}:{}", arns.dns, self.cfg.test_listener_port)
        }))
    }
}
