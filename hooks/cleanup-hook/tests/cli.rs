//! cleanup-hook through the built binary, against a scripted local server.

use std::time::Duration;

use hook_test_support::{
    DOMAIN, Reply, Serving, TOKEN, TestServer, assert_refused_before_sending, certbot_env,
    closed_port, connection_refused, fake_site, hook_args, key_file, run, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_cleanup-hook");

#[test]
fn cleanup_deletes_only_its_own_token_and_a_second_run_still_exits_0() {
    let dir = temp_dir("cleanup-own");
    let key = key_file(&dir);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let args = hook_args(site.port(), &key, 5);
    let first = run(BIN, &args, &certbot_env());
    first.assert_success().assert_no_jwt();
    assert_eq!(first.stdout, "");
    let second = run(BIN, &args, &certbot_env());
    second.assert_success().assert_no_jwt();
    let requests = site.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.method, "DELETE");
        assert_eq!(r.path, format!("/.well-known/challenges/{TOKEN}/"));
        assert!(r.header("authorization").unwrap().starts_with("JWT eyJ"));
    }
}

#[test]
fn cleanup_treats_404_as_done() {
    let dir = temp_dir("cleanup-404");
    let key = key_file(&dir);
    let site = TestServer::start(|_, _| Reply::text(404, "no such challenge"));
    let mut args = hook_args(site.port(), &key, 5);
    args.push("-v".into());
    let out = run(BIN, &args, &certbot_env());
    out.assert_success().assert_no_jwt();
    out.assert_stderr_contains("already gone (404); ");
    assert!(
        out.stderr.trim_end().ends_with(" s in all"),
        "the done line carries the total time:\n{}",
        out.stderr
    );
    assert_eq!(site.count(), 1);
}

#[test]
fn cleanup_against_a_persistent_500_fails_within_the_deadline() {
    let dir = temp_dir("cleanup-500");
    let key = key_file(&dir);
    let site = TestServer::start(|_, _| Reply::text(500, "oops"));
    let out = run(BIN, &hook_args(site.port(), &key, 3), &certbot_env());
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    out.assert_stderr_contains(&format!(
        "cleanup-hook: error: DELETE http://example.test:{}/.well-known/challenges/{TOKEN}/ failed: the site answered 500 Internal Server Error \"oops\"",
        site.port()
    ));
    assert!(site.count() >= 2);
}

#[test]
fn cleanup_against_a_hanging_server_ends_within_the_deadline() {
    let dir = temp_dir("cleanup-hang");
    let key = key_file(&dir);
    let site = TestServer::start(|_, _| Reply::Hang);
    let out = run(BIN, &hook_args(site.port(), &key, 2), &certbot_env());
    out.assert_failure().assert_within(Duration::from_secs(2));
}

#[test]
fn cleanup_against_a_closed_port_names_the_host_port_and_what_to_check() {
    let key = key_file(&temp_dir("cleanup-refused"));
    let port = closed_port();
    let out = run(BIN, &hook_args(port, &key, 2), &certbot_env());
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(2));
    out.assert_stderr_contains(&format!(
        "cleanup-hook: error: DELETE http://{DOMAIN}:{port}/.well-known/challenges/{TOKEN}/ failed: \
         {}; gave up after ",
        connection_refused(port)
    ));
    out.assert_stderr_contains(" s (--timeout 2 s)\n");
}

#[test]
fn cleanup_with_a_hostile_token_sends_nothing() {
    assert_refused_before_sending(
        BIN,
        "cleanup-bad",
        "CERTBOT_TOKEN",
        &["../x", "*", "a/b", ""],
        "cleanup-hook: error: invalid certbot environment, nothing was sent: CERTBOT_TOKEN",
    );
}

#[test]
fn cleanup_logs_the_auth_output_but_deletes_only_certbot_token() {
    let dir = temp_dir("cleanup-authout");
    let key = key_file(&dir);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let mut env = certbot_env();
    env.push(("CERTBOT_AUTH_OUTPUT", "challenge other-token\x1b[2J stored"));
    let mut args = hook_args(site.port(), &key, 5);
    args.push("-v".into());
    let out = run(BIN, &args, &env);
    out.assert_success();
    out.assert_stderr_contains("the auth hook said: challenge other-token [2J stored");
    assert!(!out.stderr.contains('\x1b'));
    assert_eq!(
        site.requests()[0].path,
        format!("/.well-known/challenges/{TOKEN}/")
    );
}
