//! `[experiment]`: an A/B split held until a business metric decides, and
//! the steps it turns the rollout into.
use std::collections::BTreeMap;
use std::time::Duration;

use super::locate::Locator;
use super::raw::{RawExperiment, RawMetricRef};
use super::RolloutConfig;
use crate::error::Result;
use crate::template::{render, Vars};

/// A CloudWatch metric per colour; dimension values are templates
/// (`{{ version }}`, `{{ color }}`).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRef {
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
}

/// What a result without a significant difference does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnEqual {
    Rollback,
    Promote,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentConfig {
    /// The candidate's share while the experiment runs.
    pub split: u8,
    pub duration: Duration,
    /// Trials per colour before the test may decide.
    pub min_samples: u64,
    pub success: MetricRef,
    pub trials: MetricRef,
    pub alpha: f64,
    /// The smallest absolute lift worth detecting (for the sample size).
    pub min_effect: f64,
    pub on_equal: OnEqual,
}

fn metric_ref(loc: &Locator, key: &str, m: &RawMetricRef) -> Result<MetricRef> {
    if m.namespace.trim().is_empty() || m.metric.trim().is_empty() {
        return Err(loc.key(key, "needs a namespace and a metric".into()));
    }
    let dimensions = m.dimensions.clone().unwrap_or_default();
    let vars = Vars::new("check", "v0", "blue", "us-east-1");
    for (k, v) in &dimensions {
        render(&format!("{key}.dimensions.{k}"), v, &vars)?;
    }
    Ok(MetricRef {
        namespace: m.namespace.clone(),
        metric: m.metric.clone(),
        dimensions,
    })
}

pub fn check_experiment(loc: &Locator, e: &RawExperiment) -> Result<ExperimentConfig> {
    let split = *e.split.get_ref();
    if !(1..=99).contains(&split) {
        return Err(loc.at(
            &e.split,
            "experiment.split",
            format!(
                "{split} must be within 1..=99 (the candidate's share while the experiment runs)"
            ),
        ));
    }
    if e.duration.is_zero() {
        return Err(loc.key("experiment.duration", "must be longer than 0s".into()));
    }
    let alpha = e.alpha.unwrap_or(0.05);
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(loc.key(
            "experiment.alpha",
            format!("{alpha} must be within (0, 0.5)"),
        ));
    }
    let min_effect = e.min_effect.unwrap_or(0.01);
    if !(min_effect > 0.0 && min_effect < 1.0) {
        return Err(loc.key(
            "experiment.min_effect",
            format!("{min_effect} must be within (0, 1): an absolute lift of the success rate"),
        ));
    }
    let on_equal = match e.on_equal.as_deref().unwrap_or("rollback") {
        "rollback" => OnEqual::Rollback,
        "promote" => OnEqual::Promote,
        o => {
            return Err(loc.key(
                "experiment.on_equal",
                format!("\"{o}\": expected \"rollback\" or \"promote\""),
            ))
        }
    };
    let min_samples = e.min_samples.unwrap_or(1000);
    if min_samples == 0 {
        return Err(loc.key("experiment.min_samples", "must be at least 1".into()));
    }
    Ok(ExperimentConfig {
        split: split as u8,
        duration: e.duration,
        min_samples,
        success: metric_ref(loc, "experiment.success", &e.success)?,
        trials: metric_ref(loc, "experiment.trials", &e.trials)?,
        alpha,
        min_effect,
        on_equal,
    })
}

/// The rollout with an experiment: the split first, then the configured
/// steps above it. Pauses after those steps keep their place; one before
/// any traffic stays; the others (below the split) go with their steps.
/// Returns the experiment's step (1).
pub fn experiment_steps(r: &mut RolloutConfig, split: u8) -> usize {
    let below = r.steps.iter().filter(|w| **w <= split).count();
    let mut steps = vec![split];
    steps.extend(r.steps.iter().copied().filter(|w| *w > split));
    // Pause p holds after p configured weights: after W[p-1], which is the
    // (p - below + 1)th step of the new list when it is above the split.
    let keep = |p: usize| p == 0 || p >= below;
    let moved = |p: usize| if p == 0 { 0 } else { p + 1 - below };
    r.pauses = r
        .pauses
        .iter()
        .filter(|p| keep(**p))
        .map(|p| moved(*p))
        .collect();
    r.pause_timers = r
        .pause_timers
        .iter()
        .filter(|(p, _, _)| keep(*p))
        .map(|(p, ms, t)| (moved(*p), *ms, *t))
        .collect();
    r.steps = steps;
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(steps: Vec<u8>, pauses: Vec<usize>) -> RolloutConfig {
        RolloutConfig {
            steps,
            pauses,
            pause_timers: vec![],
            bake: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            termination_wait: Duration::ZERO,
            probe_interval: None,
            probe_failures: 3,
            scale_down_after_rollback: None,
            step_timeout: None,
            sticky: None,
        }
    }

    #[test]
    fn the_split_comes_first_then_the_steps_above_it() {
        let mut r = rollout(vec![10, 50, 75, 100], vec![0, 1, 3]);
        assert_eq!(experiment_steps(&mut r, 50), 1);
        assert_eq!(r.steps, vec![50, 75, 100]);
        // Before traffic stays; after 10 goes with 10; after 75 stays after 75.
        assert_eq!(r.pauses, vec![0, 2]);
        let mut r = rollout(vec![100], vec![]);
        experiment_steps(&mut r, 30);
        assert_eq!(r.steps, vec![30, 100]);
        // A split below every step: a pause after 50 stays after 50.
        let mut r = rollout(vec![50, 100], vec![1]);
        experiment_steps(&mut r, 20);
        assert_eq!(
            (r.steps.clone(), r.pauses.clone()),
            (vec![20, 50, 100], vec![2])
        );
    }
}
