//! The spool that turns certbot's one-auth-hook-per-challenge into one request per certificate.
//!
//! certbot (since 1.4, `certbot/_internal/plugins/manual.py`) runs the auth hook once per
//! challenge, in order, with `CERTBOT_REMAINING_CHALLENGES` counting down to 0, and answers no
//! challenge until the last one returned; the cleanup hooks run afterwards with the same
//! environments, in the same order. Only the current challenge is passed, so the earlier ones
//! are kept here: while challenges remain, the auth hook appends its challenge and exits; the
//! last one reads them all and pushes them at once.
//!
//! One file per certbot run, named after certbot's pid, its start time (from `/proc`, so a pid
//! reused by another process never matches) and a hash of `CERTBOT_ALL_DOMAINS`, in a directory
//! only this user may use: `$TMPDIR/certbot-django-hooks-<uid>`, mode 0700, checked with lstat
//! and again on the open descriptor (not a link, a directory, owned by this user, no group or
//! other bits). Files are opened relative to that descriptor with `O_NOFOLLOW | O_CLOEXEC`, mode
//! 0600, and checked the same way. The file of a run whose certbot is gone is removed when a
//! new run's file is created, so a killed run never leaks into the next. The last cleanup hook
//! removes the run's file, and the directory too when no other run's file is in it (so a run
//! leaves nothing in `$TMPDIR`); a hook that finds the directory removed under it makes it again.
//!
//! The file is lines of text: `c IDENTIFIER TOKEN VALIDATION` per challenge, then the state
//! lines the hooks append: `pushed` (the last auth hook sent them all), `done` (the first
//! cleanup hook deleted them all), `delete-failed` (it could not: each cleanup deletes its own).

use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::certbot_process;
use crate::challenge::Challenge;

/// Most of a spool file that is read: 100 challenges take about 20 KiB.
const MAX_SPOOL: u64 = 256 * 1024;

/// What the hooks did with the challenges of a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Auth hooks are still adding challenges.
    Collecting,
    /// The last auth hook pushed them all.
    Pushed,
    /// The first cleanup hook deleted them all.
    Done,
    /// The first cleanup hook could not delete them: each cleanup hook deletes its own.
    DeleteFailed,
}

impl State {
    fn line(self) -> &'static str {
        match self {
            State::Collecting => "collecting",
            State::Pushed => "pushed",
            State::Done => "done",
            State::DeleteFailed => "delete-failed",
        }
    }
}

/// What a spool file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// The challenges, in the order they were added, each token once.
    pub challenges: Vec<Challenge>,
    /// The last state line.
    pub state: State,
}

impl Contents {
    /// Whether the challenge with this token is in the spool.
    pub fn holds(&self, token: &str) -> bool {
        self.challenges.iter().any(|c| c.token() == token)
    }
}

/// This certbot run's spool file.
pub struct Spool {
    /// The directory, opened again if another run removed it (see the module).
    dir: RefCell<OwnedFd>,
    dir_path: PathBuf,
    name: String,
}

/// The directory of the spools: `$TMPDIR/certbot-django-hooks-<uid>`.
fn dir_path() -> PathBuf {
    let uid = rustix::process::geteuid().as_raw();
    std::env::temp_dir().join(format!("certbot-django-hooks-{uid}"))
}

/// FNV-1a: a stable hash of the certificate's names, for the file name only (the directory is
/// the user's own, so this need not resist anyone).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Why `stat` is not a safe place: `None` when it is this user's own, with no group or other
/// permission bits, of the expected type.
fn unsafe_because(stat: &rustix::fs::Stat, dir: bool) -> Option<String> {
    let kind = FileType::from_raw_mode(stat.st_mode);
    let uid = rustix::process::geteuid().as_raw();
    if dir && kind != FileType::Directory {
        return Some(format!("it is a {kind:?}, not a directory"));
    }
    if !dir && kind != FileType::RegularFile {
        return Some(format!("it is a {kind:?}, not a regular file"));
    }
    if stat.st_uid != uid {
        return Some(format!(
            "it is owned by uid {}, not by this user ({uid})",
            stat.st_uid
        ));
    }
    let mode = stat.st_mode & 0o777;
    if mode & 0o077 != 0 {
        return Some(format!(
            "its mode is {mode:04o}: group or others may use it"
        ));
    }
    None
}

/// Opens (creating it if need be) the spool directory at `path`, checked as the module says.
fn open_dir(path: &std::path::Path) -> Result<OwnedFd, String> {
    let fail = |problem: String| format!("spool directory {}: {problem}", path.display());
    match rustix::fs::mkdir(path, Mode::RWXU) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(fail(format!("cannot create it: {e}"))),
    }
    let before = rustix::fs::lstat(path).map_err(|e| fail(e.to_string()))?;
    if FileType::from_raw_mode(before.st_mode) == FileType::Symlink {
        return Err(fail("it is a symbolic link".into()));
    }
    if let Some(problem) = unsafe_because(&before, true) {
        return Err(fail(problem));
    }
    let dir = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(format!("cannot open it: {e}")))?;
    let after = rustix::fs::fstat(&dir).map_err(|e| fail(e.to_string()))?;
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
        return Err(fail("it was replaced while being opened".into()));
    }
    if let Some(problem) = unsafe_because(&after, true) {
        return Err(fail(problem));
    }
    Ok(dir)
}

