//! End-to-end on the embedded emulator: the real-account ECS options. HTTPS
//! listeners with a certificate imported into ACM (and the port-80 redirect),
//! and a load balancer that cutover shares with other services.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::certs::{make_ca, make_server_cert};
use common::{python, Stack};

/// Imports srv.pem/srv.key into ACM on the emulator (re-imports into `arn` when
/// given) with plain boto3; returns the certificate ARN.
fn import_cert(s: &Stack, dir: &Path, arn: Option<&str>) -> String {
    let script = r#"
import sys, boto3
d, url, arn = sys.argv[1], sys.argv[2], sys.argv[3]
acm = boto3.client("acm", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="verify", aws_secret_access_key="test")
kw = {"CertificateArn": arn} if arn else {}
out = acm.import_certificate(Certificate=open(d + "/srv.pem", "rb").read(),
                             PrivateKey=open(d + "/srv.key", "rb").read(),
                             CertificateChain=open(d + "/ca.pem", "rb").read(), **kw)
print(out["CertificateArn"])
"#;
    let out = Command::new(python())
        .args([
            "-c",
            script,
            dir.to_str().unwrap(),
            &s.emu.url,
            arn.unwrap_or(""),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A reqwest client that trusts only the test CA in `dir` and never follows redirects.
fn client(dir: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
}

const VALIDATE: &str = "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\ntimeout = \"3s\"\nca_file = \"ca.pem\"\n";

#[test]
fn https_listener_with_an_acm_certificate_and_the_port_80_redirect() {
    let s = Stack::new("tls", &[]);
    let dir = s.dir.path().to_path_buf();
    make_ca(&dir);
    // The ALB's address is known only after provision: first a name-only certificate.
    make_server_cert(&dir, "DNS:cutover.test");
    let cert = import_cert(&s, &dir, None);
    s.edit_config(|t| {
        t.replace("listener_port = 80\n", "").replace(
            "test_listener_port = 8080\n",
            &format!(
                "test_listener_port = 8443\ncertificate_arn = \"{cert}\"\nredirect_http = true\n"
            ),
        ) + VALIDATE
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("listener HTTPS:443"), "{plan}");
    assert!(
        plan.contains("listener HTTP:80 redirecting (301) to HTTPS:443"),
        "{plan}"
    );
    s.ok(&["provision"], 0);

    // The listeners as ELBv2 reports them.
    let prod = s.listener(443);
    assert_eq!(prod.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(
        prod.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        prod.certificates()
            .iter()
            .filter_map(|c| c.certificate_arn())
            .collect::<Vec<_>>(),
        vec![cert.as_str()]
    );
    let test = s.listener(8443);
    assert_eq!(test.protocol().map(|p| p.as_str()), Some("HTTPS"));
    let redirect = s.listener(80);
    assert_eq!(redirect.protocol().map(|p| p.as_str()), Some("HTTP"));
    let a = &redirect.default_actions()[0];
    let rc = a.redirect_config().expect("redirect action");
    assert_eq!(rc.protocol(), Some("HTTPS"));
    assert_eq!(rc.port(), Some("443"));
    assert_eq!(rc.status_code().map(|c| c.as_str()), Some("HTTP_301"));
    // A second provision changes nothing.
    let again = s.ok(&["provision"], 0);
    assert!(again.contains("nothing to change"), "{again}");

    // Re-import the certificate for the ALB's address (as a renewal would).
    let host = s.lb_host();
    make_server_cert(&dir, &format!("DNS:cutover.test,IP:{host}"));
    assert_eq!(import_cert(&s, &dir, Some(&cert)), cert);

    // Validation reaches the candidate through the HTTPS test listener, trusting ca_file.
    let out = s.ok(&["deploy", "--version", "v1"], 0);
    assert!(out.contains("v1"), "{out}");
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(s.status_json()["versions"]["green"], "v2");
    s.ok(&["shift"], 0);
    assert_eq!(s.status_json()["live"], "green");

    let c = client(&dir);
    Stack::rt().block_on(async {
        let r = c
            .get(format!("https://{host}:443/ping"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = c
            .get(format!("http://{host}:80/ping?x=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 301);
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("https://{host}:443/ping?x=1")
        );
        // A client without the CA refuses the listener's certificate.
        let plain = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap();
        assert!(plain
            .get(format!("https://{host}:443/ping"))
            .send()
            .await
            .is_err());
    });

    // Validation without the CA fails: the test route really is TLS.
    s.edit_config(|t| t.replace("ca_file = \"ca.pem\"\n", ""));
    let out = s.run(&["deploy", "--version", "v3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    s.ok(&["destroy", "--yes"], 0);
}

/// An ALB made with plain SDK calls (no tags) in the stack's subnets, with a
/// listener on :9000 whose default is a fixed response and a rule for
/// `/other*`: another team's load balancer. Returns its ARN.
fn foreign_alb(s: &Stack, name: &str, extra_port: Option<i32>) -> String {
    use aws_sdk_elasticloadbalancingv2::types as lt;
    let cfg: toml::Table = std::fs::read_to_string(s.config())
        .unwrap()
        .parse()
        .unwrap();
    let list = |k: &str| -> Vec<String> {
        cfg["ecs"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    let fixed = |body: &str| {
        lt::Action::builder()
            .r#type(lt::ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                lt::FixedResponseActionConfig::builder()
                    .status_code("200")
                    .content_type("text/plain")
                    .message_body(body)
                    .build(),
            )
            .build()
    };
    Stack::rt().block_on(async {
        let lb = elb
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(list("subnets")))
            .set_security_groups(Some(list("security_groups")))
            .r#type(lt::LoadBalancerTypeEnum::Application)
            .send()
            .await
            .unwrap();
        let arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string();
        let mut ports = vec![9000];
        ports.extend(extra_port);
        for port in ports {
            let l = elb
                .create_listener()
                .load_balancer_arn(&arn)
                .protocol(lt::ProtocolEnum::Http)
                .port(port)
                .default_actions(fixed("default"))
                .send()
                .await
                .unwrap();
            elb.create_rule()
                .listener_arn(l.listeners()[0].listener_arn().unwrap())
                .priority(5)
                .conditions(
                    lt::RuleCondition::builder()
                        .field("path-pattern")
                        .path_pattern_config(
                            lt::PathPatternConditionConfig::builder()
                                .values("/other*")
                                .build(),
                        )
                        .build(),
                )
                .actions(fixed("other service"))
                .send()
                .await
                .unwrap();
        }
        arn
    })
}

/// (port, rule count) of every listener on `lb`, sorted.
fn listeners_of(s: &Stack, lb: &str) -> Vec<(i32, usize)> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let ls = elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for l in ls.listeners() {
            let rules = elb
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            out.push((l.port().unwrap(), rules.rules().len()));
        }
        out.sort();
        out
    })
}

fn lb_host_of(s: &Stack, lb: &str) -> String {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let o = elb
            .describe_load_balancers()
            .load_balancer_arns(lb)
            .send()
            .await
            .unwrap();
        o.load_balancers()[0].dns_name().unwrap().to_string()
    })
}

fn get(url: &str) -> (u16, String) {
    Stack::rt().block_on(async {
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn an_existing_load_balancer_is_used_and_left_as_it_was() {
    let s = Stack::new("byolb", &[]);
    let lb = foreign_alb(&s, "shared-byolb", None);
    s.edit_config(|t| {
        t.replace(
            "desired_count = 2\n",
            &format!("desired_count = 2\nload_balancer_arn = \"{lb}\"\n"),
        )
    });
    let plan = s.ok(&["plan"], 0);
    assert!(!plan.contains("create load balancer"), "{plan}");
    s.ok(&["provision"], 0);
    // Default rules count too: :9000 has its default and the other service's rule.
    assert_eq!(listeners_of(&s, &lb), vec![(80, 1), (8080, 3), (9000, 2)]);

    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift"], 0);
    assert_eq!(s.status_json()["live"], "green");
    let host = lb_host_of(&s, &lb);
    let (code, _) = get(&format!("http://{host}:80/ping"));
    assert_eq!(code, 200);
    assert_eq!(
        get(&format!("http://{host}:9000/other/x")),
        (200, "other service".to_string())
    );
    assert_eq!(
        get(&format!("http://{host}:9000/")),
        (200, "default".to_string())
    );
    s.ok(&["rollback"], 0);
    assert_eq!(s.status_json()["live"], "blue");

    s.ok(&["destroy", "--yes"], 0);
    // The ALB, its listener and rules stay; cutover's listeners and target groups are gone.
    assert_eq!(listeners_of(&s, &lb), vec![(9000, 2)]);
    assert_eq!(
        get(&format!("http://{host}:9000/other/x")),
        (200, "other service".to_string())
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let tg = elb
            .describe_target_groups()
            .names("byolb-blue")
            .send()
            .await;
        assert!(tg.is_err(), "target group still there");
    });
    // iam-policy scopes listeners to the shared ALB, grants no ALB create or
    // delete, and allows every ELB call the run made.
    let policy = s.ok(&["iam-policy"], 0);
    assert!(policy.contains("listener/app/shared-byolb/*"), "{policy}");
    assert!(!policy.contains("CreateLoadBalancer"), "{policy}");
    assert!(!policy.contains("DeleteLoadBalancer"), "{policy}");
    for (service, action) in s.requests() {
        if service == "elasticloadbalancing" {
            assert!(
                policy.contains(&format!("\"{service}:{action}\"")),
                "{service}:{action} not allowed"
            );
        }
    }
}

#[test]
fn a_foreign_listener_on_our_port_is_refused_before_any_write() {
    let s = Stack::new("byolbf", &[]);
    let lb = foreign_alb(&s, "shared-byolbf", Some(80));
    s.edit_config(|t| {
        t.replace(
            "desired_count = 2\n",
            &format!("desired_count = 2\nload_balancer_arn = \"{lb}\"\n"),
        )
    });
    let before = s.requests().len();
    let out = s.exits(&["provision"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("listener :80") && err.contains("not managed by cutover"),
        "{err}"
    );
    let writes = s.writes_since(before);
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(listeners_of(&s, &lb), vec![(80, 2), (9000, 2)]);
}

/// The ARN of the listener on `port` of `lb`.
fn listener_on(s: &Stack, lb: &str, port: i32) -> String {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let ls = elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .send()
            .await
            .unwrap();
        ls.listeners()
            .iter()
            .find(|l| l.port() == Some(port))
            .unwrap()
            .listener_arn()
            .unwrap()
            .to_string()
    })
}

/// (priority, forward weights by target group name suffix) of the listener's rules.
fn rule_weights(s: &Stack, listener: &str, priority: &str) -> (i32, i32) {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let rules = elb
            .describe_rules()
            .listener_arn(listener)
            .send()
            .await
            .unwrap();
        let r = rules
            .rules()
            .iter()
            .find(|r| r.priority() == Some(priority))
            .expect("rule");
        let (mut b, mut g) = (0, 0);
        for t in r.actions()[0].forward_config().unwrap().target_groups() {
            let arn = t.target_group_arn().unwrap();
            if arn.contains("-blue/") {
                b = t.weight().unwrap();
            } else if arn.contains("-green/") {
                g = t.weight().unwrap();
            }
        }
        (b, g)
    })
}

fn get_host(url: &str, host: &str) -> (u16, String) {
    Stack::rt().block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .header("host", host)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn a_rule_on_an_existing_listener_carries_the_traffic_and_leaves_the_rest() {
    let s = Stack::new("byrule", &[]);
    let lb = foreign_alb(&s, "shared-byrule", None);
    let l = listener_on(&s, &lb, 9000);
    s.edit_config(|t| {
        t.replace(
            "desired_count = 2\n",
            &format!(
                "desired_count = 2\nlistener_arn = \"{l}\"\nrule_priority = 10\nhost_header = [\"iris.example.com\"]\n"
            ),
        )
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("rule priority 10 on listener"), "{plan}");
    assert!(!plan.contains("create load balancer"), "{plan}");
    s.ok(&["provision"], 0);
    // :9000 gains one rule (ours); cutover's own test listener is the only new listener.
    assert_eq!(listeners_of(&s, &lb), vec![(8080, 3), (9000, 3)]);
    assert_eq!(rule_weights(&s, &l, "10"), (100, 0));
    let again = s.ok(&["provision"], 0);
    assert!(again.contains("nothing to change"), "{again}");

    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift"], 0);
    assert_eq!(s.status_json()["live"], "green");
    assert_eq!(rule_weights(&s, &l, "10"), (0, 100));
    let host = lb_host_of(&s, &lb);
    let url = format!("http://{host}:9000/ping");
    assert_eq!(get_host(&url, "iris.example.com").0, 200);
    assert_eq!(get_host(&url, "other.example.com"), (200, "default".into()));
    assert_eq!(
        get(&format!("http://{host}:9000/other/x")),
        (200, "other service".to_string())
    );
    s.ok(&["rollback"], 0);
    assert_eq!(rule_weights(&s, &l, "10"), (100, 0));
    let st = s.ok(&["status"], 0);
    assert!(st.contains("blue"), "{st}");

    s.ok(&["destroy", "--yes"], 0);
    assert_eq!(listeners_of(&s, &lb), vec![(9000, 2)]);
    assert_eq!(get_host(&url, "iris.example.com"), (200, "default".into()));
    assert_eq!(
        get(&format!("http://{host}:9000/other/x")),
        (200, "other service".to_string())
    );
    let policy = s.ok(&["iam-policy"], 0);
    for (service, action) in s.requests() {
        if service == "elasticloadbalancing" {
            assert!(
                policy.contains(&format!("\"{service}:{action}\"")),
                "{service}:{action} not allowed"
            );
        }
    }
}

#[test]
fn a_foreign_rule_at_our_priority_is_refused_before_any_write() {
    let s = Stack::new("byrulef", &[]);
    let lb = foreign_alb(&s, "shared-byrulef", None);
    let l = listener_on(&s, &lb, 9000);
    s.edit_config(|t| {
        t.replace(
            "desired_count = 2\n",
            &format!(
                "desired_count = 2\nlistener_arn = \"{l}\"\nrule_priority = 5\npath_pattern = [\"/iris/*\"]\n"
            ),
        )
    });
    let before = s.requests().len();
    let out = s.exits(&["provision"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("priority 5") && err.contains("listener-rule/"),
        "{err}"
    );
    let writes = s.writes_since(before);
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(listeners_of(&s, &lb), vec![(9000, 2)]);
}
