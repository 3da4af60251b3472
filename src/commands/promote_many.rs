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

/// How many stacks tick at once.
pub const CONCURRENCY: usize = 16;

fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        75 => 1,
        1 => 2,
        2 => 3,
        _ => 4,
    }
}

async fn one(cfg: &Config, clients: &Clients, doc: Option<StackDoc>, f: Flags<'_>) -> (u8, String) {
    let ctx = Ctx::new(cfg, clients, Out::silent());
    let res = tick(&ctx, f, doc).await;
    ctx.finish().await;
    match res {
        Ok(msg) => (0, msg),
        Err(e) => (e.exit_code(), e.to_string()),
    }
}

/// Ticks every stack; fails with the worst stack's error kind.
pub async fn run(aws: &AwsOptions, configs: Vec<Config>, out: Out, f: Flags<'_>) -> Result<()> {
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
    let region_of = |c: &Config| aws.region.clone().or_else(|| c.region.clone());
    for c in &configs {
        let region = region_of(c);
        if !clients.contains_key(&region) {
            let opts = AwsOptions {
                region: region.clone(),
                ..aws.clone()
            };
            clients.insert(region.clone(), Clients::new(&opts).await?);
        }
    }
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
    let results: Vec<(String, u8, String)> = stream::iter(configs.iter())
        .map(|cfg| {
            let key = (region_of(cfg), cfg.state_table.clone(), cfg.name.clone());
            let doc = docs.remove(&key);
            let cl = &clients[&region_of(cfg)];
            async move {
                let (code, msg) = match doc {
                    Some(Err(e)) => (e.exit_code(), e.to_string()),
                    Some(Ok(d))
                        if d.pending.is_none() && !d.status.phase.is_active() && !f.auto_deploy =>
                    {
                        (
                            0,
                            format!("nothing due (state {})", d.status.phase.as_str()),
                        )
                    }
                    Some(Ok(d)) => one(cfg, cl, Some(d), f).await,
                    None => one(cfg, cl, None, f).await,
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
    let bad = sorted.iter().filter(|(_, c, _)| *c == worst).count();
    let summary = format!("{bad} of {} stack(s) exited {worst}", sorted.len());
    match worst {
        0 => Ok(()),
        2 => Err(invalid(summary)),
        3 => Err(safety(summary)),
        75 => Err(Error::Locked(summary)),
        _ => Err(failed(summary)),
    }
}
