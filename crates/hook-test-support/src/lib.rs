//! Helpers for the hooks' CLI tests: a scripted in-process HTTP server that records and counts
//! every request, a fake site speaking the challenge API (and, like the real one, refusing a JWT
//! that is not bound to the request it came with), and a runner for the built binaries.
//!
//! A fake server is only for faults the real Django app cannot produce on demand (redirects,
//! 5xx, hangs, huge bodies, odd `Date` headers); the real app is exercised end to end elsewhere.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token as certbot passes it.
pub const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
/// A key authorization for [`TOKEN`].
pub const VALIDATION: &str =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
/// The domain the tests certify; `--resolve` points it at 127.0.0.1.
pub const DOMAIN: &str = "example.test";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/.well-known/challenges/`.
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The claims of the JWT in `Authorization: JWT <token>`, decoded without checking the
    /// signature (the real verifier does that in the library's tests), or `None` without one.
    pub fn jwt_claims(&self) -> Option<serde_json::Value> {
        let token = self.header("authorization")?.strip_prefix("JWT ")?;
        let payload = token.split('.').nth(1)?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// The URL the request went to, as the site sees it: the absolute-form target a proxy gets,
    /// else `http://` + the `Host` header + the target.
    pub fn url(&self) -> url::Url {
        let text = if self.path.starts_with("http://") || self.path.starts_with("https://") {
            self.path.clone()
        } else {
            format!("http://{}{}", self.header("host").unwrap_or("?"), self.path)
        };
        url::Url::parse(&text).expect("a request URL")
    }

    /// Whether the request's JWT is bound to this very request, by the contract's rules: `htm`
    /// is the method, `htu` names the request's host (port ignored) and path (scheme ignored),
    /// `bsh` is the unpadded base64url SHA-256 of the body. `Err` says what does not match, as
    /// the site would.
    pub fn check_binding(&self) -> Result<(), String> {
        let claims = self.jwt_claims().ok_or("no decodable JWT")?;
        let claim = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let (Some(htm), Some(htu), Some(bsh)) = (claim("htm"), claim("htu"), claim("bsh")) else {
            return Err(format!(
                "JWT lacks the request-binding claims htm, htu, bsh: {claims}"
            ));
        };
        let bound = url::Url::parse(&htu).map_err(|e| format!("htu {htu:?} is no URL: {e}"))?;
        let here = self.url();
        if htm != self.method || bound.host_str() != here.host_str() || bound.path() != here.path()
        {
            return Err(format!(
                "JWT is bound to {htm} {htu} but this request is {} to host '{}' path '{}'",
                self.method,
                here.host_str().unwrap_or("?"),
                here.path()
            ));
        }
        if bsh != body_sha256(&self.body) {
            return Err("JWT body hash does not match the request body".into());
        }
        Ok(())
    }

    /// The body as `application/x-www-form-urlencoded` fields.
    pub fn form(&self) -> HashMap<String, String> {
        String::from_utf8_lossy(&self.body)
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }
}