/// The pid and start time a spool file's name records, if it is one.
fn run_of(name: &str) -> Option<(i32, u64)> {
    let mut parts = name.strip_prefix("run-")?.split('-');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl Spool {
    /// The spool of the certbot run this hook runs under, or why there can be none: no certbot
    /// ancestor (a hook run by hand, or by another client), or an unsafe directory.
    pub fn for_run(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, String> {
        let certbot = certbot_process::nearest_certbot()
            .ok_or("no certbot process above this hook, so no certbot run to collect for")?;
        let start = certbot_process::start_time(certbot.pid)
            .ok_or("cannot read certbot's start time from /proc")?;
        let names = env("CERTBOT_ALL_DOMAINS").unwrap_or_default();
        let dir_path = dir_path();
        Ok(Spool {
            dir: RefCell::new(open_dir(&dir_path)?),
            dir_path,
            name: format!(
                "run-{}-{start}-{:016x}",
                certbot.pid,
                fnv1a(names.as_bytes())
            ),
        })
    }

    /// The file's path, for messages.
    pub fn path(&self) -> PathBuf {
        self.dir_path.join(&self.name)
    }

    fn fail(&self, problem: impl std::fmt::Display) -> String {
        format!("spool file {}: {problem}", self.path().display())
    }

    /// Opens the file with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`) and checks it.
    fn open(&self, flags: OFlags) -> Result<File, Errno> {
        let fd = rustix::fs::openat(
            &*self.dir.borrow(),
            &self.name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?;
        let stat = rustix::fs::fstat(&fd)?;
        if unsafe_because(&stat, false).is_some() {
            return Err(Errno::PERM);
        }
        Ok(File::from(fd))
    }

    fn append_line(&self, line: &str, create: bool) -> Result<(), String> {
        let flags = OFlags::WRONLY | OFlags::APPEND;
        let mut created = self.open(flags | OFlags::CREATE | OFlags::EXCL);
        if matches!(created, Err(Errno::NOENT)) {
            // Another run's last cleanup removed the directory, empty, since this one opened it:
            // make it again, checked as the first time (its reason, if it is not safe now).
            self.dir.replace(open_dir(&self.dir_path)?);
            created = self.open(flags | OFlags::CREATE | OFlags::EXCL);
        }
        let mut file = match created {
            Ok(file) if create => {
                self.remove_stale();
                file
            }
            Ok(_) => {
                // Only state lines come here, and they need the challenges before them.
                self.remove();
                return Err(self.fail("it was gone"));
            }
            Err(Errno::EXIST) => self.open(flags).map_err(|e| self.fail(explain(e)))?,
            Err(e) => return Err(self.fail(explain(e))),
        };
        // One write of a whole line: O_APPEND keeps it whole.
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| self.fail(e))
    }

    /// Adds a challenge (creating the file, and removing the files of dead runs, if it is the
    /// first). A spool left from an earlier round of the same run (already pushed) starts over.
    pub fn add(&self, challenge: &Challenge) -> Result<(), String> {
        if let Some(old) = self.read()?
            && old.state != State::Collecting
        {
            self.remove();
        }
        self.append_line(
            &format!(
                "c {} {} {}",
                challenge.identifier(),
                challenge.token(),
                challenge.validation()
            ),
            true,
        )
    }

    /// Records a new state.
    pub fn mark(&self, state: State) -> Result<(), String> {
        self.append_line(state.line(), false)
    }

    /// What the file holds, `None` if there is none.
    pub fn read(&self) -> Result<Option<Contents>, String> {
        let mut file = match self.open(OFlags::RDONLY) {
            Ok(file) => file,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.fail(explain(e))),
        };
        let mut text = String::new();
        (&mut file)
            .take(MAX_SPOOL)
            .read_to_string(&mut text)
            .map_err(|e| self.fail(e))?;
        let mut contents = Contents {
            challenges: Vec::new(),
            state: State::Collecting,
        };
        for (n, line) in text.lines().enumerate() {
            let bad = |why: String| self.fail(format!("line {}: {why}", n + 1));
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["c", identifier, token, validation] => {
                    let challenge = Challenge::parse(identifier, token, validation)
                        .map_err(|e| bad(e.to_string()))?;
                    if !contents.holds(token) {
                        contents.challenges.push(challenge);
                    }
                }
                ["pushed"] => contents.state = State::Pushed,
                ["done"] => contents.state = State::Done,
                ["delete-failed"] => contents.state = State::DeleteFailed,
                _ => return Err(bad("not a line this hook writes".into())),
            }
        }
        Ok(Some(contents))
    }

    /// Removes the file (nothing if it is gone), and the directory if no other file is in it.
    pub fn remove(&self) {
        let _ = rustix::fs::unlinkat(&*self.dir.borrow(), &self.name, AtFlags::empty());
        // Only an empty directory goes: another run's file keeps it.
        let _ = rustix::fs::rmdir(&self.dir_path);
    }

    /// Removes the files of runs whose certbot is gone (or whose pid another process now has).
    fn remove_stale(&self) {
        let Ok(entries) = rustix::fs::Dir::read_from(&*self.dir.borrow()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy();
            if name == self.name {
                continue;
            }
            if let Some((pid, start)) = run_of(&name)
                && !certbot_process::still_running(pid, start)
            {
                let _ =
                    rustix::fs::unlinkat(&*self.dir.borrow(), entry.file_name(), AtFlags::empty());
            }
        }
    }
}

