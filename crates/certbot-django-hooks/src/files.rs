//! Reading the hooks' own files (the private key, the config file, a CA bundle): regular files
//! only, opened without blocking, read with a size cap.
//!
//! certbot has no hook timeout, so a hook that blocks holds up the whole renewal. A plain
//! `open(2)` of a FIFO blocks until a writer appears (forever), and reading `/dev/zero` never
//! ends. So files are opened with `O_NONBLOCK` (a FIFO then opens at once), the type is checked
//! with `fstat(2)` on the opened descriptor (no window between the check and the read), anything
//! but a regular file is refused, and at most a fixed number of bytes is read.
//!
//! The config file is also refused when others could have written it, as OpenSSH refuses a
//! `~/.ssh/config` (readconf.c, `secure_permissions`): its settings choose the key and the server
//! the signed requests go to.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Largest private key file read. Real keys are a few KiB (an RSA 8192 PKCS#8 PEM is about 6).
pub const MAX_KEY_FILE: u64 = 64 * 1024;
/// Largest config file read. The longest sensible one is a few hundred bytes.
pub const MAX_CONFIG_FILE: u64 = 64 * 1024;
/// Largest CA bundle read: the whole Mozilla bundle is about 220 KiB.
pub const MAX_CA_BUNDLE: u64 = 4 * 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum FileProblem {
    /// No such file.
    NotFound,
    /// The caller may not open it.
    PermissionDenied,
    /// It is a FIFO, a device, a directory or a socket: the text names which.
    NotRegular(&'static str),
    /// It holds more than the cap.
    TooLarge(u64),
    /// Any other error from open(2), fstat(2) or read(2).
    Io(std::io::Error),
}

impl FileProblem {
    /// The problem as a phrase to follow "FILE: ", with what to pass instead for a file that is
    /// not a regular file (`what`, e.g. "the key file", "a TOML file").
    pub fn describe(&self, what: &str) -> String {
        match self {
            FileProblem::NotFound => "it does not exist".into(),
            FileProblem::PermissionDenied => "permission denied".into(),
            FileProblem::NotRegular(kind) => format!(
                "it is {kind}, not a regular file, so it is refused without reading it: pass the \
                 path of {what}"
            ),
            FileProblem::TooLarge(cap) => format!(
                "it is larger than {}, so it is not {what}",
                human_size(*cap)
            ),
            FileProblem::Io(e) => format!("cannot read it: {e}"),
        }
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// What kind of file `meta` describes, as a noun phrase for messages.
fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking and returns it with its `fstat` metadata, refusing
/// anything but a regular file before a byte is read.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), FileProblem> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(errno) => {
            let err = std::io::Error::from(errno);
            return Err(match err.kind() {
                std::io::ErrorKind::NotFound => FileProblem::NotFound,
                std::io::ErrorKind::PermissionDenied => FileProblem::PermissionDenied,
                // A socket cannot be opened at all (ENXIO): say what it is rather than the errno.
                _ => match std::fs::metadata(path) {
                    Ok(meta) if !meta.is_file() => FileProblem::NotRegular(kind(&meta)),
                    _ => FileProblem::Io(err),
                },
            });
        }
    };
    let meta = file.metadata().map_err(FileProblem::Io)?;
    if !meta.is_file() {
        return Err(FileProblem::NotRegular(kind(&meta)));
    }
    Ok((file, meta))
}

/// Reads at most `cap` bytes of `reader`, and whether more followed: the one capped reader, for
/// the hooks' files ([`read_capped`] refuses what is over the cap) and for HTTP bodies (an error
/// body or a self-check answer is cut at the cap, and a read error just ends it: the bytes read
/// until then are returned beside the error).
pub fn read_at_most(mut reader: impl Read, cap: u64) -> (Vec<u8>, std::io::Result<bool>) {
    let mut bytes = Vec::new();
    let read = reader
        .by_ref()
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes);
    let more = bytes.len() as u64 > cap;
    bytes.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    (bytes, read.map(|_| more))
}

/// Reads the rest of `file`, refusing more than `cap` bytes. A regular file never blocks, so
/// `O_NONBLOCK` left on the descriptor changes nothing here.
pub fn read_capped(file: &mut File, cap: u64) -> Result<Vec<u8>, FileProblem> {
    let (bytes, more) = read_at_most(file, cap);
    if more.map_err(FileProblem::Io)? {
        return Err(FileProblem::TooLarge(cap));
    }
    Ok(bytes)
}

/// Opens and reads a regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<(Metadata, Vec<u8>), FileProblem> {
    let (mut file, meta) = open_regular(path)?;
    let bytes = read_capped(&mut file, cap)?;
    Ok((meta, bytes))
}

