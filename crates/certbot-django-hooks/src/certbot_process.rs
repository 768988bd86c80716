//! Fail closed: when the auth hook knows the CA's validation would fail, keep certbot from
//! asking for it, and say what really happened.
//!
//! certbot ignores the auth hook's exit status (certbot#7990) and asks the CA to validate
//! anyway; each failure counts against Let's Encrypt's 5 failed validations per name per hour,
//! and after 1,152 failures in a row the name is paused for the account. So the hook stops
//! certbot with a signal while it still waits for the hook: certbot then never answers the
//! challenges (0 validations, the authorizations stay pending) and writes no lineage.
//!
//! Which signal: certbot's `error_handler.py` (the same in 1.32 and 5.8) wraps the auth hooks
//! in an `ExitHandler` that always catches SIGTERM, and SIGHUP and SIGQUIT unless they were
//! ignored when certbot started; SIGINT is Python's KeyboardInterrupt unless it was ignored at
//! start. A background job of a non-interactive shell (`certbot ... &` in a script) starts
//! with SIGINT and SIGQUIT ignored, so SIGINT alone would do nothing there. Measured with both
//! releases and Pebble, started in the foreground, as such a job, under `setsid`, and with
//! SIGINT, SIGTERM or both ignored:
//! - SIGINT, when not ignored: certbot exits 1 with "Exiting due to user request." within
//!   0.6 s and removes its lock files;
//! - SIGTERM, always caught while the hook runs: certbot cleans up and re-raises it (exit 143,
//!   no message of its own, `.certbot.lock` files left behind, harmless: the locks are
//!   `fcntl` locks released at exit); when SIGTERM was ignored at start it exits 1 with "An
//!   unexpected error occurred while handling the authorizations." instead;
//! - SIGHUP and SIGQUIT act as SIGTERM when not ignored.
//!
//! So the hook reads certbot's `/proc/PID/status` and sends the first of SIGINT, SIGTERM,
//! SIGHUP, SIGQUIT that certbot neither ignores nor blocks, then waits until certbot has
//! exited before saying it stopped. If every one is ignored or blocked it sends nothing and
//! says that the CA will now validate and fail. In every case certbot's recovery logs
//! "Encountered exception during recovery: KeyError: KeyAuthorizationAnnotatedChallenge(...)":
//! its manual plugin looks for the output of the auth hook it interrupted; it is harmless.
//!
//! Facts the code below follows:
//! - certbot runs the hook through `/bin/sh -c` (dash may exec the hook in place of the shell),
//!   so the certbot process is the nearest ancestor that *is* certbot: a Python interpreter
//!   running the `certbot` script or module, found through `/proc`. Matching any command line
//!   that contains "certbot" would signal the shell when the hook's path contains "certbot",
//!   and the validation would go ahead.
//! - On the signal certbot kills the shell running the hook (`subprocess.run` does on any
//!   exception) but not the hook under it, and exits without waiting for the hook. certbot
//!   answers the challenges only after every auth hook has returned, so certbot gone while the
//!   hook still runs proves that it asked the CA nothing. Were the hook certbot's direct child,
//!   it would be killed along with it and say nothing more.
//! - certbot reads the hook's output only once the hook has exited, and the interrupt discards
//!   it. So the hook writes straight to certbot's own stderr and to its open log file
//!   (`letsencrypt.log`), opened before the signal so that they outlive certbot.
//! - After the interrupt certbot runs the cleanup hook only for challenges whose auth hook had
//!   already returned, so the failing hook deletes its own challenge first (the caller does).
//! - In `certbot renew` the signal would stop the whole run: later certificates skipped, post-hooks
//!   not run. So under `renew` the default ([`OnFailure::Auto`]) only exits non-zero: one
//!   failed validation for the broken name, and the other certificates still renew.
//!
//! dehydrated and uacme have no certbot ancestor, so nothing is signalled for them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// What the auth hook does when the validation is known to fail (`--on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// `exit` under `certbot renew` (with or without `--dry-run`), `stop-certbot` otherwise.
    #[default]
    Auto,
    /// Stop certbot with a signal it handles (SIGINT, else SIGTERM) so that it does not ask
    /// the CA; certbot exits non-zero.
    StopCertbot,
    /// Only exit non-zero: certbot asks the CA anyway, which fails, and goes on.
    Exit,
}

