//! The JWTs the hooks send, checked by the real verifier: asymmetric_jwt_auth 1.3 in Python,
//! with the request-binding claims (`htm`, `htu`, `bsh`) decoded and compared in Python, the body
//! hash computed there with hashlib.
//!
//! Runs `tests/verify_jwt.py` with the interpreter in `CERTBOT_DJANGO_TEST_PYTHON`, else the
//! repository's `.venv/bin/python`. Without either the test fails: a verifier that silently does
//! not run proves nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use certbot_django_hooks::{KeyType, RequestBinding, fresh_token, generate_key, load_key_file};

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CERTBOT_DJANGO_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with asymmetric-jwt-auth for the real-verifier test: run scripts/test (the README's test \
         command, which creates .venv from requirements-dev.txt), or set CERTBOT_DJANGO_TEST_PYTHON \
         to a python that has asymmetric-jwt-auth 1.3 and Django installed"
    );
    venv
}

/// One token to verify, bound to a request: a POST with a form body, or a DELETE without one.
fn case(
    name: &str,
    private_pem: &str,
    signer: &certbot_django_hooks::Signer,
    method: &str,
    url: &str,
    body: &str,
) -> serde_json::Value {
    let binding = RequestBinding::new(method, &reqwest::Url::parse(url).unwrap(), body.as_bytes());
    let token = fresh_token(signer, "certbot", &binding).unwrap();
    serde_json::json!({
        "name": name,
        "username": "certbot",
        "public_pem": signer.public_key_pem(),
        "private_pem": private_pem,
        "kid": signer.kid(),
        "token": token.expose(),
        "method": method,
        "url": url,
        "body": body,
    })
}

const POST_URL: &str = "https://example.com/.well-known/challenges/";
const POST_BODY: &str = "challenge=tok&response=tok.thumb&domain=example.com";
const DELETE_URL: &str = "https://example.com/.well-known/challenges/tok/";

#[test]
fn asymmetric_jwt_auth_accepts_request_bound_tokens_from_ed25519_rsa_and_pkcs1_keys() {
    let ed = generate_key(KeyType::Ed25519, 0).unwrap();
    let rsa = generate_key(KeyType::Rsa, 2048).unwrap();

    let tmp = tempfile::Builder::new()
        .prefix("cdh-verifier-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let legacy = dir.join("legacy.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&legacy)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make a PKCS#1 key");
    assert!(status.success());
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    let legacy_pem = std::fs::read_to_string(&legacy).unwrap();
    assert!(legacy_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let legacy_signer = load_key_file(&legacy).unwrap();

    let cases = serde_json::json!({ "cases": [
        case("ed25519", &ed.private_pem, &ed.signer, "POST", POST_URL, POST_BODY),
        case("ed25519-delete", &ed.private_pem, &ed.signer, "DELETE", DELETE_URL, ""),
        case("rsa-pkcs8", &rsa.private_pem, &rsa.signer, "POST", POST_URL, POST_BODY),
        case(
            "rsa-pkcs1-openssl-traditional",
            &legacy_pem,
            &legacy_signer,
            "POST",
            POST_URL,
            POST_BODY,
        ),
    ]});

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify_jwt.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the Python verifier");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verifier failed:\n{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "ok ed25519",
            "ok ed25519-delete",
            "ok rsa-pkcs8",
            "ok rsa-pkcs1-openssl-traditional"
        ]
    );
}
