//! What certbot's auth and cleanup hooks and `auth-hook keygen` and `public-key` do, so that the
//! binaries only parse arguments, call [`run_auth`], [`run_cleanup`], ..., and hand the result to
//! [`exit_code`].

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::DeleteOutcome;
use crate::certbot_process::{self, OnFailure};
use crate::challenge::{Challenge, Identifier};
use crate::config::{Options, Settings};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::key::{self, KeyType};
use crate::output::Reporter;
use crate::readiness::{Check, wait_until_all_served};
use crate::session::{PushFailed, Session, Sites};
use crate::spool::{Spool, State};

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
/// (`std::env::var_os` in the binary). The result lines go to `stdout`.
///
/// Under certbot 1.4 or later (`CERTBOT_REMAINING_CHALLENGES` set) with batching on, every call
/// but the last only adds its challenge to this certbot run's spool ([`crate::spool`]) and
/// returns: no key, no client. The last (0) pushes them all in one request and self-checks every
/// name at once. Without a spool (no certbot above, an unsafe directory), `--no-batch`, or an
/// older certbot, each call pushes and self-checks its own challenge.
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
    let on_error = |spool| OnError::FailClosed {
        mode: settings.on_failure,
        env,
        spool,
    };
    let spool = batch_spool(&settings, &challenge, env, &reporter);
    let challenges = match &spool {
        Some(spool) => match collect(&settings, &challenge, spool, stdout, &reporter) {
            Ok(Some(challenges)) => challenges,
            Ok(None) => return Ok(()),
            Err(err) => {
                fail_closed_after(settings.on_failure, &err, env, || None, &reporter);
                return Err(err);
            }
        },
        None => vec![challenge],
    };
    let lines = authenticate_all(
        &settings,
        &challenges,
        &reporter,
        on_error(spool.as_ref().filter(|_| challenges.len() > 1)),
    )?;
    for line in lines {
        writeln!(stdout, "{line}").map_err(Error::Output)?;
    }
    Ok(())
}

/// This certbot run's spool, when challenges are to be collected: batching on, certbot telling
/// how many follow (1.4 or later), and a spool possible (a note at `-v` says why not).
fn batch_spool(
    settings: &Settings,
    challenge: &Challenge,
    env: &dyn Fn(&str) -> Option<OsString>,
    reporter: &Reporter,
) -> Option<Spool> {
    if !settings.batch {
        reporter.step("batching is off (--no-batch): one request per challenge");
        return None;
    }
    challenge.remaining_challenges()?;
    Spool::for_run(env)
        .map_err(|why| reporter.step(format_args!("no batch: {why}; pushing this challenge now")))
        .ok()
}

/// The spool's part of the auth hook. While challenges remain: check what can be checked
/// without the key, add the challenge and print that it waits (`Ok(None)`: nothing more to do),
/// or, when the spool cannot take it, return it alone to push now. The last: every challenge of
/// the run, this one included, each once.
fn collect(
    settings: &Settings,
    challenge: &Challenge,
    spool: &Spool,
    stdout: &mut dyn Write,
    reporter: &Reporter,
) -> Result<Option<Vec<Challenge>>, Error> {
    let remaining = challenge.remaining_challenges().unwrap_or(0);
    if remaining > 0 {
        // The errors the push would meet first, met now: the site's URL, the key's path, the
        // self-check URL. The key itself is read by the last hook.
        settings.server_url(challenge.identifier())?;
        settings.key_path(challenge.identifier())?;
        settings.self_check_url(challenge)?;
        if let Err(why) = spool.add(challenge) {
            reporter.step(format_args!("no batch: {why}; pushing this challenge now"));
            return Ok(Some(vec![challenge.clone()]));
        }
        writeln!(
            stdout,
            "challenge {} for {} kept for one push with the last of this certificate's {} more",
            challenge.token(),
            challenge.identifier(),
            remaining
        )
        .map_err(Error::Output)?;
        return Ok(None);
    }
    let earlier = match spool.read() {
        Ok(Some(contents)) if contents.state == State::Collecting => contents.challenges,
        Ok(_) => Vec::new(),
        // The earlier hooks met the same refusal, and pushed their own challenges.
        Err(why) => {
            reporter.step(format_args!("no batch: {why}; pushing this challenge now"));
            return Ok(Some(vec![challenge.clone()]));
        }
    };
    let mut challenges: Vec<Challenge> = earlier
        .into_iter()
        .filter(|c| c.token() != challenge.token())
        .collect();
    challenges.push(challenge.clone());
    if challenges.len() == 1 {
        spool.remove();
        return Ok(Some(challenges));
    }
    reporter.step(format_args!(
        "{} challenges of this certificate to push, {} kept by the earlier auth hooks in {}",
        challenges.len(),
        challenges.len() - 1,
        spool.path().display()
    ));
    // The cleanup hooks find the whole batch here, and that it was pushed.
    if let Err(why) = spool
        .add(challenge)
        .and_then(|()| spool.mark(State::Pushed))
    {
        reporter.step(format_args!(
            "{why}: each cleanup hook will delete its own challenge"
        ));
    }
    Ok(Some(challenges))
}

