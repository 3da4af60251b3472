//! One file per command (as ecspresso has it). Each takes the run's context
//! and returns `Ok(())` or the error whose kind is the exit code.
pub mod check;
pub mod compare;
pub mod deploy;
pub mod destroy;
pub mod history;
pub mod iam_policy;
pub mod init;
pub mod plan;
pub mod promote;
pub mod promote_many;
pub mod provision;
pub mod resume;
pub mod rollback;
pub mod shift;
pub mod status;
pub mod validate;

use crate::cli::Command;
use crate::engine::Ctx;
use crate::error::{invalid, Result};

/// Runs a command that works on one stack.
pub async fn dispatch(ctx: &Ctx<'_>, cmd: &Command) -> Result<()> {
    match cmd {
        Command::Plan => plan::run(ctx).await,
        Command::Provision => provision::run(ctx).await,
        Command::Deploy {
            version,
            model_package_group,
            timeout,
        } => {
            let source = match (version, model_package_group) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give --version or --model-package-group, not both"))
                }
                (Some(v), None) => deploy::Source::Version(v),
                (None, Some(g)) => deploy::Source::PackageGroup(g),
                (None, None) => return Err(invalid("deploy needs --version V")),
            };
            deploy::run(ctx, source, *timeout).await
        }
        Command::Shift {
            to: Some(pct),
            ignore_alarm,
            adopt,
        } => shift::to(ctx, *pct, ignore_alarm, *adopt).await,
        Command::Shift {
            to: None,
            ignore_alarm,
            adopt,
        } => shift::run(ctx, ignore_alarm, *adopt).await,
        Command::Promote {
            ignore_alarm,
            adopt,
            auto_deploy,
        } => {
            let flags = promote::Flags {
                ignore: ignore_alarm,
                adopt: *adopt,
                auto_deploy: *auto_deploy,
            };
            promote::tick(ctx, flags, None).await.map(|_| ())
        }
        Command::Continue {
            ignore_alarm,
            adopt,
        } => resume::run(ctx, ignore_alarm, *adopt).await,
        Command::Rollback { reason } => rollback::run(ctx, reason.as_deref()).await,
        Command::Status => status::run(ctx).await,
        Command::History { limit } => history::run(ctx, *limit).await,
        Command::Destroy { .. } => destroy::run(ctx).await,
        Command::Validate { color } => validate::run(ctx, *color).await,
        Command::Compare => compare::run(ctx).await,
        Command::Check
        | Command::IamPolicy
        | Command::Init { .. }
        | Command::Completions { .. } => Ok(()),
    }
}
