//! Fail closed: when the auth hook knows the CA's validation would fail, keep certbot from
//! asking for it.
//!
//! certbot ignores the auth hook's exit status (certbot#7990) and asks the CA to validate
//! anyway; each failure counts against Let's Encrypt's 5 failed validations per name per hour,
//! and after 1,152 failures in a row the name is paused for the account. Measured with certbot
//! 5.8 and Pebble: SIGINT to the certbot process stops it before it answers the challenges (0
//! validations, the authorizations stay pending), certbot exits 1 with "Exiting due to user
//! request." and removes its lock files, and no lineage is written. SIGTERM stops it too, but
//! exits 143 without a reason and leaves lock files, so SIGINT it is.
//!
//! Facts the code below follows:
//! - certbot runs the hook through `/bin/sh -c` (dash may exec the hook in place of the shell),
//!   so the certbot process is the nearest ancestor that *is* certbot: a Python interpreter
//!   running the `certbot` script or module, found through `/proc`. Matching any command line
//!   that contains "certbot" would signal the shell when the hook's path contains "certbot",
//!   and the validation would go ahead.
//! - certbot reads the hook's output only once the hook has exited, and the interrupt discards
//!   it. So the reason is written straight to certbot's own stderr and to its open log file
//!   (`letsencrypt.log`) before the signal.
//! - After the interrupt certbot runs the cleanup hook only for challenges whose auth hook had
//!   already returned, so the failing hook deletes its own challenge first (the caller does).
//! - In `certbot renew` the signal would stop the whole run: later certificates skipped, post-hooks
//!   not run. So under `renew` the default ([`OnFailure::Auto`]) only exits non-zero: one
//!   failed validation for the broken name, and the other certificates still renew.
//!
//! dehydrated and uacme have no certbot ancestor, so nothing is signalled for them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Deserialize;

/// What the auth hook does when the validation is known to fail (`--on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// `exit` under `certbot renew` (with or without `--dry-run`), `stop-certbot` otherwise.
    #[default]
    Auto,
    /// Stop certbot with SIGINT so that it does not ask the CA (certbot exits 1).
    StopCertbot,
    /// Only exit non-zero: certbot asks the CA anyway, which fails, and goes on.
    Exit,
}

impl OnFailure {
    /// The value as `--on-failure` spells it.
    pub fn name(self) -> &'static str {
        match self {
            OnFailure::Auto => "auto",
            OnFailure::StopCertbot => "stop-certbot",
            OnFailure::Exit => "exit",
        }
    }
}

/// The certbot process the hook runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certbot {
    /// Its process id.
    pub pid: i32,
    /// Its command line.
    pub argv: Vec<String>,
}

/// certbot's subcommands: certbot takes the first argument that names one as the verb,
/// wherever it stands, and so does [`Certbot::verb`].
const VERBS: &[&str] = &[
    "auth",
    "certificates",
    "certonly",
    "config_changes",
    "delete",
    "enhance",
    "everything",
    "install",
    "plugins",
    "reconfigure",
    "register",
    "renew",
    "revoke",
    "rollback",
    "run",
    "show_account",
    "unregister",
    "update_account",
    "update_symlinks",
];

impl Certbot {
    /// certbot's own arguments: what follows the `certbot` script or module.
    fn args(&self) -> &[String] {
        certbot_args_start(&self.argv).map_or(&[], |i| &self.argv[i..])
    }

    /// The subcommand (`run` when none is given, as certbot does).
    pub fn verb(&self) -> &str {
        self.args()
            .iter()
            .find(|a| VERBS.contains(&a.as_str()))
            .map_or("run", String::as_str)
    }

    /// Whether this is `certbot renew`.
    pub fn is_renew(&self) -> bool {
        self.verb() == "renew"
    }
}

/// Where certbot's own arguments start in `argv`, if `argv` runs certbot: `certbot ...` (a
/// frozen or renamed interpreter), or a Python interpreter (options allowed) running the
/// `certbot` script or `-m certbot`.
fn certbot_args_start(argv: &[String]) -> Option<usize> {
    let base = |s: &str| Path::new(s).file_name()?.to_str().map(str::to_string);
    if base(argv.first()?)? == "certbot" {
        return Some(1);
    }
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        if arg == "-m" {
            return (argv.get(i + 1)? == "certbot").then_some(i + 2);
        }
        if !arg.starts_with('-') {
            return (base(arg)? == "certbot").then_some(i + 1);
        }
        i += 1;
    }
    None
}

/// Whether a process with this executable and command line is certbot itself: see
/// [`certbot_args_start`]; for the interpreter forms the executable must be a Python.
pub fn is_certbot(exe: &str, argv: &[String]) -> bool {
    let exe_is_python = Path::new(exe)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("python"));
    match certbot_args_start(argv) {
        Some(1) => true,
        Some(_) => exe_is_python,
        None => false,
    }
}

/// The parent of `pid`, from `/proc/PID/stat` (the field after the command name, which may
/// itself contain spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn command_line(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The nearest ancestor of this process that is certbot, or `None` (run by hand, by
/// dehydrated or uacme, or under a certbot we cannot see).
pub fn nearest_certbot() -> Option<Certbot> {
    let mut pid = rustix::process::getppid()?.as_raw_nonzero().get();
    // A process tree is not deep; the bound only guards against a /proc that loops.
    for _ in 0..64 {
        if pid <= 1 {
            return None;
        }
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(argv) = command_line(pid)
            && is_certbot(&exe, &argv)
        {
            return Some(Certbot { pid, argv });
        }
        pid = parent_of(pid)?;
    }
    None
}

