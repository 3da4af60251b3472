//! `[ecs.autoscaling]`: Application Auto Scaling of both services, with one
//! target-tracking policy each.
use super::locate::Locator;
use super::raw::RawAutoscaling;
use crate::error::Result;

/// The metric the target-tracking policy holds at `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingMetric {
    /// ECSServiceAverageCPUUtilization (percent).
    Cpu,
    /// ALBRequestCountPerTarget (requests per target per minute).
    Requests,
}

impl ScalingMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            ScalingMetric::Cpu => "cpu",
            ScalingMetric::Requests => "requests",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    pub metric: ScalingMetric,
    pub target: f64,
}

pub fn autoscaling(loc: &Locator, a: &RawAutoscaling, desired: u32) -> Result<Autoscaling> {
    let key = |k: &str| format!("ecs.autoscaling.{k}");
    if a.max == 0 {
        return Err(loc.key(&key("max"), "must be at least 1".into()));
    }
    if a.min > a.max {
        return Err(loc.key(&key("min"), format!("{} is above max ({})", a.min, a.max)));
    }
    if desired < a.min || desired > a.max {
        return Err(loc.key(
            "ecs.desired_count",
            format!(
                "{desired} is outside ecs.autoscaling min..max ({}..{})",
                a.min, a.max
            ),
        ));
    }
    let metric = match a.metric.as_deref().unwrap_or("cpu") {
        "cpu" => ScalingMetric::Cpu,
        "requests" => ScalingMetric::Requests,
        other => {
            return Err(loc.key(
                &key("metric"),
                format!("\"{other}\" is not one of \"cpu\", \"requests\""),
            ))
        }
    };
    if !(a.target.is_finite() && a.target > 0.0) {
        return Err(loc.key(&key("target"), format!("{} must be above 0", a.target)));
    }
    if metric == ScalingMetric::Cpu && a.target > 100.0 {
        return Err(loc.key(
            &key("target"),
            format!(
                "{} is above 100 (CPU utilization is a percentage)",
                a.target
            ),
        ));
    }
    Ok(Autoscaling {
        min: a.min,
        max: a.max,
        metric,
        target: a.target,
    })
}
