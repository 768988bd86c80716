//! What certbot's auth and cleanup hooks and `auth-hook keygen` and `public-key` do, so that the
//! binaries only parse arguments, call [`run_auth`], [`run_cleanup`], ..., and hand the result to
//! [`exit_code`].

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::DeleteOutcome;
use crate::challenge::Challenge;
use crate::config::{Options, Settings};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::fail_closed::{self, OnFailure};
use crate::key::{self, KeyType};
use crate::output::Reporter;
use crate::self_check::wait_until_served;
use crate::session::Session;

/// The end of a hook's `main`: success, or the error and its causes on stderr and exit 1.
pub fn exit_code<T>(program: &str, result: Result<T, Error>) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            crate::error::write_chain(&mut std::io::stderr().lock(), program, &err);
            ExitCode::FAILURE
        }
    }
}

/// Runs `auth-hook` as certbot's auth hook. `env` looks up `CERTBOT_*` variables
/// (`std::env::var_os` in the binary). The result line goes to `stdout`.
pub fn run_auth(
    options: &Options,
    env: &dyn Fn(&str) -> Option<OsString>,
    stdout: &mut dyn Write,
    stderr: Box<dyn Write>,
) -> Result<(), Error> {
    let settings = match Settings::load(options) {
        Ok(settings) => settings,
        Err(err) => {
            let reporter = Reporter::new("auth-hook", crate::output::Verbosity::Normal, stderr);
            let mode = options.on_failure.unwrap_or_default();
            fail_closed_after(mode, &err, env, || None, &reporter);
            return Err(err);
        }
    };
    let reporter = Reporter::new("auth-hook", settings.verbosity, stderr);
    let challenge = match Challenge::from_env(env) {
        Ok(challenge) => challenge,
        Err(err) => {
            let err = Error::from(err);
            fail_closed_after(settings.on_failure, &err, env, || None, &reporter);
            return Err(err);
        }
    };
    match authenticate_with_lines(&settings, &challenge, &reporter) {
        Ok(lines) => {
            for line in lines {
                writeln!(stdout, "{line}").map_err(Error::Output)?;
            }
            Ok(())
        }
        Err(err) => {
            let delete = || delete_after_failure(&settings, &challenge, &err, &reporter);
            fail_closed_after(settings.on_failure, &err, env, delete, &reporter);
            Err(err)
        }
    }
}

/// Runs `auth-hook public-key`: the public key of `key_file`, in PEM, on `stdout`.
pub fn run_public_key(key_file: &Path, stdout: &mut dyn Write) -> Result<(), Error> {
    let signer = key::load_key_file(key_file)?;
    stdout
        .write_all(signer.public_key_pem().as_bytes())
        .map_err(Error::Output)
}

/// What `auth-hook keygen` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeygenOptions {
    /// Where to write the new private key; an existing file is never replaced.
    pub key_file: PathBuf,
    /// Ed25519 or RSA.
    pub key_type: KeyType,
    /// The RSA key size (ignored for Ed25519).
    pub rsa_bits: u32,
    /// The Django user the key will be registered to, for the instructions printed.
    pub username: String,
}

/// Longest time the failing auth hook spends deleting its own challenge before it stops
/// certbot (past --timeout when the deadline is what failed).
const MAX_FAILURE_DELETE: std::time::Duration = std::time::Duration::from_secs(10);

/// Deletes the challenge this run may have stored, after `err` (which says whether it may
/// have), because a stopped certbot will not run the cleanup hook for it. Returns what to tell
/// certbot's output and log, `None` when nothing was stored.
fn delete_after_failure(
    settings: &Settings,
    challenge: &Challenge,
    err: &Error,
    reporter: &Reporter,
) -> Option<String> {
    let may_be_stored = matches!(err, Error::SelfCheck { .. }) || err.push_may_have_stored();
    if !may_be_stored {
        return None;
    }
    let mut short = settings.clone();
    short.timeout = settings.timeout.min(MAX_FAILURE_DELETE);
    let token = &challenge.token();
    Some(match cleanup(&short, challenge, reporter) {
        Ok(DeleteOutcome::Deleted) => format!("auth-hook: deleted its challenge {token} again"),
        Ok(DeleteOutcome::AlreadyGone) => {
            format!("auth-hook: its challenge {token} is not on the site")
        }
        Err(e) => format!(
            "auth-hook: warning: could not delete its challenge {token} ({e}); {}",
            crate::advice::leftover_challenge(challenge)
        ),
    })
}