/// What `mode` comes to under `certbot` (`None`: no certbot ancestor, so only exit).
pub fn resolve(mode: OnFailure, certbot: Option<&Certbot>) -> OnFailure {
    match (mode, certbot) {
        (_, None) => OnFailure::Exit,
        (OnFailure::Auto, Some(c)) if c.is_renew() => OnFailure::Exit,
        (OnFailure::Auto, Some(_)) => OnFailure::StopCertbot,
        (other, Some(_)) => other,
    }
}

/// Writes `message` to certbot's stderr and to its open `letsencrypt.log`, then sends it SIGINT.
/// Writes never block (a full pipe just loses the text). `Err` says why the signal failed.
pub fn stop_certbot(certbot: &Certbot, message: &str) -> Result<(), String> {
    let pid = certbot.pid;
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let write_to = |path: &Path| {
        if let Ok(mut f) = OpenOptions::new()
            .append(true)
            .custom_flags(nonblocking)
            .open(path)
        {
            let _ = f.write_all(message.as_bytes());
        }
    };
    write_to(Path::new(&format!("/proc/{pid}/fd/2")));
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            let is_log = std::fs::read_link(fd.path())
                .is_ok_and(|target| target.file_name().is_some_and(|n| n == "letsencrypt.log"));
            if is_log {
                write_to(&fd.path());
            }
        }
    }
    let target = rustix::process::Pid::from_raw(pid).ok_or("no such process")?;
    rustix::process::kill_process(target, rustix::process::Signal::INT)
        .map_err(|e| format!("cannot signal certbot (pid {pid}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn certbot_is_recognised_as_a_python_process_not_by_any_command_line_mentioning_it() {
        let py = "/usr/bin/python3.13";
        for line in [
            "/work/.venv/bin/python3 /work/.venv/bin/certbot certonly -d a.example",
            "/usr/bin/python3 /usr/bin/certbot renew",
            "python3 -I /usr/bin/certbot renew",
            "python3 -m certbot certonly",
            "/snap/certbot/5/bin/python3 /snap/certbot/5/bin/certbot renew",
        ] {
            assert!(is_certbot(py, &argv(line)), "{line}");
        }
        // A frozen or renamed certbot.
        assert!(is_certbot("/opt/certbot/certbot", &argv("certbot renew")));
        for (exe, line) in [
            // The shell certbot runs the hook with, even when the hook's path says "certbot".
            (
                "/usr/bin/dash",
                "/bin/sh -c /etc/certbot/auth-hook --config /etc/certbot/x.toml",
            ),
            ("/usr/bin/dash", "/bin/sh /usr/local/bin/certbot"),
            ("/usr/bin/bash", "bash /opt/certbot-wrapper/certbot renew"),
            (py, "python3 /opt/certbot-tools/run.py certbot"),
            (py, "python3 -m certbot_dns_x"),
            (
                "/usr/local/bin/auth-hook",
                "/opt/certbot/auth-hook --config /opt/certbot/c.toml",
            ),
        ] {
            assert!(!is_certbot(exe, &argv(line)), "{line}");
        }
    }

    fn certbot(line: &str) -> Certbot {
        Certbot {
            pid: 42,
            argv: argv(line),
        }
    }

    #[test]
    fn the_verb_is_the_first_argument_naming_one_as_certbot_reads_it() {
        let c = certbot("/v/bin/python3 /v/bin/certbot -q renew --dry-run");
        assert_eq!(c.verb(), "renew");
        assert!(c.is_renew());
        let c = certbot("/v/bin/python3 /v/bin/certbot --config-dir /x certonly -d renew.example");
        assert_eq!(c.verb(), "certonly");
        assert!(!c.is_renew());
        assert_eq!(certbot("python3 /usr/bin/certbot --manual").verb(), "run");
    }

    #[test]
    fn auto_stops_certonly_but_only_exits_under_renew_and_nothing_stops_without_certbot() {
        let certonly = certbot("python3 /usr/bin/certbot certonly --dry-run -d a.example");
        let renew = certbot("python3 /usr/bin/certbot renew");
        let renew_dry = certbot("python3 /usr/bin/certbot renew --dry-run");
        assert_eq!(
            resolve(OnFailure::Auto, Some(&certonly)),
            OnFailure::StopCertbot
        );
        assert_eq!(resolve(OnFailure::Auto, Some(&renew)), OnFailure::Exit);
        assert_eq!(resolve(OnFailure::Auto, Some(&renew_dry)), OnFailure::Exit);
        assert_eq!(
            resolve(OnFailure::StopCertbot, Some(&renew)),
            OnFailure::StopCertbot
        );
        assert_eq!(resolve(OnFailure::Exit, Some(&certonly)), OnFailure::Exit);
        assert_eq!(resolve(OnFailure::StopCertbot, None), OnFailure::Exit);
    }

    #[test]
    fn the_test_runner_has_no_certbot_ancestor() {
        assert_eq!(nearest_certbot(), None);
    }

    #[test]
    fn a_parent_is_read_from_proc_even_with_parentheses_in_the_name() {
        let me = std::process::id() as i32;
        let parent = rustix::process::getppid().unwrap().as_raw_nonzero().get();
        assert_eq!(parent_of(me), Some(parent));
    }
}
