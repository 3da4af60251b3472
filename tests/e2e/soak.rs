//! Proven under faults: `promote` ticks through a proxy that injects AWS
//! errors, throttling, resets, latency and lost answers (20%, seeded), with
//! alarms flipping; an independent observer checks the invariants every tick.
//! The 200-tick run is `cargo run --example soak_bench`.
use crate::common;

use common::soak::Soak;
use common::Stack;

#[test]
fn sixty_ticks_at_20_percent_faults_keep_every_invariant() {
    let s = Stack::new(
        "soak",
        &[
            "--bake",
            "500ms",
            "--poll",
            "200ms",
            "--termination-wait",
            "1s",
        ],
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    let soak = Soak {
        bin: std::path::Path::new(env!("CARGO_BIN_EXE_cutover")),
        repo: std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        emu_url: &s.emu.url,
        dir: s.dir.path(),
        key: &s.key,
        name: &s.name,
        sdk: s.sdk(),
    };
    let r = soak.run_soak(60, 0.2, 7);
    eprintln!("{r:#?}");
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    assert_eq!(r.ticks, 60);
    assert!(
        r.completed + r.rolled_back >= 2,
        "too little happened: {r:?}"
    );
    let faults = r.faults["faults"].as_u64().unwrap_or(0);
    assert!(faults > 20, "too few faults were injected: {}", r.faults);
}