/// After a failed run: under certbot, and unless `--on-failure exit` (or `auto` under
/// `certbot renew`), delete this run's challenge (`delete`), write the reason into certbot's
/// output and log, and stop certbot with a signal it handles, so that it does not ask the CA
/// for a validation that would fail; what came of it is checked and written there too. See
/// [`fail_closed`]. Otherwise certbot's cleanup hook deletes the challenge, and only a note is
/// added under certbot.
fn fail_closed_after(
    mode: OnFailure,
    err: &Error,
    env: &dyn Fn(&str) -> Option<OsString>,
    delete: impl FnOnce() -> Option<String>,
    reporter: &Reporter,
) {
    let certbot = fail_closed::nearest_certbot();
    let stop = certbot
        .as_ref()
        .filter(|c| fail_closed::resolve(mode, Some(c)) == OnFailure::StopCertbot);
    let Some(certbot_to_stop) = stop else {
        if certbot.is_some() {
            reporter.warn(format_args!(
                "certbot will still ask the CA to validate, which will fail (--on-failure {}{}); \
                 stop-certbot would keep it from asking",
                mode.name(),
                if mode == OnFailure::Auto {
                    ", which is exit under 'certbot renew' so that the other certificates still \
                     renew"
                } else {
                    ""
                }
            ));
        }
        return;
    };
    let deleted = delete();
    let mut reason = Vec::new();
    crate::error::write_chain(&mut reason, "auth-hook", err);
    let mut reason = String::from_utf8_lossy(&reason).into_owned();
    if let Some(deleted) = deleted {
        reason.push_str(&deleted);
        reason.push('\n');
    }
    // certbot 1.32 sets only CERTBOT_DOMAIN; the name is for the operator, so a lossy one will do.
    let name = env("CERTBOT_IDENTIFIER")
        .or_else(|| env("CERTBOT_DOMAIN"))
        .map_or_else(
            || "the name".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let outcome = fail_closed::stop_certbot(certbot_to_stop, &reason, &name, mode);
    if !outcome.stops_validation() {
        reporter.warn(format_args!(
            "certbot was not stopped: the CA will validate {name} and fail (certbot's output and \
             log say why)"
        ));
    }
}

/// The auth hook proper for one challenge, whichever client it came from: push, self-check.
/// Returns the result line.
pub fn authenticate(
    settings: &Settings,
    challenge: &Challenge,
    reporter: &Reporter,
) -> Result<String, Error> {
    authenticate_with_lines(settings, challenge, reporter).map(|mut lines| lines.swap_remove(0))
}

/// [`authenticate`], returning the result line followed by the self-check's line per address
/// and node (indented), as auth-hook prints them on stdout.
pub fn authenticate_with_lines(
    settings: &Settings,
    challenge: &Challenge,
    reporter: &Reporter,
) -> Result<Vec<String>, Error> {
    let deadline = Deadline::new(settings.timeout);
    let mut context = String::new();
    if let Some(n) = challenge.remaining_challenges() {
        context.push_str(&format!("; {n} more challenge(s) after this one"));
    }
    if let Some(all) = challenge.all_domains() {
        context.push_str(&format!("; certificate for {all}"));
    }
    reporter.step(format_args!(
        "challenge {} for {}{context}",
        challenge.token(),
        challenge.identifier()
    ));
    let self_check_url = settings.self_check_url(challenge)?;
    let session = Session::open(settings, challenge.identifier(), deadline, reporter)?;
    let api = session.api()?;
    let status = api.push(challenge)?;
    reporter.step(format_args!("challenge stored ({status})"));
    let stored = format!(
        "challenge {} for {} stored at {}",
        challenge.token(),
        challenge.identifier(),
        api.base_url()
    );
    if !settings.self_check {
        reporter.step(format_args!(
            "done: self-check skipped (--no-self-check); {:.3} s in all",
            deadline.elapsed().as_secs_f64()
        ));
        return Ok(vec![format!("{stored} (self-check skipped)")]);
    }
    let served = wait_until_served(
        &self_check_url,
        challenge.validation(),
        &settings.resolve,
        &settings.self_check_nodes,
        deadline,
        reporter,
    )?;
    reporter.step(format_args!(
        "done: served after {} self-check attempt(s) in {:.3} s; {:.3} s in all",
        served.attempts,
        served.elapsed.as_secs_f64(),
        deadline.elapsed().as_secs_f64()
    ));
    let mut lines = vec![format!("{stored} and served")];
    lines.extend(served.lines.iter().map(|l| format!("  {l}")));
    Ok(lines)
}

/// Runs `cleanup-hook`.
pub fn run_cleanup(
    options: &Options,
    env: &dyn Fn(&str) -> Option<OsString>,
    stderr: Box<dyn Write>,
) -> Result<DeleteOutcome, Error> {
    let settings = Settings::load(options)?;
    let reporter = Reporter::new("cleanup-hook", settings.verbosity, stderr);
    let challenge = Challenge::from_env(env)?;
    // Only logged: the token to delete always comes from CERTBOT_TOKEN, never from this text.
    if let Some(auth_output) = env("CERTBOT_AUTH_OUTPUT") {
        reporter.step(format_args!(
            "the auth hook said: {}",
            crate::text::one_line(&auth_output.to_string_lossy(), 300)
        ));
    }
    cleanup(&settings, &challenge, &reporter)
}

/// The cleanup hook proper for one challenge, whichever client it came from: delete it.
pub fn cleanup(
    settings: &Settings,
    challenge: &Challenge,
    reporter: &Reporter,
) -> Result<DeleteOutcome, Error> {
    let deadline = Deadline::new(settings.timeout);
    let session = Session::open(settings, challenge.identifier(), deadline, reporter)?;
    let outcome = session.api()?.delete(challenge.token())?;
    let took = deadline.elapsed().as_secs_f64();
    reporter.step(match outcome {
        DeleteOutcome::Deleted => {
            format!(
                "done: challenge {} deleted; {took:.3} s in all",
                challenge.token()
            )
        }
        DeleteOutcome::AlreadyGone => format!(
            "done: challenge {} was already gone (404); {took:.3} s in all",
            challenge.token()
        ),
    });
    Ok(outcome)
}

/// Runs `auth-hook keygen`: writes a new key, prints its public key on `stdout` and what to do
/// next on `stderr`.
pub fn run_keygen(
    args: &KeygenOptions,
    env: &dyn Fn(&str) -> Option<OsString>,
    stdout: &mut dyn Write,
    mut stderr: Box<dyn Write>,
) -> Result<(), Error> {
    // Check the path before spending seconds on an RSA key.
    if args.key_file.exists() {
        return Err(Error::KeyWrite {
            path: args.key_file.clone(),
            problem: "it already exists, and keygen never overwrites a key: choose another path, \
                      or remove the old key if it is no longer registered anywhere"
                .into(),
        });
    }
    let generated = key::generate_key(args.key_type, args.rsa_bits)?;
    key::write_new_key_file(&args.key_file, &generated.private_pem)?;
    stdout
        .write_all(generated.signer.public_key_pem().as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)?;
    let advice = keygen_advice(args, crate::files::stdout_file(), env);
    let _ = stderr.write_all(advice.as_bytes());
    Ok(())
}

/// What keygen tells the operator to do next, fitted to how it was called: the file stdout
/// went to (`> acme.pub`) is the one to register, and a config file named in the environment
/// is where the key's path belongs.
fn keygen_advice(
    args: &KeygenOptions,
    stdout_file: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> String {
    let path = args.key_file.display();
    let user = &args.username;
    let kind = args.key_type;
    let admin = format!("https://<site>/{}", crate::urls::ADMIN_ADD_KEY_PATH);
    let (shown, at) = match &stdout_file {
        Some(file) => (
            format!("written to {}", file.display()),
            crate::advice::PublicKeyAt::File(file),
        ),
        None => (
            "printed on stdout".to_string(),
            crate::advice::PublicKeyAt::Printed {
                key_path: &args.key_file,
            },
        ),
    };
    let register = crate::advice::register_fully(user, at, &admin);
    let then = match env("CERTBOT_DJANGO_CONFIG") {
        Some(config) => format!(
            "Then set key_file = \"{path}\" in {} (CERTBOT_DJANGO_CONFIG names it), which both \
             hooks read.",
            std::path::Path::new(&config).display()
        ),
        None => format!(
            "Then pass --key-file {path} to both hooks, or set key_file = \"{path}\" in their \
             --config file."
        ),
    };
    format!(
        "auth-hook: wrote a new {kind} private key to {path} (mode 0600). Keep it there and secret.\n\
         The public key is {shown}. {register}{then}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen_args() -> KeygenOptions {
        KeygenOptions {
            key_file: "/etc/letsencrypt/django-hooks/key.pem".into(),
            key_type: KeyType::Ed25519,
            rsa_bits: 4096,
            username: "certbot".into(),
        }
    }

    #[test]
    fn keygen_names_the_file_its_stdout_went_to() {
        let text = keygen_advice(&keygen_args(), Some("/root/certbot.pub".into()), &|_| None);
        assert!(
            text.contains("The public key is written to /root/certbot.pub."),
            "{text}"
        );
        assert!(
            text.contains("copy /root/certbot.pub to the site"),
            "{text}"
        );
        assert!(
            text.contains("certbot_client certbot --public-key-file certbot.pub"),
            "{text}"
        );
        assert!(!text.contains("auth-hook public-key"), "{text}");
    }

    #[test]
    fn keygen_points_at_the_config_file_in_use() {
        let env = |name: &str| {
            (name == "CERTBOT_DJANGO_CONFIG").then(|| OsString::from("/etc/letsencrypt/h.toml"))
        };
        let text = keygen_advice(&keygen_args(), None, &env);
        assert!(
            text.ends_with(
                "Then set key_file = \"/etc/letsencrypt/django-hooks/key.pem\" in \
                 /etc/letsencrypt/h.toml (CERTBOT_DJANGO_CONFIG names it), which both hooks \
                 read.\n"
            ),
            "{text}"
        );
        let text = keygen_advice(&keygen_args(), None, &|_| None);
        assert!(
            text.contains(
                "Then pass --key-file /etc/letsencrypt/django-hooks/key.pem to both hooks"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_error_is_printed_with_each_cause_on_its_own_line() {
        let err = Error::Output(std::io::Error::other("broken pipe"));
        let mut out = Vec::new();
        crate::error::write_chain(&mut out, "auth-hook", &err);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "auth-hook: error: cannot write to standard output\n  caused by: broken pipe\n"
        );
    }
}
