//! cleanup-hook through the built binary, against a scripted local server.

use std::time::Duration;

use hook_test_support::{
    DOMAIN, Reply, Serving, TOKEN, TestServer, assert_refused_before_sending, certbot_env,
    closed_port, connection_refused, fake_site, hook_args, keyed_dir, make_fifo, run, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_cleanup-hook");

#[test]
fn cleanup_deletes_only_its_own_token_and_a_second_run_still_exits_0() {
    let (_dir, key) = keyed_dir("cleanup-own");
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
    let (_dir, key) = keyed_dir("cleanup-404");
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
    let (_dir, key) = keyed_dir("cleanup-500");
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
    let (_dir, key) = keyed_dir("cleanup-hang");
    let site = TestServer::start(|_, _| Reply::Hang);
    let out = run(BIN, &hook_args(site.port(), &key, 2), &certbot_env());
    out.assert_failure().assert_within(Duration::from_secs(2));
    out.assert_stderr_contains(&format!(
        "cleanup-hook: error: DELETE http://{DOMAIN}:{}/.well-known/challenges/{TOKEN}/ failed: no \
         answer within",
        site.port()
    ));
    out.assert_stderr_contains("gave up after");
    out.assert_stderr_contains("(--timeout 2 s)");
}

#[test]
fn cleanup_against_a_closed_port_names_the_host_port_and_what_to_check() {
    let (_dir, key) = keyed_dir("cleanup-refused");
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
    let (_dir, key) = keyed_dir("cleanup-authout");
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

#[test]
fn the_delete_carries_a_token_bound_to_delete_its_url_and_the_empty_body() {
    let (_dir, key) = keyed_dir("cleanup-bound");
    let site = TestServer::start(|_, _| Reply::status(204));
    run(BIN, &hook_args(site.port(), &key, 5), &certbot_env()).assert_success();
    let delete = &site.requests()[0];
    assert!(delete.body.is_empty());
    let claims = delete.jwt_claims().unwrap();
    assert_eq!(claims["htm"], "DELETE");
    assert_eq!(
        claims["htu"],
        format!(
            "http://{DOMAIN}:{}/.well-known/challenges/{TOKEN}/",
            site.port()
        )
    );
    // The contract's hash of the empty body.
    assert_eq!(claims["bsh"], "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    delete.check_binding().unwrap();
}

#[test]
fn a_site_that_echoes_the_authorization_header_never_gets_the_jwt_onto_stderr() {
    let (_dir, key) = keyed_dir("cleanup-echo");
    let site = TestServer::start(|req, _| {
        let auth = req.header("authorization").unwrap_or("none");
        Reply::text(403, &format!("no: {auth}"))
    });
    let out = run(BIN, &hook_args(site.port(), &key, 5), &certbot_env());
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("the site answered 403 Forbidden \"no: JWT [JWT removed]\"");
}

#[test]
fn a_fifo_as_key_file_is_refused_at_once() {
    let dir = temp_dir("cleanup-fifo");
    let fifo = dir.join("key.pem");
    make_fifo(&fifo);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run(BIN, &hook_args(site.port(), &fifo, 30), &certbot_env());
    out.assert_failure();
    assert!(
        out.elapsed < Duration::from_secs(2),
        "took {:?}",
        out.elapsed
    );
    out.assert_stderr_contains(&format!(
        "cleanup-hook: error: private key {}: it is a FIFO (named pipe), not a regular file",
        fifo.display()
    ));
    assert_eq!(site.count(), 0);
}