fn explain(e: Errno) -> String {
    match e {
        Errno::LOOP => "it is a symbolic link".into(),
        Errno::PERM => "it is not a regular file of this user's with mode 0600".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_read_back_from_the_file_name() {
        assert_eq!(
            run_of("run-4242-98765-00ff00ff00ff00ff"),
            Some((4242, 98765))
        );
        assert_eq!(run_of("other"), None);
        assert_eq!(run_of("run-x-1-00"), None);
    }

    /// A spool in a fresh directory of its own under the system's temporary directory.
    fn spool_in(test: &str, name: &str) -> Spool {
        let dir_path = std::env::temp_dir().join(format!(
            "certbot-django-hooks-spool-test-{}-{test}",
            std::process::id()
        ));
        Spool {
            dir: RefCell::new(open_dir(&dir_path).unwrap()),
            dir_path,
            name: name.into(),
        }
    }

    /// Another run's spool in the same directory.
    fn beside(spool: &Spool, name: &str) -> Spool {
        Spool {
            dir: RefCell::new(open_dir(&spool.dir_path).unwrap()),
            dir_path: spool.dir_path.clone(),
            name: name.into(),
        }
    }

    fn challenge(token: &str) -> Challenge {
        Challenge::parse(
            "a.example.com",
            token,
            &format!("{token}.{}", "A".repeat(43)),
        )
        .unwrap()
    }

    #[test]
    fn the_last_file_removed_takes_the_empty_directory_with_it() {
        let spool = spool_in("empty", "run-1-2-00");
        spool.add(&challenge("tokenA")).unwrap();

        spool.remove();

        assert!(!spool.dir_path.exists());
    }

    #[test]
    fn another_runs_file_keeps_the_directory() {
        let ours = spool_in("shared", "run-1-2-00");
        let theirs = beside(&ours, "run-1-3-00");
        ours.add(&challenge("tokenA")).unwrap();
        theirs.add(&challenge("tokenB")).unwrap();

        ours.remove();

        assert!(ours.dir_path.is_dir());
        assert!(theirs.read().unwrap().unwrap().holds("tokenB"));
        theirs.remove();
        assert!(!ours.dir_path.exists());
    }

    #[test]
    fn a_run_whose_directory_was_removed_under_it_makes_it_again() {
        let first = spool_in("again", "run-1-2-00");
        let second = beside(&first, "run-1-3-00");
        first.add(&challenge("tokenA")).unwrap();
        // The first run ends while the second holds the directory open, still empty for it.
        first.remove();
        assert!(!first.dir_path.exists());

        second.add(&challenge("tokenB")).unwrap();
        second.mark(State::Pushed).unwrap();

        let contents = second.read().unwrap().unwrap();
        assert_eq!(
            (contents.holds("tokenB"), contents.state),
            (true, State::Pushed)
        );
        second.remove();
        assert!(!first.dir_path.exists());
    }

    #[test]
    fn a_directory_replaced_by_a_link_under_a_run_is_refused_with_its_reason() {
        let first = spool_in("link", "run-1-2-00");
        let second = beside(&first, "run-1-3-00");
        first.add(&challenge("tokenA")).unwrap();
        first.remove();
        let elsewhere = first.dir_path.with_extension("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &first.dir_path).unwrap();

        let refused = second.add(&challenge("tokenB"));

        let written = std::fs::read_dir(&elsewhere).unwrap().count();
        std::fs::remove_file(&first.dir_path).unwrap();
        std::fs::remove_dir(&elsewhere).unwrap();
        assert!(
            refused
                .as_ref()
                .is_err_and(|why| why.contains("it is a symbolic link")),
            "{refused:?}"
        );
        assert_eq!(written, 0, "nothing written through the link");
    }

    #[test]
    fn the_names_hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"a.example,b.example"), fnv1a(b"a.example"));
    }
}