/// The `bsh` the contract asks for: unpadded base64url of the SHA-256 of `body`, computed here
/// independently of the hooks' own code.
pub fn body_sha256(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with a status, headers and body, then close.
    Respond {
        /// HTTP status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Accept the request and never answer (the connection stays open for two minutes).
    Hang,
}

impl Reply {
    /// A response with a text/plain body.
    pub fn text(status: u16, body: &str) -> Self {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An empty response.
    pub fn status(status: u16) -> Self {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Request, &[Request]) -> Reply + Send + Sync;

/// A scripted HTTP/1.1 server on 127.0.0.1. The handler sees each request and all earlier ones.
pub struct TestServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl TestServer {
    /// Starts the server on a free port.
    pub fn start(handler: impl Fn(&Request, &[Request]) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_at("127.0.0.1:0", handler)
    }

    /// Starts the server on `addr`: another loopback address (`127.0.0.2:0`, `[::1]:0`), or the
    /// port of another server on another address (`127.0.0.2:PORT`), so that one name with
    /// several addresses reaches several servers on one port.
    pub fn start_at(
        addr: &str,
        handler: impl Fn(&Request, &[Request]) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, &*handler, &recorded));
            }
        });
        TestServer { port, requests }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Requests with this method.
    pub fn with_method(&self, method: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

fn serve(stream: TcpStream, handler: &Handler, recorded: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let request = Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    };
    let reply = {
        let mut all = recorded.lock().unwrap();
        let earlier = all.clone();
        all.push(request.clone());
        drop(all);
        handler(&request, &earlier)
    };
    let mut stream = stream;
    match reply {
        Reply::Hang => std::thread::sleep(Duration::from_secs(120)),
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            let _ = stream.write_all(head.as_bytes());
            for chunk in body.chunks(64 * 1024) {
                if stream.write_all(chunk).is_err() {
                    break;
                }
            }
            let _ = stream.flush();
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// How the fake site serves stored challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// As soon as they are stored.
    AtOnce,
    /// Only this long after the POST (replication lag).
    After(Duration),
    /// Never: every GET is a 404.
    Never,
}

/// A fake site speaking the challenge API: POST stores, GET serves, DELETE removes.
/// `override_reply` may answer a request first (to inject faults); `None` falls through. Like the
/// real site, it answers 401 to an API request whose JWT is not bound to it
/// ([`Request::check_binding`]).
pub fn fake_site(
    serving: Serving,
    override_reply: impl Fn(&Request, &[Request]) -> Option<Reply> + Send + Sync + 'static,
) -> TestServer {
    fake_site_at("127.0.0.1:0", &Store::default(), serving, override_reply)
}

/// The challenges a fake site stores: its database. Clones share it, so several fake sites
/// (nodes) can serve from one store, or each from its own.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<HashMap<String, (String, Instant)>>>);

/// [`fake_site`] listening on `addr` (see [`TestServer::start_at`]) and keeping its challenges
/// in `store`.
pub fn fake_site_at(
    addr: &str,
    store: &Store,
    serving: Serving,
    override_reply: impl Fn(&Request, &[Request]) -> Option<Reply> + Send + Sync + 'static,
) -> TestServer {
    let store = Arc::clone(&store.0);
    TestServer::start_at(addr, move |req, earlier| {
        if let Some(reply) = override_reply(req, earlier) {
            return reply;
        }
        let api = req.path.starts_with("/.well-known/challenges/");
        if api
            && req.method != "GET"
            && req.header("authorization").is_some()
            && let Err(mismatch) = req.check_binding()
        {
            return Reply::text(401, &mismatch).header("WWW-Authenticate", "JWT");
        }
        let mut store = store.lock().unwrap();
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/.well-known/challenges/") => {
                let form = req.form();
                let (Some(token), Some(response)) = (form.get("challenge"), form.get("response"))
                else {
                    return Reply::text(400, "missing challenge or response");
                };
                store.insert(token.clone(), (response.clone(), Instant::now()));
                Reply::text(201, "created")
            }
            ("GET", path) if path.starts_with("/.well-known/acme-challenge/") => {
                let token = &path["/.well-known/acme-challenge/".len()..];
                match (store.get(token), serving) {
                    (Some((validation, _)), Serving::AtOnce) => Reply::text(200, validation),
                    (Some((validation, stored)), Serving::After(lag))
                        if stored.elapsed() >= lag =>
                    {
                        Reply::text(200, validation)
                    }
                    _ => Reply::text(404, "Not Found"),
                }
            }
            ("DELETE", path) if path.starts_with("/.well-known/challenges/") => {
                let token = path["/.well-known/challenges/".len()..].trim_end_matches('/');
                match store.remove(token) {
                    Some(_) => Reply::status(204),
                    None => Reply::text(404, "no such challenge"),
                }
            }
            _ => Reply::text(404, "Not Found"),
        }
    })
}

/// The real app's answer to an API request (POST, or DELETE) without `Authorization`: 401 with
/// `WWW-Authenticate: JWT`. For `fake_site`'s override, so `auth-hook check` finds the API.
pub fn refuse_without_jwt(req: &Request) -> Option<Reply> {
    let api = req.path.starts_with("/.well-known/challenges/");
    (api && req.method != "GET" && req.header("authorization").is_none()).then(|| {
        Reply::text(
            401,
            "authentication required: send 'Authorization: JWT <token>'",
        )
        .header("WWW-Authenticate", "JWT")
    })
}

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

/// `SUBCOMMAND --key-file PATH`: the arguments of `auth-hook keygen` and `auth-hook public-key`.
pub fn key_command(subcommand: &str, key: &Path) -> Vec<String> {
    vec![
        subcommand.into(),
        "--key-file".into(),
        key.display().to_string(),
    ]
}

/// A port on 127.0.0.1 that nothing listens on: connecting to it is refused.
pub fn closed_port() -> u16 {
    // Bound and released at once. Another process could take the port before the test connects;
    // on a test machine that is rare enough to accept.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
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
    let key = key_file(&temp_dir(test));
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
