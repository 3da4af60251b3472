//! The ECS stack's resources as a whole: the provisioned check, alarm
//! dimensions, and teardown of everything that carries the stack's tag.
use std::time::Duration;

use aws_sdk_ecs::types as et;

use super::{service_name, Ecs};
use crate::error::{aws, invalid, Result};
use crate::output::Out;
use crate::providers::Stack;
use crate::rollout::Color;

impl Ecs<'_> {
    /// Deregisters every ACTIVE revision of the template's families that
    /// carries this stack's tag (all pages).
    async fn deregister_task_definitions(&self, out: &Out) -> Result<Vec<String>> {
        let mut families = Vec::new();
        for c in Color::BOTH {
            let td = self.bootstrap_taskdef(c)?;
            if !families.contains(&td.family) {
                families.push(td.family);
            }
        }
        let mut done = Vec::new();
        for family in families {
            let mut arns = self
                .c
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(et::TaskDefinitionStatus::Active)
                .into_paginator()
                .items()
                .send();
            let mut all = Vec::new();
            while let Some(arn) = arns.next().await {
                all.push(arn.map_err(|e| aws("list task definitions", e))?);
            }
            for arn in all {
                let d = self
                    .c
                    .ecs
                    .describe_task_definition()
                    .task_definition(&arn)
                    .include(et::TaskDefinitionField::Tags)
                    .send()
                    .await
                    .map_err(|e| aws("describe task definition", e))?;
                if self.ours(d.tags()) {
                    self.c
                        .ecs
                        .deregister_task_definition()
                        .task_definition(&arn)
                        .send()
                        .await
                        .map_err(|e| aws("deregister task definition", e))?;
                    done.push(format!("task definition {arn}"));
                }
            }
        }
        if !done.is_empty() {
            out.info(&format!(
                "  deregister {} task definition revision(s)",
                done.len()
            ));
        }
        Ok(done)
    }

    async fn delete_own_listeners(
        &self,
        lb: &str,
        out: &Out,
        done: &mut Vec<String>,
    ) -> Result<()> {
        for l in self.listeners(lb).await? {
            let Some(la) = l.listener_arn() else { continue };
            if self.owner_of(la).await?.as_deref() != Some(self.name.as_str()) {
                continue;
            }
            let port = l.port().unwrap_or(0);
            out.info(&format!("  delete listener :{port}"));
            self.c
                .elb
                .delete_listener()
                .listener_arn(la)
                .send()
                .await
                .map_err(|e| aws("delete listener", e))?;
            done.push(format!("listener :{port}"));
        }
        Ok(())
    }

    /// `[route53]`: cutover's two records (nothing else of the zone), then
    /// each colour's load balancer that carries our tag.
    async fn delete_color_lbs(&self, out: &Out, done: &mut Vec<String>) -> Result<()> {
        if let Some(r) = &self.cfg.route53 {
            let n = self.delete_records().await?;
            if n > 0 {
                out.info(&format!("  delete {n} Route 53 record(s) {}", r.record));
                done.push(format!("Route 53 records {} ({n})", r.record));
            }
        }
        for c in Color::BOTH {
            let name = self.color_lb_name(c);
            let Some(lb) = self.find_lb_named(&name).await? else {
                continue;
            };
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            if self.owner_of(&arn).await?.as_deref() != Some(self.name.as_str()) {
                continue;
            }
            self.delete_own_listeners(&arn, out, done).await?;
            out.info(&format!("  delete load balancer {name}"));
            self.c
                .elb
                .delete_load_balancer()
                .load_balancer_arn(&arn)
                .send()
                .await
                .map_err(|e| aws("delete load balancer", e))?;
            done.push(format!("load balancer {name}"));
        }
        Ok(())
    }

    async fn delete_target_groups(&self, out: &Out, done: &mut Vec<String>) -> Result<()> {
        for c in Color::BOTH {
            let Some(t) = self.find_tg(c).await? else {
                continue;
            };
            let arn = t.target_group_arn().unwrap_or_default().to_string();
            if self.owner_of(&arn).await?.as_deref() != Some(self.name.as_str()) {
                continue;
            }
            out.info(&format!("  delete target group {}", self.tg_name(c)));
            // The ALB releases its target groups a little after it is deleted.
            let mut tries = 0;
            loop {
                match self
                    .c
                    .elb
                    .delete_target_group()
                    .target_group_arn(&arn)
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(e)
                        if tries < 30
                            && e.as_service_error()
                                .is_some_and(|x| x.is_resource_in_use_exception()) =>
                    {
                        tries += 1;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => return Err(aws("delete target group", e)),
                }
            }
            done.push(format!("target group {}", self.tg_name(c)));
        }
        Ok(())
    }
}

