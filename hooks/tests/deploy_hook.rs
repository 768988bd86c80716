//! deploy-hook through the built binary, against a scripted local server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hook_test_support::{
    DOMAIN, REPORTS, Reply, Serving, TestServer, check_report, closed_port, connection_refused,
    fake_site, hook_args, keyed_dir, make_fifo, run,
};

const BIN: &str = env!("CARGO_BIN_EXE_deploy-hook");

/// The library's test certificate (its facts are checked against openssl's in certificate_report.rs).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/certbot-django-hooks/tests/data")
        .join(name)
}

/// The DER of each certificate of a PEM file, independently of the hooks' own parsing.
fn ders(pem_file: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(pem_file).unwrap();
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|block| {
            let b64: String = block
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            STANDARD.decode(b64).unwrap()
        })
        .collect()
}

/// A live directory as certbot leaves it: cert.pem, fullchain.pem (the leaf, then its issuer),
/// and a private key beside them that must never be read into a request.
fn lineage(dir: &Path, cert: &str) -> PathBuf {
    let live = dir.join("live").join("a.example.test");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::copy(fixture(cert), live.join("cert.pem")).unwrap();
    let chain = [
        std::fs::read(fixture(cert)).unwrap(),
        std::fs::read(fixture("issuer.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(live.join("fullchain.pem"), chain).unwrap();
    std::fs::write(
        live.join("privkey.pem"),
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    live
}

/// Removes a test's directory, its private key first.
fn remove(dir: &Path, key: &Path) {
    let _ = std::fs::remove_file(key);
    let _ = std::fs::remove_dir_all(dir);
}

fn deploy_env(live: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("RENEWED_LINEAGE", live.display().to_string()),
        ("RENEWED_DOMAINS", format!("{DOMAIN} www.{DOMAIN}")),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn deploy_sends_the_certificate_and_its_chain_as_json_with_a_bound_jwt_and_never_the_key() {
    let (dir, key) = keyed_dir("deploy-report");
    let live = lineage(&dir, "cert.pem");
    // The fake site answers 401 to a JWT not bound to the request, 400 to a report off contract.
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let env = deploy_env(&live);
    let out = run(BIN, &hook_args(site.port(), &key, 5), &env_refs(&env));
    out.assert_success().assert_no_jwt();
    assert_eq!(
        out.stdout,
        format!(
            "certificate fa0123456789abcdef for a.example.test, www.a.example.test, 127.0.0.1, \
             2001:db8::1 (not after 2026-04-01T00:00:00Z) reported to http://{DOMAIN}:{}/\n",
            site.port()
        )
    );
    let requests = site.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    // {domain} is the first name of RENEWED_DOMAINS.
    assert_eq!(
        request.header("host"),
        Some(format!("{DOMAIN}:{}", site.port()).as_str())
    );
    request.check_binding().unwrap();
    assert_eq!(request.header("content-type"), Some("application/json"));
    let (certificates, lineage_name) = check_report(request).unwrap();
    // Exactly fullchain.pem's certificates, the leaf first: the certificate itself, not claims.
    assert_eq!(certificates, ders(&live.join("fullchain.pem")));
    assert_eq!(certificates[0], ders(&live.join("cert.pem"))[0]);
    assert_eq!(certificates.len(), 2);
    assert_eq!(lineage_name, "a.example.test");
    let text = String::from_utf8_lossy(&request.body);
    assert!(
        !text.contains("PRIVATE") && !text.contains("c2VjcmV0"),
        "{text}"
    );
    remove(&dir, &key);
}

#[test]
fn deploy_reads_every_setting_from_the_config_file_the_other_hooks_share() {
    let (dir, key) = keyed_dir("deploy-config");
    let live = lineage(&dir, "cert.pem");
    let site = TestServer::start(|req, _| match req.check_binding() {
        Ok(()) if req.path == REPORTS => Reply::text(201, "recorded"),
        _ => Reply::text(400, "unexpected"),
    });
    // One file for every hook, with keys only auth-hook uses (self_check_url, self_check).
    let config = dir.join("django-hooks.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"http://{{domain}}:{port}\"\nusername = \"certbot\"\nkey_file = \
             \"key.pem\"\nresolve = [\"{DOMAIN}:127.0.0.1\"]\ntimeout = 5\nself_check = true\n\
             self_check_url = \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\n",
            port = site.port()
        ),
    )
    .unwrap();
    let env = deploy_env(&live);
    let args = vec!["--config".to_string(), config.display().to_string()];
    let out = run(BIN, &args, &env_refs(&env));
    out.assert_success().assert_no_jwt();
    assert_eq!(site.count(), 1);
    let claims = site.requests()[0].jwt_claims().unwrap();
    assert_eq!(claims["username"], "certbot");
    remove(&dir, &key);
}

#[test]
fn deploy_without_renewed_lineage_sends_nothing_and_says_how_to_run_it() {
    let (dir, key) = keyed_dir("deploy-no-lineage");
    let site = TestServer::start(|_, _| Reply::text(201, "recorded"));
    let out = run(BIN, &hook_args(site.port(), &key, 5), &[]);
    out.assert_failure();
    out.assert_stderr_contains(
        "deploy-hook: error: RENEWED_LINEAGE is not set, nothing was sent: run this hook from \
         certbot",
    );
    assert_eq!(site.count(), 0);
    remove(&dir, &key);
}

#[test]
fn deploy_refuses_a_missing_fifo_or_wildcard_certificate_before_sending() {
    let (dir, key) = keyed_dir("deploy-bad-cert");
    let site = TestServer::start(|_, _| Reply::text(201, "recorded"));
    let args = hook_args(site.port(), &key, 5);

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(BIN, &args, &env_refs(&deploy_env(&empty)));
    out.assert_failure().assert_stderr_contains(&format!(
        "certificate {}/fullchain.pem: it does not exist: RENEWED_LINEAGE (or --lineage) must be",
        empty.display()
    ));

    let fifo_dir = dir.join("fifo");
    std::fs::create_dir_all(&fifo_dir).unwrap();
    make_fifo(&fifo_dir.join("fullchain.pem"));
    let out = run(BIN, &args, &env_refs(&deploy_env(&fifo_dir)));
    out.assert_failure()
        .assert_within(Duration::from_secs(5))
        .assert_stderr_contains("it is a FIFO (named pipe), not a regular file");

    let wildcard = lineage(&dir.join("w"), "wildcard.pem");
    let out = run(BIN, &args, &env_refs(&deploy_env(&wildcard)));
    out.assert_failure()
        .assert_stderr_contains("it names *.example.test, which the site cannot record: wildcard");

    assert_eq!(site.count(), 0);
    remove(&dir, &key);
}

#[test]
fn deploy_says_what_a_403_and_a_404_mean_for_a_report() {
    let (dir, key) = keyed_dir("deploy-refused");
    let live = lineage(&dir, "cert.pem");
    let env = deploy_env(&live);

    let forbidden = TestServer::start(|_, _| {
        Reply::text(
            403,
            "name: 'a.example.test' is outside the scope of key abc (b.example.test)",
        )
    });
    let out = run(BIN, &hook_args(forbidden.port(), &key, 5), &env_refs(&env));
    out.assert_failure().assert_no_jwt();
    // The site's reason is the advice: no generic causes after it.
    out.assert_stderr_contains(&format!(
        "deploy-hook: error: POST http://{DOMAIN}:{}/.well-known/certificates/ failed: the site \
         answered 403 Forbidden \"name: 'a.example.test' is outside the scope of key abc \
         (b.example.test)\"\n",
        forbidden.port()
    ));
    assert_eq!(forbidden.count(), 1, "a 403 is not retried");

    // With the app's code, the code's fix follows the reason.
    let untrusted = TestServer::start(|_, _| {
        Reply::text(403, "chain: does not verify")
            .header("Acme-Challenge-Refusal", "chain-untrusted")
    });
    let out = run(BIN, &hook_args(untrusted.port(), &key, 5), &env_refs(&env));
    out.assert_failure();
    out.assert_stderr_contains(
        "403 Forbidden \"chain: does not verify\" (refusal code chain-untrusted): report \
         fullchain.pem; for a private CA, list its root in the site's ACME_CHALLENGE_TRUST_ROOTS",
    );
    assert!(
        !out.stderr.contains("lacks the permission"),
        "{}",
        out.stderr
    );

    let old_site = TestServer::start(|_, _| Reply::text(404, "Not Found"));
    let out = run(BIN, &hook_args(old_site.port(), &key, 5), &env_refs(&env));
    out.assert_failure();
    out.assert_stderr_contains("Its django-acme-challenge predates them (upgrade it");
    remove(&dir, &key);
}

#[test]
fn a_site_that_takes_only_the_old_form_of_report_is_told_to_upgrade_and_not_retried() {
    let (dir, key) = keyed_dir("deploy-old-form");
    let live = lineage(&dir, "cert.pem");
    // The words of the sites that took a form of claims about the certificate.
    let old = TestServer::start(|_, _| {
        Reply::text(
            400,
            "body: send the report as a form (application/x-www-form-urlencoded), as \
             deploy-hook does",
        )
    });
    let out = run(
        BIN,
        &hook_args(old.port(), &key, 5),
        &env_refs(&deploy_env(&live)),
    );
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(
        "as deploy-hook does\": the site's django-acme-challenge predates reports that send the \
         certificate itself (this deploy-hook sends the chain as JSON; older ones sent a form of \
         claims about it): upgrade django-acme-challenge on the site and run manage.py migrate",
    );
    assert_eq!(old.count(), 1, "a 400 is not retried");

    // With a code, the words decide nothing: this is the code's refusal, not an old site.
    let coded = TestServer::start(|_, _| {
        Reply::text(400, "body: send the report as a form, as deploy-hook does")
            .header("Acme-Challenge-Refusal", "body-malformed")
    });
    let out = run(
        BIN,
        &hook_args(coded.port(), &key, 5),
        &env_refs(&deploy_env(&live)),
    );
    out.assert_failure();
    out.assert_stderr_contains("(refusal code body-malformed): the site and these hooks disagree");
    assert!(!out.stderr.contains("predates"), "{}", out.stderr);
    remove(&dir, &key);
}

#[test]
fn deploy_retries_a_5xx_and_gives_up_within_the_deadline() {
    let (dir, key) = keyed_dir("deploy-500");
    let live = lineage(&dir, "cert.pem");
    let site = TestServer::start(|_, _| Reply::text(503, "busy"));
    let out = run(
        BIN,
        &hook_args(site.port(), &key, 3),
        &env_refs(&deploy_env(&live)),
    );
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    out.assert_stderr_contains("the site answered 503 Service Unavailable \"busy\"");
    assert!(site.count() >= 2, "retried: {}", site.count());
    // Every attempt carried a fresh token.
    let nonces: std::collections::HashSet<String> = site
        .requests()
        .iter()
        .map(|r| r.jwt_claims().unwrap()["nonce"].to_string())
        .collect();
    assert_eq!(nonces.len(), site.count());

    let port = closed_port();
    let out = run(
        BIN,
        &hook_args(port, &key, 2),
        &env_refs(&deploy_env(&live)),
    );
    out.assert_failure()
        .assert_stderr_contains(&connection_refused(port));
    remove(&dir, &key);
}