/// What [`authenticate_all`] does when it fails after it may have stored challenges.
pub(crate) enum OnError<'e> {
    /// dehydrated and uacme, which never clean up after a failed deploy: delete them.
    RollBack,
    /// certbot: see [`fail_closed_after`]; the spool, if any, is removed when certbot is
    /// stopped (otherwise the cleanup hooks still find it).
    FailClosed {
        mode: OnFailure,
        env: &'e dyn Fn(&str) -> Option<OsString>,
        spool: Option<&'e Spool>,
    },
}

/// Longest time the failing auth hook spends deleting its challenges before it stops certbot
/// (past --timeout when the deadline is what failed).
const MAX_FAILURE_DELETE: std::time::Duration = std::time::Duration::from_secs(10);

/// The auth hook proper for the challenges of one process, whichever client they came from,
/// over one session: push them (in one request per site with `settings.batch` and more than
/// one), then self-check every name, several at once. Returns the result lines: per challenge,
/// one line, then the self-check's line per address and node (indented). On failure, what may
/// be stored is dealt with as `on_error` says, over the same clients.
pub(crate) fn authenticate_all(
    settings: &Settings,
    challenges: &[Challenge],
    reporter: &Reporter,
    on_error: OnError<'_>,
) -> Result<Vec<String>, Error> {
    let deadline = Deadline::new(settings.timeout);
    for challenge in challenges {
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
    }
    let early = |err: Error| {
        if let OnError::FailClosed { mode, env, spool } = &on_error {
            let forget = || {
                spool.inspect(|s| s.remove());
                None
            };
            fail_closed_after(*mode, &err, *env, forget, reporter);
        }
        err
    };
    let checks = challenges
        .iter()
        .map(|c| {
            settings.self_check_url(c).map(|url| Check {
                url,
                validation: c.validation().to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(early)?;
    let identifiers: Vec<Identifier> = challenges.iter().map(|c| c.identifier().clone()).collect();
    let session = Session::open_for(settings, &identifiers, deadline, reporter).map_err(early)?;
    let sites = session.sites(challenges).map_err(early)?;
    let failed = |err: Error, stored: &[usize]| {
        let delete = || {
            let short =
                sites.with_deadline(Deadline::new(settings.timeout.min(MAX_FAILURE_DELETE)));
            delete_after_failure(&short, challenges, stored, settings.batch, reporter)
        };
        match &on_error {
            OnError::RollBack => {
                if let Some(said) = delete() {
                    reporter.step(said.trim_end());
                }
            }
            OnError::FailClosed { mode, env, spool } => {
                let delete = || {
                    spool.inspect(|s| s.remove());
                    delete()
                };
                fail_closed_after(*mode, &err, *env, delete, reporter);
            }
        }
        err
    };
    if let Err(PushFailed {
        error,
        may_be_stored,
    }) = sites.push(challenges, settings.batch)
    {
        return Err(failed(error, &may_be_stored));
    }
    let stored = |i: usize| {
        format!(
            "challenge {} for {} stored at {}",
            challenges[i].token(),
            challenges[i].identifier(),
            sites.base_of(i).map_or(String::new(), ToString::to_string)
        )
    };
    if !settings.self_check {
        reporter.step(format_args!(
            "done: self-check skipped (--no-self-check); {:.3} s in all",
            deadline.elapsed().as_secs_f64()
        ));
        return Ok((0..challenges.len())
            .map(|i| format!("{} (self-check skipped)", stored(i)))
            .collect());
    }
    let results = wait_until_all_served(
        &checks,
        &settings.resolve,
        &settings.self_check_nodes,
        deadline,
        reporter,
    );
    let mut lines = Vec::new();
    let mut first_error = None;
    let mut last_served = None;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(served) => {
                if challenges.len() > 1 {
                    reporter.step(format_args!(
                        "{} served after {} self-check attempt(s) in {:.3} s",
                        challenges[i].identifier(),
                        served.attempts,
                        served.elapsed.as_secs_f64(),
                    ));
                }
                last_served = Some((served.attempts, served.elapsed));
                lines.push(format!("{} and served", stored(i)));
                lines.extend(served.lines.iter().map(|l| format!("  {l}")));
            }
            Err(err) => {
                if first_error.is_some() {
                    reporter.warn(format_args!("{err}"));
                } else {
                    first_error = Some(err);
                }
            }
        }
    }
    if let Some(err) = first_error {
        let all: Vec<usize> = (0..challenges.len()).collect();
        return Err(failed(err, &all));
    }
    match last_served {
        Some((attempts, elapsed)) if challenges.len() == 1 => reporter.step(format_args!(
            "done: served after {attempts} self-check attempt(s) in {:.3} s; {:.3} s in all",
            elapsed.as_secs_f64(),
            deadline.elapsed().as_secs_f64()
        )),
        _ => reporter.step(format_args!(
            "done: {} challenges stored and served; {:.3} s in all",
            challenges.len(),
            deadline.elapsed().as_secs_f64()
        )),
    }
    Ok(lines)
}

/// Deletes the challenges (indices) a failed run may have stored, over the run's own clients,
/// because a stopped certbot will not run the cleanup hook for them (and dehydrated and uacme
/// never do). Returns what to tell certbot's output and log, `None` when nothing was stored.
fn delete_after_failure(
    sites: &Sites<'_>,
    challenges: &[Challenge],
    stored: &[usize],
    batch: bool,
    reporter: &Reporter,
) -> Option<String> {
    let [first, ..] = stored else {
        return None;
    };
    let outcome = sites.delete(challenges, stored, batch);
    if let [only] = stored {
        let challenge = &challenges[*only];
        let token = challenge.token();
        return Some(match outcome {
            Ok(d) if d.deleted > 0 => format!("auth-hook: deleted its challenge {token} again"),
            Ok(_) => format!("auth-hook: its challenge {token} is not on the site"),
            Err(e) => format!(
                "auth-hook: warning: could not delete its challenge {token} ({e}); {}",
                crate::advice::leftover_challenge(challenge)
            ),
        });
    }
    let n = stored.len();
    Some(match outcome {
        Ok(d) => format!(
            "auth-hook: deleted its {n} challenges again ({} were not on the site)",
            d.absent
        ),
        Err(e) => {
            reporter.step(format_args!("the delete after the failure failed: {e}"));
            format!(
                "auth-hook: warning: could not delete its {n} challenges ({e}); for the first, {}",
                crate::advice::leftover_challenge(&challenges[*first])
            )
        }
    })
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

/// After a failed run: under certbot, and unless `--on-failure exit` (or `auto` under
/// `certbot renew`), delete this run's challenge (`delete`), write the reason into certbot's
/// output and log, and stop certbot with a signal it handles, so that it does not ask the CA
/// for a validation that would fail; what came of it is checked and written there too. See
/// [`crate::certbot_process`]. Otherwise certbot's cleanup hook deletes the challenge, and only
/// a note is added under certbot.
fn fail_closed_after(
    mode: OnFailure,
    err: &Error,
    env: &dyn Fn(&str) -> Option<OsString>,
    delete: impl FnOnce() -> Option<String>,
    reporter: &Reporter,
) {
    let certbot = certbot_process::nearest_certbot();
    let stop = certbot
        .as_ref()
        .filter(|c| certbot_process::resolve(mode, Some(c)) == OnFailure::StopCertbot);
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
    let outcome = certbot_process::stop_certbot(certbot_to_stop, &reason, &name, mode);
    if !outcome.stops_validation() {
        reporter.warn(format_args!(
            "certbot was not stopped: the CA will validate {name} and fail (certbot's output and \
             log say why)"
        ));
    }
}

/// Runs `cleanup-hook`. With this certbot run's spool ([`crate::spool`]) holding the batch the
/// last auth hook pushed, the first cleanup call deletes them all in one request and the later
/// ones only see that it was done; the last (`CERTBOT_REMAINING_CHALLENGES` 0) removes the
/// spool. Otherwise, or when that delete failed, each call deletes its own challenge.
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
    let Some(spool) = batch_spool(&settings, &challenge, env, &reporter) else {
        return cleanup(&settings, &challenge, &reporter);
    };
    let outcome = cleanup_batch(&settings, &challenge, &spool, &reporter);
    if challenge.remaining_challenges() == Some(0) {
        spool.remove();
    }
    outcome
}

/// The cleanup hook with a spool: see [`run_cleanup`].
fn cleanup_batch(
    settings: &Settings,
    challenge: &Challenge,
    spool: &Spool,
    reporter: &Reporter,
) -> Result<DeleteOutcome, Error> {
    let token = challenge.token();
    let contents = match spool.read() {
        Ok(Some(contents)) if contents.holds(token) => contents,
        Ok(_) => return cleanup(settings, challenge, reporter),
        Err(why) => {
            reporter.step(format_args!("{why}: deleting this challenge alone"));
            return cleanup(settings, challenge, reporter);
        }
    };
    match contents.state {
        State::Done => {
            reporter.step(format_args!(
                "done: challenge {token} was deleted with its batch by an earlier cleanup hook"
            ));
            return Ok(DeleteOutcome::Deleted);
        }
        State::Collecting | State::DeleteFailed => return cleanup(settings, challenge, reporter),
        State::Pushed => {}
    }
    let all = &contents.challenges;
    let deadline = Deadline::new(settings.timeout);
    let identifiers: Vec<Identifier> = all.iter().map(|c| c.identifier().clone()).collect();
    let session = Session::open_for(settings, &identifiers, deadline, reporter)?;
    let sites = session.sites(all)?;
    let indices: Vec<usize> = (0..all.len()).collect();
    match sites.delete(all, &indices, true) {
        Ok(deleted) => {
            if let Err(why) = spool.mark(State::Done) {
                reporter.warn(format_args!(
                    "{why}: the later cleanup hooks will delete their challenges again"
                ));
            }
            reporter.step(format_args!(
                "done: the batch of {} challenges deleted ({} were not there) in {} request(s), {:.3} s in all",
                all.len(),
                deleted.absent,
                deleted.requests,
                deadline.elapsed().as_secs_f64()
            ));
            Ok(DeleteOutcome::Deleted)
        }
        Err(err) => {
            let _ = spool.mark(State::DeleteFailed);
            reporter.warn(format_args!(
                "deleting the batch of {} challenges failed ({err}): each cleanup hook deletes its own",
                all.len()
            ));
            let own: Vec<usize> = all
                .iter()
                .position(|c| c.token() == token)
                .into_iter()
                .collect();
            let deleted = sites.delete(all, &own, false)?;
            Ok(if deleted.deleted > 0 {
                DeleteOutcome::Deleted
            } else {
                DeleteOutcome::AlreadyGone
            })
        }
    }
}

/// The cleanup hook proper for one challenge: delete it.
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
