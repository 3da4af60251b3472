//! End to end against a real MLflow tracking server (pinned mlflow-skinny on
//! SQLite, started once per test binary by `localstack/mlflow-up`) and the
//! embedded AWS emulator: deploys from `models:/` references, the registry's
//! alias kept in step with traffic, its repair after an MLflow failure,
//! `promote --auto-deploy` following an alias, and bad references.
use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::traffic::invoke;
use common::{is_read_only, Stack};

struct Ml {
    uri: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts (once per test binary) an MLflow server that exits with this process.
fn ml() -> &'static Ml {
    static ML: OnceLock<Ml> = OnceLock::new();
    ML.get_or_init(|| {
        let port = free_port();
        let st = Command::new(repo().join("localstack/mlflow-up"))
            .args(["--port", &port.to_string()])
            .args(["--exit-with", &std::process::id().to_string()])
            .status()
            .expect("run localstack/mlflow-up");
        assert!(st.success(), "MLflow did not start");
        Ml {
            uri: format!("http://127.0.0.1:{port}"),
        }
    })
}

/// Runs `mlflow_seed.py` against the test server; returns (ok, stdout).
fn seed(args: &[&str]) -> (bool, String) {
    let home = std::env::var("CUTOVER_MLFLOW_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cutover/mlflow")
        });
    let out = Command::new(home.join("venv/bin/python"))
        .arg(repo().join("localstack/mlflow_seed.py"))
        .args(["--uri", &ml().uri])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// Registers a new version of `model` with an image tag; returns its number.
fn new_version(model: &str, image: &str) -> String {
    let src = format!("s3://models/{model}/{image}");
    let tag = format!("image={image}");
    let (ok, v) = seed(&[
        "version", "--model", model, "--source", &src, "--run-id", "run-1", "--tag", &tag,
    ]);
    assert!(ok, "seed version failed");
    v
}

fn set_alias(model: &str, alias: &str, version: &str) {
    assert!(
        seed(&[
            "alias",
            "--model",
            model,
            "--alias",
            alias,
            "--version",
            version
        ])
        .0
    );
}

/// The version an alias names, as MLflow answers GET registered-models/alias.
fn alias_of(model: &str, alias: &str) -> Option<String> {
    let (ok, out) = seed(&["get", "--model", model, "--alias", alias]);
    ok.then(|| {
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["version"].as_str().unwrap().to_string()
    })
}

/// The image and MODEL_VERSION come from the registry.
const TASK: &str = r#"{
  "family": "{{ name }}-{{ color }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "model",
    "image": "{{ model.tags.image }}",
    "essential": true,
    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
    "environment": [
      {"name": "MODEL_VERSION", "value": "{{ model.version }}"},
      {"name": "MODEL_SOURCE", "value": "{{ model.source }}"},
      {"name": "MODEL_RUN", "value": "{{ model.run_id }}"}
    ]
  }]
}
"#;

/// A provisioned ECS stack whose `[registry]` names `model`.
fn stack(name: &str, model: &str, extra: &str) -> Stack {
    let s = Stack::new(name, &[]);
    let uri = &ml().uri;
    s.edit_config(|t| {
        format!("{t}\n[registry]\nmlflow_tracking_uri = \"{uri}\"\nmodel = \"{model}\"\nalias = \"production\"\n{extra}")
    });
    std::fs::write(s.dir.path().join("task.json.j2"), TASK).unwrap();
    s.ok(&["check"], 0);
    s.ok(&["provision"], 0);
    s
}

