//! Command-line surface (clap only). See ../shared/contract.md.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::ProviderKind;
use crate::registry::ModelRef;
use crate::rollout::Color;

#[derive(Parser, Debug)]
#[command(
    name = "cutover",
    version,
    about = "Blue/green and staged rollouts of ML models on AWS (ECS + ALB, SageMaker)"
)]
pub struct Cli {
    /// Config file(s). Default ./cutover.toml. `promote` accepts several, or a folder.
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Vec<PathBuf>,
    /// AWS region (overrides the config and the environment).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS shared-config profile.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Endpoint for every AWS service (LocalStack, the embedded emulator). Also AWS_ENDPOINT_URL.
    #[arg(long = "endpoint-url", global = true)]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// More detail.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Only errors.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What `cutover wait` waits for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    Complete,
    Paused,
    Ready,
}

/// Which IAM policy `iam-policy` prints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyFor {
    Provision,
    Run,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and validate the config and render its templates. Makes no AWS call.
    #[command(after_help = "Examples:\n  cutover check\n  cutover -c stacks/ check")]
    Check,
    /// Show what `provision` would create or change, and the remaining rollout steps.
    #[command(after_help = "Example:\n  cutover -c iris.toml plan")]
    Plan,
    /// Create or converge both colours' stacks and the state table (idempotent).
    #[command(after_help = "Examples:\n  cutover provision --dry-run\n  cutover provision")]
    Provision {
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Put a version on the idle colour, wait until healthy, validate. No production traffic.
    #[command(
        after_help = "Examples:\n  cutover deploy --version v2\n  cutover deploy --version models:/iris@champion\n  cutover deploy --version v2 --dry-run"
    )]
    Deploy {
        /// Version to deploy (rendered into the templates as {{ version }}), or an
        /// MLflow model: models:/<name>/<version> or models:/<name>@<alias>.
        #[arg(long, required_unless_present = "model_package_group", value_parser = parse_version)]
        version: Option<String>,
        /// SageMaker: deploy the latest Approved package of this model package group.
        #[arg(long = "model-package-group")]
        model_package_group: Option<String>,
        /// How long to wait for the candidate to become healthy.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Run the rollout in the foreground: steps, bakes and the alarm watch.
    #[command(
        after_help = "Examples:\n  cutover shift\n  cutover shift --to 100\n  cutover shift --dry-run"
    )]
    Shift {
        /// Move the candidate to P% at once (checked, no bake).
        #[arg(long = "to", value_parser = clap::value_parser!(u8).range(0..=100))]
        to: Option<u8>,
        /// Start even though this alarm is already in ALARM (repeatable).
        #[arg(long = "ignore-alarm")]
        ignore_alarm: Vec<String>,
        /// Accept weights found in AWS that differ from the recorded state.
        #[arg(long)]
        adopt: bool,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Move traffic even outside the `[schedule]` windows or in a freeze.
        #[arg(long = "ignore-schedule")]
        ignore_schedule: bool,
    },
    /// One scheduled tick: do at most one due thing, then exit.
    #[command(
        after_help = "Examples:\n  */1 * * * *  cutover -c /etc/cutover/ promote\n  cutover promote --auto-deploy"
    )]
    Promote {
        /// Start the rollout even though this alarm is in ALARM (repeatable).
        #[arg(long = "ignore-alarm")]
        ignore_alarm: Vec<String>,
        /// Accept weights found in AWS that differ from the recorded state.
        #[arg(long)]
        adopt: bool,
        /// Deploy by itself what `[registry] follow` names, or (SageMaker) a newer Approved model package.
        #[arg(long = "auto-deploy")]
        auto_deploy: bool,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// After the tick, write a Prometheus textfile here (atomically): weights, state, step, last tick, alarms, verdicts.
        #[arg(long = "metrics-file", value_name = "FILE")]
        metrics_file: Option<std::path::PathBuf>,
        /// With several configs: tick this many stacks at a time (default 16).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
    },
    /// Resume a paused rollout: apply the next step now (no bake); shift/promote carry on.
    #[command(after_help = "Example:\n  cutover continue")]
    Continue {
        /// Continue even though this alarm is in ALARM (repeatable).
        #[arg(long = "ignore-alarm")]
        ignore_alarm: Vec<String>,
        /// Accept weights found in AWS that differ from the recorded state.
        #[arg(long)]
        adopt: bool,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Send 100% to the stable colour at once and mark the rollout rolled back.
    #[command(after_help = "Example:\n  cutover rollback --reason \"latency regression\"")]
    Rollback {
        /// Why, for the journal.
        #[arg(long)]
        reason: Option<String>,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Colours, versions, weights read from AWS, rollout state, alarms, last events.
    #[command(
        after_help = "Examples:\n  cutover status\n  cutover status -o json\n  cutover status --watch"
    )]
    Status {
        /// Repaint until interrupted (weights as bars, healthy targets, time left).
        #[arg(long)]
        watch: bool,
        /// How often --watch repaints.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// Block, read-only, until the rollout gets there (for CI jobs that leave it to cron).
    /// Exit 0 when it did, 3 when it ended otherwise, 1 on timeout.
    #[command(after_help = "Example:\n  cutover wait --until complete --timeout 2h")]
    Wait {
        /// The state to wait for (`complete` also accepts `retired`).
        #[arg(long, value_enum, default_value_t = WaitFor::Complete)]
        until: WaitFor,
        /// Give up after this long (exit 1).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// How often the state is read.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// Check, read-only, that what the config names exists and fits (VPC, subnets,
    /// security groups, cluster, roles, certificate, load balancer; SageMaker role
    /// and image). Exit 0, or 2 naming every problem.
    #[command(after_help = "Examples:\n  cutover verify\n  cutover --profile prod verify")]
    Verify,
    /// The journal of transitions, newest last.
    #[command(after_help = "Example:\n  cutover history --limit 20")]
    History {
        /// Show at most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Run `promote` on EventBridge Scheduler: a schedule `cutover-<name>` that starts an ECS Fargate task from your image.
    #[command(
        after_help = "Examples:\n  cutover schedule --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/cutover:1 \\\n      --cluster ops --subnets subnet-a,subnet-b --role-arn arn:aws:iam::123456789012:role/cutover-scheduler\n  cutover schedule --remove"
    )]
    Schedule {
        /// The image with cutover and its configs (entrypoint `cutover`).
        #[arg(long, required_unless_present = "remove")]
        image: Option<String>,
        /// The ECS cluster the task runs in.
        #[arg(long, required_unless_present = "remove")]
        cluster: Option<String>,
        /// Subnets of the task (comma-separated).
        #[arg(long, value_delimiter = ',', required_unless_present = "remove")]
        subnets: Vec<String>,
        /// Security groups of the task (comma-separated).
        #[arg(long = "security-groups", value_delimiter = ',')]
        security_groups: Vec<String>,
        /// The role EventBridge Scheduler assumes to run the task.
        #[arg(long = "role-arn", required_unless_present = "remove")]
        role_arn: Option<String>,
        /// The task's own role (what cutover calls AWS with).
        #[arg(long = "task-role-arn")]
        task_role_arn: Option<String>,
        /// The task's execution role (pulls the image, writes logs).
        #[arg(long = "execution-role-arn")]
        execution_role_arn: Option<String>,
        /// How often promote ticks: whole minutes (e.g. 1m, 5m).
        #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
        every: std::time::Duration,
        /// The config (file or folder) inside the image (default: this config's path).
        #[arg(long = "config-path")]
        config_path: Option<String>,
        /// Give the task a public IP (to pull the image without a NAT gateway).
        #[arg(long = "assign-public-ip")]
        assign_public_ip: bool,
        /// Delete the schedule and its task definition.
        #[arg(long)]
        remove: bool,
    },
    /// What happened in the last rollout and why: each journal event with the
    /// weights, then the compare, judge and experiment tables. `-o json` gives
    /// the series (weights, marks, per-colour CloudWatch metrics); `--html FILE`
    /// one self-contained page with a chart per question (weight, requests, 5xx,
    /// latency per colour, marks for steps, pauses, gates, alarms, rollbacks).
    #[command(
        after_help = "Examples:\n  cutover report\n  cutover report --html report.html\n  cutover report --since 2h -o json"
    )]
    Report {
        /// Write the report as one self-contained HTML file (inline CSS and SVG, nothing fetched).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Report on this window before now instead of the last rollout (from its last deploy).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
    },
    /// Delete every resource of the stack.
    #[command(after_help = "Examples:\n  cutover destroy --dry-run\n  cutover destroy --yes")]
    Destroy {
        /// Required: confirms the deletion.
        #[arg(long)]
        yes: bool,
        /// Read and validate as the real run would, print what it would do, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Run the validation requests against a colour on demand.
    #[command(after_help = "Example:\n  cutover validate --color green")]
    Validate {
        #[arg(long, value_enum)]
        color: Option<Color>,
    },
    /// Run [compare] now: the live colour against the candidate. Read-only; exits 0 or 3.
    #[command(after_help = "Example:\n  cutover compare")]
    Compare,
    /// Print the least-privilege IAM policy for this config's features (JSON). No AWS call.
    #[command(name = "iam-policy")]
    #[command(
        after_help = "Example:\n  cutover iam-policy > policy.json\n  cutover iam-policy --for run > everyday.json"
    )]
    IamPolicy {
        /// `run`: the everyday policy, without creating or deleting the stack's
        /// resources; `provision` (default): everything, provision and destroy included.
        #[arg(long = "for", value_enum, default_value_t = PolicyFor::Provision)]
        purpose: PolicyFor,
        /// Also allow `cutover schedule`: create its schedule and task
        /// definition, and pass this role (its --role-arn) to EventBridge Scheduler.
        #[arg(long = "schedule-role", value_name = "ARN")]
        schedule_role: Option<String>,
    },
    /// Write a starter cutover.toml (and its template) into the current folder.
    #[command(after_help = "Example:\n  cutover init --provider ecs --name iris")]
    Init {
        #[arg(long, value_enum)]
        provider: ProviderKind,
        #[arg(long)]
        name: String,
        /// Folder to write into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  cutover completions bash > /etc/bash_completion.d/cutover"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The man pages as (file name, roff): `cutover.1` and `cutover-<command>.1`.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    out.push(("cutover.1".to_string(), top));
    for sub in cmd.get_subcommands() {
        let name = format!("cutover-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name.clone())).render(&mut page)?;
        out.push((format!("{name}.1"), page));
    }
    Ok(out)
}

/// A version becomes an image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, or
/// is a registry reference (`models:/<name>/<version>`, `models:/<name>@<alias>`).
pub fn parse_version(s: &str) -> Result<String, String> {
    if ModelRef::looks_like(s) {
        return ModelRef::parse(s).map(|_| s.to_string());
    }
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "\"{s}\" cannot be an image tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -) nor is it a models:/ reference"
        ))
    }
}
