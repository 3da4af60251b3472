//! SageMaker provider: production variants `blue` and `green` of endpoint `<name>`.
//! Not implemented yet (issue 5): every call fails with exit 1 and says so.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::Clients;
use crate::config::SagemakerConfig;
use crate::error::{failed, Result};
use crate::output::Out;
use crate::provider::{Change, Prepared, Provider};
use crate::rollout::{Color, Weights};

pub struct SageMaker<'a> {
    _c: &'a Clients,
    name: String,
    cfg: SagemakerConfig,
}

impl<'a> SageMaker<'a> {
    pub fn new(c: &'a Clients, name: &str, cfg: &SagemakerConfig) -> SageMaker<'a> {
        SageMaker {
            _c: c,
            name: name.into(),
            cfg: cfg.clone(),
        }
    }

    fn todo<T>(&self) -> Result<T> {
        Err(failed(format!(
            "stack {}: the SageMaker provider is not implemented in this build yet",
            self.name
        )))
    }
}

impl Provider for SageMaker<'_> {
    fn prepare(&self, color: Color, version: &str) -> Result<Prepared> {
        let _ = &self.cfg;
        Ok(Prepared {
            color,
            version: version.into(),
            body: String::new(),
        })
    }
    async fn converge(&self, _apply: bool, _out: &Out) -> Result<Vec<Change>> {
        self.todo()
    }
    async fn ensure_provisioned(&self) -> Result<()> {
        self.todo()
    }
    async fn deploy(
        &self,
        _p: &Prepared,
        _live: Option<Color>,
        _t: Duration,
        _out: &Out,
    ) -> Result<String> {
        self.todo()
    }
    async fn weights(&self) -> Result<Option<Weights>> {
        self.todo()
    }
    async fn set_weights(&self, _w: Weights, _v: &BTreeMap<Color, String>) -> Result<()> {
        self.todo()
    }
    async fn healthy(&self, _c: Color) -> Result<u32> {
        self.todo()
    }
    async fn retire(&self, _c: Color, _live: Color) -> Result<()> {
        self.todo()
    }
    async fn destroy(&self, _out: &Out) -> Result<Vec<String>> {
        self.todo()
    }
    async fn test_url(&self) -> Result<Option<String>> {
        Ok(None)
    }
}
