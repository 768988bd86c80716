//! Issue 11 through the built auth-hook, against the scripted local server: a token is good for
//! one request only, a JWT never reaches stderr whatever the site echoes, the hook's own files
//! cannot hang it or be changed by others, and the self-check does not follow a redirect the CA
//! would refuse.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hook_test_support::{
    DOMAIN, Outcome, Reply, Serving, TOKEN, TestServer, VALIDATION, assert_refused_before_sending,
    body_sha256, certbot_env, fake_site, hook_args, key_file, keyed_dir, make_fifo,
    refuse_without_jwt, run, run_hook, running_as_root, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

/// A refusal of a file the hook reads must come at once, not at the deadline.
const AT_ONCE: Duration = Duration::from_secs(2);

/// The signature of the JWT in a request: what a replay would need and no message may show.
fn signature(auth: &str) -> &str {
    auth.rsplit('.').next().unwrap()
}

#[test]
fn every_push_carries_a_token_bound_to_its_method_url_and_exact_body() {
    let (_dir, key) = keyed_dir("bound-push");
    // One 503 first: the retry must carry a new token, bound to the same request.
    let site = fake_site(Serving::AtOnce, |req, earlier| {
        (req.method == "POST" && earlier.is_empty()).then(|| Reply::text(503, "busy"))
    });
    let out = run_hook(BIN, site.port(), &key, 20, &[]);
    out.assert_success().assert_no_jwt();
    let posts = site.with_method("POST");
    assert_eq!(posts.len(), 2);
    for post in &posts {
        let claims = post.jwt_claims().expect("a JWT in every POST");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(
            claims["htu"],
            format!("http://{DOMAIN}:{}/.well-known/challenges/", site.port())
        );
        assert_eq!(
            claims["bsh"],
            body_sha256(&post.body),
            "bsh is the hash of the bytes that arrived"
        );
        assert_eq!(post.form()["challenge"], TOKEN);
        post.check_binding().unwrap();
        for registered in ["aud", "iss", "exp", "nbf", "iat"] {
            assert!(claims.get(registered).is_none(), "{registered}: {claims}");
        }
    }
    assert_ne!(
        posts[0].jwt_claims().unwrap()["nonce"],
        posts[1].jwt_claims().unwrap()["nonce"]
    );
}

#[test]
fn check_binds_its_push_and_its_delete_too() {
    let (_dir, key) = keyed_dir("bound-check");
    let site = fake_site(Serving::AtOnce, |req, _| refuse_without_jwt(req));
    let mut args = vec!["check".to_string(), "--domain".into(), DOMAIN.into()];
    args.extend(hook_args(site.port(), &key, 10));
    run(BIN, &args, &[]).assert_success().assert_no_jwt();
    let signed: Vec<_> = site
        .requests()
        .into_iter()
        .filter(|r| r.header("authorization").is_some())
        .collect();
    assert_eq!(signed.len(), 2, "the push and the delete");
    for request in &signed {
        request.check_binding().unwrap();
    }
    assert_eq!(signed[1].jwt_claims().unwrap()["htm"], "DELETE");
}

/// A site (or a proxy) that quotes the request's Authorization header back in every answer.
fn echoing_site(status: u16) -> TestServer {
    TestServer::start(move |req, _| {
        let auth = req.header("authorization").unwrap_or("none").to_string();
        let sig = signature(&auth).to_string();
        let body =
            format!("refused: your header was 'Authorization: {auth}'\r\nsignature alone: {sig}");
        match status {
            302 => Reply::status(302).header(
                "Location",
                &format!("https://www.example.test/login?next=/&jwt={auth}&sig={sig}"),
            ),
            _ => Reply::text(status, &body),
        }
    })
}

#[test]
fn an_api_that_echoes_the_authorization_header_never_puts_the_jwt_on_stderr() {
    let (_dir, key) = keyed_dir("echo");
    for status in [400, 401, 403, 409, 500, 302] {
        let site = echoing_site(status);
        let out = run_hook(BIN, site.port(), &key, 2, &["-v"]);
        out.assert_failure().assert_no_jwt();
        for request in site.requests() {
            let auth = request.header("authorization").unwrap();
            assert!(
                !out.stderr.contains(signature(auth)),
                "{status}: the signature is on stderr:\n{}",
                out.stderr
            );
        }
        out.assert_stderr_contains("[JWT removed]");
        if status == 302 {
            out.assert_stderr_contains("redirecting to https://www.example.test/login?next=/&jwt=");
        } else {
            out.assert_stderr_contains(
                "refused: your header was 'Authorization: JWT [JWT removed]'",
            );
        }
    }
}

