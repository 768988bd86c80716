//! dehydrated-hook through the built binary, called as dehydrated calls its HOOK, against the
//! scripted local site. The settings come from the config file CERTBOT_DJANGO_CONFIG names, as
//! dehydrated passes no options.

use std::path::Path;
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, TOKEN, VALIDATION, config_file, fake_site, run,
};

const BIN: &str = env!("CARGO_BIN_EXE_dehydrated-hook");
const THUMBPRINT: &str = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

/// `HANDLER ARGS...` as dehydrated runs it, with the environment dehydrated exports.
fn dehydrated(config: &Path, argv: &[&str]) -> Outcome {
    let args: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    let config = config.display().to_string();
    run(
        BIN,
        &args,
        &[
            ("CERTBOT_DJANGO_CONFIG", &config),
            ("CHALLENGETYPE", "http-01"),
            ("WELLKNOWN", "/var/lib/dehydrated/acme-challenges"),
        ],
    )
}

/// Three challenges for three names, as dehydrated passes them with HOOK_CHAIN=yes.
fn triplets() -> Vec<(String, String, String)> {
    ["a", "b", "c"]
        .iter()
        .map(|n| {
            let token = format!("-{n}{}", &TOKEN[2..]);
            let validation = format!("{token}.{THUMBPRINT}");
            (format!("{n}.{DOMAIN}"), token, validation)
        })
        .collect()
}

fn flat(handler: &str, triplets: &[(String, String, String)]) -> Vec<String> {
    let mut argv = vec![handler.to_string()];
    for (domain, token, validation) in triplets {
        argv.extend([domain.clone(), token.clone(), validation.clone()]);
    }
    argv
}

fn refs(argv: &[String]) -> Vec<&str> {
    argv.iter().map(String::as_str).collect()
}

#[test]
fn deploy_challenge_pushes_and_waits_until_served_then_clean_challenge_deletes() {
    let site = fake_site(Serving::After(Duration::from_millis(300)), |_, _| None);
    let (_dir, config) = config_file("dh-deploy", site.port(), 10);
    let deploy = dehydrated(&config, &["deploy_challenge", DOMAIN, TOKEN, VALIDATION]);
    deploy.assert_success().assert_no_jwt();
    assert_eq!(
        deploy.stdout,
        format!(
            "challenge {TOKEN} for {DOMAIN} stored at http://{DOMAIN}:{}/ and served\n",
            site.port()
        )
    );
    assert_eq!(deploy.stderr, "");
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 1);
    let form = posts[0].form();
    assert_eq!(
        (form["challenge"].as_str(), form["response"].as_str()),
        (TOKEN, VALIDATION)
    );
    assert!(
        site.with_method("GET").len() >= 2,
        "the self-check waited for the lagging site"
    );

    let clean = dehydrated(&config, &["clean_challenge", DOMAIN, TOKEN, VALIDATION]);
    clean.assert_success().assert_no_jwt();
    assert_eq!((clean.stdout.as_str(), clean.stderr.as_str()), ("", ""));
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].path, format!("/.well-known/challenges/{TOKEN}/"));
}

#[test]
fn hook_chain_triplets_are_each_pushed_and_each_deleted() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (_dir, config) = config_file("dh-chain", site.port(), 10);
    let triplets = triplets();
    let deploy = dehydrated(&config, &refs(&flat("deploy_challenge", &triplets)));
    deploy.assert_success().assert_no_jwt();
    assert_eq!(deploy.stdout.lines().count(), 3, "{}", deploy.stdout);
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 3);
    for (post, (domain, token, validation)) in posts.iter().zip(&triplets) {
        let form = post.form();
        assert_eq!(&form["domain"], domain);
        assert_eq!(&form["challenge"], token);
        assert_eq!(&form["response"], validation);
    }

    let clean = dehydrated(&config, &refs(&flat("clean_challenge", &triplets)));
    clean.assert_success().assert_no_jwt();
    let deleted: Vec<String> = site
        .with_method("DELETE")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let expected: Vec<String> = triplets
        .iter()
        .map(|(_, token, _)| format!("/.well-known/challenges/{token}/"))
        .collect();
    assert_eq!(deleted, expected);
}

