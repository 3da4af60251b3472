//! Alarm states: reads the watched CloudWatch alarms (one DescribeAlarms
//! call per 100 names) and says which are firing.
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_cloudwatch::Client;
use serde::Serialize;

use crate::error::{aws, Result};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlarmState {
    pub name: String,
    /// OK, ALARM, INSUFFICIENT_DATA, or MISSING when no such alarm exists.
    pub state: String,
    /// Worst-case time for the alarm to fire, in seconds (period x evaluation periods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
}

impl AlarmState {
    pub fn firing(&self) -> bool {
        self.state == "ALARM"
    }
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
                (state_str(a.state_value()), window),
            );
        }
        for a in out.composite_alarms() {
            found.insert(
                a.alarm_name().unwrap_or_default().to_string(),
                (state_str(a.state_value()), None),
            );
        }
    }
    Ok(names
        .iter()
        .map(|n| {
            let (state, window_secs) = found.get(n).cloned().unwrap_or(("MISSING".into(), None));
            AlarmState {
                name: n.clone(),
                state,
                window_secs,
            }
        })
        .collect())
}

fn state_str(s: Option<&StateValue>) -> String {
    s.map(|v| v.as_str().to_string())
        .unwrap_or_else(|| "INSUFFICIENT_DATA".into())
}

/// Names of firing alarms, leaving out the ignored ones.
pub fn firing(states: &[AlarmState], ignore: &[String]) -> Vec<String> {
    states
        .iter()
        .filter(|a| a.firing() && !ignore.contains(&a.name))
        .map(|a| a.name.clone())
        .collect()
}
