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
pub mod report;
pub mod resume;
pub mod rollback;
pub mod schedule;
pub mod shift;
pub mod status;
pub mod validate;
pub mod verify;
pub mod wait;

use serde_json::json;

use crate::cli::Command;
use crate::engine::drive::{Ended, Opts};
use crate::engine::Ctx;
use crate::error::{invalid, Result};

/// Prints how a drive ended, as `<command>: ...`.
pub fn say(ctx: &Ctx<'_>, cmd: &str, ended: &Ended) {
    let doc = ended.doc();
    let base = json!({"stack": ctx.cfg.name, "state": doc.status.phase.as_str(), "step": doc.status.step, "weights": doc.weights});
    let (line, mut extra) = match ended {
        Ended::Moved(_, note) => (format!("{cmd}: {note}"), base),
        Ended::Nothing(_, why, _) => (format!("{cmd}: {why}"), base),
        Ended::Would(_, what) => (format!("{cmd}: dry run: would {what}"), base),
    };
    if let Ended::Would(_, what) = ended {
        extra["dry_run"] = json!(true);
        extra["would"] = json!(what);
    }
    ctx.out.result(&line, extra);
}

/// Runs a command that works on one stack.
pub async fn dispatch(ctx: &Ctx<'_>, cmd: &Command) -> Result<()> {
    match cmd {
        Command::Plan => plan::run(ctx).await,
        Command::Provision { dry_run } => provision::run(ctx, *dry_run).await,
        Command::Deploy {
            version,
            model_package_group,
            timeout,
            dry_run,
        } => {
            let source = match (version, model_package_group) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give --version or --model-package-group, not both"))
                }
                (Some(v), None) => deploy::Source::Version(v),
                (None, Some(g)) => deploy::Source::PackageGroup(g),
                (None, None) => return Err(invalid("deploy needs --version V")),
            };
            deploy::run(ctx, source, *timeout, *dry_run).await
        }
        Command::Shift {
            to,
            ignore_alarm,
            adopt,
            dry_run,
            ignore_schedule,
        } => {
            let opts = Opts {
                ignore: ignore_alarm,
                adopt: *adopt,
                dry_run: *dry_run,
                ignore_schedule: *ignore_schedule,
            };
            match to {
                Some(pct) => shift::to(ctx, *pct, opts).await,
                None => shift::run(ctx, opts).await,
            }
        }
        Command::Promote {
            ignore_alarm,
            adopt,
            auto_deploy,
            dry_run,
            metrics_file,
            jobs: _,
        } => {
            let flags = promote::Flags {
                ignore: ignore_alarm,
                adopt: *adopt,
                auto_deploy: *auto_deploy,
                dry_run: *dry_run,
                metrics_file: metrics_file.as_deref(),
            };
            let res = promote::tick(ctx, flags, None).await;
            if let Some(path) = metrics_file {
                let code = res.as_ref().err().map_or(0, |e| e.exit_code());
                let m = promote::metrics_of(ctx, code).await;
                promote::write_metrics(path, &[m])?;
            }
            res.map(|_| ())
        }
        Command::Continue {
            ignore_alarm,
            adopt,
            dry_run,
        } => {
            let opts = Opts {
                ignore: ignore_alarm,
                adopt: *adopt,
                dry_run: *dry_run,
                ignore_schedule: false,
            };
            resume::run(ctx, opts).await
        }
        Command::Rollback { reason, dry_run } => {
            rollback::run(ctx, reason.as_deref(), *dry_run).await
        }
        Command::Status { watch: false, .. } => status::run(ctx).await,
        Command::Status {
            watch: true,
            interval,
        } => status::watch(ctx, *interval).await,
        Command::Wait {
            until,
            timeout,
            interval,
        } => wait::run(ctx, *until, *timeout, *interval).await,
        Command::Verify => verify::run(ctx).await,
        Command::History { limit } => history::run(ctx, *limit).await,
        Command::Report { html, since } => report::run(ctx, html.as_deref(), *since).await,
        Command::Destroy { dry_run, .. } => destroy::run(ctx, *dry_run).await,
        Command::Schedule {
            image,
            cluster,
            subnets,
            security_groups,
            role_arn,
            task_role_arn,
            execution_role_arn,
            every,
            config_path,
            assign_public_ip,
            remove,
        } => {
            let a = schedule::Args {
                image: image.as_deref(),
                cluster: cluster.as_deref(),
                subnets,
                security_groups,
                role_arn: role_arn.as_deref(),
                task_role_arn: task_role_arn.as_deref(),
                execution_role_arn: execution_role_arn.as_deref(),
                every: *every,
                config_path: config_path.as_deref(),
                assign_public_ip: *assign_public_ip,
                remove: *remove,
            };
            schedule::run(ctx, &a).await
        }
        Command::Validate { color } => validate::run(ctx, *color).await,
        Command::Compare => compare::run(ctx).await,
        Command::Check
        | Command::IamPolicy { .. }
        | Command::Init { .. }
        | Command::Completions { .. } => Ok(()),
    }
}
