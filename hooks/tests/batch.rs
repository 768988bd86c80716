//! One request per certificate: certbot's auth and cleanup hooks, run in order under a process
//! that is certbot to the hooks (a shell whose argv[0] is `certbot`, as certbot's manual plugin
//! runs them: `CERTBOT_REMAINING_CHALLENGES` counting down to 0, the same environments again for
//! the cleanup hooks), against the fake site. The requests the site counts are the evidence.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use hook_test_support::{
    BATCH, Reply, Request, Serving, Store, TestServer, batch_requests, batch_size, fake_site,
    fake_site_at, keyed_dir, without_batches,
};

const AUTH: &str = env!("CARGO_BIN_EXE_auth-hook");
const CLEANUP: &str = env!("CARGO_BIN_EXE_cleanup-hook");
const DEHYDRATED: &str = env!("CARGO_BIN_EXE_dehydrated-hook");
const THUMBPRINT: &str = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

/// Six names of one certificate, with their tokens and validations.
fn challenges(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            let token = format!("tok{i}-evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr");
            let validation = format!("{token}.{THUMBPRINT}");
            (format!("n{i}.example.test"), token, validation)
        })
        .collect()
}

fn all_domains(challenges: &[(String, String, String)]) -> String {
    challenges
        .iter()
        .map(|c| c.0.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The hooks' options: one site URL for every name (so one request), the self-check through
/// 127.0.0.1.
fn options(port: u16, key: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--server".into(),
        format!("http://example.test:{port}"),
        "--self-check-url".into(),
        format!("http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}"),
        "--resolve".into(),
        "*:127.0.0.1".into(),
        "--key-file".into(),
        key.display().to_string(),
        "--timeout".into(),
        "5".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn quote(s: &str) -> String {
    assert!(!s.contains('\''));
    format!("'{s}'")
}

/// A shell line running `bin` for challenge `i` of `all` as certbot does, its stdout, stderr
/// and exit status kept in `dir` under `name.i`.
fn hook_line(
    bin: &str,
    args: &[String],
    all: &[(String, String, String)],
    i: usize,
    remaining: Option<usize>,
    dir: &Path,
    name: &str,
) -> String {
    let (domain, token, validation) = &all[i];
    let mut env = vec![
        format!("CERTBOT_DOMAIN={}", quote(domain)),
        format!("CERTBOT_TOKEN={}", quote(token)),
        format!("CERTBOT_VALIDATION={}", quote(validation)),
        format!("CERTBOT_ALL_DOMAINS={}", quote(&all_domains(all))),
    ];
    if let Some(r) = remaining {
        env.push(format!("CERTBOT_REMAINING_CHALLENGES={r}"));
    }
    let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
    let out = dir.join(format!("{name}.{i}"));
    let out = out.display();
    format!(
        "{} {} {} >{out}.out 2>{out}.err; echo $? >{out}.rc\n",
        env.join(" "),
        quote(bin),
        args.join(" ")
    )
}

/// A fake certbot: a shell named `certbot` running `script`, with `TMPDIR` set, that waits for
/// a line on stdin wherever the script says `read go`.
struct Certbot {
    child: Child,
}

impl Certbot {
    fn start(script: &str, tmpdir: &Path) -> Certbot {
        let child = Command::new("/bin/sh")
            .arg0("certbot")
            .arg("-c")
            .arg(format!("{script}\nexit 0\n"))
            .env_clear()
            .env("TMPDIR", tmpdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fake certbot");
        Certbot { child }
    }

    /// Lets the script go on past its next `read go`.
    fn go_on(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the script reaches `dir/marker`.
    fn wait_for(&mut self, marker: &Path) {
        for _ in 0..600 {
            if marker.exists() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the fake certbot ended early: {status:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the fake certbot never reached {}", marker.display());
    }

    fn wait(mut self) -> ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
    }
}

fn rc(dir: &Path, name: &str, i: usize) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.{i}.rc")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn output(dir: &Path, name: &str, i: usize, what: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.{i}.{what}"))).unwrap_or_default()
}

fn spool_dir(tmpdir: &Path) -> PathBuf {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    tmpdir.join(format!("certbot-django-hooks-{uid}"))
}

fn spool_files(tmpdir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(spool_dir(tmpdir)) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn single_posts(site: &TestServer) -> Vec<Request> {
    site.with_method("POST")
        .into_iter()
        .filter(|r| r.path == "/.well-known/challenges/")
        .collect()
}

/// The script of a whole certbot run of `n` challenges: the auth hooks (pausing before the
/// last one), then the cleanup hooks (pausing before them). Markers `auth-deferred` and
/// `auth-done` say where it waits.
fn certbot_script(
    dir: &Path,
    all: &[(String, String, String)],
    auth: &[String],
    cleanup: &[String],
) -> String {
    let n = all.len();
    let mut script = String::new();
    for i in 0..n - 1 {
        script.push_str(&hook_line(AUTH, auth, all, i, Some(n - 1 - i), dir, "auth"));
    }
    script.push_str(&format!(
        "touch {}\nread go\n",
        dir.join("auth-deferred").display()
    ));
    script.push_str(&hook_line(AUTH, auth, all, n - 1, Some(0), dir, "auth"));
    script.push_str(&format!(
        "touch {}\nread go\n",
        dir.join("auth-done").display()
    ));
    for i in 0..n {
        script.push_str(&hook_line(
            CLEANUP,
            cleanup,
            all,
            i,
            Some(n - 1 - i),
            dir,
            "cleanup",
        ));
    }
    script
}

#[test]
fn five_deferred_auth_hooks_send_nothing_and_the_last_pushes_all_six_in_one_request() {
    let (dir, key) = keyed_dir("batch-six");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let all = challenges(6);
    let args = options(site.port(), &key, &[]);
    let mut certbot = Certbot::start(&certbot_script(&dir, &all, &args, &args), &dir);

    certbot.wait_for(&dir.join("auth-deferred"));
    assert_eq!(site.count(), 0, "the deferred auth hooks sent nothing");
    for i in 0..5 {
        assert_eq!(
            rc(&dir, "auth", i),
            "0",
            "{}",
            output(&dir, "auth", i, "err")
        );
    }
    // The spool: an owner-only directory, one file of mode 0600.
    let meta = std::fs::symlink_metadata(spool_dir(&dir)).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let files = spool_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = std::fs::symlink_metadata(&files[0]).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    certbot.go_on();
    certbot.wait_for(&dir.join("auth-done"));
    assert_eq!(
        rc(&dir, "auth", 5),
        "0",
        "{}",
        output(&dir, "auth", 5, "err")
    );
    let pushes = batch_requests(&site.requests(), false);
    assert_eq!(pushes.len(), 1, "one push for the certificate");
    assert_eq!(batch_size(&pushes[0]), 6);
    assert_eq!(single_posts(&site).len(), 0);
    // Every name was self-checked before the last hook returned, and each has its line.
    let gets = site.with_method("GET");
    for (_, token, _) in &all {
        assert!(gets.iter().any(|g| g.path.ends_with(token.as_str())));
    }
    let stdout = output(&dir, "auth", 5, "out");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.ends_with(" and served"))
            .count(),
        6,
        "{stdout}"
    );

    certbot.go_on();
    assert!(certbot.wait().success());
    for i in 0..6 {
        assert_eq!(
            rc(&dir, "cleanup", i),
            "0",
            "{}",
            output(&dir, "cleanup", i, "err")
        );
    }
    let deletes = batch_requests(&site.requests(), true);
    assert_eq!(deletes.len(), 1, "one delete for the certificate");
    assert_eq!(batch_size(&deletes[0]), 6);
    assert_eq!(site.with_method("DELETE").len(), 0);
    assert_eq!(
        spool_files(&dir),
        Vec::<PathBuf>::new(),
        "the last cleanup removed the spool"
    );
}

/// Runs the six auth and cleanup hooks straight through.
fn whole_run(dir: &Path, site: &TestServer, key: &Path, extra: &[&str]) -> ExitStatus {
    let all = challenges(6);
    let args = options(site.port(), key, extra);
    let script = certbot_script(dir, &all, &args, &args).replace("read go\n", "");
    Certbot::start(&script, dir).wait()
}

#[test]
fn no_batch_pushes_and_deletes_each_challenge_on_its_own() {
    let (dir, key) = keyed_dir("batch-off");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    assert!(whole_run(&dir, &site, &key, &["--no-batch"]).success());
    assert_eq!(single_posts(&site).len(), 6);
    assert_eq!(site.with_method("DELETE").len(), 6);
    assert_eq!(batch_requests(&site.requests(), false).len(), 0);
    assert_eq!(batch_requests(&site.requests(), true).len(), 0);
    assert_eq!(spool_files(&dir), Vec::<PathBuf>::new());
}

#[test]
fn a_site_without_batches_gets_one_request_per_challenge_from_the_last_hook() {
    let (dir, key) = keyed_dir("batch-old-site");
    let site = fake_site(Serving::AtOnce, |req, _| without_batches(req));
    assert!(whole_run(&dir, &site, &key, &[]).success());
    for i in 0..6 {
        assert_eq!(
            rc(&dir, "auth", i),
            "0",
            "{}",
            output(&dir, "auth", i, "err")
        );
    }
    // One batch attempt (404, no refusal code), then the six, all after the last hook began.
    let requests = site.requests();
    assert_eq!(batch_requests(&requests, false).len(), 1);
    let posts = single_posts(&site);
    assert_eq!(posts.len(), 6);
    let first_batch = requests.iter().position(|r| r.path == BATCH).unwrap();
    assert!(
        requests[..first_batch].is_empty(),
        "nothing before the last hook"
    );
    // The first cleanup deleted all six, one by one; the others sent nothing.
    assert_eq!(batch_requests(&requests, true).len(), 1);
    assert_eq!(site.with_method("DELETE").len(), 6);
    assert_eq!(spool_files(&dir), Vec::<PathBuf>::new());
}

#[test]
fn without_remaining_challenges_each_hook_pushes_its_own() {
    let (dir, key) = keyed_dir("batch-old-certbot");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let all = challenges(2);
    let args = options(site.port(), &key, &[]);
    let script: String = (0..2)
        .map(|i| hook_line(AUTH, &args, &all, i, None, &dir, "auth"))
        .collect();
    assert!(Certbot::start(&script, &dir).wait().success());
    assert_eq!(single_posts(&site).len(), 2);
    assert_eq!(batch_requests(&site.requests(), false).len(), 0);
    assert_eq!(spool_files(&dir), Vec::<PathBuf>::new());
}

#[test]
fn a_spool_of_a_dead_certbot_is_removed_and_never_pushed() {
    let (dir, key) = keyed_dir("batch-stale");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    // A certbot that ran and is gone: its pid with a start time no process has now.
    let mut gone = Command::new("/bin/true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let spool = spool_dir(&dir);
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    let stale_token = "stale-evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr";
    let stale = spool.join(format!("run-{pid}-1-0000000000000000"));
    std::fs::write(
        &stale,
        format!("c old.example.test {stale_token} {stale_token}.{THUMBPRINT}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o600)).unwrap();

    assert!(whole_run(&dir, &site, &key, &[]).success());
    assert!(!stale.exists(), "the dead run's spool was removed");
    let pushes = batch_requests(&site.requests(), false);
    assert_eq!(pushes.len(), 1);
    assert_eq!(batch_size(&pushes[0]), 6);
    assert!(
        !String::from_utf8_lossy(&pushes[0].body).contains(stale_token),
        "the dead run's challenge was never pushed"
    );
}

#[test]
fn a_symlinked_spool_directory_is_refused_and_each_hook_pushes_at_once() {
    let (dir, key) = keyed_dir("batch-dir-link");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, spool_dir(&dir)).unwrap();

    assert!(whole_run(&dir, &site, &key, &["-v"]).success());
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the link"
    );
    assert_eq!(single_posts(&site).len(), 6);
    assert_eq!(site.with_method("DELETE").len(), 6);
    assert!(
        output(&dir, "auth", 0, "err").contains("it is a symbolic link"),
        "{}",
        output(&dir, "auth", 0, "err")
    );
}

/// The start time of `pid` (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// FNV-1a, as the hooks name a spool file after the certificate's names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn a_symlinked_spool_file_is_refused_and_each_hook_pushes_at_once() {
    let (dir, key) = keyed_dir("batch-file-link");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let all = challenges(6);
    let args = options(site.port(), &key, &[]);
    let script = format!(
        "touch {}\nread go\n{}",
        dir.join("started").display(),
        certbot_script(&dir, &all, &args, &args).replace("read go\n", "")
    );
    let mut certbot = Certbot::start(&script, &dir);
    certbot.wait_for(&dir.join("started"));
    let pid = certbot.child.id();
    let spool = spool_dir(&dir);
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = dir.join("target");
    std::fs::write(&target, "").unwrap();
    let name = format!(
        "run-{pid}-{}-{:016x}",
        start_time(pid),
        fnv1a(all_domains(&all).as_bytes())
    );
    std::os::unix::fs::symlink(&target, spool.join(&name)).unwrap();
    certbot.go_on();
    assert!(certbot.wait().success());
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "",
        "nothing written through the link"
    );
    assert_eq!(single_posts(&site).len(), 6);
    assert_eq!(batch_requests(&site.requests(), false).len(), 0);
    assert_eq!(site.with_method("DELETE").len(), 6);
}

