//! ECS capacity: parity before the candidate's first step, and Application
//! Auto Scaling of both services (`[ecs.autoscaling]`): scalable targets
//! `service/<cluster>/<name>-<color>` with one target-tracking policy each,
//! scale-in suspended while a colour holds traffic during a rollout, all
//! scaling suspended (min 0) on a colour that serves nothing.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_applicationautoscaling::types as at;

use super::{service_name, Ecs};
use crate::config::{Autoscaling, EcsConfig, ScalingMetric};
use crate::error::{aws, failed, Result};
use crate::output::Out;
use crate::rollout::{parity, scaling, Color, Scaling, Status};

/// How long the candidate may take to reach the live colour's capacity.
const PARITY_TIMEOUT: Duration = Duration::from_secs(900);

/// A scalable target as registered: capacity bounds and what is suspended.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub min: i32,
    pub max: i32,
    pub scale_in_suspended: bool,
    pub scale_out_suspended: bool,
    pub scheduled_suspended: bool,
}

/// The registration a scaling mode asks for. Pure.
pub fn registration(a: &Autoscaling, mode: Scaling) -> Registration {
    let (min, i, o, s) = match mode {
        Scaling::Free => (a.min, false, false, false),
        Scaling::NoScaleIn => (a.min, true, false, false),
        Scaling::Off => (0, true, true, true),
    };
    Registration {
        min: min as i32,
        max: a.max as i32,
        scale_in_suspended: i,
        scale_out_suspended: o,
        scheduled_suspended: s,
    }
}

fn metric_type(m: ScalingMetric) -> at::MetricType {
    match m {
        ScalingMetric::Cpu => at::MetricType::EcsServiceAverageCpuUtilization,
        ScalingMetric::Requests => at::MetricType::AlbRequestCountPerTarget,
    }
}

/// The colours `provision` must (re)register, each with its mode: the
/// target or policy is missing or differs from the config and from the mode
/// the stored state asks for. Pure.
pub fn to_register(
    cfg: &EcsConfig,
    modes: &BTreeMap<Color, Scaling>,
    seen: &BTreeMap<Color, Registration>,
    policies: &BTreeMap<Color, (at::MetricType, f64)>,
) -> Vec<(Color, Scaling)> {
    let Some(a) = &cfg.autoscaling else {
        return vec![];
    };
    let want_metric = metric_type(a.metric);
    Color::BOTH
        .into_iter()
        .filter_map(|c| {
            let mode = modes.get(&c).copied().unwrap_or(Scaling::Off);
            let target_ok = seen.get(&c) == Some(&registration(a, mode));
            let policy_ok = policies
                .get(&c)
                .is_some_and(|(m, t)| *m == want_metric && *t == a.target);
            (!(target_ok && policy_ok)).then_some((c, mode))
        })
        .collect()
}

/// `app/<name>/<id>/targetgroup/<name>/<id>`: the label of ALBRequestCountPerTarget.
fn resource_label(lb_arn: &str, tg_arn: &str) -> Option<String> {
    let lb = lb_arn.split_once(":loadbalancer/")?.1;
    let tg = tg_arn.rsplit_once(':')?.1;
    Some(format!("{lb}/{tg}"))
}

