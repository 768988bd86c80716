//! auth-hook through the built binary, against a scripted local server: the happy path, every
//! fault from issue 5, hostile input that must never reach the server, and key handling.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime};

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, TOKEN, TestServer, VALIDATION, assert_refused_before_sending,
    certbot_env, certbot_env_with, closed_port, connection_refused, fake_site, hook_args,
    key_command, key_file, keyed_dir, run, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

fn args(port: u16, key: &Path, timeout: u64, extra: &[&str]) -> Vec<String> {
    let mut a = hook_args(port, key, timeout);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// auth-hook with the usual arguments for the site on `port`, plus `extra`, in the certbot
/// environment.
fn auth_hook(port: u16, key: &Path, timeout: u64, extra: &[&str]) -> Outcome {
    run(BIN, &args(port, key, timeout, extra), &certbot_env())
}

#[test]
fn a_stored_and_served_challenge_prints_one_line_and_exits_0() {
    let (_dir, key) = keyed_dir("happy");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = auth_hook(site.port(), &key, 10, &[]);
    out.assert_success()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(10));
    let (result, via) = out.stdout.split_once('\n').unwrap();
    assert_eq!(
        result,
        format!(
            "challenge {TOKEN} for {DOMAIN} stored at http://{DOMAIN}:{}/ and served",
            site.port()
        )
    );
    // Then the self-check's one line per address (here the one --resolve gives).
    assert!(
        via.starts_with("  via 127.0.0.1 (IPv4): served (") && via.ends_with(" ms)\n"),
        "{via}"
    );
    assert_eq!(via.lines().count(), 1, "{via}");
    assert_eq!(out.stderr, "", "default output is quiet");
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/.well-known/challenges/");
    let form = posts[0].form();
    assert_eq!(form["challenge"], TOKEN);
    assert_eq!(form["response"], VALIDATION);
    assert_eq!(form["domain"], DOMAIN);
    assert!(
        posts[0]
            .header("authorization")
            .unwrap()
            .starts_with("JWT eyJ")
    );
    let gets = site.with_method("GET");
    assert_eq!(gets[0].path, format!("/.well-known/acme-challenge/{TOKEN}"));
    assert_eq!(
        gets[0].header("authorization"),
        None,
        "the self-check sends no credentials"
    );
}

#[test]
fn verbose_prints_timed_steps_but_never_the_jwt() {
    let (_dir, key) = keyed_dir("verbose");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = auth_hook(site.port(), &key, 10, &["-v"]);
    out.assert_success().assert_no_jwt();
    // Issue 6: the push, each self-check attempt and the end, one line each, with timings.
    let line = |needle: &str| -> String {
        out.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} line:\n{}", out.stderr))
            .to_string()
    };
    let push = line("POST http://");
    assert!(
        push.contains("answered 201 Created in ") && push.ends_with(" ms (attempt 1)"),
        "{push}"
    );
    let attempt = line("self-check attempt 1");
    assert!(attempt.ends_with(" ms)"), "{attempt}");
    let done = line("done: served");
    assert!(
        done.contains("after 1 self-check attempt(s) in ") && done.ends_with(" s in all"),
        "{done}"
    );
    assert!(
        out.stderr.lines().all(|l| l.starts_with("auth-hook: [")),
        "every line carries its time since the start:\n{}",
        out.stderr
    );
}

