//! Mocked `Clients`, a config on disk, canned AWS shapes, and request capture.
//!
//! Sleeping and time in these clients: `mock_client!` builds each client with
//! `with_test_defaults_v2()`, which pins the SDK's *time source* to a static
//! instant (2009-02-13) but sets no *sleep* implementation, so the default
//! runtime plugin supplies `TokioSleep`: retry backoff really sleeps on the
//! test's tokio runtime (`#[tokio::test]`, clock not paused). The SDK default
//! for tests is standard retries with a 1 s initial backoff, so every client
//! here gets 3 attempts and a 1 ms initial backoff instead; a test that goes
//! through all its retries then takes milliseconds. (A paused tokio clock
//! would also skip the backoff, but `engine::transition::apply_weights`
//! measures its settle time with `std::time::Instant`, which a paused clock
//! does not move, so these tests keep the real clock.)
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use cutover::aws::Clients;
use cutover::config::Config;
use cutover::store::{JournalEntry, StackDoc};

/// Three attempts, 1 ms apart (plus jitter): retries without slow tests.
pub fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

/// The rules answering each service's calls (first matching, non-exhausted rule wins).
#[derive(Default)]
pub struct Rules<'a> {
    pub elb: Vec<&'a Rule>,
    pub ecs: Vec<&'a Rule>,
    pub sagemaker: Vec<&'a Rule>,
    pub dynamodb: Vec<&'a Rule>,
    pub cloudwatch: Vec<&'a Rule>,
    pub autoscaling: Vec<&'a Rule>,
    pub route53: Vec<&'a Rule>,
}

/// The test's CloudWatch rules, plus one answering the `Cutover/Weight`
/// metric cutover puts after every weight change.
fn with_weight_metric(mut rules: Vec<&Rule>) -> Vec<&Rule> {
    let put: &'static Rule = Box::leak(Box::new(
        mock!(aws_sdk_cloudwatch::Client::put_metric_data)
            .match_requests(|r| r.namespace() == Some("Cutover"))
            .sequence()
            .output(|| {
                aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput::builder()
                    .build()
            })
            .repeatedly()
            .build(),
    ));
    rules.push(put);
    rules
}

/// `Clients` whose calls are answered by `r` only (a call no rule matches fails).
pub fn clients(r: Rules<'_>) -> Clients {
    Clients {
        region: "us-east-1".into(),
        // No credentials or endpoint: the raw (verify) calls are not faked.
        conf: aws_config::SdkConfig::builder().build(),
        endpoint_flag: None,
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            r.elb,
            |c| c.retry_config(retry())
        ),
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, r.ecs, |c| c
            .retry_config(retry())),
        sagemaker: mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, r.sagemaker, |c| c
            .retry_config(retry())),
        runtime: mock_client!(
            aws_sdk_sagemakerruntime,
            RuleMode::MatchAny,
            Vec::<&Rule>::new(),
            |c| c.retry_config(retry())
        ),
        cloudwatch: mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            with_weight_metric(r.cloudwatch),
            |c| c.retry_config(retry())
        ),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, r.dynamodb, |c| c
            .retry_config(retry())),
        route53: mock_client!(aws_sdk_route53, RuleMode::MatchAny, r.route53, |c| c
            .retry_config(retry())),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, Vec::<&Rule>::new(), |c| c
            .retry_config(retry())),
        scheduler: mock_client!(
            aws_sdk_scheduler,
            RuleMode::MatchAny,
            Vec::<&Rule>::new(),
            |c| c.retry_config(retry())
        ),
        eventbridge: mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            Vec::<&Rule>::new(),
            |c| c.retry_config(retry())
        ),
        autoscaling: mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            r.autoscaling,
            |c| c.retry_config(retry())
        ),
    }
}

const TASK: &str = r#"{"family": "{{ name }}-{{ color }}", "networkMode": "awsvpc",
 "containerDefinitions": [{"name": "model", "image": "img:{{ version }}",
  "portMappings": [{"containerPort": 8080}]}]}"#;

/// A checked config (stack `iris`, `ecs` or `sagemaker`) in a temporary
/// folder, kept alive by the returned dir.
pub fn config(provider: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let section = match provider {
        "ecs" => "[ecs]\ncluster = \"ml\"\nvpc = \"vpc-1\"\nsubnets = [\"subnet-1\"]\nsecurity_groups = []\ntask_definition = \"task.json.j2\"\ncontainer_name = \"model\"\ncontainer_port = 8080\ndesired_count = 2\n",
        _ => "[sagemaker]\nexecution_role_arn = \"arn:aws:iam::1:role/sm\"\nimage = \"img:{{ version }}\"\ninstance_type = \"ml.m5.large\"\n",
    };
    std::fs::write(dir.path().join("task.json.j2"), TASK).unwrap();
    let path: PathBuf = dir.path().join("cutover.toml");
    std::fs::write(
        &path,
        format!("name = \"iris\"\nprovider = \"{provider}\"\nregion = \"us-east-1\"\n\n{section}"),
    )
    .unwrap();
    let cfg = cutover::config::load(&path).unwrap();
    (dir, cfg)
}

pub const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/iris/abc";
pub const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/iris-blue/b1";
pub const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/iris-green/g1";
pub const PROD: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/iris/abc/prod";
pub const TEST: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/iris/abc/test";

pub type Item = HashMap<String, AttributeValue>;

/// What the PutItem calls of a run wrote, in order.
#[derive(Clone, Default)]
pub struct Writes(Arc<Mutex<Vec<Item>>>);

impl Writes {
    pub fn all(&self) -> Vec<Item> {
        self.0.lock().unwrap().clone()
    }

    fn with_sk(&self, pred: impl Fn(&str) -> bool) -> Vec<Item> {
        self.all()
            .into_iter()
            .filter(|i| {
                i.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|s| pred(s))
            })
            .collect()
    }

    /// The state documents written (sk = "state"), with their revisions.
    pub fn states(&self) -> Vec<(StackDoc, u64)> {
        self.with_sk(|s| s == "state")
            .iter()
            .map(|i| {
                let doc = serde_json::from_str(i["doc"].as_s().unwrap()).unwrap();
                (doc, i["rev"].as_n().unwrap().parse().unwrap())
            })
            .collect()
    }

    /// The journal entries written (sk = "journal#…").
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.with_sk(|s| s.starts_with("journal#"))
            .iter()
            .map(|i| serde_json::from_str(i["doc"].as_s().unwrap()).unwrap())
            .collect()
    }
}

/// PutItem that succeeds and records every item it is given.
pub fn put_recorded(w: &Writes) -> Rule {
    let into = w.0.clone();
    mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(move |r| {
            if let Some(i) = r.item() {
                into.lock().unwrap().push(i.clone());
            }
            true
        })
        .then_output(|| PutItemOutput::builder().build())
}
