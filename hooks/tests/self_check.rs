//! auth-hook's self-check through the built binary: waiting for the challenge, a URL that never
//! serves it or serves something else, which redirects it follows, and where it connects for
//! them (issue 19: only to addresses vetted, reserved ones only when the user named them).

use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Reply, Serving, TOKEN, TestServer, VALIDATION, fake_site, keyed_dir, run_hook,
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

/// A fake site whose challenge URL redirects to `target(port)`; `/moved/` paths serve the
/// validation, so a followed redirect passes.
fn redirecting_to(target: impl Fn(u16) -> String + Send + Sync + 'static) -> TestServer {
    let port = Arc::new(AtomicU16::new(0));
    let p = Arc::clone(&port);
    let site = fake_site(Serving::AtOnce, move |req, _| {
        (req.method == "GET" && req.path.starts_with("/.well-known/acme-challenge/"))
            .then(|| Reply::status(302).header("Location", &target(p.load(Ordering::SeqCst))))
    });
    port.store(site.port(), Ordering::SeqCst);
    site
}

/// A server on `addr` that serves the validation to anything: a service the check must not
/// reach, or the target of a redirect it may follow.
fn serving_at(addr: &str) -> TestServer {
    TestServer::start_at(addr, |_, _| Reply::text(200, VALIDATION))
}

#[test]
fn a_check_starting_on_loopback_is_not_redirected_to_loopback_addresses_nobody_named() {
    // Issue 19: the guard used to be off whenever the start was on a reserved address.
    let (_dir, key) = keyed_dir("unnamed-loopback");
    // A name the system resolves (/etc/hosts) to loopback: the site's own port, a path only a
    // followed redirect asks for.
    let site = redirecting_to(|port| format!("http://localhost:{port}/moved/{TOKEN}"));
    let out = run_hook(BIN, site.port(), &key, 2, &[]);
    out.assert_failure();
    out.assert_stderr_contains(&format!(
        "redirecting to http://localhost:{}/moved/{TOKEN}, which the CA will not follow: \
         localhost resolves to 127.0.0.1",
        site.port()
    ));
    let followed = site
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/moved/"))
        .count();
    assert_eq!(followed, 0, "no request reached the redirect target");

    // A loopback literal nobody named, on the start's own port: its service gets no request.
    let site = redirecting_to(|port| format!("http://127.0.0.3:{port}/moved/{TOKEN}"));
    let hidden = serving_at(&format!("127.0.0.3:{}", site.port()));
    let out = run_hook(BIN, site.port(), &key, 2, &[]);
    out.assert_failure();
    out.assert_stderr_contains("127.0.0.3 is a loopback address, and Let's Encrypt refuses");
    assert_eq!(hidden.count(), 0, "the loopback service got no request");
}

#[test]
fn a_redirect_to_a_name_the_user_resolved_is_followed_to_exactly_that_address() {
    let (_dir, key) = keyed_dir("named-redirect");
    let site = redirecting_to(|port| format!("http://www.example.test:{port}/moved/{TOKEN}"));
    // --resolve names 127.0.0.2 for www.example.test: the local-testing allowance.
    let named = serving_at(&format!("127.0.0.2:{}", site.port()));
    let out = run_hook(
        BIN,
        site.port(),
        &key,
        5,
        &["--resolve", "www.example.test:127.0.0.2"],
    );
    out.assert_success();
    let requests = named.requests();
    assert!(!requests.is_empty(), "followed to 127.0.0.2");
    assert_eq!(
        requests[0].header("host"),
        Some(format!("www.example.test:{}", site.port()).as_str())
    );
    assert_eq!(
        site.requests()
            .iter()
            .filter(|r| r.path.starts_with("/moved/"))
            .count(),
        0,
        "not to the start's address"
    );
}
