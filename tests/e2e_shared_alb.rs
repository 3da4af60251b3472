//! End-to-end on the embedded emulator: the real-account ECS options. HTTPS
//! listeners with a certificate imported into ACM (and the port-80 redirect),
//! and a load balancer that cutover shares with other services.
mod common;

use std::path::Path;
use std::process::Command;

use common::{python, Stack};

/// Runs openssl in `dir` and asserts it succeeded.
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

/// A private CA (ca.pem, ca.key) in `dir`.
fn make_ca(dir: &Path) {
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
}

/// A server certificate (srv.pem, srv.key) signed by the CA, for `san`
/// (e.g. "DNS:cutover.test,IP:127.20.0.1").
fn make_server_cert(dir: &Path, san: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=cutover.test",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"),
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