#[test]
fn verbose_without_self_check_still_ends_with_a_done_line() {
    let (_dir, key) = keyed_dir("verbose-noself");
    let site = fake_site(Serving::Never, |_, _| None);
    let out = auth_hook(site.port(), &key, 5, &["--no-self-check", "-v"]);
    out.assert_success().assert_no_jwt();
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("] done: self-check skipped (--no-self-check); ")
            && last.ends_with(" s in all"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_self_check_trusts_the_api_answer() {
    let (_dir, key) = keyed_dir("noself");
    let site = fake_site(Serving::Never, |_, _| None);
    let out = auth_hook(site.port(), &key, 5, &["--no-self-check"]);
    out.assert_success();
    assert!(
        out.stdout.ends_with("(self-check skipped)\n"),
        "{}",
        out.stdout
    );
    assert_eq!(site.with_method("GET").len(), 0);
}

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
        let out = auth_hook(site.port(), &key, 5, &[]);
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
    let out = auth_hook(site.port(), &key, 20, &[]);
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
    let out = auth_hook(site.port(), &key, 3, &[]);
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
    let out = auth_hook(site.port(), &key, 3, &[]);
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
    let out = auth_hook(port, &key, 3, &[]);
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
    let out = auth_hook(site.port(), &key, 10, &[]);
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
    let out = auth_hook(site.port(), &key, 10, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("the site answered 403 Forbidden \"domain example.test is not in ACME_CHALLENGE_ALLOWED_DOMAINS\"");
    out.assert_stderr_contains("user 'certbot' lacks the permission to add challenges");
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
    let out = auth_hook(site.port(), &key, 10, &["--username", "acme"]);
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
    let out = auth_hook(site.port(), &key, 10, &[]);
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
    let out = auth_hook(site.port(), &key, 10, &[]);
    out.assert_success();
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 2);
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(2));
}

#[test]
fn a_challenge_visible_only_after_3_s_is_waited_for() {
    let (_dir, key) = keyed_dir("lag");
    let site = fake_site(Serving::After(Duration::from_secs(3)), |_, _| None);
    let out = auth_hook(site.port(), &key, 15, &["-v"]);
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
    let out = auth_hook(site.port(), &key, 4, &[]);
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
    let out = auth_hook(site.port(), &key, 2, &[]);
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
    auth_hook(site.port(), &key, 5, &[]).assert_success();

    // To another port: refused, as the CA would.
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method == "GET")
            .then(|| Reply::status(301).header("Location", "http://example.test:8443/x"))
    });
    let out = auth_hook(site.port(), &key, 2, &[]);
    out.assert_failure();
    out.assert_stderr_contains("301 Moved Permanently redirecting to http://example.test:8443/x, which the CA will not follow");
}

#[test]
fn hostile_tokens_never_reach_the_server() {
    let long = "a".repeat(300);
    assert_refused_before_sending(
        BIN,
        "badtoken",
        "CERTBOT_TOKEN",
        &["../x", "a b", "x\ny", "", long.as_str()],
        "auth-hook: error: invalid certbot environment, nothing was sent: CERTBOT_TOKEN",
    );
}

#[test]
fn hostile_domains_never_reach_the_server() {
    assert_refused_before_sending(
        BIN,
        "baddomain",
        "CERTBOT_DOMAIN",
        &[
            "a.com/x?",
            "u@evil.com",
            "-a.com",
            "a.com\r\nX-Injected: 1",
            "a.com\n",
            "*.example.test",
        ],
        "invalid certbot environment, nothing was sent: the identifier",
    );
}

#[test]
fn a_missing_token_means_dns01_and_says_to_use_http01() {
    let (_dir, key) = keyed_dir("notoken");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run(
        BIN,
        &args(site.port(), &key, 5, &[]),
        &certbot_env_with("CERTBOT_TOKEN", None),
    );
    out.assert_failure();
    assert_eq!(
        out.stderr,
        "auth-hook: error: invalid certbot environment, nothing was sent: CERTBOT_TOKEN is not set: \
         certbot is running a challenge other than HTTP-01 (DNS-01, as for a wildcard name?). These \
         hooks support only HTTP-01: pass --preferred-challenges http to certbot\n"
    );
    assert_eq!(site.count(), 0);
}

#[test]
fn a_malformed_validation_never_reaches_the_server() {
    assert_refused_before_sending(
        BIN,
        "badvalidation",
        "CERTBOT_VALIDATION",
        &[
            "nodot",
            "other.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ",
            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.short",
        ],
        "nothing was sent: CERTBOT_VALIDATION",
    );
}