impl Ecs<'_> {
    /// Application Auto Scaling's id of colour `c`'s service.
    pub(super) fn resource_id(&self, c: Color) -> String {
        format!(
            "service/{}/{}",
            self.cfg.cluster,
            service_name(&self.name, c)
        )
    }

    fn policy_name(&self, c: Color) -> String {
        format!("cutover-{}-{c}", self.name)
    }

    /// The stack's scalable targets, by colour.
    pub(super) async fn registered(&self) -> Result<BTreeMap<Color, Registration>> {
        let ids: Vec<String> = Color::BOTH.iter().map(|c| self.resource_id(*c)).collect();
        let out = self
            .c
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(at::ServiceNamespace::Ecs)
            .scalable_dimension(at::ScalableDimension::EcsServiceDesiredCount)
            .set_resource_ids(Some(ids))
            .send()
            .await
            .map_err(|e| aws("describe scalable targets", e))?;
        let mut found = BTreeMap::new();
        for t in out.scalable_targets() {
            for c in Color::BOTH {
                if t.resource_id() == self.resource_id(c) {
                    let s = t.suspended_state();
                    let flag = |f: Option<bool>| f.unwrap_or(false);
                    found.insert(
                        c,
                        Registration {
                            min: t.min_capacity(),
                            max: t.max_capacity(),
                            scale_in_suspended: flag(
                                s.and_then(|s| s.dynamic_scaling_in_suspended()),
                            ),
                            scale_out_suspended: flag(
                                s.and_then(|s| s.dynamic_scaling_out_suspended()),
                            ),
                            scheduled_suspended: flag(
                                s.and_then(|s| s.scheduled_scaling_suspended()),
                            ),
                        },
                    );
                }
            }
        }
        Ok(found)
    }

    /// Our target-tracking policy per colour: (metric, target value).
    pub(super) async fn policies(&self) -> Result<BTreeMap<Color, (at::MetricType, f64)>> {
        let mut found = BTreeMap::new();
        for c in Color::BOTH {
            let out = self
                .c
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(at::ServiceNamespace::Ecs)
                .resource_id(self.resource_id(c))
                .scalable_dimension(at::ScalableDimension::EcsServiceDesiredCount)
                .policy_names(self.policy_name(c))
                .send()
                .await
                .map_err(|e| aws("describe scaling policies", e))?;
            let tt = out
                .scaling_policies()
                .iter()
                .filter(|p| p.policy_name() == self.policy_name(c))
                .find_map(|p| p.target_tracking_scaling_policy_configuration());
            if let Some(tt) = tt {
                if let Some(m) = tt
                    .predefined_metric_specification()
                    .map(|m| m.predefined_metric_type().clone())
                {
                    found.insert(c, (m, tt.target_value()));
                }
            }
        }
        Ok(found)
    }

    /// Registers colour `c`'s service as a scalable target in `mode`
    /// (no call without `[ecs.autoscaling]`).
    pub(super) async fn register(&self, c: Color, mode: Scaling) -> Result<()> {
        let Some(a) = &self.cfg.autoscaling else {
            return Ok(());
        };
        let r = registration(a, mode);
        self.c
            .autoscaling
            .register_scalable_target()
            .service_namespace(at::ServiceNamespace::Ecs)
            .resource_id(self.resource_id(c))
            .scalable_dimension(at::ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(r.min)
            .max_capacity(r.max)
            .suspended_state(
                at::SuspendedState::builder()
                    .dynamic_scaling_in_suspended(r.scale_in_suspended)
                    .dynamic_scaling_out_suspended(r.scale_out_suspended)
                    .scheduled_scaling_suspended(r.scheduled_suspended)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                aws(
                    &format!("register scalable target {}", self.resource_id(c)),
                    e,
                )
            })?;
        Ok(())
    }

    /// Puts colour `c`'s target-tracking policy.
    pub(super) async fn put_policy(&self, c: Color) -> Result<()> {
        let Some(a) = &self.cfg.autoscaling else {
            return Ok(());
        };
        let mut spec = at::PredefinedMetricSpecification::builder()
            .predefined_metric_type(metric_type(a.metric));
        if a.metric == ScalingMetric::Requests {
            let arns = self.arns().await?;
            let label = resource_label(arns.lb_of(c), &arns.tg[&c])
                .ok_or_else(|| failed("cannot build the ALBRequestCountPerTarget label from the load balancer and target group ARNs"))?;
            spec = spec.resource_label(label);
        }
        let tt = at::TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(a.target)
            .predefined_metric_specification(
                spec.build()
                    .map_err(|e| failed(format!("scaling metric: {e}")))?,
            )
            .build()
            .map_err(|e| failed(format!("scaling policy: {e}")))?;
        self.c
            .autoscaling
            .put_scaling_policy()
            .policy_name(self.policy_name(c))
            .service_namespace(at::ServiceNamespace::Ecs)
            .resource_id(self.resource_id(c))
            .scalable_dimension(at::ScalableDimension::EcsServiceDesiredCount)
            .policy_type(at::PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(tt)
            .send()
            .await
            .map_err(|e| aws(&format!("put scaling policy {}", self.policy_name(c)), e))?;
        Ok(())
    }

    /// Deregisters the stack's scalable targets (their policies go with them).
    pub(super) async fn deregister_scaling(&self, out: &Out) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for c in self.registered().await?.into_keys() {
            let id = self.resource_id(c);
            out.info(&format!("  deregister scalable target {id}"));
            self.c
                .autoscaling
                .deregister_scalable_target()
                .service_namespace(at::ServiceNamespace::Ecs)
                .resource_id(&id)
                .scalable_dimension(at::ScalableDimension::EcsServiceDesiredCount)
                .send()
                .await
                .map_err(|e| aws(&format!("deregister scalable target {id}"), e))?;
            done.push(format!("scalable target {id}"));
        }
        Ok(done)
    }

    /// Applies what autoscaling may do to each colour in `s`.
    pub(super) async fn sync_scaling(&self, s: &Status) -> Result<()> {
        for c in Color::BOTH {
            self.register(c, scaling(s, c)).await?;
        }
        Ok(())
    }

    /// Raises colour `c` to the other colour's current desired count (read
    /// from ECS: autoscaling may have moved it) and then waits until that many
    /// targets are healthy in `c`'s target group. Scale-in of `c` is
    /// suspended first so autoscaling cannot undo it.
    pub(super) async fn match_capacity(&self, c: Color, out: &Out) -> Result<()> {
        let svcs = self.services().await?;
        let desired = |c: Color| {
            svcs.get(&c)
                .map(|s| s.desired_count().max(0) as u32)
                .unwrap_or(0)
        };
        let (live, mine) = (desired(c.other()), desired(c));
        self.register(c, Scaling::NoScaleIn).await?;
        let svc = service_name(&self.name, c);
        let want = match parity(live, mine) {
            Some(n) => {
                out.info(&format!(
                    "capacity parity: {svc} {mine} -> {n} tasks (live {} runs {n})",
                    c.other()
                ));
                self.c
                    .ecs
                    .update_service()
                    .cluster(&self.cfg.cluster)
                    .service(&svc)
                    .desired_count(n as i32)
                    .send()
                    .await
                    .map_err(|e| aws(&format!("scale {svc} to {n}"), e))?;
                n
            }
            // Nothing raised: no task is coming, and the health check before
            // the weights refuses a colour with 0 healthy targets.
            None => return Ok(()),
        };
        let tg = self.arns().await?.tg[&c].clone();
        let start = Instant::now();
        let mut last = u32::MAX;
        loop {
            let healthy = self.healthy_in(&tg).await?;
            if healthy >= want {
                return Ok(());
            }
            if healthy != last {
                out.info(&format!("  {svc}: healthy targets {healthy}/{want}"));
                last = healthy;
            }
            if start.elapsed() > PARITY_TIMEOUT {
                return Err(failed(format!(
                    "timed out waiting for {svc} to have {want} healthy targets ({healthy} now); no traffic was moved"
                )));
            }
            crate::signal::pause(Duration::from_secs(1)).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_per_mode() {
        let a = Autoscaling {
            min: 2,
            max: 6,
            metric: ScalingMetric::Cpu,
            target: 60.0,
        };
        let free = registration(&a, Scaling::Free);
        assert_eq!((free.min, free.max, free.scale_in_suspended), (2, 6, false));
        let hold = registration(&a, Scaling::NoScaleIn);
        assert!(hold.scale_in_suspended && !hold.scale_out_suspended);
        let off = registration(&a, Scaling::Off);
        assert_eq!(off.min, 0);
        assert!(off.scale_in_suspended && off.scale_out_suspended && off.scheduled_suspended);
    }

    #[test]
    fn provision_registers_what_differs_from_config_and_state() {
        let mut cfg = EcsConfig::example();
        assert!(to_register(&cfg, &BTreeMap::new(), &BTreeMap::new(), &BTreeMap::new()).is_empty());
        let a = Autoscaling {
            min: 1,
            max: 4,
            metric: ScalingMetric::Requests,
            target: 100.0,
        };
        cfg.autoscaling = Some(a.clone());
        let modes: BTreeMap<Color, Scaling> = [
            (Color::Blue, Scaling::Free),
            (Color::Green, Scaling::NoScaleIn),
        ]
        .into();
        // Nothing registered yet: both, in their modes.
        assert_eq!(
            to_register(&cfg, &modes, &BTreeMap::new(), &BTreeMap::new()),
            vec![
                (Color::Blue, Scaling::Free),
                (Color::Green, Scaling::NoScaleIn)
            ]
        );
        let seen: BTreeMap<Color, Registration> = Color::BOTH
            .into_iter()
            .map(|c| (c, registration(&a, modes[&c])))
            .collect();
        let pol: BTreeMap<Color, (at::MetricType, f64)> = Color::BOTH
            .into_iter()
            .map(|c| (c, (at::MetricType::AlbRequestCountPerTarget, 100.0)))
            .collect();
        assert!(to_register(&cfg, &modes, &seen, &pol).is_empty());
        // Green still suspended for scale-in after it went live: re-register it.
        let live: BTreeMap<Color, Scaling> = [
            (Color::Blue, Scaling::NoScaleIn),
            (Color::Green, Scaling::Free),
        ]
        .into();
        assert_eq!(
            to_register(&cfg, &live, &seen, &pol),
            vec![
                (Color::Blue, Scaling::NoScaleIn),
                (Color::Green, Scaling::Free)
            ]
        );
        // A changed target value re-puts the policy.
        cfg.autoscaling = Some(Autoscaling { target: 50.0, ..a });
        assert_eq!(to_register(&cfg, &modes, &seen, &pol).len(), 2);
    }

    #[test]
    fn request_count_label() {
        assert_eq!(
            resource_label(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/iris/50dc6c495c0c9188",
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/iris-blue/943f017f100becff"
            )
            .as_deref(),
            Some("app/iris/50dc6c495c0c9188/targetgroup/iris-blue/943f017f100becff")
        );
    }
}
