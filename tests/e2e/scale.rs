//! Scale: every list call pages through all results. `destroy` removes all
//! of a stack with more than 100 task-definition revisions, and a SageMaker
//! stack with more than 100 endpoint configs and models.
use crate::common;

use common::Stack;

fn tags() -> Vec<(&'static str, String)> {
    vec![
        ("cutover:stack", String::new()),
        ("cutover:managed", "true".into()),
    ]
}

#[test]
fn destroy_deregisters_more_than_100_task_definition_revisions() {
    let s = Stack::new("scale", &[]);
    s.ok(&["provision"], 0);
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    let active = |family: &'static str| {
        let ecs = ecs.clone();
        Stack::rt().block_on(async move {
            let mut pages = ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .into_paginator()
                .items()
                .send();
            let mut n = 0;
            while let Some(a) = pages.next().await {
                a.unwrap();
                n += 1;
            }
            n
        })
    };
    Stack::rt().block_on(async {
        use aws_sdk_ecs::types::{ContainerDefinition, NetworkMode, PortMapping, Tag};
        for i in 0..105 {
            let mut req = ecs
                .register_task_definition()
                .family("scale-blue")
                .network_mode(NetworkMode::Awsvpc)
                .container_definitions(
                    ContainerDefinition::builder()
                        .name("model")
                        .image(format!("img:r{i}"))
                        .memory(512)
                        .port_mappings(PortMapping::builder().container_port(8080).build())
                        .build(),
                );
            for (k, v) in tags() {
                let v = if v.is_empty() { "scale".to_string() } else { v };
                req = req.tags(Tag::builder().key(k).value(v).build());
            }
            req.send().await.unwrap();
        }
    });
    assert!(active("scale-blue") > 100);
    s.ok(&["destroy", "--yes"], 0);
    assert_eq!(active("scale-blue"), 0);
    assert_eq!(active("scale-green"), 0);
}

#[test]
fn destroy_removes_more_than_100_endpoint_configs_and_models() {
    let s = Stack::new("scalesm", &["--provider", "sagemaker"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let sm = aws_sdk_sagemaker::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        use aws_sdk_sagemaker::types::{ContainerDefinition, ProductionVariant, Tag};
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        for i in 0..105 {
            let model = format!("scalesm-old-{i}");
            sm.create_model()
                .model_name(&model)
                .execution_role_arn("arn:aws:iam::123456789012:role/sm")
                .primary_container(ContainerDefinition::builder().image("img:old").build())
                .tags(tag("cutover:stack", "scalesm"))
                .tags(tag("cutover:managed", "true"))
                .send()
                .await
                .unwrap();
            sm.create_endpoint_config()
                .endpoint_config_name(format!("scalesm-old-{i}"))
                .production_variants(
                    ProductionVariant::builder()
                        .variant_name("blue")
                        .model_name(&model)
                        .initial_instance_count(1)
                        .instance_type(
                            aws_sdk_sagemaker::types::ProductionVariantInstanceType::MlM5Large,
                        )
                        .build(),
                )
                .tags(tag("cutover:stack", "scalesm"))
                .tags(tag("cutover:managed", "true"))
                .send()
                .await
                .unwrap();
        }
    });
    let count = || {
        let sm = sm.clone();
        Stack::rt().block_on(async move {
            let mut models = sm
                .list_models()
                .name_contains("scalesm-")
                .into_paginator()
                .items()
                .send();
            // Counted by name: moto's NameContains also returns other stacks' models.
            let mut m = 0;
            while let Some(x) = models.next().await {
                if x.unwrap()
                    .model_name()
                    .unwrap_or_default()
                    .starts_with("scalesm-")
                {
                    m += 1;
                }
            }
            let mut configs = sm
                .list_endpoint_configs()
                .name_contains("scalesm-")
                .into_paginator()
                .items()
                .send();
            let mut c = 0;
            while let Some(x) = configs.next().await {
                let n = x
                    .unwrap()
                    .endpoint_config_name()
                    .unwrap_or_default()
                    .to_string();
                if n.starts_with("scalesm-") {
                    c += 1;
                }
            }
            (m, c)
        })
    };
    let (m, c) = count();
    assert!(m > 100 && c > 100, "{m} models, {c} configs");
    s.ok(&["destroy", "--yes"], 0);
    assert_eq!(count(), (0, 0));
}
