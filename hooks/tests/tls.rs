//! An https site through the built binary: an untrusted certificate, `--ca-bundle`, and a
//! certificate for another name.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use hook_test_support::{DOMAIN, Outcome, TOKEN, certbot_env, keyed_dir, run};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

/// An `openssl s_server` with a self-signed certificate for example.test that answers the first
/// request with `201 Created`. Killed on drop.
struct TlsSite {
    child: std::process::Child,
    port: u16,
    cert: PathBuf,
}

impl TlsSite {
    fn start(dir: &Path) -> Self {
        use std::io::{BufRead, Write};
        let cert = dir.join("site-cert.pem");
        let key = dir.join("site-key.pem");
        if !cert.exists() {
            let status = std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-days",
                    "2",
                ])
                .args([
                    "-subj",
                    "/CN=example.test",
                    "-addext",
                    "subjectAltName=DNS:example.test",
                ])
                .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl is needed for the TLS tests");
            assert!(status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        // s_server sends its stdin to the client once a TLS connection is up.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 && !line.contains("ACCEPT") {
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        TlsSite { child, port, cert }
    }
}

impl Drop for TlsSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Trust in the TLS site's self-signed certificate.
#[derive(Clone, Copy, PartialEq)]
enum Trust {
    /// The system roots only.
    SystemRoots,
    /// Its certificate passed with `--ca-bundle`.
    CaBundle,
}

/// auth-hook (without the self-check) against a fresh [`TlsSite`] reached as `host`, a
/// `--server` host template resolving to 127.0.0.1. Returns the outcome and the site's port.
fn against_tls_site(test: &str, host: &str, trust: Trust) -> (Outcome, u16) {
    let (dir, key) = keyed_dir(test);
    let site = TlsSite::start(&dir);
    let mut args: Vec<String> = [
        "--server",
        &format!("https://{host}:{}", site.port),
        "--resolve",
        "example.test:127.0.0.1",
        "--no-self-check",
        "--timeout",
        "5",
        "--key-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(key.display().to_string());
    if trust == Trust::CaBundle {
        args.extend(["--ca-bundle".into(), site.cert.display().to_string()]);
    }
    (run(BIN, &args, &certbot_env()), site.port)
}

#[test]
fn an_untrusted_site_certificate_is_named_and_points_at_ca_bundle() {
    let (out, _) = against_tls_site("tls-unknown", "{domain}", Trust::SystemRoots);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("TLS: the site's certificate is signed by an unknown authority");
    out.assert_stderr_contains("pass its certificate with --ca-bundle PEM");
    assert!(
        out.elapsed < Duration::from_secs(3),
        "a TLS failure is not retried: {:?}",
        out.elapsed
    );
}

#[test]
fn ca_bundle_adds_trust_for_the_site_certificate() {
    let (out, port) = against_tls_site("tls-bundle", "{domain}", Trust::CaBundle);
    out.assert_success().assert_no_jwt();
    assert_eq!(
        out.stdout,
        format!(
            "challenge {TOKEN} for {DOMAIN} stored at https://{DOMAIN}:{port}/ (self-check skipped)\n"
        )
    );
}

#[test]
fn a_certificate_for_another_name_is_named() {
    let (out, _) = against_tls_site("tls-name", "127.0.0.1", Trust::CaBundle);
    out.assert_failure();
    out.assert_stderr_contains(
        "TLS: the site's certificate is not valid for this host name: check --server",
    );
}