/// Points the config's tracking URI somewhere (e.g. a closed port).
fn point_at(s: &Stack, uri: &str) {
    s.edit_config(|t| {
        t.lines()
            .map(|l| {
                if l.starts_with("mlflow_tracking_uri") {
                    format!("mlflow_tracking_uri = \"{uri}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
}

fn closed_port_uri() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// Image and environment of the task definition a colour runs.
fn taskdef(s: &Stack, arn: &str) -> (String, Vec<(String, String)>) {
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let td = ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
        let c = &td.task_definition().unwrap().container_definitions()[0];
        let env = c
            .environment()
            .iter()
            .map(|k| {
                (
                    k.name().unwrap().to_string(),
                    k.value().unwrap().to_string(),
                )
            })
            .collect();
        (c.image().unwrap().to_string(), env)
    })
}

fn history(s: &Stack) -> Vec<serde_json::Value> {
    s.ok(&["history", "-o", "json"], 0)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn deploy_by_number_and_alias_and_keep_production_alias_true() {
    let m = "ml-life";
    let v1 = new_version(m, "repo/iris:one");
    let v2 = new_version(m, "repo/iris:two");
    set_alias(m, "candidate", &v2);
    let s = stack("mllife", m, "");

    // By number: the first deploy goes live, and `production` follows it.
    let out = s.ok(&["deploy", "--version", &format!("models:/{m}/{v1}")], 0);
    assert!(out.contains("deploy:"), "{out}");
    let st = s.status_json();
    assert_eq!(st["versions"]["blue"], v1.as_str());
    assert_eq!(st["registry"]["live_version"], v1.as_str());
    assert_eq!(st["pending_repair"], serde_json::Value::Null);
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));
    let (image, env) = taskdef(&s, st["artifacts"]["blue"].as_str().unwrap());
    assert_eq!(image, "repo/iris:one");
    assert!(
        env.contains(&("MODEL_VERSION".into(), v1.clone())),
        "{env:?}"
    );
    assert!(env.contains(&(
        "MODEL_SOURCE".into(),
        format!("s3://models/{m}/repo/iris:one")
    )));
    assert!(env.contains(&("MODEL_RUN".into(), "run-1".into())));
    let host = s.lb_host();
    assert_eq!(invoke(&host, 80, &[]).version, Some(v1.clone()));

    // By alias: green gets the version `candidate` names, at 0%.
    s.ok(
        &["deploy", "--version", &format!("models:/{m}@candidate")],
        0,
    );
    let st = s.status_json();
    assert_eq!(st["versions"]["green"], v2.as_str());
    assert_eq!(st["rollout"]["state"], "ready");
    let (image, _) = taskdef(&s, st["artifacts"]["green"].as_str().unwrap());
    assert_eq!(image, "repo/iris:two");
    // Not live yet: `production` stays.
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));

    // 100%: `production` moves to the new version, and back on rollback.
    s.ok(&["shift", "--to", "10"], 0);
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    assert_eq!(alias_of(m, "production").as_deref(), Some(v2.as_str()));
    assert_eq!(invoke(&host, 80, &[]).version, Some(v2.clone()));
    s.ok(&["rollback", "--reason", "test"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));

    // The journal records each move.
    let moves: Vec<String> = history(&s)
        .iter()
        .filter(|e| e["event"] == "registry")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    let want = |v: &str| format!("MLflow alias {m}@production -> version {v}");
    assert_eq!(moves, vec![want(&v1), want(&v2), want(&v1)]);
}

#[test]
fn mlflow_down_at_completion_keeps_traffic_and_is_repaired_next_run() {
    let m = "ml-repair";
    let v1 = new_version(m, "repo/iris:one");
    let v2 = new_version(m, "repo/iris:two");
    let s = stack("mlrepair", m, "");
    s.ok(&["deploy", "--version", &format!("models:/{m}/{v1}")], 0);
    s.ok(&["deploy", "--version", &format!("models:/{m}/{v2}")], 0);
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));

    // MLflow unreachable for the completing step: traffic moves and stays.
    point_at(&s, &closed_port_uri());
    let out = s.exits(&["shift", "--to", "100"], 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not done yet") && err.contains("retries it"),
        "{err}"
    );
    assert_eq!(s.elb_weights(), (0, 100));
    let st = s.status_json();
    assert_eq!(st["live"], "green");
    assert_eq!(st["rollout"]["state"], "complete");
    let p = &st["pending_repair"];
    assert_eq!(p["kind"], "registry-alias");
    assert_eq!(p["alias"], "production");
    assert_eq!(p["version"], v2.as_str());
    assert!(p["error"].as_str().unwrap().contains("unreachable"), "{p}");
    let text = s.ok(&["status"], 0);
    assert!(
        text.contains(&format!(
            "pending   MLflow alias {m}@production -> version {v2}"
        )),
        "{text}"
    );
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));

    // Still down: a tick retries, keeps the weights and the debt.
    s.ok(&["promote"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    assert_eq!(s.status_json()["pending_repair"]["version"], v2.as_str());

    // Back up: the next run settles it and journals the move.
    point_at(&s, &ml().uri);
    s.ok(&["promote"], 0);
    assert_eq!(alias_of(m, "production").as_deref(), Some(v2.as_str()));
    let st = s.status_json();
    assert_eq!(st["pending_repair"], serde_json::Value::Null);
    assert_eq!(s.elb_weights(), (0, 100));
    let last = history(&s)
        .into_iter()
        .rfind(|e| e["event"] == "registry")
        .unwrap();
    assert_eq!(
        last["detail"],
        format!("MLflow alias {m}@production -> version {v2}")
    );
}

#[test]
fn auto_deploy_follows_candidate_alias() {
    let m = "ml-follow";
    let v1 = new_version(m, "repo/iris:one");
    set_alias(m, "candidate", &v1);
    let s = stack("mlfollow", m, "follow = \"candidate\"\n");

    let out = s.ok(&["promote", "--auto-deploy"], 0);
    assert!(
        out.contains(&format!("auto-deployed {m} version {v1}")),
        "{out}"
    );
    assert_eq!(s.status_json()["versions"]["blue"], v1.as_str());
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));
    let out = s.ok(&["promote", "--auto-deploy"], 0);
    assert!(
        out.contains("nothing due") && out.contains("is live"),
        "{out}"
    );

    // The alias moves: the next tick deploys that version to the idle colour.
    let v2 = new_version(m, "repo/iris:two");
    set_alias(m, "candidate", &v2);
    let out = s.ok(&["promote", "--auto-deploy"], 0);
    assert!(
        out.contains(&format!("auto-deployed {m} version {v2}")),
        "{out}"
    );
    let st = s.status_json();
    assert_eq!(st["versions"]["green"], v2.as_str());
    assert_eq!(st["rollout"]["state"], "ready");

    // Rolled back: never redeployed while the alias still names it.
    s.ok(&["shift", "--to", "10"], 0);
    s.ok(&["rollback"], 0);
    s.wait_for_state("rolled_back");
    let before = s.requests().len();
    let out = s.ok(&["promote", "--auto-deploy"], 0);
    assert!(out.contains("was rolled back"), "{out}");
    let writes: Vec<_> = s.requests()[before..]
        .iter()
        .filter(|(_, a)| !is_read_only(a))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(alias_of(m, "production").as_deref(), Some(v1.as_str()));
}

