//! ECS releases: register the task definition, update the colour's service,
//! wait until its tasks are healthy; retire by scaling to 0.
use std::time::{Duration, Instant};

use super::{service_name, taskdef::TaskDef, Ecs};
use crate::error::{aws, failed, invalid, Result};
use crate::output::Out;
use crate::providers::{Artefact, Prepared, Release};
use crate::rollout::{Color, Scaling, Status};
use crate::template::Model;

impl Ecs<'_> {
    pub(super) async fn register_taskdef(&self, c: Color, td: &TaskDef) -> Result<String> {
        let out = td
            .apply(
                self.c.ecs.register_task_definition(),
                &crate::aws::tags(&self.name, Some(c)),
            )
            .send()
            .await
            .map_err(|e| aws("register task definition", e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(String::from)
            .ok_or_else(|| failed("RegisterTaskDefinition returned no ARN"))
    }

    /// Waits until colour `c` runs `td` with every task healthy in its target group.
    async fn wait_healthy(&self, c: Color, td: &str, timeout: Duration, out: &Out) -> Result<()> {
        let arns = self.arns().await?.clone();
        let svc = service_name(&self.name, c);
        let want = self.cfg.desired_count;
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let services = self.services().await?;
            let s = services
                .get(&c)
                .ok_or_else(|| failed(format!("service {svc} disappeared")))?;
            let primary = s
                .deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"));
            let state = primary
                .and_then(|d| d.rollout_state())
                .map(|r| r.as_str().to_string())
                .unwrap_or_else(|| "?".into());
            // On AWS the PRIMARY deployment carries the new task definition; some
            // emulators only update the service's, so accept either.
            let on_td = primary.and_then(|d| d.task_definition()) == Some(td)
                || s.task_definition() == Some(td);
            let running = primary
                .map(|d| d.running_count())
                .unwrap_or(0)
                .max(s.running_count())
                .max(0) as u32;
            let healthy = self.healthy_in(&arns.tg[&c]).await?;
            let line = format!("  {svc}: deployment {state}, running {running}/{want}, healthy targets {healthy}/{want}");
            if line != last {
                out.info(&line);
                last = line;
            }
            if state == "FAILED" {
                let why = primary
                    .and_then(|d| d.rollout_state_reason())
                    .unwrap_or("no reason given");
                return Err(failed(format!("ECS deployment of {svc} failed: {why}")));
            }
            if on_td && state == "COMPLETED" && running >= want && healthy >= want {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(failed(format!(
                    "timed out after {} waiting for {svc} to become healthy ({running}/{want} running, {healthy}/{want} healthy)",
                    humantime::format_duration(Duration::from_secs(timeout.as_secs()))
                )));
            }
            crate::signal::pause(Duration::from_millis(1000)).await?;
        }
    }
}

impl Release for Ecs<'_> {
    fn prepare(
        &self,
        color: Color,
        version: &str,
        live: Option<Color>,
        model: Option<&Model>,
    ) -> Result<Prepared> {
        Ok(Prepared {
            color,
            version: version.into(),
            live,
            artefact: Artefact::TaskDefinition(self.render_taskdef(color, version, model)?),
        })
    }

    async fn deploy(&self, p: &Prepared, timeout: Duration, out: &Out) -> Result<String> {
        let Artefact::TaskDefinition(body) = &p.artefact else {
            return Err(invalid("an ECS deploy needs a task definition"));
        };
        let arns = self.arns().await?.clone();
        let c = p.color;
        let svc = service_name(&self.name, c);
        let td = self.register_taskdef(c, body).await?;
        out.info(&format!("registered {td}"));
        self.c
            .ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(&svc)
            .task_definition(&td)
            .desired_count(self.cfg.desired_count as i32)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| aws(&format!("update service {svc}"), e))?;
        self.wait_healthy(c, &td, timeout, out).await?;
        self.point_test_listener(&arns, c).await?;
        Ok(td)
    }

    async fn retire(&self, c: Color) -> Result<()> {
        let svc = service_name(&self.name, c);
        // Suspend its scaling first, so autoscaling cannot bring it back.
        self.register(c, Scaling::Off).await?;
        self.c
            .ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(&svc)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| aws(&format!("scale {svc} to 0"), e))?;
        Ok(())
    }

    async fn match_capacity(&self, c: Color, out: &Out) -> Result<()> {
        Ecs::match_capacity(self, c, out).await
    }

    async fn sync_scaling(&self, s: &Status) -> Result<()> {
        Ecs::sync_scaling(self, s).await
    }

    async fn healthy(&self, c: Color) -> Result<u32> {
        let arns = self.arns().await?;
        self.healthy_in(&arns.tg[&c]).await
    }

    fn metric_names(&self) -> (&'static str, &'static str, &'static str) {
        (
            "RequestCount",
            "HTTPCode_Target_5XX_Count",
            "TargetResponseTime",
        )
    }
}