#[test]
fn every_other_handler_exits_0_silently_without_reading_the_config_or_sending() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let missing = Path::new("/nonexistent/django-hooks.toml");
    for argv in [
        &[
            "this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script",
        ][..],
        &["startup_hook"],
        &["exit_hook", "ERROR: something failed"],
        &[
            "generate_csr",
            DOMAIN,
            "/var/lib/dehydrated/certs/x",
            DOMAIN,
        ],
        &[
            "deploy_cert",
            DOMAIN,
            "/k.pem",
            "/c.pem",
            "/f.pem",
            "/ch.pem",
            "1700000000",
        ],
        &[
            "unchanged_cert",
            DOMAIN,
            "/k.pem",
            "/c.pem",
            "/f.pem",
            "/ch.pem",
        ],
        &["invalid_challenge", DOMAIN, "{\"status\": \"invalid\"}"],
        &["request_failure", "500", "oops", "POST", "-x"],
        &[
            "sync_cert",
            "/k.pem",
            "/c.pem",
            "/f.pem",
            "/ch.pem",
            "/r.csr",
        ],
        &["deploy_ocsp", DOMAIN, "/o.der", "1700000000"],
        &["some_future_hook", "--weird", "-v"],
    ] {
        let out = dehydrated(missing, argv);
        out.assert_success();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("", ""),
            "{argv:?}"
        );
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn a_bad_argument_anywhere_in_the_chain_is_refused_before_anything_is_sent() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (_dir, config) = config_file("dh-bad", site.port(), 5);
    let good = triplets();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            {
                let mut t = good.clone();
                t[1].1 = "../x".into();
                flat("deploy_challenge", &t)
            },
            "dehydrated-hook: error: invalid deploy_challenge arguments (challenge 2 of 3), nothing \
             was sent: TOKEN_FILENAME \"../x\" is invalid: ",
        ),
        (
            {
                let mut t = good.clone();
                t[2].0 = "evil.example/x?".into();
                flat("clean_challenge", &t)
            },
            "dehydrated-hook: error: invalid clean_challenge arguments (challenge 3 of 3), nothing \
             was sent: DOMAIN \"evil.example/x?\" is invalid: ",
        ),
        (
            // dns-01's TOKEN_VALUE is a digest, not a key authorization.
            flat(
                "deploy_challenge",
                &[(DOMAIN.into(), TOKEN.into(), THUMBPRINT.into())],
            ),
            "dehydrated-hook: error: invalid deploy_challenge arguments, nothing was sent: \
             TOKEN_VALUE \"nP1q",
        ),
        (
            vec!["deploy_challenge".into(), DOMAIN.into(), TOKEN.into()],
            "dehydrated-hook: error: invalid deploy_challenge arguments, nothing was sent: \
             expected DOMAIN TOKEN_FILENAME TOKEN_VALUE, repeated for each challenge with \
             HOOK_CHAIN=yes, but got 2 argument(s)",
        ),
        (vec!["clean_challenge".into()], "but got 0 argument(s)"),
    ];
    for (argv, message) in cases {
        let out = dehydrated(&config, &refs(&argv));
        out.assert_failure().assert_stderr_contains(message);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn a_challenge_type_other_than_http_01_is_refused_with_the_fix() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (_dir, config) = config_file("dh-dns", site.port(), 5);
    let config = config.display().to_string();
    let argv: Vec<String> = ["deploy_challenge", DOMAIN, TOKEN, VALIDATION]
        .map(String::from)
        .to_vec();
    let out = run(
        BIN,
        &argv,
        &[
            ("CERTBOT_DJANGO_CONFIG", &config),
            ("CHALLENGETYPE", "dns-01"),
        ],
    );
    out.assert_failure();
    assert_eq!(
        out.stderr,
        "dehydrated-hook: error: dehydrated's CHALLENGETYPE, deploy_challenge: \"dns-01\" is not \
         supported, nothing was sent: dehydrated-hook handles only HTTP-01; set \
         CHALLENGETYPE=http-01 in dehydrated's config\n"
    );
    assert_eq!(site.count(), 0);
}

#[test]
fn without_certbot_django_config_the_default_path_is_named_with_the_fix() {
    let argv: Vec<String> = ["deploy_challenge", DOMAIN, TOKEN, VALIDATION]
        .map(String::from)
        .to_vec();
    let out = run(BIN, &argv, &[("CHALLENGETYPE", "http-01")]);
    out.assert_failure();
    // The machine running the tests has no such file; if it had, this would not hold.
    assert_eq!(
        out.stderr,
        "dehydrated-hook: error: config file /etc/dehydrated/django-hooks.toml: it does not \
         exist, and CERTBOT_DJANGO_CONFIG is not set: write the settings there (see \
         examples/django-hooks.toml), or name the file in CERTBOT_DJANGO_CONFIG in dehydrated's \
         environment\n"
    );
}

#[test]
fn a_failed_deploy_deletes_what_it_stored_since_dehydrated_will_not_clean_up() {
    // The second name never serves its challenge: the self-check of challenge 2 fails, and all three
    // pushed are deleted again.
    let second = triplets()[1].1.clone();
    let site = fake_site(Serving::AtOnce, move |req, _| {
        (req.method == "GET" && req.path.ends_with(&second)).then(|| Reply::text(404, "nope"))
    });
    let (_dir, config) = config_file("dh-rollback", site.port(), 2);
    let triplets = triplets();
    let out = dehydrated(&config, &refs(&flat("deploy_challenge", &triplets)));
    out.assert_failure()
        .assert_no_jwt()
        .assert_within(Duration::from_secs(2 * 3));
    out.assert_stderr_contains("dehydrated-hook: error: self-check failed: ");
    // Each name is its own site here (server = "http://{domain}:PORT"): three pushes, then the
    // three self-checks at once.
    assert_eq!(site.with_method("POST").len(), 3);
    let deleted: Vec<String> = site
        .with_method("DELETE")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        deleted,
        triplets
            .iter()
            .map(|(_, token, _)| format!("/.well-known/challenges/{token}/"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        out.stdout, "",
        "no challenge is reported served when one is not"
    );
}

#[test]
fn an_unregistered_key_fails_naming_the_fix_and_deletes_nothing_it_did_not_store() {
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method != "GET").then(|| Reply::text(401, "no valid JWT"))
    });
    let (_dir, config) = config_file("dh-401", site.port(), 5);
    let out = dehydrated(&config, &["deploy_challenge", DOMAIN, TOKEN, VALIDATION]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("the site answered 401 Unauthorized");
    assert_eq!(site.with_method("POST").len(), 1);
    assert_eq!(site.with_method("DELETE").len(), 0);
}
