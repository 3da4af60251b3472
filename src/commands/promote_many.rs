//! `promote -c a.toml -c b.toml` (or `-c dir/`): many stacks: bounded concurrency, one line per stack, and
//! the worst exit code (0 < 75 < 1 < 2 < 3). Stacks that share a state table
//! are read with one BatchGetItem per 100; idle ones cost nothing more.
use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde_json::json;

use super::promote::{tick, Flags};
use crate::aws::{AwsOptions, Clients};
use crate::config::Config;
use crate::engine::Ctx;
use crate::error::{failed, invalid, safety, Error, Result};
use crate::output::Out;
use crate::store::{StackDoc, Store};

/// How many stacks tick at once (`--jobs`).
pub const CONCURRENCY: usize = 16;

/// A tick that takes longer is cut: the other stacks go on, and the lock
/// lease lets the next tick take the stack over.
const TICK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        75 => 1,
        1 => 2,
        2 => 3,
        _ => 4,
    }
}

type Ticked = (u8, String, Option<crate::prom::StackMetrics>);

/// Which clients a stack uses: its region and role.
type Key = (Option<String>, Option<crate::aws::Role>);

async fn one(cfg: &Config, clients: &Clients, doc: Option<StackDoc>, f: Flags<'_>) -> Ticked {
    let ctx = Ctx::new(cfg, clients, Out::silent());
    let res = match tokio::time::timeout(TICK_DEADLINE, tick(&ctx, f, doc)).await {
        Ok(r) => r,
        Err(_) => Err(failed(format!(
            "the tick did not finish within {}s and was cut; the next tick takes over after the lock lease",
            TICK_DEADLINE.as_secs()
        ))),
    };
    let (code, msg) = match res {
        Ok(msg) => (0, msg),
        Err(e) => (e.exit_code(), e.to_string()),
    };
    let m = match f.metrics_file {
        Some(_) => Some(super::promote::metrics_of(&ctx, code).await),
        None => None,
    };
    ctx.finish().await;
    (code, msg, m)
}

/// Ticks every stack; fails with the worst stack's error kind.
pub async fn run(
    aws: &AwsOptions,
    configs: Vec<Config>,
    out: Out,
    f: Flags<'_>,
    jobs: usize,
) -> Result<()> {
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
    // One set of clients per (region, role); one batch read per (region,
    // role, table). Stacks that share a role share one session,
    // `cutover-promote`, in a batch.
    let mut clients: HashMap<Key, Clients> = HashMap::new();
    let region_of = |c: &Config| {
        let role = c.role.as_ref().map(|r| crate::aws::Role {
            session: "cutover-promote".into(),
            ..r.clone()
        });
        (aws.region.clone().or_else(|| c.region.clone()), role)
    };
    // A role that cannot be assumed (or a region without credentials)
    // fails its own stacks only.
    let mut broken: HashMap<Key, (u8, String)> = HashMap::new();
    let mut keys: Vec<Key> = configs.iter().map(region_of).collect();
    keys.sort_by_key(|k| format!("{k:?}"));
    keys.dedup();
    // Every (region, role) at once: each may be an AssumeRole round trip.
    let built = futures::future::join_all(keys.iter().map(|key| {
        let opts = AwsOptions {
            region: key.0.clone(),
            role: key.1.clone(),
            ..aws.clone()
        };
        async move { (key.clone(), Clients::new(&opts).await) }
    }))
    .await;
    for (key, res) in built {
        match res {
            Ok(cl) => {
                clients.insert(key, cl);
            }
            Err(e) => {
                broken.insert(key, (e.exit_code(), e.to_string()));
            }
        }
    }
    let mut groups: HashMap<(Key, String), Vec<String>> = HashMap::new();
    for c in &configs {
        groups
            .entry((region_of(c), c.state_table.clone()))
            .or_default()
            .push(c.name.clone());
    }
    let mut docs: HashMap<(Key, String, String), Result<StackDoc, Error>> = HashMap::new();
    // Every table's batch reads at once.
    let reads = futures::future::join_all(groups.iter().filter_map(|((region, table), stacks)| {
        let cl = clients.get(region)?;
        Some(async move {
            let r = Store::load_many(&cl.dynamodb, table, stacks).await;
            (region, table, stacks, r)
        })
    }))
    .await;
    for (region, table, stacks, read) in reads {
        match read {
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
            Err(e) => {
                // One table's failure is its stacks' failure, not the batch's.
                for st in stacks {
                    docs.insert(
                        (region.clone(), table.clone(), st.clone()),
                        Err(failed(e.to_string())),
                    );
                }
            }
        }
    }
    let results: Vec<(String, u8, String, Option<crate::prom::StackMetrics>)> =
        stream::iter(configs.iter())
            .map(|cfg| {
                let key = (region_of(cfg), cfg.state_table.clone(), cfg.name.clone());
                let doc = docs.remove(&key);
                let cl = clients.get(&region_of(cfg));
                let broken = broken.get(&region_of(cfg)).cloned();
                async move {
                    let metrics = |d: Option<&StackDoc>, code| {
                        f.metrics_file
                            .map(|_| super::promote::metrics_from(&cfg.name, d, code))
                    };
                    let Some(cl) = cl else {
                        let (code, msg) = broken.unwrap_or((1, "no AWS clients".into()));
                        return (cfg.name.clone(), code, msg, metrics(None, code));
                    };
                    let (code, msg, m) = match doc {
                        Some(Err(e)) => {
                            (e.exit_code(), e.to_string(), metrics(None, e.exit_code()))
                        }
                        Some(Ok(d))
                            if d.pending.is_none()
                                && !d.status.phase.is_active()
                                && !f.auto_deploy =>
                        {
                            (
                                0,
                                format!("nothing due (state {})", d.status.phase.as_str()),
                                metrics(Some(&d), 0),
                            )
                        }
                        Some(Ok(d)) => one(cfg, cl, Some(d), f).await,
                        None => one(cfg, cl, None, f).await,
                    };
                    (cfg.name.clone(), code, msg, m)
                }
            })
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
    let mut worst = 0;
    let mut sorted = results;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(path) = f.metrics_file {
        let all: Vec<_> = sorted.iter().filter_map(|r| r.3.clone()).collect();
        super::promote::write_metrics(path, &all)?;
    }
    for (name, code, msg, _) in &sorted {
        if severity(*code) > severity(worst) {
            worst = *code;
        }
        out.result(
            &format!("{name}: exit {code}: {msg}"),
            json!({"stack": name, "exit": code, "message": msg}),
        );
    }
    let bad = sorted.iter().filter(|(_, c, _, _)| *c == worst).count();
    let summary = format!("{bad} of {} stack(s) exited {worst}", sorted.len());
    match worst {
        0 => Ok(()),
        2 => Err(invalid(summary)),
        3 => Err(safety(summary)),
        75 => Err(Error::Locked(summary)),
        _ => Err(failed(summary)),
    }
}
