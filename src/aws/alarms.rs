//! Alarm states: reads the watched CloudWatch alarms (one DescribeAlarms
//! call per 100 names) and says which are firing.
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_cloudwatch::Client;
use serde::Serialize;

use crate::error::{aws, Result};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlarmState {
    pub name: String,
    /// CloudWatch's state; None when no such alarm exists (shown as MISSING).
    #[serde(serialize_with = "state_name")]
    pub state: Option<StateValue>,
    /// Worst-case time for the alarm to fire, in seconds (period x evaluation periods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
}

impl AlarmState {
    pub fn firing(&self) -> bool {
        self.state == Some(StateValue::Alarm)
    }
    pub fn missing(&self) -> bool {
        self.state.is_none()
    }
    /// OK, ALARM, INSUFFICIENT_DATA, or MISSING.
    pub fn state_str(&self) -> &str {
        self.state.as_ref().map_or("MISSING", |s| s.as_str())
    }
}

fn state_name<S: serde::Serializer>(
    s: &Option<StateValue>,
    ser: S,
) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_ref().map_or("MISSING", |s| s.as_str()))
}

/// States of `names`, in the given order.
pub async fn read(cw: &Client, names: &[String]) -> Result<Vec<AlarmState>> {
    let mut found = std::collections::HashMap::new();
    for chunk in names.chunks(100) {
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(100)
            .send()
            .await
            .map_err(|e| aws("describe alarms", e))?;
        for a in out.metric_alarms() {
            let window = match (a.period(), a.evaluation_periods()) {
                (Some(p), Some(e)) if p > 0 && e > 0 => Some(p as u64 * e as u64),
                _ => None,
            };
            found.insert(
                a.alarm_name().unwrap_or_default().to_string(),
                (known(a.state_value()), window),
            );
        }
        for a in out.composite_alarms() {
            found.insert(
                a.alarm_name().unwrap_or_default().to_string(),
                (known(a.state_value()), None),
            );
        }
    }
    Ok(names
        .iter()
        .map(|n| {
            let (state, window_secs) = found.get(n).cloned().unwrap_or((None, None));
            AlarmState {
                name: n.clone(),
                state,
                window_secs,
            }
        })
        .collect())
}

/// An existing alarm's state (CloudWatch always sends one).
fn known(s: Option<&StateValue>) -> Option<StateValue> {
    Some(s.cloned().unwrap_or(StateValue::InsufficientData))
}

/// Names of firing alarms, leaving out the ignored ones.
pub fn firing(states: &[AlarmState], ignore: &[String]) -> Vec<String> {
    states
        .iter()
        .filter(|a| a.firing() && !ignore.contains(&a.name))
        .map(|a| a.name.clone())
        .collect()
}
