//! How `plan` names each ECS provisioning step: (action, resource).
use super::plan::{scheme, Step, REDIRECT_PORT};
use super::{service_name, COLOR_HEADER};
use crate::config::EcsConfig;

impl Step {
    /// The step as `plan` prints it: (action, resource).
    pub fn describe(&self, stack: &str, cfg: &EcsConfig) -> (&'static str, String) {
        match self {
            Step::CreateCluster => ("create", format!("ECS cluster {}", cfg.cluster)),
            Step::CreateColorLoadBalancer(c) => ("create", format!("load balancer {stack}-{c}")),
            Step::CreateColorListener(c) => (
                "create",
                format!(
                    "listener HTTP:{} on {stack}-{c} forwarding {stack}-{c} 100%",
                    cfg.listener_port
                ),
            ),
            Step::CreateRecords => {
                let r = cfg.route53.as_ref();
                (
                    "create",
                    format!(
                        "Route 53 weighted alias records {} in {} ({stack}-blue 100 -> {stack}-blue, {stack}-green 0 -> {stack}-green)",
                        r.map_or("?", |r| r.record.as_str()),
                        r.map_or("?", |r| r.hosted_zone_id.as_str()),
                    ),
                )
            }
            Step::CreateLoadBalancer => ("create", format!("load balancer {stack}")),
            Step::CreateTargetGroup(c) => (
                "create",
                format!("target group {stack}-{c} (ip, HTTP:{})", cfg.container_port),
            ),
            Step::SetHealthCheckPath(c) => (
                "update",
                format!(
                    "target group {stack}-{c} health check path -> {}",
                    cfg.health_check_path
                ),
            ),
            Step::SetDeregistrationDelay(c) => (
                "update",
                format!(
                    "target group {stack}-{c} deregistration delay -> {}s",
                    cfg.deregistration_delay.as_secs()
                ),
            ),
            Step::CreateListener => (
                "create",
                format!(
                    "listener {}:{} forwarding {stack}-blue 100% / {stack}-green 0%",
                    scheme(cfg),
                    cfg.listener_port
                ),
            ),
            Step::CreateRule => {
                let r = cfg.shared_rule.as_ref();
                (
                    "create",
                    format!(
                        "rule priority {} on listener {} (host {:?}, path {:?}) forwarding {stack}-blue 100% / {stack}-green 0%",
                        r.map_or(0, |r| r.priority),
                        r.map_or("?", |r| r.listener_arn.as_str()),
                        r.map(|r| r.host_header.clone()).unwrap_or_default(),
                        r.map(|r| r.path_pattern.clone()).unwrap_or_default(),
                    ),
                )
            }
            Step::CreateTestListener { idle } => (
                "create",
                format!(
                    "test listener {}:{} forwarding {stack}-{idle}",
                    scheme(cfg),
                    cfg.test_listener_port
                ),
            ),
            Step::CreateRedirectListener => (
                "create",
                format!(
                    "listener HTTP:{REDIRECT_PORT} redirecting (301) to HTTPS:{}",
                    cfg.listener_port
                ),
            ),
            Step::CreateColorRule(c) => (
                "create",
                format!(
                    "test listener :{} rule {COLOR_HEADER}: {c} -> {stack}-{c}",
                    cfg.test_listener_port
                ),
            ),
            Step::CreateService(c) => (
                "create",
                format!(
                    "ECS service {} in {} (Fargate, 0 tasks)",
                    service_name(stack, *c),
                    cfg.cluster
                ),
            ),
            Step::Scaling(c, mode) => {
                let a = cfg.autoscaling.as_ref();
                (
                    "register",
                    format!(
                        "autoscaling of {}: {}..{} tasks, {} target {} ({})",
                        service_name(stack, *c),
                        a.map(|a| a.min).unwrap_or(0),
                        a.map(|a| a.max).unwrap_or(0),
                        a.map(|a| a.metric.as_str()).unwrap_or("?"),
                        a.map(|a| a.target).unwrap_or(0.0),
                        match mode {
                            crate::rollout::Scaling::Free => "live",
                            crate::rollout::Scaling::NoScaleIn => "scale-in suspended",
                            crate::rollout::Scaling::Off => "min 0, all suspended",
                        }
                    ),
                )
            }
        }
    }
}