#[test]
fn a_refused_batch_fails_the_last_auth_hook_stores_nothing_and_leaves_no_spool() {
    let (dir, key) = keyed_dir("batch-refused");
    let store = Store::default();
    let site = fake_site_at("127.0.0.1:0", &store, Serving::AtOnce, |req, _| {
        (req.path == BATCH).then(|| {
            Reply::text(
                403,
                "nothing stored: 1 of 6 challenges refused: n3.example.test: outside the scope",
            )
            .header("Acme-Challenge-Refusal", "domain-out-of-scope")
        })
    });
    // A shell defers a signal until its child exits, so this certbot cannot be stopped while
    // the hook waits for it to stop: let it go on (tests/test_fail_closed.py stops a real one).
    assert!(whole_run(&dir, &site, &key, &["--on-failure", "exit"]).success());
    assert_eq!(
        rc(&dir, "auth", 5),
        "1",
        "{}",
        output(&dir, "auth", 5, "err")
    );
    assert!(
        output(&dir, "auth", 5, "err").contains("(refusal code domain-out-of-scope)"),
        "{}",
        output(&dir, "auth", 5, "err")
    );
    assert_eq!(batch_requests(&site.requests(), false).len(), 1);
    assert_eq!(single_posts(&site).len(), 0);
    assert_eq!(site.with_method("GET").len(), 0, "nothing to self-check");
    assert_eq!(
        spool_files(&dir),
        Vec::<PathBuf>::new(),
        "nothing left in the spool"
    );
}

