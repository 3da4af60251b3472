//! Bad input: exit 2, one clear line naming the problem, and no mutating AWS call.
mod common;

use common::{is_read_only, Stack};

fn expect_invalid(s: &Stack, args: &[&str], needle: &str) {
    let before = s.requests().len();
    let out = s.run(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "cutover {args:?}: {err}");
    assert!(
        err.contains(needle),
        "cutover {args:?}: wanted {needle:?} in {err}"
    );
    let writes: Vec<_> = s.requests()[before..]
        .iter()
        .filter(|(_, a)| !is_read_only(a))
        .cloned()
        .collect();
    assert!(
        writes.is_empty(),
        "cutover {args:?} wrote to AWS: {writes:?}"
    );
}

/// Breaks the config with `edit`, expects exit 2 naming `needle`, restores it.
fn bad_config(s: &Stack, edit: &fn(String) -> String, args: &[&str], needle: &str) {
    let good = std::fs::read_to_string(s.config()).unwrap();
    s.edit_config(edit);
    expect_invalid(s, args, needle);
    let err = String::from_utf8_lossy(&s.run(args).stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    std::fs::write(s.config(), good).unwrap();
}

#[test]
fn config_errors_exit_2_without_aws_writes() {
    let s = Stack::new("badcfg", &[]);
    // (how the config is broken, what the one-line error must name)
    type Edit = fn(String) -> String;
    let cases: Vec<(Edit, &str)> = vec![
        (
            |t| t.replace("provider = \"ecs\"", "provider = \"k8s\""),
            "key `provider`: unknown provider \"k8s\"",
        ),
        (
            |t| t.replace("name = \"badcfg\"", "name = \"BadCfg\""),
            "cutover.toml:1: key `name`",
        ),
        (
            |t| t.replace("name = \"badcfg\"", "name = \"abcdefghijklmnopqrstuvwxyz\""),
            "key `name`",
        ),
        (
            |t| t.replace("steps = [10, 50, 100]", "steps = [50, 10, 100]"),
            "key `rollout.steps`",
        ),
        (
            |t| t.replace("steps = [10, 50, 100]", "steps = [10, 500]"),
            "outside 1..=100",
        ),
        (
            |t| t.replace("steps = [10, 50, 100]", "steps = [10, 50]"),
            "last step must be 100",
        ),
        (
            |t| t.replace("bake = \"2s\"", "bake = \"a while\""),
            "key `rollout.bake`",
        ),
        (
            |t| t.split("[ecs]").next().unwrap().to_string() + "\n[rollout]\nsteps = [100]\n",
            "[ecs] section is missing",
        ),
        (
            |t| t.replace("[state]", "colour = \"blue\"\n[state]"),
            "unknown field `colour`",
        ),
    ];
    for args in [&["check"][..], &["provision"][..]] {
        for (edit, needle) in &cases {
            bad_config(&s, edit, args, needle);
        }
    }
    // A template syntax error, and one that renders to invalid JSON.
    let tpl = s.dir.path().join("task.json.j2");
    let good = std::fs::read_to_string(&tpl).unwrap();
    std::fs::write(&tpl, good.replace("{{ version }}", "{{ version ")).unwrap();
    expect_invalid(&s, &["check"], "task.json.j2");
    expect_invalid(&s, &["deploy", "--version", "v1"], "template error");
    std::fs::write(
        &tpl,
        good.replace("\"essential\": true,", "\"essential\": true,,"),
    )
    .unwrap();
    expect_invalid(&s, &["check"], "not a valid RegisterTaskDefinition body");
    std::fs::write(&tpl, &good).unwrap();
    // None of that reached AWS at all.
    assert!(s.requests().is_empty(), "{:?}", s.requests());
}

#[test]
fn no_region_anywhere_is_exit_2() {
    let s = Stack::new("noregion", &[]);
    s.edit_config(|t| t.replace("region = \"us-east-1\"\n", ""));
    let out = s
        .cmd()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no AWS region"));
    assert!(s.requests().is_empty());
}
