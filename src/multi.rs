//! `promote` over many stacks: bounded concurrency, one line per stack, and
//! the worst exit code (0 < 75 < 1 < 2 < 3). Stacks that share a state table
//! are read with one BatchGetItem per 100; idle ones cost nothing more.
use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::app::{clients_for, promote, Ctx};
use crate::aws::Clients;
use crate::cli::{Cli, Command};
use crate::config::{Config, ProviderKind};
use crate::ecs::Ecs;
use crate::error::{invalid, Error, Result};
use crate::output::Out;
use crate::rollout::Phase;
use crate::state::{StackDoc, Store};

/// How many stacks tick at once.
pub const CONCURRENCY: usize = 16;

fn severity(code: i32) -> i32 {
    match code {
        0 => 0,
        75 => 1,
        1 => 2,
        2 => 3,
        _ => 4,
    }
}

async fn one(
    cfg: &Config,
    clients: &Clients,
    doc: Option<StackDoc>,
    ignore: &[String],
    adopt: bool,
    auto: bool,
) -> (i32, String) {
    let quiet = Out::silent();
    let ctx = Ctx {
        cfg,
        clients,
        store: Store::new(clients.dynamodb.clone(), &cfg.state_table, &cfg.name),
        out: quiet,
    };
    let res = match cfg.provider {
        ProviderKind::Ecs => {
            let p = Ecs::new(clients, &cfg.name, cfg.ecs.as_ref().expect("validated"));
            promote(&ctx, &p, ignore, adopt, doc, auto).await
        }
        ProviderKind::Sagemaker => {
            let p = crate::sagemaker::SageMaker::new(
                clients,
                &cfg.name,
                cfg.sagemaker.as_ref().expect("validated"),
            );
            promote(&ctx, &p, ignore, adopt, doc, auto).await
        }
    };
    match res {
        Ok((code, msg)) => (code, msg),
        Err(e) => (e.exit_code(), e.to_string()),
    }
}

pub async fn promote_many(cli: &Cli, configs: Vec<Config>, out: Out) -> Result<i32> {
    let Command::Promote {
        ignore_alarm,
        adopt,
        auto_deploy,
    } = &cli.command
    else {
        return Err(invalid(
            "several configs are accepted only by `promote` and `check`",
        ));
    };
    let mut names = std::collections::HashSet::new();
    for c in &configs {
        if !names.insert((c.name.clone(), c.state_table.clone())) {
            return Err(invalid(format!(
                "stack {} appears twice ({})",
                c.name,
                c.path.display()
            )));
        }
    }
    // One set of clients per region; one batch read per (region, table).
    let mut clients: HashMap<Option<String>, Clients> = HashMap::new();
    for c in &configs {
        let region = cli.region.clone().or_else(|| c.region.clone());
        if !clients.contains_key(&region) {
            clients.insert(region.clone(), clients_for(cli, c).await?);
        }
    }
    let region_of = |c: &Config| cli.region.clone().or_else(|| c.region.clone());
    let mut groups: HashMap<(Option<String>, String), Vec<String>> = HashMap::new();
    for c in &configs {
        groups
            .entry((region_of(c), c.state_table.clone()))
            .or_default()
            .push(c.name.clone());
    }
    let mut docs: HashMap<(Option<String>, String, String), Result<StackDoc, Error>> =
        HashMap::new();
    for ((region, table), stacks) in &groups {
        let cl = &clients[region];
        match Store::load_many(&cl.dynamodb, table, stacks).await {
            Ok(Some(found)) => {
                for (k, v) in found {
                    docs.insert((region.clone(), table.clone(), k), Ok(v));
                }
            }
            Ok(None) => {
                for st in stacks {
                    docs.insert(
                        (region.clone(), table.clone(), st.clone()),
                        Err(invalid(format!("stack {st} is not provisioned (no state table {table}); run `cutover provision`"))),
                    );
                }
            }
            Err(e) => return Err(e),
        }
    }
    let results: Vec<(String, i32, String)> = stream::iter(configs.iter())
        .map(|cfg| {
            let key = (region_of(cfg), cfg.state_table.clone(), cfg.name.clone());
            let doc = docs.remove(&key);
            let cl = &clients[&region_of(cfg)];
            async move {
                let (code, msg) = match doc {
                    Some(Err(e)) => (e.exit_code(), e.to_string()),
                    Some(Ok(d))
                        if d.pending.is_none()
                            && !matches!(
                                d.status.phase,
                                Phase::Ready
                                    | Phase::Shifting
                                    | Phase::Complete
                                    | Phase::FailedValidation
                            ) =>
                    {
                        (
                            0,
                            format!("nothing due (state {})", d.status.phase.as_str()),
                        )
                    }
                    Some(Ok(d)) => one(cfg, cl, Some(d), ignore_alarm, *adopt, *auto_deploy).await,
                    None => one(cfg, cl, None, ignore_alarm, *adopt, *auto_deploy).await,
                };
                (cfg.name.clone(), code, msg)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut worst = 0;
    let mut sorted = results;
    sorted.sort();
    for (name, code, msg) in &sorted {
        if severity(*code) > severity(worst) {
            worst = *code;
        }
        out.result(
            &format!("{name}: exit {code}: {msg}"),
            json!({"stack": name, "exit": code, "message": msg}),
        );
    }
    Ok(worst)
}