impl OnFailure {
    /// Every value, in the order help texts list them.
    pub const ALL: [OnFailure; 3] = [OnFailure::Auto, OnFailure::StopCertbot, OnFailure::Exit];

    /// The value as `--on-failure` and the config file spell it.
    pub fn name(self) -> &'static str {
        match self {
            OnFailure::Auto => "auto",
            OnFailure::StopCertbot => "stop-certbot",
            OnFailure::Exit => "exit",
        }
    }

    /// One line on what the value does, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            OnFailure::Auto => {
                "`exit` under `certbot renew` (with or without `--dry-run`), `stop-certbot` otherwise"
            }
            OnFailure::StopCertbot => {
                "Stop certbot with a signal it handles (SIGINT, else SIGTERM) so that it does not ask \
                 the CA; certbot exits non-zero"
            }
            OnFailure::Exit => {
                "Only exit non-zero: certbot asks the CA anyway, which fails, and goes on"
            }
        }
    }
}

impl std::str::FromStr for OnFailure {
    type Err = String;

    /// Parses [`OnFailure::name`]'s spelling.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|value| value.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                format!(
                    "{} is not one of {}",
                    crate::text::echo(text),
                    names.join(", ")
                )
            })
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

/// A signal that stops certbot while it waits for an auth hook, best first: see the module
/// documentation for what certbot does on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// KeyboardInterrupt: "Exiting due to user request.", exit 1, lock files removed.
    Int,
    /// Caught by certbot's error handler whatever its disposition at start: exit 143 (or 1).
    Term,
    /// As SIGTERM, when it was not ignored at start.
    Hup,
    /// As SIGTERM, when it was not ignored at start.
    Quit,
}

impl StopSignal {
    const ALL: [StopSignal; 4] = [
        StopSignal::Int,
        StopSignal::Term,
        StopSignal::Hup,
        StopSignal::Quit,
    ];

    /// Its name, as `kill -l` and certbot's users know it.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Int => "SIGINT",
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
            StopSignal::Quit => "SIGQUIT",
        }
    }

    fn number(self) -> u32 {
        match self {
            StopSignal::Hup => 1,
            StopSignal::Int => 2,
            StopSignal::Quit => 3,
            StopSignal::Term => 15,
        }
    }

    fn signal(self) -> rustix::process::Signal {
        match self {
            StopSignal::Int => rustix::process::Signal::INT,
            StopSignal::Term => rustix::process::Signal::TERM,
            StopSignal::Hup => rustix::process::Signal::HUP,
            StopSignal::Quit => rustix::process::Signal::QUIT,
        }
    }
}

/// How a process disposes of signals: the `SigIgn`, `SigBlk` and `SigCgt` masks of
/// `/proc/PID/status` (bit n-1 for signal n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dispositions {
    ignored: u64,
    blocked: u64,
    caught: u64,
}

