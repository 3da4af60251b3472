//! HTTPS on the emulator: a certificate imported into ACM, the production and
//! test listeners on HTTPS with the TLS policy read back, the HTTP listener
//! redirecting to it, validation over HTTPS through the test listener, and
//! real HTTPS requests through the production listener.
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, ProtocolEnum};
use common::{python, Stack};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA (ca.pem) and a server certificate signed by it, valid for
/// every loopback address the emulator on `emu_port` hands its load
/// balancers (127.B.0.1-254, B from the port, as `localstack/dataplane.py`
/// allocates them).
fn certificates(dir: &Path, emu_port: u16) {
    let b = emu_port % 200 + 20;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=cutover test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=iris.test",
            "-keyout",
            "key.pem",
            "-out",
            "srv.csr",
        ],
    );
    let ips: Vec<String> = (1..255).map(|i| format!("IP:127.{b}.0.{i}")).collect();
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "subjectAltName=DNS:iris.test,{}\nbasicConstraints=CA:FALSE\n",
            ips.join(",")
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "srv.pem",
        ],
    );
}

/// Imports srv.pem/key.pem into ACM on the emulator; returns the ARN.
fn import(s: &Stack) -> String {
    let script = "import boto3, sys\n\
        acm = boto3.client('acm', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
            aws_access_key_id='test', aws_secret_access_key='test')\n\
        r = acm.import_certificate(Certificate=open('srv.pem', 'rb').read(),\n\
            PrivateKey=open('key.pem', 'rb').read(), CertificateChain=open('ca.pem', 'rb').read())\n\
        print(r['CertificateArn'])\n";
    let out = Command::new(python())
        .current_dir(s.dir.path())
        .args(["-c", script, &s.emu.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn client(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[test]
fn https_listeners_with_an_acm_certificate_and_an_http_redirect() {
    let s = Stack::new("tls", &["--bake", "0s", "--steps", "50, 100"]);
    certificates(s.dir.path(), s.emu.port);
    let arn = import(&s);
    assert!(arn.starts_with("arn:aws:acm:"), "{arn}");
    s.edit_config(|t| {
        t.replace(
            "listener_port = 80\n",
            &format!("listener_port = 8443\ncertificate_arn = \"{arn}\"\nredirect_http = true\n"),
        ) + "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\nexpect_status = 200\nca_file = \"ca.pem\"\n"
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("listener :8443 (HTTPS)"), "{plan}");
    assert!(plan.contains("redirecting HTTP to HTTPS :8443"), "{plan}");
    s.ok(&["provision"], 0);
    // Read back from ELBv2: both listeners HTTPS with the certificate and
    // the default policy; port 80 redirects.
    for port in [8443, 8080] {
        let l = s.listener(port);
        assert_eq!(l.protocol(), Some(&ProtocolEnum::Https), ":{port}");
        assert_eq!(
            l.ssl_policy(),
            Some("ELBSecurityPolicy-TLS13-1-2-2021-06"),
            ":{port}"
        );
        assert_eq!(
            l.certificates()[0].certificate_arn(),
            Some(arn.as_str()),
            ":{port}"
        );
    }
    let r = s.listener(80);
    assert_eq!(r.protocol(), Some(&ProtocolEnum::Http));
    assert_eq!(
        r.default_actions()[0].r#type(),
        Some(&ActionTypeEnum::Redirect)
    );
    // A second provision has nothing to do.
    assert!(!s.ok(&["plan"], 0).contains("listener :"));
    // Validation speaks HTTPS to the test listener, trusting ca.pem.
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "50"], 0);

    let host = s.lb_host();
    let http = client(s.dir.path());
    let (versions, redirect) = Stack::rt().block_on(async {
        let mut versions = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let r = http
                .post(format!("https://{host}:8443/invocations"))
                .header("content-type", "application/json")
                .body(r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            versions.insert(v["version"].as_str().unwrap_or("?").to_string());
        }
        let r = http
            .get(format!("http://{host}/ping?x=1"))
            .send()
            .await
            .unwrap();
        (
            versions,
            (
                r.status().as_u16(),
                r.headers()["location"].to_str().unwrap().to_string(),
            ),
        )
    });
    // Both colours answer over HTTPS at 50/50.
    assert!(
        versions.contains("v1") && versions.contains("v2"),
        "{versions:?}"
    );
    assert_eq!(redirect.0, 301);
    assert_eq!(redirect.1, format!("https://{host}:8443/ping?x=1"));
    s.ok(&["destroy", "--yes"], 0);
}

#[test]
fn tls_settings_drift_back_to_the_config() {
    // A stack provisioned over HTTP is moved to HTTPS by the next provision.
    let s = Stack::new("tlsup", &[]);
    certificates(s.dir.path(), s.emu.port);
    let arn = import(&s);
    s.ok(&["provision"], 0);
    assert_eq!(s.listener(8080).protocol(), Some(&ProtocolEnum::Http));
    s.edit_config(|t| {
        t.replace(
            "listener_port = 80\n",
            &format!("listener_port = 80\ncertificate_arn = \"{arn}\"\nssl_policy = \"ELBSecurityPolicy-TLS13-1-3-2021-06\"\n"),
        )
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("listener :80 -> HTTPS"), "{plan}");
    assert!(plan.contains("listener :8080 -> HTTPS"), "{plan}");
    s.ok(&["provision"], 0);
    for port in [80, 8080] {
        let l = s.listener(port);
        assert_eq!(l.protocol(), Some(&ProtocolEnum::Https), ":{port}");
        assert_eq!(l.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-3-2021-06"));
    }
    assert!(!s.ok(&["plan"], 0).contains("-> HTTPS"));
    // The emulator's listener speaks TLS now (no targets yet: the ALB's 503).
    let host = s.lb_host();
    let http = client(s.dir.path());
    let status = Stack::rt().block_on(async {
        http.get(format!("https://{host}:80/ping"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 503);
}
