//! The context of one run against one stack.
use crate::aws::Clients;
use crate::config::Config;
use crate::error::{invalid, Error, Result};
use crate::output::Out;
use crate::providers::{self, Releases, Routers};
use crate::rollout::{Refusal, Spec};
use crate::store::{JournalEntry, StackDoc, Store};

use super::notify::{event_json, Notifier};

pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub clients: &'a Clients,
    pub store: Store,
    pub out: Out,
    /// Moves and reads production traffic, reaches one colour.
    pub router: Routers<'a>,
    /// Puts versions on the colours.
    pub release: Releases<'a>,
    /// Where journal entries go besides the journal (`[notify]`).
    pub notifier: Notifier,
}

impl<'a> Ctx<'a> {
    pub fn new(cfg: &'a Config, clients: &'a Clients, out: Out) -> Ctx<'a> {
        let (router, release) = providers::build(clients, cfg);
        Ctx {
            cfg,
            clients,
            store: Store::new(clients.dynamodb.clone(), &cfg.state_table, &cfg.name),
            router,
            release,
            notifier: Notifier::new(cfg, clients, &out),
            out,
        }
    }

    /// Writes a journal entry and sends it to the `[notify]` sinks: every
    /// journal write goes through here.
    /// Details are redacted first: no URL secret reaches DynamoDB or a sink.
    pub async fn journal(&self, event: &str, detail: &str, doc: &StackDoc) -> Result<JournalEntry> {
        let detail = crate::redact::text(detail);
        let entry = self.store.journal(event, &detail, doc).await?;
        self.notifier
            .send(event_json(&self.cfg.name, &entry, doc.status.step));
        Ok(entry)
    }

    /// Waits briefly for queued notifications at the end of the run.
    pub async fn finish(&self) {
        self.notifier
            .drain(std::time::Duration::from_secs(10))
            .await;
    }

    /// The rollout rules the config gives.
    pub fn spec(&self) -> Spec {
        spec(self.cfg)
    }

    pub async fn load(&self) -> Result<(StackDoc, u64)> {
        self.store.load().await
    }

    /// The stored state; a missing table means the stack was never provisioned.
    pub async fn load_provisioned(&self) -> Result<(StackDoc, u64)> {
        self.store.load_if_table().await?.ok_or_else(|| {
            invalid(format!(
                "stack {} is not provisioned (no state table {}); run `cutover provision`",
                self.cfg.name, self.cfg.state_table
            ))
        })
    }

    /// The stored state of a stack that `provision` has recorded.
    pub async fn load_known(&self) -> Result<(StackDoc, u64)> {
        match self.store.load_if_table().await? {
            Some((doc, rev)) if rev > 0 => Ok((doc, rev)),
            _ => Err(invalid(format!(
                "stack {} is unknown (no state in DynamoDB table {}); run `cutover provision` first",
                self.cfg.name, self.cfg.state_table
            ))),
        }
    }
}

pub fn spec(cfg: &Config) -> Spec {
    Spec {
        steps: cfg.rollout.steps.clone(),
        pauses: cfg.rollout.pauses.clone(),
        pause_timers: cfg.rollout.pause_timers.clone(),
        scale_down_after_ms: cfg
            .rollout
            .scale_down_after_rollback
            .map(|d| d.as_millis() as u64),
        bake_ms: cfg.rollout.bake.as_millis() as u64,
        termination_wait_ms: cfg.rollout.termination_wait.as_millis() as u64,
        drain_ms: cfg.drain().as_millis() as u64,
        experiment: cfg
            .experiment
            .as_ref()
            .map(|e| (1, e.duration.as_millis() as u64)),
        shadow_ms: cfg.shadow.as_ref().map(|s| s.duration.as_millis() as u64),
    }
}

/// A machine refusal as an error with its exit code.
pub fn refusal(r: Refusal) -> Error {
    match r {
        Refusal::Invalid(m) => Error::Invalid(m),
        Refusal::Safety(m) => Error::Safety(m),
        Refusal::Corrupt(_) => Error::Failed(r.to_string()),
    }
}