impl Dispositions {
    /// Reads the masks from the text of `/proc/PID/status`.
    fn parse(status: &str) -> Option<Self> {
        let mask = |key: &str| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.strip_prefix(':')?;
                u64::from_str_radix(value.trim(), 16).ok()
            })
        };
        Some(Dispositions {
            ignored: mask("SigIgn")?,
            blocked: mask("SigBlk")?,
            caught: mask("SigCgt")?,
        })
    }

    fn read(pid: i32) -> Option<Self> {
        Self::parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }

    fn has(mask: u64, signal: StopSignal) -> bool {
        mask >> (signal.number() - 1) & 1 == 1
    }

    /// The first stop signal that is neither ignored nor blocked.
    pub fn usable(&self) -> Option<StopSignal> {
        StopSignal::ALL
            .into_iter()
            .find(|&s| !Self::has(self.ignored | self.blocked, s))
    }

    /// "ignores SIGINT and SIGQUIT and blocks SIGTERM and SIGHUP", for the stop signals.
    fn describe(&self) -> String {
        let list = |mask: u64| {
            let names: Vec<&str> = StopSignal::ALL
                .into_iter()
                .filter(|&s| Self::has(mask, s))
                .map(StopSignal::name)
                .collect();
            match names.as_slice() {
                [] => String::new(),
                [one] => one.to_string(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            }
        };
        let ignored = list(self.ignored);
        let blocked = list(self.blocked & !self.ignored);
        match (ignored.is_empty(), blocked.is_empty()) {
            (false, false) => format!("ignores {ignored} and blocks {blocked}"),
            (false, true) => format!("ignores {ignored}"),
            (true, false) => format!("blocks {blocked}"),
            (true, true) => "ignores and blocks none of SIGINT, SIGTERM, SIGHUP, SIGQUIT".into(),
        }
    }
}

/// How long the hook waits for certbot to exit after the signal. Measured: 0.6 s at most for
/// SIGINT, 10 ms for SIGTERM; certbot runs the cleanup hooks of the other challenges first.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What came of [`stop_certbot`], as verified through `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// certbot exited while the hook was still running, so it asked the CA nothing.
    Stopped(StopSignal),
    /// certbot took the signal (it killed the shell running this hook, which it does only when
    /// the signal interrupts it) but was still running after [`STOP_WAIT`].
    Stopping(StopSignal),
    /// certbot neither exited nor interrupted the hook within [`STOP_WAIT`] of the signal.
    NotStopped(StopSignal),
    /// certbot ignores or blocks every stop signal: none was sent.
    Unstoppable(Dispositions),
    /// The signal could not be sent.
    SignalFailed(StopSignal, String),
}

impl StopOutcome {
    /// Whether certbot will not ask the CA to validate.
    pub fn stops_validation(&self) -> bool {
        matches!(self, StopOutcome::Stopped(_) | StopOutcome::Stopping(_))
    }
}

/// certbot's stderr and its open `letsencrypt.log`, opened for appending without blocking
/// (a full pipe just loses the text). Kept open, they still take text once certbot is gone.
fn certbot_outputs(pid: i32) -> Vec<File> {
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let open = |path: &Path| {
        OpenOptions::new()
            .append(true)
            .custom_flags(nonblocking)
            .open(path)
            .ok()
    };
    let mut outputs: Vec<File> = open(Path::new(&format!("/proc/{pid}/fd/2")))
        .into_iter()
        .collect();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            let is_log = std::fs::read_link(fd.path())
                .is_ok_and(|target| target.file_name().is_some_and(|n| n == "letsencrypt.log"));
            if is_log {
                outputs.extend(open(&fd.path()));
            }
        }
    }
    outputs
}

