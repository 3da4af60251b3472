//! cutover: blue/green and staged rollouts of ML models on AWS.
//! One file per concept; `app` wires them together.
pub mod alarms;
pub mod app;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod ecs;
pub mod error;
pub mod init;
pub mod lock;
pub mod managed;
pub mod multi;
pub mod output;
pub mod provider;
pub mod report;
pub mod rollout;
pub mod sagemaker;
pub mod state;
pub mod taskdef;
pub mod template;
pub mod validate;

use clap::Parser;

/// Parses the command line, runs, and returns the exit code.
pub fn main_exit_code() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return code;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(app::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
