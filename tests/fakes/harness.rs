//! Mocked `Clients`, a config on disk, and canned AWS shapes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use aws_smithy_mocks::{mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use cutover::aws::Clients;
use cutover::config::Config;

fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

/// Clients whose calls are answered by `rules` (per service, any order).
#[derive(Default)]
pub struct Rules<'a> {
    pub elb: Vec<&'a Rule>,
    pub ecs: Vec<&'a Rule>,
    pub sagemaker: Vec<&'a Rule>,
    pub dynamodb: Vec<&'a Rule>,
    pub cloudwatch: Vec<&'a Rule>,
}

pub fn clients(r: Rules<'_>) -> Clients {
    Clients {
        region: "us-east-1".into(),
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
        cloudwatch: mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, r.cloudwatch, |c| c
            .retry_config(retry())),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, r.dynamodb, |c| c
            .retry_config(retry())),
    }
}

const TASK: &str = r#"{"family": "{{ name }}-{{ color }}", "networkMode": "awsvpc",
 "containerDefinitions": [{"name": "model", "image": "img:{{ version }}",
  "portMappings": [{"containerPort": 8080}]}]}"#;

/// A checked config in a temporary folder (kept alive by the returned dir).
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

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
