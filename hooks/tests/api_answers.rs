//! auth-hook against every answer the site's challenge API can give instead of success:
//! redirects, 5xx and retries, hangs, refused connections, huge bodies, 401, 403 with a clock
//! skew, 404, 429 with Retry-After.

use std::time::Duration;
use std::time::SystemTime;

use hook_test_support::{
    DOMAIN, Reply, Serving, TestServer, closed_port, connection_refused, fake_site, keyed_dir,
    run_hook,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn redirects_on_post_fail_naming_the_location_and_are_not_followed() {
    let (_dir, key) = keyed_dir("redirect");
    for status in [301, 302, 307, 308] {
        let site = TestServer::start(move |_, _| {
            Reply::status(status).header(
                "Location",
                "https://www.example.test/.well-known/challenges/",
            )
        });
        let out = run_hook(BIN, site.port(), &key, 5, &[]);
        out.assert_failure().assert_no_jwt();
        out.assert_stderr_contains(&format!(
            "auth-hook: error: POST http://{DOMAIN}:{}/.well-known/challenges/ failed: the site answered {status}",
            site.port()
        ));
        out.assert_stderr_contains(
            "redirecting to https://www.example.test/.well-known/challenges/",
        );
        out.assert_stderr_contains("Redirects are never followed");
        assert_eq!(
            site.count(),
            1,
            "{status}: exactly one request, nothing followed"
        );
    }
}

#[test]
fn two_503s_then_201_succeeds_with_a_fresh_jwt_per_attempt() {
    let (_dir, key) = keyed_dir("503");
    let site = fake_site(Serving::AtOnce, |req, earlier| {
        let posts = earlier.iter().filter(|r| r.method == "POST").count();
        (req.method == "POST" && posts < 2).then(|| Reply::text(503, "busy"))
    });
    let out = run_hook(BIN, site.port(), &key, 20, &[]);
    out.assert_success().assert_no_jwt();
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 3);
    let auths: std::collections::HashSet<_> = posts
        .iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    assert_eq!(auths.len(), 3, "every attempt carries a new JWT");
}

#[test]
fn a_persistent_500_fails_within_the_deadline_saying_what_the_site_answered() {
    let (_dir, key) = keyed_dir("500");
    let site = TestServer::start(|_, _| Reply::text(500, "database is down"));
    let out = run_hook(BIN, site.port(), &key, 3, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    out.assert_stderr_contains("the site answered 500 Internal Server Error \"database is down\"");
    out.assert_stderr_contains("gave up after");
    assert!(site.count() >= 2, "retried: {}", site.count());
}

#[test]
fn a_server_that_never_answers_fails_within_the_deadline() {
    let (_dir, key) = keyed_dir("hang");
    let site = TestServer::start(|_, _| Reply::Hang);
    let out = run_hook(BIN, site.port(), &key, 3, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    out.assert_stderr_contains("no answer within");
    out.assert_stderr_contains("or is the site hung? Check --server");
    out.assert_stderr_contains("(--timeout 3 s)");
}

#[test]
fn a_refused_connection_is_retried_then_names_the_host_port_and_what_to_check() {
    let (_dir, key) = keyed_dir("refused");
    let port = closed_port();
    let out = run_hook(BIN, port, &key, 3, &[]);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(3));
    out.assert_stderr_contains(&format!(
        "auth-hook: error: POST http://{DOMAIN}:{port}/.well-known/challenges/ failed: {}; gave up \
         after ",
        connection_refused(port)
    ));
    out.assert_stderr_contains(" attempts in ");
    out.assert_stderr_contains(" s (--timeout 3 s)\n");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn a_10_mb_error_body_is_read_capped_and_shown_as_one_clean_line() {
    let (_dir, key) = keyed_dir("bigbody");
    let mut body = b"bad \x1b[31mthing\r\n".to_vec();
    body.resize(10 * 1024 * 1024, b'x');
    let site = TestServer::start(move |_, _| Reply::Respond {
        status: 400,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: body.clone(),
    });
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("400 Bad Request \"bad [31mthing xxxx");
    assert!(
        out.stderr.len() < 1500,
        "stderr is {} bytes",
        out.stderr.len()
    );
    assert!(!out.stderr.contains('\x1b') && !out.stderr.contains('\r'));
    assert_eq!(out.stderr.lines().count(), 1);
}

fn http_date(t: SystemTime) -> String {
    // Format IMF-fixdate by hand (no date crate in the tests).
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m as usize - 1];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn a_403_from_a_site_whose_clock_is_5_minutes_off_shows_the_skew() {
    let (_dir, key) = keyed_dir("skew");
    let site = TestServer::start(|_, _| {
        let date = http_date(SystemTime::now() - Duration::from_secs(300));
        Reply::text(
            403,
            "domain example.test is not in ACME_CHALLENGE_ALLOWED_DOMAINS",
        )
        .header("Date", &date)
    });
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("the site answered 403 Forbidden \"domain example.test is not in ACME_CHALLENGE_ALLOWED_DOMAINS\"");
    // The site's reason is the advice: no generic causes after it; the measured skew is a fact.
    assert!(
        !out.stderr
            .contains("lacks the permission to add challenges"),
        "{}",
        out.stderr
    );
    let skew_ok = (299..=301).any(|s| {
        out.stderr
            .contains(&format!("it is {s} s ahead of the site's"))
    });
    assert!(skew_ok, "{}", out.stderr);
    assert_eq!(site.count(), 1, "a 403 is not retried");
}

#[test]
fn a_401_explains_how_to_register_the_key() {
    let (_dir, key) = keyed_dir("401");
    let site = TestServer::start(|_, _| Reply::text(401, "").header("WWW-Authenticate", "JWT"));
    let out = run_hook(BIN, site.port(), &key, 10, &["--username", "acme"]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("401 Unauthorized: it accepted no valid JWT");
    out.assert_stderr_contains(
        "'auth-hook public-key --key-file KEY > acme.pub', then on the site run 'python manage.py \
         certbot_client acme --public-key-file acme.pub'",
    );
    out.assert_stderr_contains("clock is off");
}

#[test]
fn a_404_on_the_api_says_the_app_is_not_mounted() {
    let (_dir, key) = keyed_dir("404");
    let site = TestServer::start(|_, _| Reply::text(404, "Not Found"));
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
    out.assert_failure();
    out.assert_stderr_contains(&format!(
        "the challenge API is not mounted at http://{DOMAIN}:{}/.well-known/challenges/",
        site.port()
    ));
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let (_dir, key) = keyed_dir("429");
    let site = fake_site(Serving::AtOnce, |req, earlier| {
        (req.method == "POST" && earlier.is_empty())
            .then(|| Reply::text(429, "slow down").header("Retry-After", "2"))
    });
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
    out.assert_success();
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 2);
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(2));
}

#[test]
fn a_403_without_a_reason_lists_the_causes_with_commands_that_run_as_written() {
    let (_dir, key) = keyed_dir("bare-403");
    let site = TestServer::start(|_, _| Reply::Respond {
        status: 403,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: b"<html><body><h1>403 Forbidden</h1></body></html>".to_vec(),
    });
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(
        "user 'certbot' lacks the permission to add challenges (on the site run 'python \
         manage.py certbot_client certbot', which grants it), or the domain is outside the key's \
         scope ('python manage.py certbot_client certbot --list-keys' shows it)",
    );
    assert_eq!(site.count(), 1, "a 403 is not retried");
}
