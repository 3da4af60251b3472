//! `promote` over many stacks: bounded concurrency, one line per stack, and
//! the worst exit code (75 < 1 < 2 < 3 by severity).
use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::app::{clients_for, promote, Ctx};
use crate::cli::{Cli, Command};
use crate::config::{Config, ProviderKind};
use crate::ecs::Ecs;
use crate::error::{invalid, Result};
use crate::output::Out;
use crate::state::Store;

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

async fn one(cli: &Cli, cfg: &Config, ignore: &[String], adopt: bool) -> (i32, String) {
    let quiet = Out {
        json: false,
        quiet: true,
        verbose: false,
    };
    let clients = clients_for(cli, cfg).await;
    let ctx = Ctx {
        cfg,
        clients: &clients,
        store: Store::new(clients.dynamodb.clone(), &cfg.state_table, &cfg.name),
        out: quiet,
    };
    let res = match cfg.provider {
        ProviderKind::Ecs => {
            let p = Ecs::new(&clients, &cfg.name, cfg.ecs.as_ref().expect("validated"));
            promote(&ctx, &p, ignore, adopt).await
        }
        ProviderKind::Sagemaker => {
            let p = crate::sagemaker::SageMaker::new(
                &clients,
                &cfg.name,
                cfg.sagemaker.as_ref().expect("validated"),
            );
            promote(&ctx, &p, ignore, adopt).await
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
        ..
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
    let results: Vec<(String, i32, String)> = stream::iter(configs.iter())
        .map(|cfg| async move {
            let (code, msg) = one(cli, cfg, ignore_alarm, *adopt).await;
            (cfg.name.clone(), code, msg)
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
