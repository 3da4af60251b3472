//! Test harness: one embedded emulator per test binary, one seeded stack per
//! test (its own VPC, alarm, config folder and access key, so the emulator's
//! request log can be filtered per test).
#![allow(dead_code)]

pub mod certs;
pub mod events;
pub mod soak;
pub mod traffic;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;

pub struct Emu {
    pub port: u16,
    pub url: String,
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

/// Starts (once per test binary) an emulator that exits with this process.
pub fn emu() -> &'static Emu {
    static EMU: OnceLock<Emu> = OnceLock::new();
    EMU.get_or_init(|| {
        let port = free_port();
        let st = Command::new(repo().join("localstack/up"))
            .args([
                "--port",
                &port.to_string(),
                "--exit-with",
                &std::process::id().to_string(),
            ])
            .env("EMU_ECS_CONVERGE_SECONDS", "1")
            .env("EMU_SAGEMAKER_UPDATE_SECONDS", "1")
            .status()
            .expect("run localstack/up");
        assert!(st.success(), "emulator did not start");
        Emu {
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    })
}

/// The real components (once per test binary, stopped with it): LocalStack
/// for CloudWatch, EventBridge and SQS, AWS's DynamoDB Local for the state
/// table, and a second embedded emulator (ELBv2, ECS, SageMaker, EC2, ...)
/// that publishes its data-plane metrics to LocalStack, so that LocalStack
/// evaluates the alarms.
pub struct Real {
    pub emu: Emu,
    pub localstack: String,
    pub dynamodb: String,
}

pub fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let pid = std::process::id().to_string();
        let start = |script: &str, port: u16, extra: &[&str]| {
            let out = Command::new(repo().join("localstack").join(script))
                .args(["--port", &port.to_string(), "--exit-with", &pid])
                .args(extra)
                .env("EMU_ECS_CONVERGE_SECONDS", "1")
                .env("EMU_SAGEMAKER_UPDATE_SECONDS", "1")
                .output()
                .unwrap_or_else(|e| panic!("run localstack/{script}: {e}"));
            assert!(
                out.status.success(),
                "localstack/{script} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            format!("http://127.0.0.1:{port}")
        };
        let (ls, ddb, emu) = (free_port(), free_port(), free_port());
        let localstack = start("real-up", ls, &[]);
        let dynamodb = start("dynamodb-up", ddb, &[]);
        let url = start("up", emu, &["--cloudwatch-url", &localstack]);
        Real {
            emu: Emu { port: emu, url },
            localstack,
            dynamodb,
        }
    })
}

/// `localstack/faults.py` in front of `upstream` (stopped with this
/// process), with `args` (rate, seed, latency); returns it and its port.
pub fn faults_proxy(upstream: &str, args: &[&str]) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .arg(repo().join("localstack/faults.py"))
        .args(["--listen-port", "0", "--upstream", upstream])
        .args(args)
        .args(["--exit-with", &std::process::id().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("proxy said: {first}"));
    (child, port)
}

pub fn python() -> PathBuf {
    let home = std::env::var("CUTOVER_EMU_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cutover/emulator")
        });
    home.join("venv/bin/python")
}

pub struct Stack {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub key: String,
    pub emu: &'static Emu,
    /// On the real components: CloudWatch and EventBridge on LocalStack,
    /// DynamoDB on DynamoDB Local, reached by the per-service variables.
    pub real: Option<&'static Real>,
}

impl Stack {
    /// Seeds a network and an alarm `<name>-5xx` and writes `cutover.toml`.
    pub fn new(name: &str, seed_args: &[&str]) -> Stack {
        Stack::seed(name, seed_args, emu(), None)
    }

    /// A stack on the real components (its alarm in LocalStack).
    pub fn new_real(name: &str, seed_args: &[&str]) -> Stack {
        let r = real();
        let mut args = vec!["--cloudwatch-endpoint", r.localstack.as_str()];
        args.extend_from_slice(seed_args);
        Stack::seed(name, &args, &r.emu, Some(r))
    }

