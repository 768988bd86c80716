//! `auth-hook check` through the built binary, against a scripted local server: one line per
//! step, the fix named at the step that fails, and no probe left behind. The same story against
//! the real Django app is in the end-to-end tests.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, TestServer, closed_port, connection_refused, fake_site,
    hook_args, key_command, keyed_dir, refuse_without_jwt, run,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");
const STEPS: [&str; 5] = ["key", "server", "push", "self-check", "delete"];

fn check(port: u16, key: &Path, timeout: u64, extra: &[&str]) -> Outcome {
    let mut args = vec!["check".to_string(), "--domain".into(), DOMAIN.into()];
    args.extend(hook_args(port, key, timeout));
    args.extend(extra.iter().map(|s| s.to_string()));
    run(BIN, &args, &[])
}

/// The step lines after the domain's (which must pass), checked to be exactly one per step, in
/// order. Indented lines (the self-check's one per address and node) are not step lines.
fn step_lines(out: &Outcome) -> Vec<String> {
    let mut lines: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("  "))
        .take(6)
        .map(str::to_string)
        .collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with(&format!("domain: ok ({DOMAIN}, probe token "))),
        "{}",
        out.stdout
    );
    lines.remove(0);
    for (line, step) in lines.iter().zip(STEPS) {
        assert!(
            line.starts_with(&format!("{step}: ")),
            "expected the {step} line, got {line:?}\n{}",
            out.stdout
        );
    }
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    lines
}

#[test]
fn every_step_passes_against_a_site_that_stores_serves_and_deletes_and_the_probe_is_gone() {
    let (_dir, key) = keyed_dir("check-ok");
    let site = fake_site(Serving::AtOnce, |req, _| refuse_without_jwt(req));
    let out = check(site.port(), &key, 10, &[]);
    out.assert_success().assert_no_jwt();
    let lines = step_lines(&out);
    assert_eq!(
        out.stdout.lines().count(),
        7,
        "nothing but the steps, and the self-check's line for its one address"
    );
    assert_eq!(
        out.stdout
            .lines()
            .nth(5)
            .and_then(|l| l.rsplit_once(" ("))
            .map(|(line, _)| line),
        Some("  via 127.0.0.1 (IPv4): served"),
        "{}",
        out.stdout
    );
    for line in &lines {
        assert!(line.contains(": ok ("), "{line}");
    }
    assert_eq!(lines[0], format!("key: ok (Ed25519, {})", key.display()));
    assert!(
        lines[1].contains(&format!(
            "http://{DOMAIN}:{}/.well-known/challenges/ is the challenge API",
            site.port()
        )),
        "{}",
        lines[1]
    );
    assert_eq!(out.stderr, "", "quiet by default");

    let posts = site.with_method("POST");
    assert_eq!(
        posts.len(),
        2,
        "the unauthenticated probe of the API, then the push"
    );
    assert_eq!(posts[0].header("authorization"), None);
    let form = posts[1].form();
    let token = &form["challenge"];
    assert!(token.starts_with("auth-hook-check-"), "{token}");
    assert_eq!(form["domain"], DOMAIN);
    assert!(form["response"].starts_with(&format!("{token}.")));
    assert!(lines[2].contains(token.as_str()), "{}", lines[2]);
    let gets = site.with_method("GET");
    assert_eq!(gets[0].path, format!("/.well-known/acme-challenge/{token}"));
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].path, format!("/.well-known/challenges/{token}/"));
    assert!(
        deletes[0]
            .header("authorization")
            .unwrap()
            .starts_with("JWT ")
    );
}