/// The real user id of the hook, as OpenSSH compares a config file's owner with `getuid()`.
pub fn caller_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// OpenSSH's rule for `~/.ssh/config`, for a file with `mode` owned by `owner`, read by `caller`:
/// refused when group or others may write it, or when it belongs to neither the caller nor
/// root. Returns the problem and its fix, for a message starting "config file PATH: ".
pub fn config_file_problem(path: &Path, mode: u32, owner: u32, caller: u32) -> Option<String> {
    const AS_SSH: &str = "so it is refused, as OpenSSH refuses such a ~/.ssh/config";
    let path = path.display();
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        };
        return Some(format!(
            "{who} may write it (mode {:04o}), {AS_SSH}: run 'chmod go-w {path}'",
            mode & 0o7777
        ));
    }
    if owner != 0 && owner != caller {
        return Some(format!(
            "it belongs to uid {owner}, neither the user running the hook (uid {caller}) nor \
             root, {AS_SSH}: run 'chown {caller} {path}' (as root), or use a config file of your \
             own"
        ));
    }
    None
}

/// The mode bits and owner of an opened file, for [`config_file_problem`].
pub fn mode_and_owner(meta: &Metadata) -> (u32, u32) {
    (meta.mode() & 0o7777, meta.uid())
}

/// The regular file this process's stdout was redirected to (`auth-hook keygen ... > k.pub`),
/// if it is one: read from `/proc/self/fd/1`. `None` for a terminal, a pipe, or no `/proc`.
pub fn stdout_file() -> Option<std::path::PathBuf> {
    let path = std::fs::read_link("/proc/self/fd/1").ok()?;
    std::fs::metadata(&path).ok()?.is_file().then_some(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A directory removed with its contents when the test ends.
    pub(crate) fn temp_dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("cdh-{name}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn a_fifo_is_refused_at_once_without_waiting_for_a_writer() {
        let tmp = temp_dir("fifo");
        let dir = tmp.path();
        let fifo = dir.join("key.pem");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) is needed for this test");
        assert!(status.success());
        let started = Instant::now();
        let problem = read_regular(&fifo, MAX_KEY_FILE).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(problem, FileProblem::NotRegular("a FIFO (named pipe)")),
            "{problem:?}"
        );
    }

    #[test]
    fn devices_and_directories_are_refused_before_reading() {
        let problem = read_regular(Path::new("/dev/zero"), MAX_CONFIG_FILE).unwrap_err();
        assert_eq!(
            problem.describe("a TOML file"),
            "it is a character device, not a regular file, so it is refused without reading it: \
             pass the path of a TOML file"
        );
        let problem = read_regular(Path::new("/"), MAX_CONFIG_FILE).unwrap_err();
        assert!(matches!(problem, FileProblem::NotRegular("a directory")));
    }

    #[test]
    fn files_over_the_cap_are_refused_and_files_at_the_cap_are_read() {
        let tmp = temp_dir("cap");
        let dir = tmp.path();
        let path = dir.join("big");
        std::fs::write(&path, vec![b'x'; 1025]).unwrap();
        let problem = read_regular(&path, 1024).unwrap_err();
        assert_eq!(
            problem.describe("a TOML file"),
            "it is larger than 1 KiB, so it is not a TOML file"
        );
        std::fs::write(&path, vec![b'x'; 1024]).unwrap();
        assert_eq!(read_regular(&path, 1024).unwrap().1.len(), 1024);
        assert!(matches!(
            read_regular(&dir.join("absent"), 1024).unwrap_err(),
            FileProblem::NotFound
        ));
    }

    #[test]
    fn a_config_file_others_may_write_is_refused_with_chmod_go_w() {
        let path = Path::new("/etc/hooks.toml");
        for (mode, who) in [
            (0o666, "group and others"),
            (0o664, "its group"),
            (0o646, "others"),
            (0o620, "its group"),
        ] {
            let problem = config_file_problem(path, mode, 0, 0).unwrap();
            assert_eq!(
                problem,
                format!(
                    "{who} may write it (mode {mode:04o}), so it is refused, as OpenSSH refuses \
                     such a ~/.ssh/config: run 'chmod go-w /etc/hooks.toml'"
                )
            );
        }
        for fine in [0o644, 0o640, 0o600, 0o400, 0o755] {
            assert_eq!(config_file_problem(path, fine, 0, 0), None, "{fine:o}");
        }
    }

    #[test]
    fn a_config_file_of_another_user_is_refused_but_root_and_own_files_are_read() {
        let path = Path::new("/home/a/hooks.toml");
        assert_eq!(
            config_file_problem(path, 0o644, 65534, 1000).unwrap(),
            "it belongs to uid 65534, neither the user running the hook (uid 1000) nor root, so \
             it is refused, as OpenSSH refuses such a ~/.ssh/config: run 'chown 1000 \
             /home/a/hooks.toml' (as root), or use a config file of your own"
        );
        assert_eq!(config_file_problem(path, 0o644, 0, 1000), None);
        assert_eq!(config_file_problem(path, 0o600, 1000, 1000), None);
        assert!(config_file_problem(path, 0o644, 1000, 0).is_some());
    }
}
