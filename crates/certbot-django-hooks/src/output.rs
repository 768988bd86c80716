//! What the hooks say on stderr besides errors: warnings, and with `-v` one line per step with
//! its time since the start.
//!
//! certbot copies hook output into its log, and hands the auth hook's stdout to the cleanup hook
//! as `CERTBOT_AUTH_OUTPUT`. So stdout carries only the one result line, stderr is quiet by
//! default, and nothing written here ever contains a JWT or key material: callers pass URLs,
//! statuses and timings only.

use std::cell::RefCell;
use std::fmt::Display;
use std::io::Write;
use std::time::Instant;

/// How chatty the hooks are on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    /// Warnings and errors.
    #[default]
    Normal,
    /// `-v`: one line per step.
    Verbose,
}

impl Verbosity {
    /// From `-v` and `-q` (the command line keeps them apart).
    pub fn from_flags(verbose: bool, quiet: bool) -> Self {
        match (verbose, quiet) {
            (true, _) => Verbosity::Verbose,
            (false, true) => Verbosity::Quiet,
            _ => Verbosity::Normal,
        }
    }
}

/// A reporter's program name, verbosity and start, to make one like it on another thread.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    program: &'static str,
    verbosity: Verbosity,
    start: Instant,
}

impl Style {
    /// A reporter writing as the one this came from does, into `sink`.
    pub fn reporter(self, sink: Box<dyn Write>) -> Reporter {
        Reporter {
            program: self.program,
            verbosity: self.verbosity,
            start: self.start,
            sink: RefCell::new(sink),
        }
    }
}

/// Writes progress and warnings to stderr (or any sink, in tests).
pub struct Reporter {
    program: &'static str,
    verbosity: Verbosity,
    start: Instant,
    sink: RefCell<Box<dyn Write>>,
}

impl Reporter {
    /// A reporter writing to `sink`.
    pub fn new(program: &'static str, verbosity: Verbosity, sink: Box<dyn Write>) -> Self {
        Reporter {
            program,
            verbosity,
            start: Instant::now(),
            sink: RefCell::new(sink),
        }
    }

    /// With `-v`: one line for a finished step, prefixed with the seconds since the start.
    pub fn step(&self, text: impl Display) {
        if self.verbosity == Verbosity::Verbose {
            let secs = self.start.elapsed().as_secs_f64();
            self.write(format_args!("{}: [{secs:7.3}s] {text}", self.program));
        }
    }

    /// Unless `-q`: a warning.
    pub fn warn(&self, text: impl Display) {
        if self.verbosity != Verbosity::Quiet {
            self.write(format_args!("{}: warning: {text}", self.program));
        }
    }

    /// What a reporter on another thread needs to write as this one does: the self-check runs
    /// several names at once, each thread reporting into a buffer that this one relays.
    pub fn style(&self) -> Style {
        Style {
            program: self.program,
            verbosity: self.verbosity,
            start: self.start,
        }
    }

    /// Writes lines another thread's reporter ([`Style::reporter`]) produced, as they are.
    pub fn relay(&self, lines: &[u8]) {
        let _ = self.sink.borrow_mut().write_all(lines);
    }

    fn write(&self, line: std::fmt::Arguments<'_>) {
        // stderr going away must not fail the hook.
        let _ = writeln!(self.sink.borrow_mut(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn run(verbosity: Verbosity) -> String {
        let sink = Shared::default();
        let r = Reporter::new("auth-hook", verbosity, Box::new(sink.clone()));
        r.step("pushed");
        r.warn("plain http");
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn default_output_is_warnings_only() {
        assert_eq!(run(Verbosity::Normal), "auth-hook: warning: plain http\n");
    }

    #[test]
    fn quiet_silences_warnings() {
        assert_eq!(run(Verbosity::Quiet), "");
    }

    #[test]
    fn verbose_adds_timed_steps() {
        let out = run(Verbosity::Verbose);
        assert!(out.starts_with("auth-hook: [  0.0"), "{out}");
        assert!(out.contains("s] pushed\n"), "{out}");
    }
}
