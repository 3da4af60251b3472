//! The ALB router: the production weighted forward (a listener's default
//! action or cutover's rule on a shared listener), read back as percentages,
//! and the test listener (the idle colour, or either by header).
use std::collections::BTreeMap;
use std::rc::Rc;

use aws_sdk_elasticloadbalancingv2::types as lt;

use super::{Arns, Ecs, COLOR_HEADER};
use crate::config::ValidateRequest;
use crate::error::{aws, failed, Result};
use crate::probe::{self, Outcome};
use crate::providers::Router;
use crate::rollout::{Color, Weights};

/// Where the production forward action lives.
#[derive(Clone, Debug)]
pub(super) enum Route {
    /// The default action of cutover's own listener.
    Listener(String),
    /// Cutover's rule on an existing listener (`listener_arn`).
    Rule(String),
}

/// A forward action to these target groups with these (relative) weights.
pub(super) fn forward(targets: &[(String, u8)]) -> lt::Action {
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

/// `forward` with target-group stickiness for `secs` (`[rollout] sticky`).
pub(super) fn sticky_forward(targets: &[(String, u8)], secs: Option<u64>) -> lt::Action {
    let plain = forward(targets);
    let Some(secs) = secs else { return plain };
    let fc = plain
        .forward_config()
        .cloned()
        .unwrap_or_else(|| lt::ForwardActionConfig::builder().build());
    let fc = lt::ForwardActionConfig::builder()
        .set_target_groups(Some(fc.target_groups().to_vec()))
        .target_group_stickiness_config(
            lt::TargetGroupStickinessConfig::builder()
                .enabled(true)
                .duration_seconds(secs as i32)
                .build(),
        )
        .build();
    lt::Action::builder()
        .r#type(lt::ActionTypeEnum::Forward)
        .forward_config(fc)
        .build()
}

/// Weights from a listener's default actions, as percentages per colour.
pub fn weights_of(actions: &[lt::Action], tg: &BTreeMap<Color, String>) -> Option<Weights> {
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
    Weights::from_relative(b as f64, g as f64)
}

impl Ecs<'_> {
    /// The actions of the production route on ALB `lb`, as ELBv2 reports them now.
    pub(super) async fn route_actions(&self, lb: &str, r: &Route) -> Result<Vec<lt::Action>> {
        match r {
            Route::Listener(arn) => {
                let ls = self.listeners(lb).await?;
                let l = ls
                    .iter()
                    .find(|l| l.listener_arn() == Some(arn.as_str()))
                    .ok_or_else(|| {
                        failed(format!("listener :{} is gone", self.cfg.listener_port))
                    })?;
                Ok(l.default_actions().to_vec())
            }
            Route::Rule(arn) => {
                let o = self
                    .c
                    .elb
                    .describe_rules()
                    .rule_arns(arn)
                    .send()
                    .await
                    .map_err(|e| aws("describe rules", e))?;
                let r = o
                    .rules()
                    .first()
                    .ok_or_else(|| failed(format!("rule {arn} is gone")))?;
                Ok(r.actions().to_vec())
            }
        }
    }

    /// Replaces the production route's forward action.
    pub(super) async fn set_route(&self, r: &Route, action: lt::Action) -> Result<()> {
        match r {
            Route::Listener(arn) => {
                self.c
                    .elb
                    .modify_listener()
                    .listener_arn(arn)
                    .default_actions(action)
                    .send()
                    .await
                    .map_err(|e| aws("set listener weights", e))?;
            }
            Route::Rule(arn) => {
                self.c
                    .elb
                    .modify_rule()
                    .rule_arn(arn)
                    .actions(action)
                    .send()
                    .await
                    .map_err(|e| aws("set rule weights", e))?;
            }
        }
        Ok(())
    }

    /// Points the test listener's default action at colour `c`.
    pub(super) async fn point_test_listener(&self, arns: &Arns, c: Color) -> Result<()> {
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
}

/// The ALB router: the production weighted forward, and the test listener
/// that reaches one colour by the `x-cutover-color` header.
pub struct Listener<'a> {
    ecs: Rc<Ecs<'a>>,
    /// Target-group stickiness while both colours serve (`[rollout] sticky`).
    sticky: Option<std::time::Duration>,
}

impl<'a> Listener<'a> {
    pub fn new(ecs: Rc<Ecs<'a>>, sticky: Option<std::time::Duration>) -> Listener<'a> {
        Listener { ecs, sticky }
    }
}

impl Router for Listener<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        let arns = self.ecs.arns().await?;
        let actions = self.ecs.route_actions(&arns.lb, &arns.prod).await?;
        Ok(weights_of(&actions, &arns.tg))
    }

    async fn set_weights(&self, w: Weights) -> Result<()> {
        let arns = self.ecs.arns().await?;
        // A user keeps one model while both colours serve; at 0/100 there
        // is nothing to keep, and the stickiness goes.
        let both = w.blue > 0 && w.green > 0;
        let action = sticky_forward(
            &[
                (arns.tg[&Color::Blue].clone(), w.blue),
                (arns.tg[&Color::Green].clone(), w.green),
            ],
            self.sticky.filter(|_| both).map(|d| d.as_secs()),
        );
        self.ecs.set_route(&arns.prod, action).await?;
        // With all traffic on one colour, the test listener shows the other (idle) one.
        for c in Color::BOTH {
            if w.of(c) == 100 {
                self.ecs.point_test_listener(arns, c.other()).await?;
            }
        }
        Ok(())
    }

    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome {
        let base = match self.ecs.test_url().await {
            Ok(Some(u)) => u,
            Ok(None) => {
                return Err(format!(
                    "no test listener on :{}; run `cutover provision` or set validate.url",
                    self.ecs.cfg.test_listener_port
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        probe::http(http, &base, r, &[(COLOR_HEADER, c.as_str())]).await
    }

    async fn test_url(&self) -> Option<String> {
        self.ecs.test_url().await.ok().flatten()
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
        assert_eq!(weights_of(&[single], &tg), Some(Weights::all(Color::Green)));
        // Stickiness does not change the weights read back.
        let sticky = sticky_forward(&[("b".into(), 50), ("g".into(), 50)], Some(3600));
        let cfg = sticky
            .forward_config()
            .unwrap()
            .target_group_stickiness_config()
            .unwrap();
        assert_eq!(
            (cfg.enabled(), cfg.duration_seconds()),
            (Some(true), Some(3600))
        );
        assert_eq!(
            weights_of(&[sticky], &tg),
            Some(Weights {
                blue: 50,
                green: 50
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
