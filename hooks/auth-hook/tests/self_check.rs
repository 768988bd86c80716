//! auth-hook's self-check through the built binary: waiting for the challenge, a URL that never
//! serves it or serves something else, and which redirects it follows.

use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Reply, Serving, TOKEN, VALIDATION, fake_site, keyed_dir, run_hook,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn a_challenge_visible_only_after_3_s_is_waited_for() {
    let (_dir, key) = keyed_dir("lag");
    let site = fake_site(Serving::After(Duration::from_secs(3)), |_, _| None);
    let out = run_hook(BIN, site.port(), &key, 15, &["-v"]);
    out.assert_success().assert_no_jwt();
    let gets = site.with_method("GET");
    assert!(gets.len() >= 3, "polled {} times", gets.len());
    let post = &site.with_method("POST")[0];
    assert!(gets.last().unwrap().at - post.at >= Duration::from_secs(3));
    out.assert_stderr_contains("answered 404 Not Found");
}

#[test]
fn a_challenge_never_served_fails_within_the_deadline_saying_what_the_url_answered() {
    let (_dir, key) = keyed_dir("never");
    let site = fake_site(Serving::Never, |_, _| None);
    let out = run_hook(BIN, site.port(), &key, 4, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(4));
    out.assert_stderr_contains(&format!(
        "auth-hook: error: self-check failed: http://{DOMAIN}:{}/.well-known/acme-challenge/{TOKEN} did not serve the challenge within",
        site.port()
    ));
    out.assert_stderr_contains("it last answered: 404 Not Found \"Not Found\"");
    assert_eq!(out.stdout, "", "no success line");
}

#[test]
fn a_self_check_served_with_the_wrong_body_says_so() {
    let (_dir, key) = keyed_dir("wrongbody");
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method == "GET").then(|| Reply::text(200, "<html>welcome</html>"))
    });
    let out = run_hook(BIN, site.port(), &key, 2, &[]);
    out.assert_failure().assert_within(Duration::from_secs(2));
    out.assert_stderr_contains(
        "it last answered: 200 OK with a different body: \"<html>welcome</html>\"",
    );
}

#[test]
fn self_check_redirects_are_followed_only_to_allowed_ports() {
    let (_dir, key) = keyed_dir("selfredirect");
    // To the URL's own port: followed.
    let port = Arc::new(AtomicU16::new(0));
    let p = Arc::clone(&port);
    let site = fake_site(Serving::AtOnce, move |req, _| {
        (req.method == "GET" && req.path.starts_with("/.well-known/acme-challenge/"))
            .then(|| {
                let to = format!("http://{DOMAIN}:{}/moved/{TOKEN}", p.load(Ordering::SeqCst));
                Reply::status(302).header("Location", &to)
            })
            .or_else(|| (req.path.starts_with("/moved/")).then(|| Reply::text(200, VALIDATION)))
    });
    port.store(site.port(), Ordering::SeqCst);
    run_hook(BIN, site.port(), &key, 5, &[]).assert_success();

    // To another port: refused, as the CA would.
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method == "GET")
            .then(|| Reply::status(301).header("Location", "http://example.test:8443/x"))
    });
    let out = run_hook(BIN, site.port(), &key, 2, &[]);
    out.assert_failure();
    out.assert_stderr_contains("301 Moved Permanently redirecting to http://example.test:8443/x, which the CA will not follow");
}
