//! `destroy --yes`: deletes every resource of the stack (and the state
//! table when no other stack uses it). Safe to re-run.
use serde_json::json;

use crate::aws::managed;
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::providers::Stack;

pub async fn run(ctx: &Ctx<'_>, dry_run: bool) -> Result<()> {
    let table = ctx.store.table_exists().await?;
    if dry_run {
        let alarms: Vec<String> = managed::concrete(ctx.cfg, &ctx.clients.region)?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let msg = format!(
            "destroy: dry run: would delete every resource tagged cutover:stack={}{}{}",
            ctx.cfg.name,
            if alarms.is_empty() {
                String::new()
            } else {
                format!(", alarms {}", alarms.join(", "))
            },
            if table { ", and the stack's state" } else { "" }
        );
        ctx.out.result(
            &msg,
            json!({"stack": ctx.cfg.name, "dry_run": true, "alarms": alarms, "state": table}),
        );
        return Ok(());
    }
    let lock = if table {
        Some(ctx.store.lock(ctx.cfg.lock_lease, "destroy").await?)
    } else {
        None
    };
    ctx.out.info(&format!("destroying stack {}", ctx.cfg.name));
    let res = async {
        let mut done = ctx.release.destroy(&ctx.out).await?;
        let names: Vec<String> = managed::concrete(ctx.cfg, &ctx.clients.region)?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let gone = managed::delete(&ctx.clients.cloudwatch, &names).await?;
        done.extend(gone.into_iter().map(|n| format!("alarm {n}")));
        // `cutover schedule`'s schedule and task definition, when there are any.
        done.extend(crate::aws::scheduler::remove(ctx.clients, &ctx.cfg.name, false).await?);
        if crate::aws::dashboard::delete(&ctx.clients.cloudwatch, &ctx.cfg.name).await? {
            let n = crate::aws::dashboard::name(&ctx.cfg.name);
            ctx.out.info(&format!("  delete CloudWatch dashboard {n}"));
            done.push(format!("CloudWatch dashboard {n}"));
        }
        if table {
            ctx.store.delete_stack_items().await?;
            if !ctx.store.other_stacks_present().await? {
                ctx.out
                    .info(&format!("  delete DynamoDB table {}", ctx.cfg.state_table));
                ctx.store.delete_table().await?;
                done.push(format!("DynamoDB table {}", ctx.cfg.state_table));
            }
        }
        Ok::<_, Error>(done)
    }
    .await;
    if let (Err(_), Some(l)) = (&res, &lock) {
        if let Err(e) = ctx.store.unlock(l).await {
            ctx.out.warn(&format!(
                "could not release the lock (it expires by itself): {e}"
            ));
        }
    }
    let done = res?;
    ctx.out.result(
        &if done.is_empty() {
            "destroy: nothing left to delete".to_string()
        } else {
            format!("destroy: deleted {} resource(s)", done.len())
        },
        json!({"stack": ctx.cfg.name, "deleted": done}),
    );
    Ok(())
}
