//! The SageMaker router: variant weights (CurrentWeight), and one colour
//! reached with InvokeEndpoint's TargetVariant.
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::types as st;

use super::SageMaker;
use crate::config::ValidateRequest;
use crate::error::{aws, failed, Result};
use crate::probe::{Answer, Outcome};
use crate::providers::Router;
use crate::rollout::{Color, Weights};

/// The variant router: production variant weights, and TargetVariant to
/// reach one colour.
pub struct Variants<'a> {
    sm: Rc<SageMaker<'a>>,
}

impl<'a> Variants<'a> {
    pub fn new(sm: Rc<SageMaker<'a>>) -> Variants<'a> {
        Variants { sm }
    }
}

impl Router for Variants<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        let Some(d) = self.sm.describe().await? else {
            return Ok(None);
        };
        // What serves now: CurrentWeight (DesiredWeight may still be moving).
        let mut w: BTreeMap<Color, f64> = BTreeMap::new();
        for v in d.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    w.insert(c, v.current_weight().unwrap_or(0.0) as f64);
                }
            }
        }
        let of = |c: Color| w.get(&c).copied().unwrap_or(0.0);
        Ok(Weights::from_relative(of(Color::Blue), of(Color::Green)))
    }

    async fn landing(&self) -> Result<Option<Weights>> {
        Ok(self.sm.describe().await?.as_ref().and_then(landing_of))
    }

    async fn set_weights(&self, w: Weights) -> Result<()> {
        let d = self
            .sm
            .describe()
            .await?
            .ok_or_else(|| failed(format!("endpoint {} does not exist", self.sm.name)))?;
        // An endpoint still Updating refuses another change (AWS: "Cannot
        // update in-progress endpoint"); the same change is already coming.
        match landing_of(&d) {
            Some(to) if to == w => return Ok(()),
            Some(to) => {
                return Err(failed(format!(
                    "endpoint {} is still Updating (to {to}) and takes no other weight change until it is InService; the next run writes {w}",
                    self.sm.name
                )))
            }
            None => {}
        }
        let mut req = self
            .sm
            .c
            .sagemaker
            .update_endpoint_weights_and_capacities()
            .endpoint_name(&self.sm.name);
        let mut named = 0;
        for v in d.production_variants() {
            for c in Color::BOTH {
                if v.variant_name() == Some(c.as_str()) {
                    named += 1;
                    // Name every field we keep: a partial entry resets the others.
                    req = req.desired_weights_and_capacities(
                        st::DesiredWeightAndCapacity::builder()
                            .variant_name(c.as_str())
                            .desired_weight(w.of(c) as f32 / 100.0)
                            .desired_instance_count(
                                v.current_instance_count()
                                    .or(v.desired_instance_count())
                                    .unwrap_or(self.sm.cfg.instance_count as i32),
                            )
                            .build(),
                    );
                }
            }
        }
        for c in Color::BOTH {
            if w.of(c) > 0
                && !d
                    .production_variants()
                    .iter()
                    .any(|v| v.variant_name() == Some(c.as_str()))
            {
                return Err(failed(format!(
                    "endpoint {} has no {c} variant to send {}% to",
                    self.sm.name,
                    w.of(c)
                )));
            }
        }
        if named == 0 {
            return Err(failed(format!(
                "endpoint {} has no blue/green variants",
                self.sm.name
            )));
        }
        req.send()
            .await
            .map_err(|e| aws("update endpoint weights", e))?;
        Ok(())
    }

    fn settle_timeout(&self) -> Duration {
        // SageMaker applies weight changes asynchronously (Updating -> InService).
        Duration::from_secs(600)
    }

    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome {
        let _ = http; // InvokeEndpoint goes through the SDK's own client.
        let start = Instant::now();
        let res = self
            .sm
            .c
            .runtime
            .invoke_endpoint()
            .endpoint_name(&self.sm.name)
            .target_variant(c.as_str())
            .content_type(&r.content_type)
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                r.payload.as_bytes().to_vec(),
            ))
            .send()
            .await;
        let latency = start.elapsed();
        match res {
            Ok(o) => Ok(Answer {
                status: 200,
                body: o
                    .body()
                    .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
                    .unwrap_or_default(),
                latency,
            }),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(code) => Ok(Answer {
                    status: code,
                    body: e.message().unwrap_or_default().to_string(),
                    latency,
                }),
                None => Err(format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )),
            },
        }
    }

    async fn test_url(&self) -> Option<String> {
        None
    }
}

/// The weights an endpoint still Updating moves to (DesiredWeight), when
/// they differ from what it serves (CurrentWeight).
fn landing_of(d: &DescribeEndpointOutput) -> Option<Weights> {
    if d.endpoint_status().map(|s| s.as_str()) != Some("Updating") {
        return None;
    }
    let of = |c: Color, desired: bool| {
        d.production_variants()
            .iter()
            .find(|v| v.variant_name() == Some(c.as_str()))
            .and_then(|v| match desired {
                true => v.desired_weight(),
                false => v.current_weight(),
            })
            .unwrap_or(0.0) as f64
    };
    let want = Weights::from_relative(of(Color::Blue, true), of(Color::Green, true));
    let now = Weights::from_relative(of(Color::Blue, false), of(Color::Green, false));
    want.filter(|w| Some(*w) != now)
}
