//! Keeping the registry true: the alias move a transition owes (when a colour
//! deployed from the registry becomes live) and settling it with MLflow.
//! The move rides in the write-ahead record, becomes `alias_owed` once the
//! weights hold, and is cleared only when MLflow took it; an MLflow failure
//! never moves traffic back, it is retried by the next run.
use serde_json::json;

use super::ctx::Ctx;
use crate::registry::Mlflow;
use crate::rollout::{Color, Status};
use crate::store::{AliasMove, StackDoc};

/// The alias move due when `doc` goes to `next`: a new live colour whose
/// version came from the configured registry model.
pub fn owed_by(ctx: &Ctx<'_>, doc: &StackDoc, next: &Status) -> Option<AliasMove> {
    let reg = ctx.cfg.registry.as_ref()?;
    let alias = reg.alias.as_ref()?;
    let live = next.live?;
    if next.live == doc.status.live || doc.models.get(&live) != Some(&reg.model) {
        return None;
    }
    Some(AliasMove {
        model: reg.model.clone(),
        alias: alias.clone(),
        version: doc.versions.get(&live)?.clone(),
        error: None,
    })
}

/// Makes the owed alias move, if any. Only state-store errors are returned;
/// an MLflow failure is recorded on the move (for `status`) and warned about.
pub async fn settle(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64) -> crate::error::Result<()> {
    let Some(owed) = doc.alias_owed.clone() else {
        return Ok(());
    };
    let uri = ctx
        .cfg
        .registry
        .as_ref()
        .and_then(|r| r.tracking_uri.as_deref());
    let ca = ctx.cfg.validate.as_ref().and_then(|v| v.ca_pem.as_deref());
    let res = match Mlflow::from_env(uri, ca) {
        Ok(m) => m.set_alias(&owed.model, &owed.alias, &owed.version).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => {
            doc.alias_owed = None;
            *rev = ctx.store.save(doc, *rev).await?;
            let note = format!("{owed}");
            ctx.journal("registry", &note, doc).await?;
            ctx.out.event(
                "registry",
                &note,
                json!({"model": owed.model, "alias": owed.alias, "version": owed.version}),
            );
        }
        Err(e) => {
            let why = e.to_string();
            ctx.out.warn(&format!(
                "{owed} is not done yet: {why}; traffic stays, and the next shift/promote/rollback/deploy retries it"
            ));
            if owed.error.as_deref() != Some(why.as_str()) {
                doc.alias_owed = Some(AliasMove {
                    error: Some(why),
                    ..owed
                });
                *rev = ctx.store.save(doc, *rev).await?;
            }
        }
    }
    Ok(())
}

/// SageMaker Model Registry parity, best effort: the package that became live
/// gets `cutover:live=<stack>`, the one that stopped being live loses it.
/// A failure is a warning; traffic is already where it should be.
pub async fn mark_packages(ctx: &Ctx<'_>, doc: &StackDoc, old_live: Option<Color>) {
    if old_live == doc.status.live {
        return;
    }
    let gone = old_live.and_then(|c| doc.packages.get(&c));
    let now = doc.status.live.and_then(|c| doc.packages.get(&c));
    for (arn, live) in [(gone, false), (now, true)] {
        let Some(arn) = arn.filter(|_| gone != now) else {
            continue;
        };
        match ctx.release.mark_package(arn, live).await {
            Ok(false) => {}
            Ok(true) => ctx.out.detail(&format!(
                "model package {arn}: {} cutover:live",
                if live { "set" } else { "cleared" }
            )),
            Err(e) => ctx
                .out
                .warn(&format!("could not mark model package {arn}: {e}")),
        }
    }
}
