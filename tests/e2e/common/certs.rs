// Test certificates with openssl: a private CA and server certificates it
// signs. No emulator needed, so `tests/cli.rs` includes this file alone.
use std::path::Path;
use std::process::Command;

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
pub fn make_ca(dir: &Path) {
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
pub fn make_server_cert(dir: &Path, san: &str) {
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
