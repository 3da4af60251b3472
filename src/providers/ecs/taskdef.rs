//! The rendered task-definition template: RegisterTaskDefinition's JSON body
//! (camelCase, as `aws ecs register-task-definition --cli-input-json` takes it).
//! Unsupported keys are rejected by name rather than silently dropped.
use std::collections::BTreeMap;

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as t;
use serde::Deserialize;

use crate::error::{invalid, Result};

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaskDef {
    pub family: String,
    pub container_definitions: Vec<Container>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub network_mode: Option<String>,
    pub requires_compatibilities: Option<Vec<String>>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
    pub runtime_platform: Option<RuntimePlatform>,
    pub tags: Option<Vec<KeyValue>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub essential: Option<bool>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default)]
    pub environment: Vec<NameValue>,
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    pub command: Option<Vec<String>>,
    pub entry_point: Option<Vec<String>>,
    pub working_directory: Option<String>,
    pub log_configuration: Option<LogConfig>,
    pub health_check: Option<HealthCheck>,
    pub stop_timeout: Option<i32>,
    pub user: Option<String>,
    pub readonly_root_filesystem: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: i32,
    pub host_port: Option<i32>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub app_protocol: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    pub name: String,
    pub value_from: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    pub log_driver: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    pub command: Vec<String>,
    pub interval: Option<i32>,
    pub timeout: Option<i32>,
    pub retries: Option<i32>,
    pub start_period: Option<i32>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimePlatform {
    pub cpu_architecture: Option<String>,
    pub operating_system_family: Option<String>,
}

/// Parses the rendered template and checks it serves `container`:`port`.
/// Renders `[ecs] task_definition` with `vars` (every value escaped as JSON
/// string content) and checks the body.
pub fn render(e: &crate::config::EcsConfig, vars: &crate::template::Vars) -> Result<TaskDef> {
    let what = e.task_definition.display().to_string();
    let body = crate::template::render_json(&what, &e.task_definition_source, vars)?;
    parse(&what, &body, &e.container_name, e.container_port)
}

pub fn parse(what: &str, json: &str, container: &str, port: u16) -> Result<TaskDef> {
    let td: TaskDef = serde_json::from_str(json).map_err(|e| {
        invalid(format!(
            "{what}: rendered task definition is not a valid RegisterTaskDefinition body (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Some(c) = td
        .container_definitions
        .iter()
        .find(|c| c.name == container)
    else {
        return Err(invalid(format!(
            "{what}: no container named \"{container}\" (ecs.container_name) in containerDefinitions"
        )));
    };
    if !c
        .port_mappings
        .iter()
        .any(|p| p.container_port == port as i32)
    {
        return Err(invalid(format!(
            "{what}: container \"{container}\" has no portMappings entry for containerPort {port} (ecs.container_port)"
        )));
    }
    if let Some(m) = &td.network_mode {
        if m != "awsvpc" {
            return Err(invalid(format!(
                "{what}: networkMode must be \"awsvpc\" (Fargate), not \"{m}\""
            )));
        }
    }
    Ok(td)
}

impl TaskDef {
    /// Fills a RegisterTaskDefinition request; `tags` are added to the template's own.
    pub fn apply(
        &self,
        mut req: RegisterTaskDefinitionFluentBuilder,
        tags: &[(String, String)],
    ) -> RegisterTaskDefinitionFluentBuilder {
        req = req
            .family(&self.family)
            .network_mode(t::NetworkMode::Awsvpc)
            .set_cpu(self.cpu.clone())
            .set_memory(self.memory.clone())
            .set_execution_role_arn(self.execution_role_arn.clone())
            .set_task_role_arn(self.task_role_arn.clone());
        let compat = self
            .requires_compatibilities
            .clone()
            .unwrap_or_else(|| vec!["FARGATE".into()]);
        for c in compat {
            req = req.requires_compatibilities(t::Compatibility::from(c.as_str()));
        }
        if let Some(rp) = &self.runtime_platform {
            req = req.runtime_platform(
                t::RuntimePlatform::builder()
                    .set_cpu_architecture(
                        rp.cpu_architecture.as_deref().map(t::CpuArchitecture::from),
                    )
                    .set_operating_system_family(
                        rp.operating_system_family.as_deref().map(t::OsFamily::from),
                    )
                    .build(),
            );
        }
        for c in &self.container_definitions {
            req = req.container_definitions(c.to_sdk());
        }
        for kv in self.tags.iter().flatten() {
            req = req.tags(t::Tag::builder().key(&kv.key).value(&kv.value).build());
        }
        for (k, v) in tags {
            req = req.tags(t::Tag::builder().key(k).value(v).build());
        }
        req
    }
}

impl Container {
    fn to_sdk(&self) -> t::ContainerDefinition {
        let mut b = t::ContainerDefinition::builder()
            .name(&self.name)
            .image(&self.image)
            .essential(self.essential.unwrap_or(true))
            .set_cpu(self.cpu)
            .set_memory(self.memory)
            .set_memory_reservation(self.memory_reservation)
            .set_command(self.command.clone())
            .set_entry_point(self.entry_point.clone())
            .set_working_directory(self.working_directory.clone())
            .set_stop_timeout(self.stop_timeout)
            .set_user(self.user.clone())
            .set_readonly_root_filesystem(self.readonly_root_filesystem);
        for p in &self.port_mappings {
            b = b.port_mappings(
                t::PortMapping::builder()
                    .container_port(p.container_port)
                    .set_host_port(p.host_port)
                    .set_protocol(p.protocol.as_deref().map(t::TransportProtocol::from))
                    .set_name(p.name.clone())
                    .set_app_protocol(p.app_protocol.as_deref().map(t::ApplicationProtocol::from))
                    .build(),
            );
        }
        for e in &self.environment {
            b = b.environment(
                t::KeyValuePair::builder()
                    .name(&e.name)
                    .value(&e.value)
                    .build(),
            );
        }
        for s in &self.secrets {
            if let Ok(secret) = t::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
            {
                b = b.secrets(secret);
            }
        }
        if let Some(l) = &self.log_configuration {
            let mut lb = t::LogConfiguration::builder()
                .log_driver(t::LogDriver::from(l.log_driver.as_str()));
            for (k, v) in &l.options {
                lb = lb.options(k, v);
            }
            if let Ok(lc) = lb.build() {
                b = b.log_configuration(lc);
            }
        }
        if let Some(h) = &self.health_check {
            if let Ok(hc) = t::HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval)
                .set_timeout(h.timeout)
                .set_retries(h.retries)
                .set_start_period(h.start_period)
                .build()
            {
                b = b.health_check(hc);
            }
        }
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"family": "iris", "containerDefinitions": [{"name": "model", "image": "x:1",
        "portMappings": [{"containerPort": 8080}]}]}"#;

    #[test]
    fn parses_and_checks_container() {
        assert!(parse("t", OK, "model", 8080).is_ok());
        let e = parse("t", OK, "other", 8080).unwrap_err().to_string();
        assert!(e.contains("no container named \"other\""), "{e}");
        let e = parse("t", OK, "model", 9000).unwrap_err().to_string();
        assert!(e.contains("containerPort 9000"), "{e}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_json() {
        let e = parse("t", &OK.replace("\"family\"", "\"famly\""), "model", 8080)
            .unwrap_err()
            .to_string();
        assert!(e.contains("famly"), "{e}");
        let e = parse("t", "{not json", "model", 8080)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid RegisterTaskDefinition body"), "{e}");
    }
}