#[test]
fn dehydrated_hook_chain_pushes_and_deletes_the_whole_chain_in_one_request_each() {
    let (dir, key) = keyed_dir("batch-dehydrated");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let config = dir.join("django-hooks.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"http://example.test:{port}\"\n\
             self_check_url = \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\n\
             resolve = [\"*:127.0.0.1\"]\n\
             key_file = \"{}\"\n\
             timeout = 5\n",
            key.display(),
            port = site.port()
        ),
    )
    .unwrap();
    let all = challenges(4);
    let run = |handler: &str| {
        let mut args = vec![handler.to_string()];
        for (domain, token, validation) in &all {
            args.extend([domain.clone(), token.clone(), validation.clone()]);
        }
        hook_test_support::run(
            DEHYDRATED,
            &args,
            &[
                ("CERTBOT_DJANGO_CONFIG", &config.display().to_string()),
                ("CHALLENGETYPE", "http-01"),
            ],
        )
    };
    let deploy = run("deploy_challenge");
    deploy.assert_success().assert_no_jwt();
    assert_eq!(deploy.stdout.lines().count(), 4, "{}", deploy.stdout);
    let pushes = batch_requests(&site.requests(), false);
    assert_eq!(pushes.len(), 1);
    assert_eq!(batch_size(&pushes[0]), 4);
    assert_eq!(single_posts(&site).len(), 0);
    run("clean_challenge").assert_success();
    let deletes = batch_requests(&site.requests(), true);
    assert_eq!(deletes.len(), 1);
    assert_eq!(batch_size(&deletes[0]), 4);
    assert_eq!(site.with_method("DELETE").len(), 0);
}