#[test]
fn check_against_an_echoing_api_shows_no_jwt_either() {
    let (_dir, key) = keyed_dir("echo-check");
    let site = TestServer::start(|req, _| {
        refuse_without_jwt(req).unwrap_or_else(|| {
            let auth = req.header("authorization").unwrap_or("none");
            Reply::text(403, &format!("denied for {auth}"))
        })
    });
    let mut args = vec!["check".to_string(), "--domain".into(), DOMAIN.into()];
    args.extend(hook_args(site.port(), &key, 5));
    let out = run(BIN, &args, &[]);
    out.assert_failure().assert_no_jwt();
    assert!(
        out.stdout.contains("push: failed: ")
            && out.stdout.contains("denied for JWT [JWT removed]"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_fifo_as_key_file_is_refused_at_once_well_within_the_timeout() {
    let dir = temp_dir("fifo-key");
    let fifo = dir.join("key.pem");
    make_fifo(&fifo);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run_hook(BIN, site.port(), &fifo, 30, &[]);
    out.assert_failure();
    assert!(out.elapsed < AT_ONCE, "took {:?}", out.elapsed);
    assert_eq!(
        out.stderr,
        format!(
            "auth-hook: error: private key {}: it is a FIFO (named pipe), not a regular file, so \
             it is refused without reading it: pass the path of the private key file\n",
            fifo.display()
        )
    );
    assert_eq!(site.count(), 0);
    // The subcommands read the key the same way.
    let out = run(
        BIN,
        &[
            "public-key".into(),
            "--key-file".into(),
            fifo.display().to_string(),
        ],
        &[],
    );
    out.assert_failure();
    assert!(out.elapsed < AT_ONCE, "took {:?}", out.elapsed);
    out.assert_stderr_contains("it is a FIFO (named pipe), not a regular file");
}

#[test]
fn a_directory_or_a_device_as_key_file_is_refused() {
    let site = fake_site(Serving::AtOnce, |_, _| None);
    for (path, kind) in [("/tmp", "a directory"), ("/dev/zero", "a character device")] {
        let out = run_hook(BIN, site.port(), Path::new(path), 30, &[]);
        out.assert_failure();
        assert!(out.elapsed < AT_ONCE, "{path} took {:?}", out.elapsed);
        out.assert_stderr_contains(&format!(
            "auth-hook: error: private key {path}: it is {kind}, not a regular file"
        ));
    }
    assert_eq!(site.count(), 0);
}

/// A config file for the site on `port`, with the key next to it, and the arguments naming it.
fn config_for(dir: &Path, port: u16) -> (PathBuf, Vec<String>) {
    key_file(dir);
    let config = dir.join("hooks.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"http://{{domain}}:{port}\"\nself_check_url = \
             \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\nkey_file = \
             \"key.pem\"\nresolve = [\"*:127.0.0.1\"]\ntimeout = 5\n"
        ),
    )
    .unwrap();
    let args = vec!["--config".to_string(), config.display().to_string()];
    (config, args)
}

#[test]
fn a_config_file_group_or_others_may_write_is_refused_naming_the_mode_and_the_fix() {
    let dir = temp_dir("config-mode");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (config, args) = config_for(&dir, site.port());
    for (mode, who) in [
        (0o666, "group and others"),
        (0o664, "its group"),
        (0o602, "others"),
    ] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(BIN, &args, &certbot_env());
        out.assert_failure();
        assert_eq!(
            out.stderr,
            format!(
                "auth-hook: error: config file {path}: {who} may write it (mode {mode:04o}), so it \
                 is refused, as OpenSSH refuses such a ~/.ssh/config: run 'chmod go-w {path}'\n",
                path = config.display()
            )
        );
    }
    assert_eq!(site.count(), 0);
    // The fix the message names is enough.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(BIN, &args, &certbot_env()).assert_success();
}

#[test]
fn a_config_file_of_another_user_is_refused_naming_the_owner_and_the_fix() {
    if !running_as_root() {
        eprintln!(
            "skipped: handing the config file to uid 65534 needs chown, which needs root; run the \
             tests as root (scripts/test in CI does) to cover this"
        );
        return;
    }
    let dir = temp_dir("config-owner");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let (config, args) = config_for(&dir, site.port());
    std::os::unix::fs::chown(&config, Some(65534), Some(65534)).unwrap();
    let out = run(BIN, &args, &certbot_env());
    out.assert_failure();
    assert_eq!(
        out.stderr,
        format!(
            "auth-hook: error: config file {path}: it belongs to uid 65534, neither the user \
             running the hook (uid 0) nor root, so it is refused, as OpenSSH refuses such a \
             ~/.ssh/config: run 'chown 0 {path}' (as root), or use a config file of your own\n",
            path = config.display()
        )
    );
    assert_eq!(site.count(), 0);
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    run(BIN, &args, &certbot_env()).assert_success();
}

#[test]
fn dev_zero_or_a_fifo_as_config_file_is_refused_at_once() {
    let dir = temp_dir("config-special");
    let fifo = dir.join("hooks.toml");
    make_fifo(&fifo);
    for (path, kind) in [
        (PathBuf::from("/dev/zero"), "a character device"),
        (fifo.clone(), "a FIFO (named pipe)"),
    ] {
        let out = run(
            BIN,
            &["--config".into(), path.display().to_string()],
            &certbot_env(),
        );
        out.assert_failure();
        assert!(
            out.elapsed < AT_ONCE,
            "{} took {:?}",
            path.display(),
            out.elapsed
        );
        assert_eq!(
            out.stderr,
            format!(
                "auth-hook: error: config file {}: it is {kind}, not a regular file, so it is \
                 refused without reading it: pass the path of a TOML file\n",
                path.display()
            )
        );
    }
}

#[test]
fn tokens_longer_than_the_127_characters_the_site_stores_never_reach_it() {
    let long = "a".repeat(128);
    assert_refused_before_sending(
        BIN,
        "token128",
        "CERTBOT_TOKEN",
        &[long.as_str()],
        "CERTBOT_TOKEN \"aaaa",
    );
    assert_refused_before_sending(
        BIN,
        "token128-message",
        "CERTBOT_TOKEN",
        &[long.as_str()],
        "it is longer than 127 characters, the most the site stores",
    );
}

/// A proxy standing in for the whole internet: the hook reaches the site and the self-check URL
/// through it (`http_proxy`), so the self-check can start from a name with a public address
/// (from `--resolve`, never connected to) yet be answered here. `redirect_to` is where the
/// self-check's first GET is sent on.
fn through_public_proxy(
    test: &str,
    redirect_to: &'static str,
    resolve: &[&str],
) -> (Outcome, TestServer) {
    let (_dir, key) = keyed_dir(test);
    let proxy = TestServer::start(move |req, _| {
        if req.method == "POST" {
            return Reply::text(201, "created");
        }
        if req.path == format!("http://{DOMAIN}/.well-known/acme-challenge/{TOKEN}") {
            return Reply::status(302).header(
                "Location",
                &format!("{redirect_to}/.well-known/acme-challenge/{TOKEN}"),
            );
        }
        Reply::text(200, VALIDATION)
    });
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let mut env = certbot_env();
    env.push(("http_proxy", &proxy_url));
    let mut args: Vec<String> = [
        "--server",
        "http://site.test",
        "--timeout",
        "3",
        "-q",
        "--key-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(key.display().to_string());
    args.extend(["--resolve".into(), format!("{DOMAIN}:93.184.215.14")]);
    for rule in resolve {
        args.extend(["--resolve".into(), rule.to_string()]);
    }
    let out = run(BIN, &args, &env);
    (out, proxy)
}

#[test]
fn a_self_check_redirect_from_a_public_name_to_a_private_address_is_not_followed() {
    let (out, proxy) = through_public_proxy("redirect-private", "http://10.1.2.3", &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(&format!(
        "it last answered: 302 Found redirecting to \
         http://10.1.2.3/.well-known/acme-challenge/{TOKEN}, which the CA will not follow: \
         10.1.2.3 is a private address (RFC 1918), and Let's Encrypt refuses to connect to \
         private, loopback, link-local and other reserved addresses: redirect to a public name of \
         the site"
    ));
    assert!(
        proxy
            .requests()
            .iter()
            .all(|r| !r.path.contains("10.1.2.3")),
        "the private address was never fetched"
    );

    // A name the system resolves to a loopback address is refused the same way, naming both.
    let (out, proxy) = through_public_proxy("redirect-loopback-name", "http://localhost", &[]);
    out.assert_failure();
    out.assert_stderr_contains("which the CA will not follow: localhost resolves to ");
    out.assert_stderr_contains("a loopback address, and Let's Encrypt refuses");
    assert!(
        proxy
            .requests()
            .iter()
            .all(|r| !r.path.contains("localhost"))
    );

    // A loopback address the user named (--resolve) is the local-testing allowance (issue 19).
    let (out, proxy) = through_public_proxy(
        "redirect-named-loopback",
        "http://internal.example.test",
        &["internal.example.test:127.0.0.1"],
    );
    out.assert_success();
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.path.starts_with("http://internal.example.test/"))
    );
}

#[test]
fn a_self_check_redirect_to_another_public_address_is_followed() {
    let (out, proxy) = through_public_proxy(
        "redirect-public",
        "http://www.example.test",
        &["www.example.test:93.184.215.15"],
    );
    out.assert_success();
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.path.starts_with("http://www.example.test/")),
        "followed"
    );
}

