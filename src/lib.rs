//! cutover: blue/green and staged rollouts of ML models on AWS.
//!
//! Layers, low to high (no module imports one above it):
//! `redact`, `error`, `signal`, `output`, `rollout` (the pure machine), `probe`, `resolve`, `compare`,
//! `judge` (pure checks), `config`, `template`, `registry` (MLflow over HTTP),
//! `store`, `report` (pure: the series, charts and page of `cutover report`),
//! `aws`, `providers`, `engine`, `commands`, `cli`, `app`.
pub mod app;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod judge;
pub mod output;
pub mod probe;
pub mod prom;
pub mod providers;
pub mod redact;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod rollout;
pub mod signal;
pub mod store;
pub mod template;
