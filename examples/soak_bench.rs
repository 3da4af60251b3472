//! Benchmark: 200 `promote` ticks through the fault-injection proxy at 20%
//! injected faults (seeded), with an alarm flipping and new versions deployed
//! as rollouts end. Prints the tally of exit codes, rollouts, faults and
//! invariant violations (the test `e2e_soak` runs 60 ticks of the same).
//!
//!     cargo build && cargo run --example soak_bench
#![allow(dead_code)] // the shared helpers carry more than this benchmark uses

include!("support/bench.rs");
mod soak {
    include!("../tests/e2e/common/soak.rs");
}
use soak::Soak;

fn main() {
    let ticks: usize = std::env::var("TICKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(200);
    let faults_seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(7);
    let (port, url) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(
        port,
        d,
        "soakbench",
        &[
            "--bake",
            "500ms",
            "--poll",
            "200ms",
            "--termination-wait",
            "1s",
        ],
    );
    must(&url, d, &["provision"]);
    must(&url, d, &["deploy", "--version", "v1"]);
    must(&url, d, &["deploy", "--version", "v2"]);
    let (_rt, sdk) = observer(&url);
    let soak = Soak {
        bin: &cutover_bin(),
        repo: &repo(),
        emu_url: &url,
        dir: d,
        key: "bench",
        name: "soakbench",
        sdk,
    };
    let start = std::time::Instant::now();
    let r = soak.run_soak(ticks, 0.2, faults_seed);
    println!(
        "soak: {} promote ticks at 20% injected faults (seed {faults_seed}) in {:.0} s",
        r.ticks,
        start.elapsed().as_secs_f64()
    );
    println!("  exit codes (ticks and deploys): {:?}", r.exits);
    println!(
        "  rollouts completed: {}, rolled back: {}",
        r.completed, r.rolled_back
    );
    println!(
        "  faults injected: {} of {} requests, by kind {}",
        r.faults["faults"], r.faults["requests"], r.faults["by_kind"]
    );
    println!("  invariant violations: {}", r.violations.len());
    for v in &r.violations {
        println!("    {v}");
    }
}