/// The state letter and start time of `pid` (fields 3 and 22 of `/proc/PID/stat`), to tell
/// certbot from a process that reused its pid.
fn state_and_start(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// The start time of `pid` (field 22 of `/proc/PID/stat`, in clock ticks since boot): with the
/// pid, it names one process, never another that reused the pid.
pub fn start_time(pid: i32) -> Option<u64> {
    state_and_start(pid).map(|(_, start)| start)
}

/// Whether the process that started at `start` is still `pid` and not a zombie.
pub fn still_running(pid: i32, start: u64) -> bool {
    state_and_start(pid).is_some_and(|(state, s)| s == start && !matches!(state, 'Z' | 'X'))
}

/// Stops `certbot` before it asks the CA to validate `name`, with the first signal it neither
/// ignores nor blocks, and checks that it did. `reason` (the failure, ending in a newline)
/// goes first to certbot's stderr and log, then the hook's words on what it does and on what
/// came of it. `mode` is named so that the reader knows how to let certbot go on instead.
pub fn stop_certbot(certbot: &Certbot, reason: &str, name: &str, mode: OnFailure) -> StopOutcome {
    let pid = certbot.pid;
    let outputs = certbot_outputs(pid);
    let say = |text: &str| {
        for mut out in &outputs {
            let _ = out.write_all(text.as_bytes());
        }
    };
    let dispositions = Dispositions::read(pid).unwrap_or_default();
    let Some(signal) = dispositions.usable() else {
        say(&format!(
            "{reason}auth-hook: certbot (pid {pid}) {}, so it cannot be stopped: the CA will now \
             validate {name} and fail (one of its 5 failed validations per name per hour). Fix \
             the problem above before the next run, and start certbot with SIGINT or SIGTERM \
             neither ignored nor blocked (a background job of a script ignores SIGINT; SIGTERM \
             works there).\n",
            dispositions.describe()
        ));
        return StopOutcome::Unstoppable(dispositions);
    };
    say(&format!(
        "{reason}auth-hook: sending certbot (pid {pid}) {} so that it stops before asking the CA \
         to validate {name}, which would fail (each failure counts against the CA's limit of 5 \
         per name per hour; --on-failure {}, 'exit' lets certbot go on)\n",
        signal.name(),
        mode.name()
    ));
    let shell = rustix::process::getppid();
    let start = state_and_start(pid).map(|(_, start)| start);
    let sent = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| "no such process".to_string())
        .and_then(|target| {
            rustix::process::kill_process(target, signal.signal()).map_err(|e| e.to_string())
        });
    let outcome = match sent {
        Err(why) => StopOutcome::SignalFailed(signal, why),
        Ok(()) => {
            let exited = || start.is_some_and(|start| !still_running(pid, start));
            let interrupted = || rustix::process::getppid() != shell;
            let deadline = Instant::now() + STOP_WAIT;
            // Without a start time (an unreadable /proc) only the shell's end can tell.
            let done = || exited() || (start.is_none() && interrupted());
            while !done() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if exited() {
                StopOutcome::Stopped(signal)
            } else if interrupted() {
                StopOutcome::Stopping(signal)
            } else {
                StopOutcome::NotStopped(signal)
            }
        }
    };
    say(&verdict(&outcome, pid, name));
    outcome
}