#[test]
fn an_unregistered_key_fails_at_push_and_shows_the_public_key_and_how_to_register_it() {
    let (_dir, key) = keyed_dir("check-401");
    // What the real app answers for a key it does not know: 401 to every API request.
    let site = TestServer::start(|_, _| {
        Reply::text(401, "authentication required").header("WWW-Authenticate", "JWT")
    });
    let out = check(site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    let lines = step_lines(&out);
    assert!(lines[0].starts_with("key: ok"), "{}", lines[0]);
    assert!(lines[1].starts_with("server: ok"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("push: failed: POST ")
            && lines[2].contains("401 Unauthorized")
            && lines[2].contains("not registered for user 'certbot'"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "self-check: skipped (the push failed)");
    assert_eq!(
        lines[4],
        "delete: skipped (the push failed, so nothing was stored)"
    );

    let public_key = run(BIN, &key_command("public-key", &key), &[]);
    public_key.assert_success();
    assert!(
        public_key
            .stdout
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert!(
        out.stdout.contains(&public_key.stdout),
        "the public key is shown:\n{}",
        out.stdout
    );
    for needed in [
        "python manage.py certbot_client certbot --public-key-file certbot.pub".to_string(),
        format!(
            "auth-hook public-key --key-file {} > certbot.pub",
            key.display()
        ),
        format!(
            "http://{DOMAIN}:{}/admin/asymmetric_jwt_auth/publickey/add/",
            site.port()
        ),
    ] {
        assert!(
            out.stdout.contains(&needed),
            "lacks {needed:?}:\n{}",
            out.stdout
        );
    }
    out.assert_stderr_contains("auth-hook: error: check failed at the push step");
    assert!(site.with_method("DELETE").is_empty(), "nothing to delete");
    assert_eq!(site.with_method("POST").len(), 2, "a 401 is not retried");
}

#[test]
fn an_api_that_is_not_mounted_fails_at_server_naming_urls_py() {
    let (_dir, key) = keyed_dir("check-404");
    let site = TestServer::start(|_, _| Reply::text(404, "Not Found"));
    let out = check(site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    let lines = step_lines(&out);
    assert!(
        lines[1].starts_with(&format!(
            "server: failed: POST http://{DOMAIN}:{}/.well-known/challenges/ failed: the site \
             answered 404 Not Found",
            site.port()
        )) && lines[1].contains("not mounted")
            && lines[1].contains("path(\".well-known/\", include(\"acme_challenge.urls\"))"),
        "{}",
        lines[1]
    );
    for line in &lines[2..] {
        assert!(
            line.ends_with(": skipped (the server step failed)"),
            "{line}"
        );
    }
    assert_eq!(site.count(), 1, "only the unauthenticated probe was sent");
    assert_eq!(site.requests()[0].header("authorization"), None);
}

#[test]
fn a_closed_port_fails_at_server_naming_the_connection_problem_at_once() {
    let (_dir, key) = keyed_dir("check-closed");
    let port = closed_port();
    let out = check(port, &key, 30, &[]);
    out.assert_failure().assert_no_jwt();
    let lines = step_lines(&out);
    assert_eq!(
        lines[1],
        format!(
            "server: failed: POST http://{DOMAIN}:{port}/.well-known/challenges/ failed: {}",
            connection_refused(port)
        )
    );
    assert!(
        out.elapsed < Duration::from_secs(5),
        "no retrying until the deadline: {:?}",
        out.elapsed
    );
}

#[test]
fn a_probe_that_is_never_served_fails_the_self_check_and_is_still_deleted_in_time() {
    let (_dir, key) = keyed_dir("check-never");
    let site = fake_site(Serving::Never, |req, _| refuse_without_jwt(req));
    let out = check(site.port(), &key, 3, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    let lines = step_lines(&out);
    assert!(lines[2].starts_with("push: ok"), "{}", lines[2]);
    assert!(
        lines[3].starts_with("self-check: failed: self-check failed: ")
            && lines[3].contains("404 Not Found"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "delete: ok (probe removed)");
    out.assert_stderr_contains("check failed at the self-check step");
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 1);
    let last_get = site.with_method("GET").last().unwrap().at;
    assert!(deletes[0].at >= last_get, "deleted after the self-check");
}

#[test]
fn a_push_that_gets_no_answer_is_followed_by_a_delete_within_the_deadline() {
    let (_dir, key) = keyed_dir("check-hang");
    let site = fake_site(Serving::AtOnce, |req, _| {
        refuse_without_jwt(req).or_else(|| (req.method == "POST").then_some(Reply::Hang))
    });
    let out = check(site.port(), &key, 4, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(4));
    let lines = step_lines(&out);
    assert!(lines[2].starts_with("push: failed: "), "{}", lines[2]);
    assert_eq!(lines[3], "self-check: skipped (the push failed)");
    assert!(lines[4].starts_with("delete: ok ("), "{}", lines[4]);
    assert_eq!(site.with_method("DELETE").len(), 1);
}

#[test]
fn no_self_check_skips_step_4_with_a_line_saying_so_and_still_passes() {
    let (_dir, key) = keyed_dir("check-noself");
    let site = fake_site(Serving::Never, |req, _| refuse_without_jwt(req));
    let out = check(site.port(), &key, 5, &["--no-self-check"]);
    out.assert_success();
    let lines = step_lines(&out);
    assert!(
        lines[3].starts_with("self-check: skipped (--no-self-check"),
        "{}",
        lines[3]
    );
    assert_eq!(site.with_method("GET").len(), 0);
    assert_eq!(site.with_method("DELETE").len(), 1);
}

#[test]
fn a_key_open_to_others_fails_the_key_step_and_nothing_is_sent() {
    let (_dir, key) = keyed_dir("check-mode");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let site = fake_site(Serving::AtOnce, |req, _| refuse_without_jwt(req));
    let out = check(site.port(), &key, 5, &[]);
    out.assert_failure().assert_no_jwt();
    let lines = step_lines(&out);
    assert!(
        lines[0].starts_with("key: failed: private key ")
            && lines[0].contains(&format!("chmod 600 {}", key.display())),
        "{}",
        lines[0]
    );
    for line in &lines[1..] {
        assert!(line.ends_with(": skipped (the key step failed)"), "{line}");
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn verbose_check_reports_progress_on_stderr_only() {
    let (_dir, key) = keyed_dir("check-verbose");
    let site = fake_site(Serving::AtOnce, |req, _| refuse_without_jwt(req));
    let out = check(site.port(), &key, 10, &["-v"]);
    out.assert_success().assert_no_jwt();
    assert_eq!(out.stdout.lines().count(), 7, "6 steps and 1 address");
    for step in [
        "probe challenge auth-hook-check-",
        "without a JWT answered 401 Unauthorized",
        "answered 201 Created",
        "self-check attempt 1",
        "DELETE http://",
    ] {
        out.assert_stderr_contains(step);
    }
}

#[test]
fn hook_options_before_check_are_refused_rather_than_ignored() {
    let out = run(
        BIN,
        &[
            "--server".into(),
            "http://localhost:1".into(),
            "check".into(),
            "--domain".into(),
            DOMAIN.into(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    out.assert_stderr_contains("cannot be used with '--server <URL>'");
}
