//! auth-hook through the built binary on the happy path: the result line, `-v` and `-q`,
//! `--no-self-check`, `--help`, the plain-http warning and the proxy variables.

use std::time::Duration;

use hook_test_support::{
    DOMAIN, Reply, Serving, TOKEN, TestServer, VALIDATION, certbot_env, fake_site, hook_args_with,
    keyed_dir, run, run_hook,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn a_stored_and_served_challenge_prints_one_line_and_exits_0() {
    let (_dir, key) = keyed_dir("happy");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run_hook(BIN, site.port(), &key, 10, &[]);
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
    let out = run_hook(BIN, site.port(), &key, 10, &["-v"]);
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
    let out = run_hook(BIN, site.port(), &key, 5, &["--no-self-check", "-v"]);
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
    let out = run_hook(BIN, site.port(), &key, 5, &["--no-self-check"]);
    out.assert_success();
    assert!(
        out.stdout.ends_with("(self-check skipped)\n"),
        "{}",
        out.stdout
    );
    assert_eq!(site.with_method("GET").len(), 0);
}

#[test]
fn plain_http_to_a_host_that_is_not_this_machine_warns_once_unless_quiet() {
    let (_dir, key) = keyed_dir("plainwarn");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    // example.test resolves to this machine first, but also to an outside address.
    let mut a = hook_args_with(site.port(), &key, 10, &[]);
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

#[test]
fn help_examples_keep_each_command_line_whole_in_an_80_column_terminal() {
    for args in [vec!["--help"], vec!["check", "--help"]] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let out = run(BIN, &args, &[("COLUMNS", "80")]);
        out.assert_success();
        // The bug this pins down: `-d` at the end of one line and `example.com` on the next.
        for line in out.stdout.lines() {
            assert!(
                !line.trim_end().ends_with(" -d") && !line.trim_end().ends_with(" --domain"),
                "{args:?}: an option is cut from its value:\n{}",
                out.stdout
            );
        }
        // Each example command: its lines, joined at their trailing backslashes, form the whole
        // command, and every line but the last ends with a backslash.
        let lines: Vec<&str> = out.stdout.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("  certbot certonly") || l.starts_with("  auth-hook check"))
            .unwrap_or_else(|| panic!("{args:?}: no example:\n{}", out.stdout));
        let mut command = String::new();
        for line in &lines[start..] {
            command.push_str(line.trim().trim_end_matches('\\'));
            if !line.ends_with('\\') {
                break;
            }
        }
        let command = command.split_whitespace().collect::<Vec<_>>().join(" ");
        let expected = if args[0] == "check" {
            "auth-hook check --config /etc/letsencrypt/django-hooks.toml --domain example.com"
        } else {
            "certbot certonly --manual --preferred-challenges http --manual-auth-hook 'auth-hook \
             --config /etc/letsencrypt/django-hooks.toml' --manual-cleanup-hook 'cleanup-hook \
             --config /etc/letsencrypt/django-hooks.toml' -d example.com -d www.example.com"
        };
        assert_eq!(command, expected, "{args:?}:\n{}", out.stdout);
    }
}