    fn seed(
        name: &str,
        seed_args: &[&str],
        emu: &'static Emu,
        real: Option<&'static Real>,
    ) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(repo().join("localstack/seed"))
            .args([
                "--port",
                &emu.port.to_string(),
                "--dir",
                dir.path().to_str().unwrap(),
                "--name",
                name,
            ])
            .args(["--table", &format!("cutover-{name}")])
            .args(seed_args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seed failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Stack {
            name: name.into(),
            dir,
            key: format!("TEST{}", name.replace('-', "").to_uppercase()),
            emu,
            real,
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        std::fs::write(self.config(), f(text)).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.emu.url)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
        if let Some(r) = self.real {
            c.env("AWS_ENDPOINT_URL_CLOUDWATCH", &r.localstack)
                .env("AWS_ENDPOINT_URL_EVENTBRIDGE", &r.localstack)
                .env("AWS_ENDPOINT_URL_DYNAMODB", &r.dynamodb);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs with extra environment variables and asserts the exit code; returns stderr.
    pub fn exits_with_env(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
        let out = self
            .cmd()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "cutover {args:?} {env:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs and asserts the exit code; returns the whole output.
    pub fn exits(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "cutover {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        String::from_utf8_lossy(&self.exits(args, code).stdout).into_owned()
    }

    /// `n` `cutover promote` runs started together; their outputs.
    pub fn promotes_at_once(&self, n: usize) -> Vec<Output> {
        let children: Vec<std::process::Child> = (0..n)
            .map(|_| {
                self.cmd()
                    .arg("promote")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    }

    /// Starts `cutover shift` in the background.
    pub fn spawn_shift(&self) -> std::process::Child {
        self.cmd()
            .arg("shift")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Polls `status` until the rollout is in `state`.
    pub fn wait_for_state(&self, state: &str) {
        let start = std::time::Instant::now();
        loop {
            let st = self.status_json();
            if st["rollout"]["state"] == state {
                return;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "never reached {state}: {st}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "-o", "json"], 0)).unwrap()
    }

    pub fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub fn sdk(&self) -> aws_config::SdkConfig {
        self.sdk_at(&self.emu.url)
    }

    /// The SDK config for CloudWatch, EventBridge and SQS (LocalStack on the
    /// real components).
    pub fn cw_sdk(&self) -> aws_config::SdkConfig {
        self.sdk_at(self.real.map_or(&self.emu.url, |r| &r.localstack))
    }

    /// The SDK config for DynamoDB (DynamoDB Local on the real components).
    pub fn ddb_sdk(&self) -> aws_config::SdkConfig {
        self.sdk_at(self.real.map_or(&self.emu.url, |r| &r.dynamodb))
    }

    pub fn sdk_at(&self, url: &str) -> aws_config::SdkConfig {
        Self::rt().block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(cutover::aws::https_client())
                .endpoint_url(url)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "verify", "test", None, None, "test",
                ))
                .load(),
        )
    }

    /// The load balancer's DNSName: a loopback address on the emulator.
    pub fn lb_host(&self) -> String {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk());
        Self::rt().block_on(async {
            let lb = elb
                .describe_load_balancers()
                .names(&self.name)
                .send()
                .await
                .unwrap();
            lb.load_balancers()[0].dns_name().unwrap().to_string()
        })
    }

    /// Healthy targets in the colour's target group, as ELBv2 reports them.
    pub fn healthy(&self, color: &str) -> usize {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk());
        Self::rt().block_on(async {
            let tg = elb
                .describe_target_groups()
                .names(format!("{}-{color}", self.name))
                .send()
                .await
                .unwrap();
            let arn = tg.target_groups()[0].target_group_arn().unwrap();
            let h = elb
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .unwrap();
            h.target_health_descriptions()
                .iter()
                .filter(|d| {
                    d.target_health().and_then(|t| t.state())
                        == Some(
                            &aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Healthy,
                        )
                })
                .count()
        })
    }

    /// The stack's listener on `port`, as ELBv2 reports it.
    pub fn listener(&self, port: i32) -> aws_sdk_elasticloadbalancingv2::types::Listener {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk());
        Self::rt().block_on(async {
            let lb = elb
                .describe_load_balancers()
                .names(&self.name)
                .send()
                .await
                .unwrap();
            let lb_arn = lb.load_balancers()[0]
                .load_balancer_arn()
                .unwrap()
                .to_string();
            let ls = elb
                .describe_listeners()
                .load_balancer_arn(&lb_arn)
                .send()
                .await
                .unwrap();
            ls.listeners()
                .iter()
                .find(|l| l.port() == Some(port))
                .expect("listener")
                .clone()
        })
    }

    /// Production listener weights as ELBv2 reports them: (blue, green).
    pub fn elb_weights(&self) -> (i32, i32) {
        let l = self.listener(80);
        let a = &l.default_actions()[0];
        assert_eq!(a.r#type(), Some(&ActionTypeEnum::Forward));
        let (mut b, mut g) = (0, 0);
        for t in a.forward_config().unwrap().target_groups() {
            let arn = t.target_group_arn().unwrap();
            if arn.contains(&format!("/{}-blue/", self.name)) {
                b = t.weight().unwrap_or(0);
            } else if arn.contains(&format!("/{}-green/", self.name)) {
                g = t.weight().unwrap_or(0);
            }
        }
        (b, g)
    }

    pub fn set_alarm(&self, name: &str, state: &str) {
        let cw = aws_sdk_cloudwatch::Client::new(&self.cw_sdk());
        Self::rt().block_on(async {
            cw.set_alarm_state()
                .alarm_name(name)
                .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
                .state_reason("test")
                .send()
                .await
                .unwrap();
        });
    }

    /// This stack's requests in the emulator log: (service, action).
    /// The stack's mutating calls after the first `before` requests.
    pub fn writes_since(&self, before: usize) -> Vec<(String, String)> {
        self.requests()[before..]
            .iter()
            .filter(|(_, a)| !is_read_only(a))
            .cloned()
            .collect()
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        let v: serde_json::Value =
            serde_json::from_str(&http_get(self.emu.port, "/_emulator/requests")).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"] == self.key.as_str())
            .map(|r| {
                (
                    r["service"].as_str().unwrap().to_string(),
                    r["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

pub fn is_read_only(action: &str) -> bool {
    ["Describe", "List", "Get", "Query", "Scan", "BatchGet"]
        .iter()
        .any(|p| action.starts_with(p))
}

/// One HTTP/1.0 request to the emulator; returns the body.
pub fn http(method: &str, port: u16, path: &str, content_type: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: motoapi.amazonaws.com\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let code = head.split_whitespace().nth(1).unwrap_or("");
    assert!(code.starts_with('2'), "{method} {path}: {head}");
    body.to_string()
}

pub fn http_get(port: u16, path: &str) -> String {
    http("GET", port, path, "text/plain", "")
}

pub fn http_post(port: u16, path: &str) -> String {
    http("POST", port, path, "text/plain", "")
}
