//! Issue 13, through the built hook: readiness the CA will agree with. The self-check fetches
//! through every address of the name (several loopback addresses, IPv4 and IPv6, one server
//! each) and from every node, by the CA's rules; and a failing auth hook stops certbot (here a
//! stand-in Python process named certbot) before it asks the CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, Store, TOKEN, TestDir, TestServer, VALIDATION, certbot_env,
    fake_site_at, key_file, keyed_dir, refuse_without_jwt, run, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");
const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// Hook arguments: the API at `api.test` on 127.0.0.1 port `port`, the self-check of
/// `example.test` on the same port through `addrs` (one `--resolve` rule each), plus `extra`.
fn args(port: u16, key: &Path, timeout: u64, addrs: &[&str], extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--server".into(),
        format!("http://api.test:{port}"),
        "--resolve".into(),
        "api.test:127.0.0.1".into(),
        "--self-check-url".into(),
        format!("http://{DOMAIN}:{port}/.well-known/acme-challenge/{{token}}"),
        "--key-file".into(),
        key.display().to_string(),
        "--timeout".into(),
        timeout.to_string(),
    ];
    for addr in addrs {
        a.extend(["--resolve".into(), format!("{DOMAIN}:{addr}")]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn auth_hook(port: u16, key: &Path, timeout: u64, addrs: &[&str], extra: &[&str]) -> Outcome {
    run(BIN, &args(port, key, timeout, addrs, extra), &certbot_env())
}

/// A server that answers every challenge GET with 404: a node without the app.
fn not_serving(addr: &str) -> TestServer {
    TestServer::start_at(addr, |_, _| Reply::text(404, "Not Found"))
}

fn challenge_gets(server: &TestServer) -> Vec<hook_test_support::Request> {
    server
        .with_method("GET")
        .into_iter()
        .filter(|r| r.path.starts_with(CHALLENGE_PATH))
        .collect()
}

#[test]
fn a_name_with_two_addresses_one_answering_404_fails_naming_that_address() {
    let (_dir, key) = keyed_dir("ready-two-v4");
    let good = fake_site_at("127.0.0.1:0", &Store::default(), Serving::AtOnce, |_, _| {
        None
    });
    let port = good.port();
    let bad = not_serving(&format!("127.0.0.2:{port}"));
    let out = auth_hook(port, &key, 3, &["127.0.0.1", "127.0.0.2"], &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(&format!(
        "auth-hook: error: self-check failed: http://{DOMAIN}:{port}/.well-known/acme-challenge/{TOKEN} did not serve the challenge within"
    ));
    out.assert_stderr_contains("it last answered: via 127.0.0.2 (IPv4): 404 Not Found");
    out.assert_stderr_contains("tries IPv6 first");
    out.assert_stderr_contains("so every address must serve the challenge");
    assert!(
        !out.stderr.contains("via 127.0.0.1"),
        "the serving address is not blamed: {}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    // Each address was asked with the name's Host, as the CA asks.
    for server in [&good, &bad] {
        let gets = challenge_gets(server);
        assert!(!gets.is_empty());
        assert_eq!(
            gets[0].header("host"),
            Some(format!("{DOMAIN}:{port}").as_str())
        );
    }
}

#[test]
fn a_bad_ipv6_address_fails_naming_ipv6_and_that_the_ca_tries_it_first() {
    let (_dir, key) = keyed_dir("ready-v6");
    let good = fake_site_at("127.0.0.1:0", &Store::default(), Serving::AtOnce, |_, _| {
        None
    });
    let port = good.port();
    let _bad = not_serving(&format!("[::1]:{port}"));
    let out = auth_hook(port, &key, 3, &["127.0.0.1", "::1"], &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains("it last answered: via ::1 (IPv6): 404 Not Found");
    out.assert_stderr_contains(
        "tries IPv6 first, falling back to IPv4 only when the IPv6 connection fails",
    );
    out.assert_stderr_contains(
        "An IPv6 address (AAAA record) that answers wrongly fails the validation even when every \
         IPv4 address serves it.",
    );
}

#[test]
fn every_address_serving_passes_with_one_line_each_ipv6_first() {
    let (_dir, key) = keyed_dir("ready-all");
    let db = Store::default();
    let a = fake_site_at("127.0.0.1:0", &db, Serving::AtOnce, |_, _| None);
    let port = a.port();
    let b = fake_site_at(
        &format!("127.0.0.2:{port}"),
        &db,
        Serving::AtOnce,
        |_, _| None,
    );
    let c = fake_site_at(&format!("[::1]:{port}"), &db, Serving::AtOnce, |_, _| None);
    let out = auth_hook(port, &key, 10, &["127.0.0.1", "127.0.0.2,::1"], &[]);
    out.assert_success().assert_no_jwt();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(lines[0].ends_with(" and served"), "{}", lines[0]);
    for (line, via) in lines[1..]
        .iter()
        .zip(["::1 (IPv6)", "127.0.0.1 (IPv4)", "127.0.0.2 (IPv4)"])
    {
        assert!(
            line.starts_with(&format!("  via {via}: served (")),
            "{line}"
        );
    }
    assert_eq!(out.stderr, "", "nothing on stderr at normal verbosity");
    for server in [&a, &b, &c] {
        assert_eq!(challenge_gets(server).len(), 1);
    }
}

/// Three app servers: the first two share the API's database, the third has its own.
struct Nodes {
    api: TestServer,
    shared: TestServer,
    own_db: TestServer,
}

fn nodes() -> Nodes {
    let db = Store::default();
    let api = fake_site_at("127.0.0.1:0", &db, Serving::AtOnce, |req, _| {
        refuse_without_jwt(req)
    });
    let shared = fake_site_at("127.0.0.2:0", &db, Serving::AtOnce, |_, _| None);
    let own_db = fake_site_at("127.0.0.3:0", &Store::default(), Serving::AtOnce, |_, _| {
        None
    });
    Nodes {
        api,
        shared,
        own_db,
    }
}

#[test]
fn a_node_with_its_own_database_fails_naming_that_node() {
    let (_dir, key) = keyed_dir("ready-nodes");
    let n = nodes();
    let port = n.api.port();
    let shared = format!("127.0.0.2:{}", n.shared.port());
    let own = format!("127.0.0.3:{}", n.own_db.port());
    let extra = ["--self-check-node", &shared, "--self-check-node", &own];
    let out = auth_hook(port, &key, 3, &["127.0.0.1"], &extra);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(&format!("it last answered: via node {own}: 404 Not Found"));
    out.assert_stderr_contains("uses a database of its own");
    assert!(
        !out.stderr.contains(&format!("node {shared}")),
        "{}",
        out.stderr
    );
    // Nodes are fetched directly, over plain http, with the name's Host.
    let gets = challenge_gets(&n.own_db);
    assert_eq!(
        gets[0].header("host"),
        Some(format!("{DOMAIN}:{port}").as_str())
    );
    assert_eq!(gets[0].path, format!("{CHALLENGE_PATH}{TOKEN}"));

    // Without the third node, the same setup passes, one line per address and node.
    let out = auth_hook(port, &key, 5, &["127.0.0.1"], &extra[..2]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("  via 127.0.0.1 (IPv4): served"));
    assert!(lines[1].starts_with(&format!("  via node {shared}: served")));
}

#[test]
fn check_runs_the_same_per_address_and_per_node_checks_with_the_same_lines() {
    let (dir, key) = keyed_dir("ready-check");
    let n = nodes();
    let port = n.api.port();
    let shared = format!("127.0.0.2:{}", n.shared.port());
    let own = format!("127.0.0.3:{}", n.own_db.port());
    // The nodes from the config file this time.
    let config = dir.join("hooks.toml");
    std::fs::write(
        &config,
        format!("self_check_nodes = [\"{shared}\"]\non_failure = \"exit\"\n"),
    )
    .unwrap();
    let check = |config: &Path| {
        let mut a = vec![
            "check".to_string(),
            "--domain".into(),
            DOMAIN.into(),
            "--config".into(),
            config.display().to_string(),
        ];
        a.extend(args(port, &key, 5, &["127.0.0.1"], &[]));
        run(BIN, &a, &[])
    };
    let out = check(&config);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[4].starts_with("self-check: ok ("), "{}", out.stdout);
    assert!(lines[5].starts_with("  via 127.0.0.1 (IPv4): served ("));
    assert!(lines[6].starts_with(&format!("  via node {shared}: served (")));
    assert!(lines[7].starts_with("delete: ok"), "{}", out.stdout);

    std::fs::write(
        &config,
        format!("self_check_nodes = [\"{shared}\", \"{own}\"]\n"),
    )
    .unwrap();
    let out = check(&config);
    out.assert_failure();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("self-check: "))
        .unwrap();
    assert!(
        line.starts_with("self-check: failed: self-check failed: ")
            && line.contains(&format!("via node {own}: 404 Not Found")),
        "{line}"
    );
    assert!(out.stdout.contains("delete: ok (probe removed)"));
}

/// A site on 127.0.0.1 whose challenge URL answers with `first`, then `/r/N` as `hop(N)`.
fn scripted(
    first: impl Fn(u16) -> Reply + Send + Sync + 'static,
    hop: impl Fn(u16, usize) -> Reply + Send + Sync + 'static,
) -> TestServer {
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let p = std::sync::Arc::clone(&port);
    let server = fake_site_at(
        "127.0.0.1:0",
        &Store::default(),
        Serving::AtOnce,
        move |req, _| {
            let port = p.load(std::sync::atomic::Ordering::SeqCst);
            if req.method != "GET" {
                return None;
            }
            if req.path.starts_with(CHALLENGE_PATH) {
                return Some(first(port));
            }
            let n = req.path.strip_prefix("/r/")?.parse().ok()?;
            Some(hop(port, n))
        },
    );
    port.store(server.port(), std::sync::atomic::Ordering::SeqCst);
    server
}

fn run_against(server: &TestServer, test: &str, timeout: u64) -> Outcome {
    let (_dir, key) = keyed_dir(test);
    auth_hook(server.port(), &key, timeout, &["127.0.0.1"], &[])
}

#[test]
fn a_redirect_to_port_8080_fails_with_the_cas_reason() {
    let server = scripted(
        |_| Reply::status(302).header("Location", &format!("http://{DOMAIN}:8080/x")),
        |_, _| Reply::text(200, VALIDATION),
    );
    let out = run_against(&server, "ready-8080", 2);
    out.assert_failure();
    out.assert_stderr_contains(&format!(
        "302 Found redirecting to http://{DOMAIN}:8080/x, which the CA will not follow: Invalid \
         port in redirect target. Only ports 80 and 443 are supported, not 8080 (the CA's words)"
    ));
}

#[test]
fn ten_redirects_are_followed_and_the_eleventh_fails_as_too_many() {
    let redirects = |total: usize| {
        scripted(
            |port| Reply::status(301).header("Location", &format!("http://{DOMAIN}:{port}/r/1")),
            move |port, n| {
                if n < total {
                    let status = [302, 307, 308][n % 3];
                    Reply::status(status)
                        .header("Location", &format!("http://{DOMAIN}:{port}/r/{}", n + 1))
                } else {
                    Reply::text(200, VALIDATION)
                }
            },
        )
    };
    run_against(&redirects(10), "ready-10-redirects", 5).assert_success();
    let server = redirects(11);
    let out = run_against(&server, "ready-11-redirects", 2);
    out.assert_failure();
    out.assert_stderr_contains("more than 10 redirects (the last to http://example.test:");
    out.assert_stderr_contains("the CA gives up there with \"Too many redirects\"");
    assert!(
        !server.requests().iter().any(|r| r.path == "/r/11"),
        "the 11th redirect was not followed"
    );
}

#[test]
fn a_redirect_from_a_public_name_to_a_reserved_ipv6_address_is_not_followed() {
    let (_dir, key) = keyed_dir("ready-reserved");
    // A proxy stands in for the internet: the self-check starts from a public address (from
    // --resolve, never connected to) and is answered here.
    let proxy = TestServer::start(|req, _| {
        if req.method == "POST" {
            return Reply::text(201, "created");
        }
        if req.path.starts_with(&format!("http://{DOMAIN}/")) {
            return Reply::status(307).header("Location", "http://[fd00::1]/x");
        }
        Reply::text(200, VALIDATION)
    });
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let mut env = certbot_env();
    env.push(("http_proxy", &proxy_url));
    let a: Vec<String> = [
        "--server",
        "http://site.test",
        "--timeout",
        "2",
        "--resolve",
        "example.test:93.184.215.14",
        "--key-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([key.display().to_string()])
    .collect();
    let out = run(BIN, &a, &env);
    out.assert_failure();
    out.assert_stderr_contains(
        "307 Temporary Redirect redirecting to http://[fd00::1]/x, which the CA will not follow: \
         fd00::1 is a unique local (private) address (RFC 4193), and Let's Encrypt refuses",
    );
    out.assert_stderr_contains("(via 93.184.215.14 (IPv4))");
    assert!(proxy.requests().iter().all(|r| !r.path.contains("fd00")));
}

#[test]
fn a_204_or_a_303_fails_as_the_ca_accepts_only_200_and_four_redirect_codes() {
    let server = scripted(|_| Reply::status(204), |_, _| Reply::status(204));
    let out = run_against(&server, "ready-204", 2);
    out.assert_failure();
    out.assert_stderr_contains("it last answered: 204 No Content (the CA accepts only 200)");

    let server = scripted(
        |port| Reply::status(303).header("Location", &format!("http://{DOMAIN}:{port}/r/1")),
        |_, _| Reply::text(200, VALIDATION),
    );
    let out = run_against(&server, "ready-303", 2);
    out.assert_failure();
    out.assert_stderr_contains(
        "which the CA will not follow: the CA follows only 301, 302, 307 and 308 redirects",
    );
}

#[test]
fn a_body_with_trailing_whitespace_passes_as_the_ca_trims_it() {
    let server = scripted(
        |_| Reply::text(200, &format!("{VALIDATION}   \r\n\t \n")),
        |_, _| Reply::status(404),
    );
    run_against(&server, "ready-trailing", 5).assert_success();
    let server = scripted(
        |_| Reply::text(200, &format!("  {VALIDATION}")),
        |_, _| Reply::status(404),
    );
    let out = run_against(&server, "ready-leading", 2);
    out.assert_failure();
    out.assert_stderr_contains("200 OK with a different body");
}

#[test]
fn ip_address_identifiers_work_with_ipv4_and_bracketed_ipv6_urls() {
    let (_dir, key) = keyed_dir("ready-ip");
    for (ident, bind, url_host, via) in [
        ("127.0.0.1", "127.0.0.1:0", "127.0.0.1", "127.0.0.1 (IPv4)"),
        ("::1", "[::1]:0", "[::1]", "::1 (IPv6)"),
    ] {
        let site = fake_site_at(bind, &Store::default(), Serving::AtOnce, |_, _| None);
        let port = site.port();
        let a: Vec<String> = vec![
            "--server".into(),
            format!("http://{{domain}}:{port}"),
            "--self-check-url".into(),
            format!("http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}"),
            "--key-file".into(),
            key.display().to_string(),
            "--timeout".into(),
            "5".into(),
        ];
        let env = [
            ("CERTBOT_IDENTIFIER", ident),
            ("CERTBOT_TOKEN", TOKEN),
            ("CERTBOT_VALIDATION", VALIDATION),
        ];
        let out = run(BIN, &a, &env);
        out.assert_success().assert_no_jwt();
        let mut lines = out.stdout.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("challenge {TOKEN} for {ident} stored at http://{url_host}:{port}/ and served")
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with(&format!("  via {via}: served")),
            "{}",
            out.stdout
        );
        let posts = site.with_method("POST");
        assert_eq!(posts[0].form()["domain"], ident);
        assert_eq!(
            challenge_gets(&site)[0].header("host"),
            Some(format!("{url_host}:{port}").as_str())
        );
    }
}

/// A stand-in for certbot: a Python script named `certbot` that runs the hook line through
/// `/bin/sh -c` and keeps `letsencrypt.log` open, as certbot does, and handles signals as
/// certbot's error handler does: SIGTERM always, SIGINT, SIGHUP and SIGQUIT unless ignored at
/// start; a signal interrupts the hook's run (`subprocess.run` then kills the shell) and the
/// stand-in exits. `FAKE_IGNORE` names signals ignored at start, `FAKE_BLOCK=1` blocks all four.
/// It prints `signals: [...]` and the hook's exit status, or `stopped`.
const FAKE_CERTBOT: &str = r#"
import os, signal, subprocess, sys
got = []
class Stop(Exception):
    pass
def handler(signum, frame):
    got.append(signal.Signals(signum).name)
    raise Stop()
four = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]
for name in os.environ.get("FAKE_IGNORE", "").split():
    signal.signal(signal.Signals[name], signal.SIG_IGN)
for s in four:
    if s == signal.SIGTERM or signal.getsignal(s) != signal.SIG_IGN:
        signal.signal(s, handler)
if os.environ.get("FAKE_BLOCK"):
    signal.pthread_sigmask(signal.SIG_BLOCK, four)
log = open(os.path.join(os.path.dirname(__file__), "letsencrypt.log"), "a")
env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_")}
try:
    proc = subprocess.run(sys.argv[-1], shell=True, env=env, capture_output=True, text=True)
    print("hook exit:", proc.returncode)
    print("hook stderr:", proc.stderr.replace("\n", " | "))
except Stop:
    print("stopped")
print("signals:", got)
"#;

struct FakeCertbot {
    dir: TestDir,
    hook: PathBuf,
    key: PathBuf,
}

impl FakeCertbot {
    /// The hook is linked under a directory named `certbot-hooks`, so the shell's command line
    /// contains "certbot", which must not make it look like certbot.
    fn new(test: &str) -> Self {
        let dir = temp_dir(test);
        std::fs::write(dir.join("certbot"), FAKE_CERTBOT).unwrap();
        let hooks = dir.join("certbot-hooks");
        std::fs::create_dir(&hooks).unwrap();
        let hook = hooks.join("auth-hook");
        std::os::unix::fs::symlink(BIN, &hook).unwrap();
        let key = key_file(&dir);
        FakeCertbot { dir, hook, key }
    }

    /// Runs `python3 DIR/certbot VERB... "HOOK ARGS || exit $?"` (the `||` keeps the shell
    /// between certbot and the hook, as when dash does not exec the hook in its place).
    fn run(&self, verb: &[&str], hook_args: &[String]) -> (String, String) {
        self.run_with(verb, hook_args, &[])
    }

    /// [`FakeCertbot::run`] with `FAKE_*` settings for the stand-in.
    fn run_with(
        &self,
        verb: &[&str],
        hook_args: &[String],
        fake: &[(&str, &str)],
    ) -> (String, String) {
        let line = format!("{} {} || exit $?", self.hook.display(), hook_args.join(" "));
        let out = Command::new("python3")
            .arg(self.dir.join("certbot"))
            .args(verb)
            .arg(line)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(certbot_env())
            .envs(fake.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("python3 is needed for this test");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("letsencrypt.log")).unwrap_or_default()
    }
}

#[test]
fn a_failing_hook_under_certbot_certonly_deletes_its_challenge_reports_and_stops_certbot() {
    let certbot = FakeCertbot::new("ready-stop");
    let site = fake_site_at("127.0.0.1:0", &Store::default(), Serving::Never, |_, _| {
        None
    });
    let hook_args = args(site.port(), &certbot.key, 2, &["127.0.0.1"], &[]);
    let (stdout, stderr) = certbot.run(&["certonly"], &hook_args);
    assert!(stdout.contains("stopped"), "{stdout}\n{stderr}");
    assert!(stdout.contains("signals: ['SIGINT']"), "{stdout}\n{stderr}");
    // The reason reached certbot's own stderr and its log, before the signal, and the
    // verdict after it, once the stand-in had exited.
    for (what, text) in [("stderr", &stderr), ("log", &certbot.log())] {
        assert!(
            text.contains("auth-hook: error: self-check failed: ")
                && text.contains(&format!("auth-hook: deleted its challenge {TOKEN} again"))
                && text.contains("auth-hook: sending certbot (pid ")
                && text.contains("--on-failure auto")
                && text.contains("exited on SIGINT while this hook was still running"),
            "certbot's {what}:\n{text}"
        );
        assert!(!text.contains("eyJ"), "{text}");
    }
    let deletes = site.with_method("DELETE");
    assert_eq!(deletes.len(), 1, "the hook deleted its own challenge");
    assert_eq!(deletes[0].path, format!("/.well-known/challenges/{TOKEN}/"));
}

#[test]
fn a_certbot_ignoring_sigint_as_a_background_job_does_is_stopped_with_sigterm() {
    let certbot = FakeCertbot::new("ready-stop-term");
    let site = fake_site_at("127.0.0.1:0", &Store::default(), Serving::Never, |_, _| {
        None
    });
    let hook_args = args(site.port(), &certbot.key, 2, &["127.0.0.1"], &[]);
    let (stdout, stderr) = certbot.run_with(
        &["certonly"],
        &hook_args,
        &[("FAKE_IGNORE", "SIGINT SIGQUIT")],
    );
    assert!(
        stdout.contains("signals: ['SIGTERM']"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("exited on SIGTERM while this hook was still running"),
        "{stderr}"
    );
}

#[test]
fn a_certbot_that_blocks_every_stop_signal_is_not_signalled_and_the_hook_says_the_ca_will_validate()
{
    let certbot = FakeCertbot::new("ready-unstoppable");
    let site = fake_site_at("127.0.0.1:0", &Store::default(), Serving::Never, |_, _| {
        None
    });
    let hook_args = args(site.port(), &certbot.key, 2, &["127.0.0.1"], &[]);
    let (stdout, stderr) = certbot.run_with(&["certonly"], &hook_args, &[("FAKE_BLOCK", "1")]);
    assert!(stdout.contains("signals: []"), "{stdout}\n{stderr}");
    assert!(stdout.contains("hook exit: 1"), "{stdout}");
    assert!(
        stderr.contains("blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT, so it cannot be stopped: the CA will now validate example.test and fail"),
        "{stderr}"
    );
    assert!(!stderr.contains("sending certbot"), "{stderr}");
}

#[test]
fn under_certbot_renew_a_failing_hook_only_exits_so_other_certificates_still_renew() {
    let certbot = FakeCertbot::new("ready-renew");
    let site = fake_site_at("127.0.0.1:0", &Store::default(), Serving::Never, |_, _| {
        None
    });
    let hook_args = args(site.port(), &certbot.key, 2, &["127.0.0.1"], &[]);
    let (stdout, _) = certbot.run(&["renew"], &hook_args);
    assert!(stdout.contains("signals: []"), "{stdout}");
    assert!(stdout.contains("hook exit: 1"), "{stdout}");
    assert!(
        stdout.contains("certbot will still ask the CA to validate, which will fail (--on-failure auto, which is exit under 'certbot renew'"),
        "{stdout}"
    );
    assert_eq!(
        site.with_method("DELETE").len(),
        0,
        "certbot's cleanup hook deletes it"
    );

    // --on-failure stop-certbot stops even a renewal; exit never stops certonly.
    let mut stop = hook_args.clone();
    stop.extend(["--on-failure".into(), "stop-certbot".into()]);
    let (stdout, _) = certbot.run(&["renew"], &stop);
    assert!(stdout.contains("signals: ['SIGINT']"), "{stdout}");
    assert!(stdout.contains("stopped"), "{stdout}");
    let mut exit = hook_args;
    exit.extend(["--on-failure".into(), "exit".into()]);
    let (stdout, _) = certbot.run(&["certonly"], &exit);
    assert!(stdout.contains("signals: []"), "{stdout}");
}
