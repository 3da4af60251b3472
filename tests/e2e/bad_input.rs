//! Bad input: exit 2, one clear line naming the problem, and no mutating AWS call.
use crate::common;

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
    let writes = s.writes_since(before);
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
            "unknown key `colour`",
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

/// Appends a section (or more keys) to the config.
fn with(extra: &'static str) -> impl Fn(String) -> String {
    move |t| format!("{t}\n{extra}\n")
}

#[test]
fn forty_more_bad_inputs_exit_2_naming_the_problem() {
    let s = Stack::new("badmore", &[]);
    std::fs::write(
        s.dir.path().join("golden.jsonl"),
        "{\"body\": {\"data\": [[1, 2, 3, 4]]}}\n",
    )
    .unwrap();
    std::fs::write(s.dir.path().join("bad.jsonl"), "{\"body\": 1}\nnot json\n").unwrap();
    type Edit = Box<dyn Fn(String) -> String>;
    let r = |from: &'static str, to: &'static str| -> Edit {
        Box::new(move |t: String| t.replace(from, to))
    };
    let w = |extra: &'static str| -> Edit { Box::new(with(extra)) };
    let cases: Vec<(Edit, &str)> = vec![
        // State and top level.
        (r("table = \"cutover-badmore\"", "table = \"x\""), "key `state.table`"),
        (r("[state]", "[state]\nlock_lease = \"0s\""), "key `state.lock_lease`"),
        (r("region = \"us-east-1\"", "region = 5"), "key `region`"),
        (r("name = \"badmore\"", "name = \"bad_more\""), "key `name`"),
        // [ecs] at depth, types, files.
        (r("desired_count = 2", "desired_count = 0"), "key `ecs.desired_count`"),
        (r("desired_count = 2", "desired_count = -1"), "key `ecs.desired_count`"),
        (r("test_listener_port = 8080", "test_listener_port = 80"), "key `ecs.test_listener_port`"),
        (r("health_check_path = \"/ping\"", "health_check_path = \"ping\""), "key `ecs.health_check_path`"),
        (r("container_port = 8080", "container_port = \"8080\""), "key `ecs.container_port`"),
        (r("container_port = 8080", "container_port = 8080\nbogus = 1"), "unknown key `bogus`"),
        (r("task_definition = \"task.json.j2\"", "task_definition = \"missing.j2\""), "key `ecs.task_definition`"),
        (r("deregistration_delay = \"2s\"", "deregistration_delay = \"2h\""), "key `ecs.deregistration_delay`"),
        (r("deregistration_delay = \"2s\"", "deregistration_delay = \"soon\""), "key `ecs.deregistration_delay`"),
        // [ecs.autoscaling].
        (w("[ecs.autoscaling]\nmin = 3\nmax = 2\ntarget = 60.0"), "key `ecs.autoscaling.min`: 3 is above max (2)"),
        (w("[ecs.autoscaling]\nmin = 0\nmax = 0\ntarget = 60.0"), "key `ecs.autoscaling.max`"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4\nmetric = \"memory\"\ntarget = 60.0"), "key `ecs.autoscaling.metric`"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4\ntarget = 0.0"), "key `ecs.autoscaling.target`"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4\ntarget = -5.0"), "key `ecs.autoscaling.target`"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4\nmetric = \"cpu\"\ntarget = 150.0"), "key `ecs.autoscaling.target`"),
        (w("[ecs.autoscaling]\nmin = 3\nmax = 4\ntarget = 60.0"), "key `ecs.desired_count`: 2 is outside"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4"), "missing key `target`"),
        (w("[ecs.autoscaling]\nmin = 1\nmax = 4\ntarget = 60.0\ncooldown = 5"), "unknown key `cooldown`"),
        (w("[ecs.autoscaling]\nmin = -1\nmax = 4\ntarget = 60.0"), "ecs.autoscaling.min"),
        // [ecs] HTTPS.
        (r("desired_count = 2", "desired_count = 2\nrule_priority = 10"), "key `ecs.rule_priority`"),
        (r("desired_count = 2", "desired_count = 2\nlistener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc/f00d\"\nrule_priority = 10"), "set host_header or path_pattern"),
        (r("desired_count = 2", "desired_count = 2\nlistener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc/f00d\"\nrule_priority = 0\nhost_header = [\"a.example\"]"), "out of range (1..=50000)"),
        (r("desired_count = 2", "desired_count = 2\nlistener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc/f00d\"\nrule_priority = 50001\nhost_header = [\"a.example\"]"), "out of range (1..=50000)"),
        (r("desired_count = 2", "desired_count = 2\nlistener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc/f00d\"\nhost_header = [\"a.example\"]"), "key `ecs.rule_priority`"),
        (r("desired_count = 2", "desired_count = 2\nlistener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc/f00d\"\nrule_priority = 9\nhost_header = [\"a.example\"]\nload_balancer_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/1\""), "belongs to load balancer"),
        (r("desired_count = 2", "desired_count = 2\nload_balancer_arn = \"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1\""), "key `ecs.load_balancer_arn`"),
        (r("desired_count = 2", "desired_count = 2\nredirect_http = true"), "key `ecs.redirect_http`"),
        (r("desired_count = 2", "desired_count = 2\nssl_policy = \"ELBSecurityPolicy-2016-08\""), "key `ecs.ssl_policy`"),
        (r("desired_count = 2", "desired_count = 2\ncertificate_arn = \"arn:aws:s3:::certs/site\""), "key `ecs.certificate_arn`"),
        (r("desired_count = 2", "desired_count = 2\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\nredirect_http = true"), "key `ecs.redirect_http`"),
        // [rollout].
        (r("steps = [10, 50, 100]", "steps = [10, 50, 100]\nstrategy = \"canary\""), "not both"),
        (r("steps = [10, 50, 100]", "strategy = \"yolo\""), "key `rollout.strategy`"),
        (r("steps = [10, 50, 100]", "strategy = \"canary\"\ncanary_percent = 100"), "canary_percent"),
        (r("steps = [10, 50, 100]", "steps = []"), "at least one step"),
        (r("steps = [10, 50, 100]", "steps = [\"ten\", 100]"), "key `rollout.steps`"),
        (r("poll_interval = \"1s\"", "poll_interval = \"0s\""), "key `rollout.poll_interval`"),
        (r("poll_interval = \"1s\"", "poll_interval = \"1s\"\nprobe_interval = \"1s\""), "key `rollout.probe_interval`"),
        (r("poll_interval = \"1s\"", "poll_interval = \"1s\"\nprobe_failures = 0"), "key `rollout.probe_failures`"),
        (r("termination_wait = \"30m\"", "termination_wait = \"later\""), "key `rollout.termination_wait`"),
        // [alarms].
        (r("watch = [\"badmore-5xx\"]", "watch = \"badmore-5xx\""), "key `alarms.watch`"),
        (w("[[alarms.create]]\nname = \"a-{{ color }}\"\nmetric = \"m\"\nthreshold = 1\ncomparison = \"Bigger\""), "key `alarms.create.comparison`"),
        (w("[[alarms.create]]\nname = \"a-{{ color }}\"\nmetric = \"m\"\nthreshold = 1\nperiod = 45"), "key `alarms.create.period`"),
        (w("[[alarms.create]]\nname = \"a-{{ color }}\"\nmetric = \"m\"\nthreshold = 1\nstatistic = \"Median\""), "key `alarms.create.statistic`"),
        (w("[[alarms.create]]\nname = \"a-{{ colour }}\"\nmetric = \"m\"\nthreshold = 1"), "undefined variable colour"),
        (w("[[alarms.create]]\nname = \"a\"\nmetric = \"m\""), "missing key `threshold`"),
        // [validate].
        (w("[validate]\ntimeout = \"3s\""), "key `validate.payload`"),
        (w("[validate]\npayload = '{}'\nurl = \"ftp://x\""), "key `validate.url`"),
        (w("[validate]\npayload = '{}'\nmethod = \"GE T\""), "key `validate.method`"),
        (w("[validate]\npayload = '{}'\nexpect_json = { \"predictions\" = 0 }"), "not a JSON pointer"),
        (w("[validate]\npayload_file = \"nope.json\""), "key `validate.payload_file`"),
        (w("[validate]\npayload = '{}'\ntimeout = \"x\""), "key `validate.timeout`"),
        (w("[validate]\npayload = '{}'\nca_file = \"nope.pem\""), "key `validate.ca_file`"),
        (w("[validate]\npayload = '{}'\npath = \"invocations\""), "key `validate.path`"),
        // [compare] and [judge].
        (w("[compare]\nrequests = \"missing.jsonl\""), "key `compare.requests`"),
        (w("[compare]\nrequests = \"bad.jsonl\""), "bad.jsonl:2: not JSON"),
        (w("[compare]\nrequests = \"golden.jsonl\"\nmin_agreement = 2"), "key `compare.min_agreement`"),
        (w("[compare]\nrequests = \"golden.jsonl\"\noutput = \"predictions\""), "key `compare.output`"),
        (w("[compare]\nrequests = \"golden.jsonl\"\nrate = 0"), "key `compare.rate`"),
        (w("[judge]\nmetrics = [\"cpu\"]"), "key `judge.metrics`"),
        (w("[judge]\nconfidence = 1.5"), "key `judge.confidence`"),
        (w("[judge]\nperiod = \"45s\""), "key `judge.period`"),
        // Pauses, [[hooks]] and [notify].
        (r("steps = [10, 50, 100]", "steps = [10, \"wait\", 100]"), "key `rollout.steps`"),
        (r("steps = [10, 50, 100]", "steps = [10, \"pause\", \"pause\", 100]"), "key `rollout.steps`"),
        (w("[[hooks]]\non = \"pre-deploy\"\nrun = \"true\""), "key `hooks.on`"),
        (w("[[hooks]]\non = \"post-step\""), "key `hooks.run`"),
        (w("[[hooks]]\non = \"post-step\"\nrun = \"true\"\nurl = \"http://x\""), "key `hooks.url`"),
        (w("[[hooks]]\non = \"post-step\"\nurl = \"ftp://x\""), "key `hooks.url`"),
        (w("[[hooks]]\non = \"post-step\"\nrun = \"true\"\ntimeout = \"0s\""), "key `hooks.timeout`"),
        (w("[notify]\nurl = \"slack\""), "key `notify.url`"),
        // TOML itself.
        (r("name = \"badmore\"", "name = "), "cutover.toml:1"),
        (r("name = \"badmore\"", "name = \"badmore\"\nname = \"again\""), "duplicate key"),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (edit, needle) in &cases {
        let good = std::fs::read_to_string(s.config()).unwrap();
        s.edit_config(edit);
        expect_invalid(&s, &["provision"], needle);
        let err = String::from_utf8_lossy(&s.run(&["provision"]).stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        std::fs::write(s.config(), good).unwrap();
    }
    // Invalid UTF-8, and a folder with no configs.
    let good = std::fs::read(s.config()).unwrap();
    let mut bytes = good.clone();
    bytes.extend_from_slice(b"\n# \xff\xfe\n");
    std::fs::write(s.config(), bytes).unwrap();
    expect_invalid(&s, &["provision"], "not UTF-8");
    std::fs::write(s.config(), good).unwrap();
    let empty = s.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    expect_invalid(
        &s,
        &["-c", empty.to_str().unwrap(), "promote"],
        "no *.toml configs",
    );
    // Flags.
    expect_invalid(&s, &["-o", "yaml", "status"], "yaml");
    expect_invalid(&s, &["history", "--limit", "many"], "many");
    expect_invalid(
        &s,
        &["deploy", "--version", "v1", "--timeout", "forever"],
        "forever",
    );
    expect_invalid(&s, &["deploy", "--version", ""], "cannot be an image tag");
    expect_invalid(&s, &["deploy", "--version", "  "], "cannot be an image tag");
    expect_invalid(
        &s,
        &["-c", "a.toml", "-c", "b.toml", "status"],
        "several configs",
    );
    // Commands against an unprovisioned stack, and a section that is not there.
    expect_invalid(&s, &["status"], "unknown");
    expect_invalid(&s, &["history"], "unknown");
    expect_invalid(&s, &["deploy", "--version", "v1"], "not provisioned");
    expect_invalid(&s, &["rollback"], "not provisioned");
    expect_invalid(&s, &["compare"], "no [compare] section");
    expect_invalid(&s, &["validate"], "no [validate] section");
    assert!(
        s.requests().iter().all(|(_, a)| is_read_only(a)),
        "{:?}",
        s.requests()
    );
}
