//! EventBridge to SQS: a queue that a rule feeds with a stack's events.
use std::time::{Duration, Instant};

use super::Stack;

/// An SQS queue that an EventBridge rule on the default bus feeds with the
/// stack's cutover events.
pub fn eventbridge_queue(s: &Stack, stack: &str) -> (aws_sdk_sqs::Client, String) {
    // The emulator, or LocalStack on the real components.
    let conf = s.cw_sdk();
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let eb = aws_sdk_eventbridge::Client::new(&conf);
    let url = Stack::rt().block_on(async {
        let q = sqs
            .create_queue()
            .queue_name(format!("{stack}-events"))
            .send()
            .await
            .unwrap();
        let url = q.queue_url().unwrap().to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn =
            attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        let rule = format!("{stack}-cutover");
        eb.put_rule()
            .name(&rule)
            .event_pattern(format!(
                r#"{{"source": ["cutover"], "resources": ["{stack}"]}}"#
            ))
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .rule(&rule)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("q")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        url
    });
    (sqs, url)
}

/// Receives the queue's events until one has detail-type `until` (or 20 s).
pub fn receive_until(sqs: &aws_sdk_sqs::Client, url: &str, until: &str) -> Vec<serde_json::Value> {
    Stack::rt().block_on(async {
        let mut got = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let r = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in r.messages() {
                got.push(serde_json::from_str(m.body().unwrap()).unwrap());
            }
            if got
                .iter()
                .any(|e: &serde_json::Value| e["detail-type"] == until)
            {
                break;
            }
        }
        got
    })
}
