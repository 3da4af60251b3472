// The soak driver, shared by tests/e2e_soak.rs and examples/soak_bench.rs:
// `promote` ticks through the fault-injection proxy, with alarms flipping and
// new versions deployed as rollouts end, and an independent observer (straight
// to the emulator, no faults) checking the invariants after every tick.
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, Default)]
pub struct SoakReport {
    pub ticks: usize,
    /// Exit code -> how many runs (ticks and deploys).
    pub exits: BTreeMap<i32, usize>,
    pub violations: Vec<String>,
    pub completed: usize,
    pub rolled_back: usize,
    pub faults: serde_json::Value,
}

pub struct Soak<'a> {
    pub bin: &'a Path,
    pub repo: &'a Path,
    pub emu_url: &'a str,
    pub dir: &'a Path,
    pub key: &'a str,
    pub name: &'a str,
    pub sdk: aws_config::SdkConfig,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl Soak<'_> {
    fn run(&self, url: &str, args: &[&str]) -> (i32, String) {
        let out = Command::new(self.bin)
            .current_dir(self.dir)
            .env("AWS_ENDPOINT_URL", url)
            .env("AWS_ACCESS_KEY_ID", self.key)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn status(&self) -> serde_json::Value {
        let (code, out) = self.run(self.emu_url, &["status", "-o", "json"]);
        assert_eq!(code, 0, "{out}");
        serde_json::from_str(out.lines().next().unwrap_or("{}")).unwrap_or_default()
    }

    /// (blue, green) forward weights of the production listener, and healthy
    /// targets per colour, straight from ELBv2.
    fn observe(&self) -> ((i32, i32), (usize, usize)) {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        rt().block_on(async {
            let lb = elb
                .describe_load_balancers()
                .names(self.name)
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
            let prod = ls
                .listeners()
                .iter()
                .find(|l| l.port() == Some(80))
                .unwrap();
            let (mut b, mut g) = (0, 0);
            let mut healthy = (0, 0);
            for t in prod.default_actions()[0]
                .forward_config()
                .unwrap()
                .target_groups()
            {
                let arn = t.target_group_arn().unwrap();
                let h = elb
                    .describe_target_health()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .unwrap()
                    .target_health_descriptions()
                    .iter()
                    .filter(|d| {
                        d.target_health()
                            .and_then(|h| h.state())
                            .map(|s| s.as_str())
                            == Some("healthy")
                    })
                    .count();
                if arn.contains(&format!("/{}-blue/", self.name)) {
                    b = t.weight().unwrap_or(0);
                    healthy.0 = h;
                } else {
                    g = t.weight().unwrap_or(0);
                    healthy.1 = h;
                }
            }
            ((b, g), healthy)
        })
    }

    fn set_alarm(&self, state: &str) {
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk);
        rt().block_on(async {
            cw.set_alarm_state()
                .alarm_name(format!("{}-5xx", self.name))
                .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
                .state_reason("soak")
                .send()
                .await
                .unwrap();
        });
    }

    /// `ticks` promote ticks with faults at `rate` (seeded), then a quiet finish.
    pub fn run_soak(&self, ticks: usize, rate: f64, seed: u64) -> SoakReport {
        let mut proxy = Command::new("python3")
            .arg(self.repo.join("localstack/faults.py"))
            .args(["--listen-port", "0", "--upstream", self.emu_url])
            .args(["--rate", &rate.to_string(), "--seed", &seed.to_string()])
            .args(["--exit-with", &std::process::id().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(proxy.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port: u16 = first
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("proxy said: {first}"));
        let faulty = format!("http://127.0.0.1:{port}");
        let mut r = SoakReport::default();
        let mut version = 2;
        let mut last_phase = String::new();
        for tick in 0..ticks {
            if tick % 23 == 11 {
                self.set_alarm("ALARM");
            } else if tick % 23 == 14 {
                self.set_alarm("OK");
            }
            let (code, out) = self.run(&faulty, &["promote"]);
            *r.exits.entry(code).or_default() += 1;
            if ![0, 1, 3, 75].contains(&code) {
                r.violations
                    .push(format!("tick {tick}: exit {code}: {out}"));
            }
            let st = self.status();
            let phase = st["rollout"]["state"].as_str().unwrap_or("").to_string();
            if phase != last_phase {
                match phase.as_str() {
                    "complete" => r.completed += 1,
                    "rolled_back" => r.rolled_back += 1,
                    _ => {}
                }
            }
            if matches!(
                phase.as_str(),
                "rolled_back" | "retired" | "idle" | "failed_validation"
            ) {
                version += 1;
                let (code, out) =
                    self.run(&faulty, &["deploy", "--version", &format!("v{version}")]);
                *r.exits.entry(code).or_default() += 1;
                if ![0, 1, 3, 75].contains(&code) {
                    r.violations
                        .push(format!("tick {tick}: deploy exit {code}: {out}"));
                }
            }
            last_phase = phase;
            let ((b, g), (hb, hg)) = self.observe();
            if b + g != 100 {
                r.violations
                    .push(format!("tick {tick}: weights {b}/{g} do not sum to 100"));
            }
            if (b > 0 && hb == 0) || (g > 0 && hg == 0) {
                r.violations.push(format!(
                    "tick {tick}: traffic {b}/{g} on a colour without healthy targets ({hb}/{hg})"
                ));
            }
            r.ticks += 1;
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        self.set_alarm("OK");
        // Faults stop; the state must settle and agree with AWS.
        let fstats = Command::new("curl")
            .args(["-fsS", &format!("{faulty}/_faults/stats")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        r.faults = serde_json::from_str(&fstats).unwrap_or_default();
        let _ = Command::new("curl")
            .args(["-fsS", "-X", "POST", &format!("{faulty}/_faults/off")])
            .output();
        for _ in 0..5 {
            self.run(&faulty, &["promote"]);
        }
        let st = self.status();
        if st["drift"] != false || !st["pending"].is_null() {
            r.violations.push(format!(
                "after the faults: drift {} pending {} (AWS {} vs recorded {})",
                st["drift"], st["pending"], st["weights"], st["recorded_weights"]
            ));
        }
        r.violations.extend(self.journal_violations());
        let _ = proxy.kill();
        let _ = proxy.wait();
        r
    }

    /// Within each rollout the journal applies steps 1, 2, ... once each.
    fn journal_violations(&self) -> Vec<String> {
        let (_, out) = self.run(
            self.emu_url,
            &["history", "-o", "json", "--limit", "100000"],
        );
        let mut bad = Vec::new();
        let mut expect = 1;
        for line in out.lines() {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let event = e["event"].as_str().unwrap_or("");
            let detail = e["detail"].as_str().unwrap_or("");
            if event == "deployed" {
                expect = 1;
                continue;
            }
            let step_text = match event {
                "promote" | "step" | "shift" => detail,
                "repair" => detail
                    .strip_prefix("finished an interrupted transition: ")
                    .unwrap_or(""),
                _ => "",
            };
            if let Some(rest) = step_text.strip_prefix("step ") {
                let k: usize = rest
                    .split('/')
                    .next()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(0);
                if k != expect {
                    bad.push(format!(
                        "journal: step {k} applied where step {expect} was next: {detail}"
                    ));
                }
                expect = k + 1;
            }
        }
        bad
    }
}
