//! What a test sets up on disk: its own directory (removed when the test ends, private keys
//! first), a key in it, a config file, a FIFO.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test's own directory (`cdh-cli-TEST-XXXXXX` in the system's temporary directory), removed
/// with everything in it when the test ends, passed or failed: the private keys first, then the
/// rest.
pub struct TestDir(Option<tempfile::TempDir>);

impl TestDir {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let Some(dir) = self.0.take() else { return };
        remove_private_keys(dir.path());
        // TempDir's own drop removes the rest; a failure there is only a leftover empty file.
        drop(dir);
    }
}

/// Removes every file below `dir` that holds a PEM private key.
fn remove_private_keys(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => remove_private_keys(&path),
            Ok(t) if t.is_file() => {
                let mut head = [0u8; 64];
                let is_key = std::fs::File::open(&path)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .is_ok_and(|n| {
                        let head = String::from_utf8_lossy(&head[..n]);
                        head.starts_with("-----BEGIN") && head.contains("PRIVATE KEY")
                    });
                if is_key {
                    let _ = std::fs::remove_file(&path);
                }
            }
            _ => {}
        }
    }
}

/// A fresh, empty directory for one test, removed when the returned [`TestDir`] drops.
pub fn temp_dir(test: &str) -> TestDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("cdh-cli-{test}-"))
        .tempdir()
        .expect("a temporary directory");
    TestDir(Some(dir))
}

/// Writes a new Ed25519 key (mode 0600) in `dir` and returns its path.
pub fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("key.pem");
    let key =
        certbot_django_hooks::generate_key(certbot_django_hooks::KeyType::Ed25519, 0).unwrap();
    certbot_django_hooks::write_new_key_file(&path, &key.private_pem).unwrap();
    path
}

/// A FIFO at `path` (`mkfifo`): opening it for reading blocks until a writer comes, forever.
pub fn make_fifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils) is needed for this test");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Whether the tests run as root (`id -u`), which `chown` to another user needs.
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The prologue most CLI tests share: a fresh [`TestDir`] named after the test, and a new
/// Ed25519 key in it.
pub fn keyed_dir(test: &str) -> (TestDir, PathBuf) {
    let dir = temp_dir(test);
    let key = key_file(&dir);
    (dir, key)
}

/// A config file for a site on 127.0.0.1:`port` (every host resolved there, the self-check on
/// the same port), with a fresh key beside it, in a directory that lives as long as the
/// returned [`TestDir`]: for the hooks that take their settings from a file only.
pub fn config_file(test: &str, port: u16, timeout: u64) -> (TestDir, PathBuf) {
    let (dir, _key) = keyed_dir(test);
    let path = dir.join("django-hooks.toml");
    std::fs::write(
        &path,
        format!(
            "server = \"http://{{domain}}:{port}\"\n\
             self_check_url = \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\n\
             resolve = [\"*:127.0.0.1\"]\n\
             key_file = \"key.pem\"\n\
             timeout = {timeout}\n"
        ),
    )
    .unwrap();
    (dir, path)
}
