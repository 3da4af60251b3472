//! The registered routers: a new router is one file plus a variant here.
use std::time::Duration;

use super::{ecs, sagemaker, Router};
use crate::config::ValidateRequest;
use crate::error::Result;
use crate::probe::Outcome;
use crate::rollout::{Color, Weights};

/// The router a stack uses, chosen by `providers::build`.
pub enum Routers<'a> {
    /// The ALB's weighted forward (listener default action or shared rule).
    Listener(ecs::Listener<'a>),
    /// SageMaker production variant weights.
    Variants(sagemaker::Variants<'a>),
    /// Route 53 weighted alias records over one ALB per colour.
    Records(ecs::Records<'a>),
}

macro_rules! each {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            Routers::Listener($r) => $e,
            Routers::Variants($r) => $e,
            Routers::Records($r) => $e,
        }
    };
}

impl<'a> Routers<'a> {
    /// The Route 53 router, when the stack switches by DNS.
    pub fn records(&self) -> Option<&ecs::Records<'a>> {
        match self {
            Routers::Records(r) => Some(r),
            _ => None,
        }
    }
}

impl Router for Routers<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        each!(self, r => r.weights().await)
    }
    async fn set_weights(&self, w: Weights) -> Result<()> {
        each!(self, r => r.set_weights(w).await)
    }
    fn settle_timeout(&self) -> Duration {
        each!(self, r => r.settle_timeout())
    }
    async fn landing(&self) -> Result<Option<Weights>> {
        each!(self, r => r.landing().await)
    }
    async fn send(&self, c: Color, req: &ValidateRequest, http: &reqwest::Client) -> Outcome {
        each!(self, r => r.send(c, req, http).await)
    }
    async fn test_url(&self) -> Option<String> {
        each!(self, r => r.test_url().await)
    }
}
