//! What the commands share: the run's context, transitions against AWS
//! (commit, repair, read-back), the stack lease, the alarm watch, validation
//! and the provisioning plan. Commands sit above; nothing here imports them.
pub mod alias;
pub mod compare;
pub mod ctx;
pub mod deploy;
pub mod drive;
pub mod experiment;
pub mod flow;
pub mod gates;
pub mod hooks;
pub mod judge;
pub mod lease;
pub mod notify;
pub mod provision;
pub mod report;
pub mod rollback;
pub mod shadow;
pub mod transition;
pub mod validation;
pub mod watch;

pub use ctx::Ctx;