/// What the hook tells certbot's reader after the signal.
fn verdict(outcome: &StopOutcome, pid: i32, name: &str) -> String {
    let wait = STOP_WAIT.as_secs();
    match outcome {
        StopOutcome::Stopped(s) => format!(
            "auth-hook: certbot (pid {pid}) exited on {} while this hook was still running, so \
             it did not ask the CA to validate {name}. Fix the problem above and run certbot \
             again.\n",
            s.name()
        ),
        StopOutcome::Stopping(s) => format!(
            "auth-hook: certbot (pid {pid}) took {} (it ended the shell running this hook), so \
             it will not ask the CA to validate {name}, but it was still running after {wait} \
             s. Fix the problem above and run certbot again.\n",
            s.name()
        ),
        StopOutcome::NotStopped(s) => format!(
            "auth-hook: certbot (pid {pid}) did not stop within {wait} s of {}: the CA will now \
             validate {name} and fail (one of its 5 failed validations per name per hour). Fix \
             the problem above before the next run.\n",
            s.name()
        ),
        StopOutcome::SignalFailed(s, why) => format!(
            "auth-hook: cannot send certbot (pid {pid}) {}: {why}; the CA will now validate \
             {name} and fail. Fix the problem above before the next run.\n",
            s.name()
        ),
        // Said before anything was sent.
        StopOutcome::Unstoppable(_) => String::new(),
    }
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

    /// `/proc/PID/status` as certbot's while its auth hook runs: the stop signals' bits as
    /// measured with certbot 1.32 and 5.8 for each way of starting it.
    fn status(ignored: &str, blocked: &str, caught: &str) -> String {
        format!(
            "Name:\tcertbot\nState:\tS (sleeping)\nSigQ:\t0/31204\nSigPnd:\t0000000000000000\n\
             ShdPnd:\t0000000000000000\nSigBlk:\t{blocked}\nSigIgn:\t{ignored}\nSigCgt:\t{caught}\n"
        )
    }

    #[test]
    fn the_stop_signal_is_the_first_of_int_term_hup_quit_that_certbot_neither_ignores_nor_blocks() {
        let none = "0000000000000000";
        let cases = [
            // Foreground and setsid: certbot catches HUP, INT, QUIT and TERM.
            (
                status(none, none, "0000000180004007"),
                Some(StopSignal::Int),
            ),
            // A background job of a script: INT and QUIT ignored.
            (
                status("0000000001001006", none, "0000000180004001"),
                Some(StopSignal::Term),
            ),
            // `trap '' INT TERM HUP QUIT`: certbot catches TERM anyway, as its SigCgt shows.
            (
                status("0000000001001007", none, "0000000180004000"),
                Some(StopSignal::Term),
            ),
            // INT ignored, TERM blocked by whoever started it: HUP is next.
            (
                status("0000000000000002", "0000000000004000", "0000000180004005"),
                Some(StopSignal::Hup),
            ),
            // Every stop signal ignored or blocked.
            (status("0000000000000006", "0000000000004001", none), None),
        ];
        for (text, expected) in cases {
            let dispositions = Dispositions::parse(&text).expect("the masks");
            assert_eq!(dispositions.usable(), expected, "{text}");
        }
        assert_eq!(Dispositions::parse("Name:\tx\nSigIgn:\tzz\n"), None);
    }

    #[test]
    fn an_unstoppable_certbot_is_described_by_what_it_ignores_and_what_it_blocks() {
        let d = Dispositions::parse(&status(
            "0000000000000006",
            "0000000000004001",
            "0000000000000000",
        ))
        .unwrap();
        assert_eq!(
            d.describe(),
            "ignores SIGINT and SIGQUIT and blocks SIGTERM and SIGHUP"
        );
        let d = Dispositions::parse(&status(
            "0000000000004007",
            "0000000000000000",
            "0000000000000000",
        ))
        .unwrap();
        assert_eq!(d.describe(), "ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT");
    }

    #[test]
    fn the_verdict_claims_a_stop_only_when_certbot_exited_and_never_speaks_for_certbot() {
        let stopped = verdict(&StopOutcome::Stopped(StopSignal::Term), 7, "a.example");
        assert!(
            stopped.contains("certbot (pid 7) exited on SIGTERM"),
            "{stopped}"
        );
        assert!(
            stopped.contains("did not ask the CA to validate a.example"),
            "{stopped}"
        );
        let not = verdict(&StopOutcome::NotStopped(StopSignal::Int), 7, "a.example");
        assert!(
            not.contains(
                "did not stop within 10 s of SIGINT: the CA will now validate a.example and fail"
            ),
            "{not}"
        );
        assert!(!StopOutcome::NotStopped(StopSignal::Int).stops_validation());
        for outcome in [
            StopOutcome::Stopped(StopSignal::Int),
            StopOutcome::Stopping(StopSignal::Int),
            StopOutcome::NotStopped(StopSignal::Int),
            StopOutcome::SignalFailed(StopSignal::Int, "EPERM".into()),
        ] {
            // certbot's own words prove a stop to a reader; the hook must never say them for it.
            assert!(!verdict(&outcome, 7, "a.example").contains("Exiting due to user request"));
        }
    }

    #[test]
    fn a_process_is_running_until_it_exits_and_a_reused_pid_is_not_it() {
        let me = std::process::id() as i32;
        let (state, start) = state_and_start(me).expect("our own stat");
        assert_ne!(state, 'Z');
        assert!(still_running(me, start));
        assert!(!still_running(me, start + 1));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = state_and_start(pid).map(|(_, s)| s);
        child.wait().unwrap();
        assert!(start.is_none_or(|s| !still_running(pid, s)));
    }
}