#[test]
fn bad_references_exit_2_without_aws_writes() {
    let m = "ml-bad";
    let v1 = new_version(m, "repo/iris:one");
    let s = stack("mlbad", m, "");
    s.ok(&["deploy", "--version", &format!("models:/{m}/{v1}")], 0);
    let expect = |s: &Stack, reference: &str, says: &str| {
        let before = s.requests().len();
        let out = s.exits(&["deploy", "--version", reference], 2);
        let err = String::from_utf8_lossy(&out.stderr);
        // One line naming the problem (clap adds a usage hint for flags).
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{err}"
        );
        eprintln!("{reference}: {}", err.lines().next().unwrap());
        assert!(err.contains(says), "{reference}: {err}");
        let writes: Vec<_> = s.requests()[before..]
            .iter()
            .filter(|(_, a)| !is_read_only(a))
            .cloned()
            .collect();
        assert!(writes.is_empty(), "{reference}: {writes:?}");
    };
    expect(&s, &format!("models:/{m}/99"), "version=99) not found");
    expect(&s, &format!("models:/{m}@nope"), "alias nope not found");
    expect(&s, "models:/other/1", "[registry] model is ml-bad");
    point_at(&s, &closed_port_uri());
    expect(&s, &format!("models:/{m}/{v1}"), "unreachable");
    point_at(&s, &ml().uri);
    // An unknown registered model (the config names it too).
    s.edit_config(|t| t.replace("model = \"ml-bad\"", "model = \"ml-ghost\""));
    expect(
        &s,
        "models:/ml-ghost/1",
        "registered model ml-ghost does not exist",
    );
    // A malformed reference fails in the flags.
    expect(&s, "models:/ml-bad/Production", "stages");
    // A token is never sent in clear text to a host that is not this one.
    point_at(&s, "http://mlflow.example.internal:5000");
    let before = s.requests().len();
    let err = s.exits_with_env(
        &["deploy", "--version", &format!("models:/ml-ghost/{v1}")],
        &[("MLFLOW_TRACKING_TOKEN", "s3cret-token")],
        2,
    );
    assert!(
        err.contains("clear text") && err.contains("https://"),
        "{err}"
    );
    assert!(!err.contains("s3cret-token"), "{err}");
    assert!(s.writes_since(before).is_empty());
    point_at(&s, &ml().uri);
    assert_eq!(s.status_json()["versions"]["blue"], v1.as_str());
}