#[test]
fn a_self_check_that_starts_on_loopback_may_be_redirected_to_another_loopback_name() {
    let (_dir, key) = keyed_dir("redirect-local");
    let site = fake_site(Serving::AtOnce, |req, _| {
        (req.method == "GET" && req.path.starts_with("/.well-known/acme-challenge/"))
            .then(|| {
                let host = req
                    .header("host")
                    .unwrap_or_default()
                    .replace(DOMAIN, "127.0.0.1");
                Reply::status(302).header("Location", &format!("http://{host}/moved"))
            })
            .or_else(|| (req.path == "/moved").then(|| Reply::text(200, VALIDATION)))
    });
    run_hook(BIN, site.port(), &key, 5, &[]).assert_success();
    assert!(site.requests().iter().any(|r| r.path == "/moved"));
}

#[test]
fn a_401_for_a_binding_mismatch_points_at_the_proxy_not_at_the_key() {
    let (_dir, key) = keyed_dir("binding-401");
    // What the site says when a proxy rewrote the Host header on the way.
    let site = TestServer::start(|_, _| {
        Reply::text(
            401,
            "JWT is bound to POST http://example.test/.well-known/challenges/ but this request is \
             POST to host '127.0.0.1' path '/.well-known/challenges/'",
        )
        .header("WWW-Authenticate", "JWT")
    });
    let out = run_hook(BIN, site.port(), &key, 5, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(
        "but this request is POST to host '127.0.0.1' path '/.well-known/challenges/'\": the \
         signed request did not reach the Django app as it was sent. A proxy in between changes \
         the Host header, the path or the body",
    );
    assert!(!out.stderr.contains("not registered"), "{}", out.stderr);
    assert_eq!(site.count(), 1, "a 401 is not retried");
}

#[test]
fn a_409_says_another_users_key_owns_the_challenge() {
    let (_dir, key) = keyed_dir("owned-409");
    let site = TestServer::start(|_, _| {
        Reply::text(409, &format!("challenge {TOKEN} belongs to user 'alice'"))
    });
    let out = run_hook(BIN, site.port(), &key, 5, &[]);
    out.assert_failure().assert_no_jwt();
    out.assert_stderr_contains(&format!(
        "the site answered 409 Conflict \"challenge {TOKEN} belongs to user 'alice'\": another \
         user's key stored a challenge with this token, and only its owner may replace it"
    ));
    assert_eq!(site.count(), 1, "a 409 is not retried");
}
