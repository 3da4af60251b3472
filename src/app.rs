//! The entry: raw arguments become typed values, every config is loaded and
//! checked before any AWS call, the command runs, and its result becomes the
//! exit code here and nowhere else.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::aws::{AwsOptions, Clients};
use crate::cli::{Cli, Command, Output};
use crate::commands;
use crate::config::{self, Config};
use crate::engine::Ctx;
use crate::error::{invalid, Error, Result};
use crate::output::Out;

/// Parses the command line, runs, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = Error::Failed(format!("cannot start the runtime: {e}"));
            return report(&e, cli.output == Output::Json, cli.verbose);
        }
    };
    let (json, verbose) = (cli.output == Output::Json, cli.verbose);
    match rt.block_on(guarded(run(cli))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json, verbose),
    }
}

/// Runs the command; after Ctrl-C, SIGTERM or SIGHUP it gets a grace period
/// to reach its next safe point (a wait, or between transitions) and exits
/// with the signal's code.
async fn guarded(run: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    crate::signal::install();
    tokio::pin!(run);
    let code = tokio::select! {
        r = &mut run => return r,
        c = crate::signal::stopped() => c,
    };
    match tokio::time::timeout(std::time::Duration::from_secs(30), &mut run).await {
        Ok(Err(e)) => Err(e),
        _ => Err(Error::Interrupted(code)),
    }
}

/// The one exit path: one line on stderr (`-v` adds the cause chain), and
/// under `-o json` a last stdout line with the error and the exit code.
fn report(e: &Error, json: bool, verbose: bool) -> ExitCode {
    let message = match e {
        Error::Interrupted(code) => format!(
            "interrupted by {}: stopped at a safe point; the state is recorded and the lock released",
            crate::signal::name(*code)
        ),
        e => e.to_string(),
    };
    let line = match e {
        Error::Interrupted(_) => message.clone(),
        _ => format!("error: {message}"),
    };
    crate::output::stderr_line(&line);
    if let (true, Some(chain)) = (verbose, e.chain()) {
        crate::output::stderr_line(&format!("  caused by: {chain}"));
    }
    if json {
        let v = serde_json::json!({"error": {"kind": e.kind(), "message": message}, "exit": e.exit_code()});
        crate::output::stdout_line(&v.to_string());
    }
    ExitCode::from(e.exit_code())
}

/// A region looks like `us-east-1` (letters and digits in dash-separated parts).
fn check_region(r: &str, whence: &str) -> Result<()> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{whence} \"{r}\" is not an AWS region; give one like us-east-1 or eu-central-1"
        )))
    }
}

fn config_paths(cli: &Cli) -> Result<Vec<PathBuf>> {
    if cli.config.is_empty() {
        return Ok(vec![PathBuf::from("cutover.toml")]);
    }
    let mut out = Vec::new();
    for p in &cli.config {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| invalid(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(invalid(format!(
                    "{}: no *.toml configs in this folder",
                    p.display()
                )));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let out = Out::new(cli.output == Output::Json, cli.quiet, cli.verbose);
    if let Some(r) = &cli.region {
        check_region(r, "--region")?;
    }
    if let Ok(r) = std::env::var("AWS_REGION") {
        if cli.region.is_none() && !r.is_empty() {
            check_region(&r, "AWS_REGION")?;
        }
    }
    match &cli.command {
        Command::Init {
            provider,
            name,
            dir,
            force,
        } => return commands::init::run(*provider, name, dir, *force, &out),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "cutover", &mut buf);
            crate::output::stdout_line(String::from_utf8_lossy(&buf).trim_end());
            return Ok(());
        }
        Command::Destroy { yes: false, .. } => {
            return Err(invalid(
                "destroy deletes every resource of the stack; add --yes to confirm",
            ));
        }
        _ => {}
    }
    let paths = config_paths(&cli)?;
    if paths.len() > 1 && !matches!(cli.command, Command::Promote { .. } | Command::Check) {
        return Err(invalid(
            "several configs are accepted only by `promote` and `check`",
        ));
    }
    // Validate every config (and its templates) before any AWS call.
    let mut configs = load_all(&paths)?;
    if let Command::Check = cli.command {
        return commands::check::run(&configs, &out);
    }
    if let (
        Command::IamPolicy {
            purpose,
            schedule_role,
        },
        [cfg],
    ) = (&cli.command, configs.as_slice())
    {
        let purpose = match purpose {
            crate::cli::PolicyFor::Provision => crate::aws::calls::PolicyFor::Provision,
            crate::cli::PolicyFor::Run => crate::aws::calls::PolicyFor::Run,
        };
        return commands::iam_policy::run(cfg, purpose, schedule_role.as_deref());
    }
    let aws = AwsOptions {
        region: cli.region.clone(),
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        role: None,
    };
    if configs.len() > 1 {
        let Command::Promote {
            ignore_alarm,
            adopt,
            auto_deploy,
            dry_run,
            metrics_file,
            jobs,
        } = &cli.command
        else {
            return Err(invalid(
                "several configs are accepted only by `promote` and `check`",
            ));
        };
        let flags = commands::promote::Flags {
            ignore: ignore_alarm,
            adopt: *adopt,
            auto_deploy: *auto_deploy,
            dry_run: *dry_run,
            metrics_file: metrics_file.as_deref(),
        };
        let jobs = jobs.map_or(commands::promote_many::CONCURRENCY, usize::from);
        return commands::promote_many::run(&aws, configs, out, flags, jobs).await;
    }
    let Some(cfg) = configs.pop() else {
        return Err(invalid("no config"));
    };
    run_one(&aws, &cfg, out, &cli.command).await
}

/// Loads and checks every config; many (a `promote -c dir/`) on every core.
/// The first error in path order wins.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Config>> {
    let one = |p: &PathBuf| -> Result<Config> {
        let cfg = config::load(p)?;
        commands::check::templates(&cfg)?;
        Ok(cfg)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if paths.len() < 16 || cores < 2 {
        return paths.iter().map(one).collect();
    }
    let chunk = paths.len().div_ceil(cores);
    std::thread::scope(|s| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::new();
        for w in workers {
            let done = w
                .join()
                .map_err(|_| Error::Failed("a config loader thread panicked".into()))?;
            all.extend(done);
        }
        all.into_iter().collect()
    })
}

async fn run_one(aws: &AwsOptions, cfg: &Config, out: Out, cmd: &Command) -> Result<()> {
    let opts = AwsOptions {
        region: aws.region.clone().or_else(|| cfg.region.clone()),
        role: cfg.role.clone(),
        ..aws.clone()
    };
    let clients = Clients::new(&opts).await?;
    let ctx = Ctx::new(cfg, &clients, out);
    let res = commands::dispatch(&ctx, cmd).await;
    ctx.finish().await;
    res
}
