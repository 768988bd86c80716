//! Running a built hook binary and judging what it did: exit status, stdout, stderr, time, and
//! that no JWT reached its output; the arguments and environment most tests pass.

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::fake_site::{Serving, fake_site};
use crate::fixtures::keyed_dir;
use crate::{DOMAIN, TOKEN, VALIDATION};

/// What a binary run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// Panics unless the run succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success, got {:?}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the run failed with exit status 1.
    pub fn assert_failure(&self) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected exit 1\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics if stdout or stderr contains anything that looks like a JWT (base64url of `{"`).
    pub fn assert_no_jwt(&self) -> &Self {
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !text.contains("eyJ"),
                "{name} contains a JWT-like string:\n{text}"
            );
            assert!(
                !text.contains("PRIVATE KEY"),
                "{name} contains key material:\n{text}"
            );
        }
        self
    }

    /// Panics unless the run ended within `timeout` plus one second.
    pub fn assert_within(&self, timeout: Duration) -> &Self {
        assert!(
            self.elapsed <= timeout + Duration::from_secs(1),
            "the run took {:?}, more than --timeout {:?} + 1 s\nstderr: {}",
            self.elapsed,
            timeout,
            self.stderr
        );
        self
    }

    /// Panics unless stderr contains `needle`.
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs a binary with a cleared environment plus `env`, and the given arguments.
pub fn run(bin: &str, args: &[String], env: &[(&str, &str)]) -> Outcome {
    let started = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the hook binary");
    Outcome {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// The certbot environment for [`DOMAIN`], [`TOKEN`] and [`VALIDATION`].
pub fn certbot_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CERTBOT_DOMAIN", DOMAIN),
        ("CERTBOT_TOKEN", TOKEN),
        ("CERTBOT_VALIDATION", VALIDATION),
        ("CERTBOT_REMAINING_CHALLENGES", "0"),
        ("CERTBOT_ALL_DOMAINS", DOMAIN),
    ]
}

/// [`certbot_env`] with one variable replaced (`Some`) or removed (`None`).
pub fn certbot_env_with<'a>(name: &'a str, value: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<_> = certbot_env()
        .into_iter()
        .filter(|(k, _)| *k != name)
        .collect();
    if let Some(value) = value {
        env.push((name, value));
    }
    env
}

/// The usual hook arguments against a server on `port`: `--server http://example.test:PORT`,
/// self-check on the same port, `--resolve example.test:127.0.0.1`, and the key.
pub fn hook_args(port: u16, key: &Path, timeout_secs: u64) -> Vec<String> {
    vec![
        "--server".into(),
        format!("http://{{domain}}:{port}"),
        "--self-check-url".into(),
        format!("http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}"),
        "--resolve".into(),
        format!("{DOMAIN}:127.0.0.1"),
        "--key-file".into(),
        key.display().to_string(),
        "--timeout".into(),
        timeout_secs.to_string(),
    ]
}

/// [`hook_args`] followed by `extra`.
pub fn hook_args_with(port: u16, key: &Path, timeout_secs: u64, extra: &[&str]) -> Vec<String> {
    let mut args = hook_args(port, key, timeout_secs);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The hook `bin` with [`hook_args_with`] in the certbot environment: the usual run.
pub fn run_hook(bin: &str, port: u16, key: &Path, timeout_secs: u64, extra: &[&str]) -> Outcome {
    run(
        bin,
        &hook_args_with(port, key, timeout_secs, extra),
        &certbot_env(),
    )
}

/// `SUBCOMMAND --key-file PATH`: the arguments of `auth-hook keygen` and `auth-hook public-key`.
pub fn key_command(subcommand: &str, key: &Path) -> Vec<String> {
    vec![
        subcommand.into(),
        "--key-file".into(),
        key.display().to_string(),
    ]
}

/// What the hooks and `auth-hook check` say when nothing listens on `port`: the OS's error and
/// the fix, as the library words it for [`DOMAIN`].
pub fn connection_refused(port: u16) -> String {
    format!(
        "cannot connect: Connection refused (os error 111): is the site running and listening on \
         {DOMAIN} port {port}? Check --server (and --resolve), and any firewall in between"
    )
}

/// Runs the hook `bin` once per value of the certbot variable `name`: each run must fail with one
/// line on stderr containing `message`, and the site must never see a request.
pub fn assert_refused_before_sending(
    bin: &str,
    test: &str,
    name: &str,
    values: &[&str],
    message: &str,
) {
    let (_dir, key) = keyed_dir(test);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    for &value in values {
        let out = run(
            bin,
            &hook_args(site.port(), &key, 5),
            &certbot_env_with(name, Some(value)),
        );
        out.assert_failure();
        out.assert_stderr_contains(message);
        assert_eq!(out.stderr.lines().count(), 1, "{value:?}: {}", out.stderr);
    }
    assert_eq!(site.count(), 0);
}