#[test]
fn keys_readable_by_group_or_others_are_refused_with_chmod_advice() {
    let (_dir, key) = keyed_dir("keymode");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = auth_hook(site.port(), &key, 5, &[]);
        out.assert_failure();
        assert_eq!(
            out.stderr,
            format!(
                "auth-hook: error: private key {path} is accessible by group or others (mode {mode:04o}), so it \
                 is refused, as OpenSSH refuses such keys: run 'chmod 600 {path}'\n",
                path = key.display()
            )
        );
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn a_missing_key_is_named_and_nothing_is_sent() {
    let dir = temp_dir("nokey");
    let missing = dir.join("absent.pem");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = auth_hook(site.port(), &missing, 5, &[]);
    out.assert_failure();
    out.assert_stderr_contains(&format!(
        "auth-hook: error: private key {}: it does not exist",
        missing.display()
    ));
    out.assert_stderr_contains("auth-hook keygen --key-file PATH");
    assert_eq!(site.count(), 0);
}

#[test]
fn encrypted_and_ec_keys_are_named_and_nothing_is_sent() {
    let dir = temp_dir("badkeys");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "ec.pem",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            "it is an EC key",
        ),
        (
            "enc.pem",
            &[
                "genpkey",
                "-algorithm",
                "ED25519",
                "-aes-128-cbc",
                "-pass",
                "pass:secret",
            ],
            "it is encrypted with a passphrase",
        ),
    ];
    for (name, openssl_args, message) in cases {
        let path = dir.join(name);
        let status = std::process::Command::new("openssl")
            .args(openssl_args)
            .arg("-out")
            .arg(&path)
            .status()
            .expect("openssl is needed for this test");
        assert!(status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = auth_hook(site.port(), &path, 5, &[]);
        out.assert_failure();
        out.assert_stderr_contains(&format!(
            "private key {} cannot be used\n  caused by: {message}",
            path.display()
        ));
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn keygen_writes_a_0600_key_prints_the_public_key_and_how_to_register_it() {
    let dir = temp_dir("keygen");
    let path = dir.join("new.pem");
    let out = run(BIN, &key_command("keygen", &path), &[]);
    out.assert_success();
    assert!(
        out.stdout.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("PRIVATE"));
    out.assert_stderr_contains(
        "python manage.py certbot_client certbot --public-key-file certbot.pub",
    );
    out.assert_stderr_contains("/admin/asymmetric_jwt_auth/publickey/add/");
    assert!(!out.stderr.contains("PRIVATE KEY-----"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let again = run(BIN, &key_command("public-key", &path), &[]);
    again.assert_success();
    assert_eq!(again.stdout, out.stdout);

    let before = std::fs::read(&path).unwrap();
    let refused = run(BIN, &key_command("keygen", &path), &[]);
    refused.assert_failure();
    refused.assert_stderr_contains("already exists, and keygen never overwrites a key");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn keygen_makes_rsa_keys_on_request() {
    let dir = temp_dir("keygenrsa");
    let path = dir.join("rsa.pem");
    let args: Vec<String> = [
        "keygen",
        "--key-type",
        "rsa",
        "--rsa-bits",
        "2048",
        "--key-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.display().to_string()])
    .collect();
    run(BIN, &args, &[]).assert_success();
    let key = certbot_django_hooks::load_key_file(&path).unwrap();
    assert_eq!(key.key_type(), certbot_django_hooks::KeyType::Rsa);
}

#[test]
fn a_config_file_supplies_settings_and_a_bad_value_names_file_and_key() {
    let dir = temp_dir("config");
    // key.pem in the same directory, named relatively by the config file.
    let _key = key_file(&dir);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let config = dir.join("hooks.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"http://{{domain}}:{port}\"\nself_check_url = \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\nkey_file = \"key.pem\"\nresolve = [\"*:127.0.0.1\"]\ntimeout = 5\n",
            port = site.port()
        ),
    )
    .unwrap();
    let out = run(
        BIN,
        &["--config".into(), config.display().to_string()],
        &certbot_env(),
    );
    out.assert_success();

    // The same through the environment variable.
    let config_str = config.display().to_string();
    let mut env = certbot_env();
    env.push(("CERTBOT_DJANGO_CONFIG", &config_str));
    run(BIN, &[], &env).assert_success();

    std::fs::write(&config, "timeout = 99999\n").unwrap();
    let out = run(
        BIN,
        &["--config".into(), config.display().to_string()],
        &certbot_env(),
    );
    out.assert_failure();
    assert_eq!(
        out.stderr,
        format!(
            "auth-hook: error: config file {}, key 'timeout': 99999 seconds is out of range: use 1 to 3600\n",
            config.display()
        )
    );
}

#[test]
fn help_names_every_option_and_where_it_comes_from() {
    let out = run(BIN, &["--help".into()], &[]);
    out.assert_success();
    for needle in [
        "--server <URL>",
        "[env: CERTBOT_DJANGO_SERVER=]",
        "[env: CERTBOT_DJANGO_USERNAME=]",
        "[env: CERTBOT_DJANGO_KEY_FILE=]",
        "[env: CERTBOT_DJANGO_KEY_DIRECTORY=]",
        "[env: CERTBOT_DJANGO_CONFIG=]",
        "--ca-bundle <PEM>",
        "--timeout <SECONDS>",
        "--self-check-url <TEMPLATE>",
        "--resolve <HOST:ADDR>",
        "--no-self-check",
        "Config key: server",
        "keygen",
        "public-key",
    ] {
        assert!(
            out.stdout.contains(needle),
            "--help lacks {needle:?}:\n{}",
            out.stdout
        );
    }
}

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

#[test]
fn plain_http_to_a_host_that_is_not_this_machine_warns_once_unless_quiet() {
    let (_dir, key) = keyed_dir("plainwarn");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    // example.test resolves to this machine first, but also to an outside address.
    let mut a = args(site.port(), &key, 10, &[]);
    let at = a.iter().position(|x| x == "--resolve").unwrap();
    a[at + 1] = format!("{DOMAIN}:127.0.0.1,192.0.2.1");
    // The self-check fetches through every address, so aim it at this machine only.
    let at = a.iter().position(|x| x == "--self-check-url").unwrap();
    a[at + 1] = format!(
        "http://127.0.0.1:{}/.well-known/acme-challenge/{{token}}",
        site.port()
    );
    let out = run(BIN, &a, &certbot_env());
    out.assert_success();
    assert_eq!(
        out.stderr,
        format!(
            "auth-hook: warning: http://{DOMAIN}:{}/ is plain http to a host that is not this machine: the \
             signed request crosses the network in clear (use https:// in --server)\n",
            site.port()
        )
    );
    a.push("-q".into());
    let quiet = run(BIN, &a, &certbot_env());
    quiet.assert_success();
    assert_eq!(quiet.stderr, "");
}

#[test]
fn the_usual_proxy_variables_are_honoured() {
    let (_dir, key) = keyed_dir("proxy");
    // The proxy is a scripted server: it sees absolute-form request targets.
    let proxy = TestServer::start(|req, _| match req.method.as_str() {
        "POST" => Reply::text(201, "created"),
        _ => Reply::text(200, VALIDATION),
    });
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let mut env = certbot_env();
    env.push(("http_proxy", &proxy_url));
    let a: Vec<String> = ["--server", "http://site.test", "--key-file"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            key.display().to_string(),
            "--timeout".into(),
            "5".into(),
            "-q".into(),
        ])
        .collect();
    let out = run(BIN, &a, &env);
    out.assert_success();
    let paths: Vec<String> = proxy.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "http://site.test/.well-known/challenges/".to_string(),
            format!("http://{DOMAIN}/.well-known/acme-challenge/{TOKEN}")
        ]
    );
}