impl Stack for Ecs<'_> {
    async fn ensure_provisioned(&self) -> Result<()> {
        self.arns().await?;
        let services = self.services().await?;
        for c in Color::BOTH {
            if !services.contains_key(&c) {
                return Err(invalid(format!(
                    "stack {} is not provisioned (ECS service {} is missing in cluster {}); run `cutover provision`",
                    self.name,
                    service_name(&self.name, c),
                    self.cfg.cluster
                )));
            }
        }
        Ok(())
    }

    async fn destroy(&self, out: &Out) -> Result<Vec<String>> {
        let mut done = Vec::new();
        // Scalable targets first, then services (scale to 0, delete), then
        // listeners, the ALB, target groups, the cluster.
        if self.cluster_active().await? {
            done.extend(self.deregister_scaling(out).await?);
        }
        for (c, s) in self.services().await? {
            if !self.ours(s.tags()) || s.status() != Some("ACTIVE") {
                continue;
            }
            let svc = service_name(&self.name, c);
            out.info(&format!("  delete ECS service {svc}"));
            if let Err(e) = self
                .c
                .ecs
                .update_service()
                .cluster(&self.cfg.cluster)
                .service(&svc)
                .desired_count(0)
                .send()
                .await
            {
                // Deleting with force still works; say why the scale-down did not.
                out.warn(&aws(&format!("scale {svc} to 0"), e).to_string());
            }
            self.c
                .ecs
                .delete_service()
                .cluster(&self.cfg.cluster)
                .service(&svc)
                .force(true)
                .send()
                .await
                .map_err(|e| aws(&format!("delete service {svc}"), e))?;
            done.push(format!("ECS service {svc}"));
        }
        done.extend(self.deregister_task_definitions(out).await?);
        if self.dns_mode() {
            self.delete_color_lbs(out, &mut done).await?;
        } else if let Some(lb) = self.find_lb().await? {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            if self.cfg.load_balancer_arn.is_some() {
                // A shared ALB stays; only our rule and the listeners carrying our tag go.
                if let Some(r) = self.shared_rule().await? {
                    let ra = r.rule_arn().unwrap_or_default();
                    out.info(&format!("  delete rule {ra}"));
                    self.c
                        .elb
                        .delete_rule()
                        .rule_arn(ra)
                        .send()
                        .await
                        .map_err(|e| aws("delete rule", e))?;
                    done.push(format!("rule {ra}"));
                }
                self.delete_own_listeners(&arn, out, &mut done).await?;
            } else if self.owner_of(&arn).await?.as_deref() == Some(self.name.as_str()) {
                for l in self.listeners(&arn).await? {
                    if let Some(la) = l.listener_arn() {
                        out.info(&format!("  delete listener :{}", l.port().unwrap_or(0)));
                        self.c
                            .elb
                            .delete_listener()
                            .listener_arn(la)
                            .send()
                            .await
                            .map_err(|e| aws("delete listener", e))?;
                        done.push(format!("listener :{}", l.port().unwrap_or(0)));
                    }
                }
                out.info(&format!("  delete load balancer {}", self.name));
                self.c
                    .elb
                    .delete_load_balancer()
                    .load_balancer_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws("delete load balancer", e))?;
                done.push(format!("load balancer {}", self.name));
            }
        }
        self.delete_target_groups(out, &mut done).await?;
        let cl = self
            .c
            .ecs
            .describe_clusters()
            .clusters(&self.cfg.cluster)
            .include(et::ClusterField::Tags)
            .send()
            .await
            .map_err(|e| aws("describe clusters", e))?;
        if let Some(cluster) = cl.clusters().iter().find(|c| c.status() == Some("ACTIVE")) {
            if self.ours(cluster.tags()) && cluster.active_services_count() == 0 {
                out.info(&format!("  delete ECS cluster {}", self.cfg.cluster));
                self.c
                    .ecs
                    .delete_cluster()
                    .cluster(&self.cfg.cluster)
                    .send()
                    .await
                    .map_err(|e| aws("delete cluster", e))?;
                done.push(format!("ECS cluster {}", self.cfg.cluster));
            }
        }
        Ok(done)
    }

    fn metric_namespace(&self) -> &'static str {
        "AWS/ApplicationELB"
    }

    async fn alarm_dimensions(&self, c: Color) -> Result<Vec<(String, String)>> {
        // ALB metric dimensions are the ARN suffixes: "targetgroup/…" and "app/…".
        let arns = self.arns().await?;
        let resource = |arn: &str| {
            arn.rsplit_once(':')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default()
        };
        let lb = resource(arns.lb_of(c));
        Ok(vec![
            ("TargetGroup".into(), resource(&arns.tg[&c])),
            (
                "LoadBalancer".into(),
                lb.trim_start_matches("loadbalancer/").to_string(),
            ),
        ])
    }
}
