//! uacme-hook through the built binary, called as `uacme -h` calls it (METHOD TYPE IDENT TOKEN
//! AUTH), against the scripted local site. The settings come from the config file
//! CERTBOT_DJANGO_CONFIG names, as uacme passes no options.

use std::path::Path;
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, TOKEN, VALIDATION, config_file, fake_site, run,
};

const BIN: &str = env!("CARGO_BIN_EXE_uacme-hook");

/// `METHOD TYPE IDENT TOKEN AUTH` as uacme runs it, with the variables uacme sets too.
fn uacme(config: &Path, method: &str, kind: &str, ident: &str, token: &str, auth: &str) -> Outcome {
    let args: Vec<String> = [method, kind, ident, token, auth]
        .map(String::from)
        .to_vec();
    let config = config.display().to_string();
    run(
        BIN,
        &args,
        &[
            ("CERTBOT_DJANGO_CONFIG", &config),
            ("UACME_METHOD", method),
            ("UACME_TYPE", kind),
            ("UACME_IDENT", ident),
            ("UACME_TOKEN", token),
            ("UACME_AUTH", auth),
        ],
    )
}

#[test]
fn begin_pushes_and_waits_until_served_and_done_or_failed_deletes() {
    let site = fake_site(Serving::After(Duration::from_millis(300)), |_, _| None);
    let (_dir, config) = config_file("uacme-begin", site.port(), 10);
    let begin = uacme(&config, "begin", "http-01", DOMAIN, TOKEN, VALIDATION);
    begin.assert_success().assert_no_jwt();
    assert_eq!(
        (begin.stdout.as_str(), begin.stderr.as_str()),
        ("", ""),
        "quiet on success, as uacme is"
    );
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 1);
    let form = posts[0].form();
    assert_eq!(
        (form["challenge"].as_str(), form["response"].as_str()),
        (TOKEN, VALIDATION)
    );
    assert!(site.with_method("GET").len() >= 2, "the self-check waited");

    for method in ["done", "failed"] {
        let out = uacme(&config, method, "http-01", DOMAIN, TOKEN, VALIDATION);
        out.assert_success().assert_no_jwt();
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    }
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 2, "the second finds it gone, which is fine");
    assert!(
        deletes
            .iter()
            .all(|r| r.path == format!("/.well-known/challenges/{TOKEN}/"))
    );
}

#[test]
fn other_challenge_types_are_declined_silently_with_a_non_zero_exit_and_nothing_sent() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (_dir, config) = config_file("uacme-decline", site.port(), 5);
    let digest = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
    for (method, kind) in [
        ("begin", "dns-01"),
        ("begin", "tls-alpn-01"),
        ("begin", "http-02"),
        ("done", "dns-01"),
    ] {
        for config in [config.as_path(), Path::new("/nonexistent/hooks.toml")] {
            let out = uacme(config, method, kind, DOMAIN, TOKEN, digest);
            assert_eq!(out.status.code(), Some(1), "{method} {kind}");
            assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
        }
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn bad_arguments_are_refused_before_anything_is_sent() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (_dir, config) = config_file("uacme-bad", site.port(), 5);
    for (method, ident, token, auth, message) in [
        (
            "begin",
            DOMAIN,
            "../x",
            VALIDATION,
            "uacme-hook: error: invalid begin arguments, nothing was sent: TOKEN \"../x\" is \
             invalid: ",
        ),
        (
            "done",
            "a.example\r\nHost: evil",
            TOKEN,
            VALIDATION,
            "uacme-hook: error: invalid done arguments, nothing was sent: IDENT \"a.example\\r\\n",
        ),
        (
            "begin",
            DOMAIN,
            TOKEN,
            "other.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ",
            "uacme-hook: error: invalid begin arguments, nothing was sent: AUTH \"other.",
        ),
        (
            "start",
            DOMAIN,
            TOKEN,
            VALIDATION,
            "uacme-hook: error: invalid uacme hook arguments, nothing was sent: METHOD \"start\" \
             is not begin, done or failed",
        ),
    ] {
        let out = uacme(&config, method, "http-01", ident, token, auth);
        out.assert_failure().assert_stderr_contains(message);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    // Not the five arguments uacme always passes: clap's usage error.
    let out = run(BIN, &["begin".into(), "http-01".into(), DOMAIN.into()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("<METHOD> <TYPE> <IDENT> <TOKEN> <AUTH>"),
        "{}",
        out.stderr
    );
    assert_eq!(site.count(), 0);
}

#[test]
fn a_begin_that_fails_after_storing_deletes_it_since_uacme_will_not_call_failed() {
    let site = fake_site(Serving::Never, |_, _| None);
    let (_dir, config) = config_file("uacme-rollback", site.port(), 2);
    let out = uacme(&config, "begin", "http-01", DOMAIN, TOKEN, VALIDATION);
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(2 * 2));
    out.assert_stderr_contains(&format!(
        "uacme-hook: error: self-check failed: http://{DOMAIN}:{}/.well-known/acme-challenge/{TOKEN} \
         did not serve the challenge within ",
        site.port()
    ));
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].path, format!("/.well-known/challenges/{TOKEN}/"));
}

#[test]
fn without_certbot_django_config_the_default_path_is_named_with_the_fix() {
    let args: Vec<String> = ["begin", "http-01", DOMAIN, TOKEN, VALIDATION]
        .map(String::from)
        .to_vec();
    let out = run(BIN, &args, &[]);
    out.assert_failure();
    // The machine running the tests has no such file; if it had, this would not hold.
    assert_eq!(
        out.stderr,
        "uacme-hook: error: config file /etc/ssl/uacme/django-hooks.toml: it does not exist, and \
         CERTBOT_DJANGO_CONFIG is not set: write the settings there (see \
         examples/django-hooks.toml), or name the file in CERTBOT_DJANGO_CONFIG in uacme's \
         environment\n"
    );
}

#[test]
fn an_unregistered_key_fails_naming_the_fix_and_stores_nothing() {
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method != "GET").then(|| Reply::text(401, "no valid JWT"))
    });
    let (_dir, config) = config_file("uacme-401", site.port(), 5);
    let out = uacme(&config, "begin", "http-01", DOMAIN, TOKEN, VALIDATION);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("the site answered 401 Unauthorized");
    assert_eq!(site.with_method("POST").len(), 1);
    assert_eq!(site.with_method("DELETE").len(), 0);
}
