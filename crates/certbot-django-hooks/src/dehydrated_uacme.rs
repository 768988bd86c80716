//! The hook protocols of dehydrated and uacme, run by the certbot hooks' own code.
//!
//! certbot hands a challenge to its hooks in `CERTBOT_*` variables; dehydrated and uacme pass it
//! as positional arguments. Here the arguments are parsed straight into [`Challenge`]s
//! ([`Challenge::parse`], the same validation as certbot's environment gets, with the client's
//! names for its arguments in the messages), which [`crate::commands::authenticate_all`] and [`cleanup`] take, so all
//! three clients get one push, one self-check, one deadline per challenge and the same messages. Neither client can pass options
//! of ours (dehydrated runs `"$HOOK" handler args...`, uacme `execl(hook, method, ...)`), so the
//! settings come from a config file: the one `CERTBOT_DJANGO_CONFIG` names, else a default path
//! beside the client's own configuration.
//!
//! Both clients differ from certbot in one way that matters: neither cleans up after a failed
//! deploy (dehydrated exits, uacme counts the challenge as declined and never calls `done` or
//! `failed` for it). So a failed deploy deletes what it stored itself, see [`deploy`].

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::challenge::{Challenge, ChallengeError, Identifier};
use crate::commands::{OnError, authenticate_all, cleanup, exit_code};
use crate::config::{Options, Settings};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::output::Reporter;
use crate::session::Session;
use crate::text::echo;

/// Where `dehydrated-hook` reads its settings when `CERTBOT_DJANGO_CONFIG` is not set: beside
/// dehydrated's own config in Debian's layout.
pub const DEHYDRATED_DEFAULT_CONFIG: &str = "/etc/dehydrated/django-hooks.toml";
/// Where `uacme-hook` reads its settings when `CERTBOT_DJANGO_CONFIG` is not set: uacme's default
/// configuration directory (`uacme -c`).
pub const UACME_DEFAULT_CONFIG: &str = "/etc/ssl/uacme/django-hooks.toml";

/// What `uacme-hook` tells uacme: accepted (exit 0), or declined (exit 1, nothing printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacmeOutcome {
    /// The challenge was handled.
    Accepted,
    /// Not an HTTP-01 challenge: uacme goes on to the next one it was offered.
    Declined,
}

/// The names a client gives the three parts of a challenge, for messages.
struct ArgNames {
    identifier: &'static str,
    token: &'static str,
    validation: &'static str,
}

const DEHYDRATED_NAMES: ArgNames = ArgNames {
    identifier: "DOMAIN",
    token: "TOKEN_FILENAME",
    validation: "TOKEN_VALUE",
};

const UACME_NAMES: ArgNames = ArgNames {
    identifier: "IDENT",
    token: "TOKEN",
    validation: "AUTH",
};

/// Parses one challenge from a client's three arguments, naming them as the client does in the
/// message (`invalid {what}, nothing was sent: TOKEN ... is invalid`).
fn parse_challenge(
    [identifier, token, validation]: [&OsStr; 3],
    names: &ArgNames,
    what: &str,
) -> Result<Challenge, Error> {
    let fail =
        |problem: String| Error::config(format!("invalid {what}, nothing was sent"), problem);
    fn text<'a>(value: &'a OsStr, name: &str) -> Result<&'a str, String> {
        value
            .to_str()
            .ok_or_else(|| format!("{name} is not valid UTF-8"))
    }
    let identifier = text(identifier, names.identifier).map_err(fail)?;
    let token = text(token, names.token).map_err(fail)?;
    let validation = text(validation, names.validation).map_err(fail)?;
    Challenge::parse(identifier, token, validation).map_err(|err| {
        fail(match err {
            ChallengeError::InvalidIdentifier { value, reason } => {
                format!("{} {value} is invalid: {reason}", names.identifier)
            }
            ChallengeError::InvalidToken { value, reason } => {
                format!("{} {value} is invalid: {reason}", names.token)
            }
            ChallengeError::InvalidValidation { value, reason } => format!(
                "{} {value} is invalid: {}",
                names.validation,
                reason.replace("CERTBOT_TOKEN", names.token)
            ),
            other => other.to_string(),
        })
    })
}

/// One run of dehydrated's `HOOK`, as dehydrated calls it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DehydratedCall {
    /// The hook's options; dehydrated passes none, so they normally come from the config file.
    pub hook: Options,
    /// The handler: `deploy_challenge` and `clean_challenge` are handled, every other is not.
    pub handler: String,
    /// The handler's arguments: DOMAIN TOKEN_FILENAME TOKEN_VALUE, repeated with `HOOK_CHAIN=yes`.
    pub args: Vec<OsString>,
}

/// One run of uacme's `-h` hook program, as uacme calls it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UacmeCall {
    /// The hook's options; uacme passes none, so they normally come from the config file.
    pub hook: Options,
    /// begin, done or failed.
    pub method: OsString,
    /// The challenge type: http-01 is handled, every other is declined.
    pub challenge_type: OsString,
    /// The identifier being validated.
    pub ident: OsString,
    /// The challenge token.
    pub token: OsString,
    /// The key authorization: TOKEN.THUMBPRINT.
    pub auth: OsString,
}

/// Runs `dehydrated-hook`. `env` looks up dehydrated's exported variables (`CHALLENGETYPE`);
/// result lines go to `stdout`, as dehydrated shows its hooks' output.
pub fn run_dehydrated(
    call: &DehydratedCall,
    env: &dyn Fn(&str) -> Option<OsString>,
    stdout: &mut dyn Write,
    stderr: Box<dyn Write>,
) -> Result<(), Error> {
    let deploying = match call.handler.as_str() {
        "deploy_challenge" => true,
        "clean_challenge" => false,
        // dehydrated calls hooks with handler names they may not know, and fails on a non-zero
        // exit; generate_csr's stdout would even be taken for a CSR. So: nothing at all.
        _ => return Ok(()),
    };
    let handler = &call.handler;
    if let Some(kind) = env("CHALLENGETYPE").filter(|kind| kind != "http-01") {
        return Err(Error::config(
            format!("dehydrated's CHALLENGETYPE, {handler}"),
            format!(
                "{} is not supported, nothing was sent: dehydrated-hook handles only HTTP-01; set \
                 CHALLENGETYPE=http-01 in dehydrated's config",
                echo(&kind.to_string_lossy())
            ),
        ));
    }
    if call.args.is_empty() || !call.args.len().is_multiple_of(3) {
        return Err(Error::config(
            format!("invalid {handler} arguments, nothing was sent"),
            format!(
                "expected DOMAIN TOKEN_FILENAME TOKEN_VALUE, repeated for each challenge with \
                 HOOK_CHAIN=yes, but got {} argument(s): run dehydrated-hook from dehydrated \
                 (HOOK=dehydrated-hook in its config)",
                call.args.len()
            ),
        ));
    }
    let count = call.args.len() / 3;
    let all_domains = call
        .args
        .chunks(3)
        .map(|t| t[0].to_string_lossy())
        .collect::<Vec<_>>()
        .join(",");
    let mut challenges = Vec::with_capacity(count);
    for (i, triplet) in call.args.chunks(3).enumerate() {
        let what = if count == 1 {
            format!("{handler} arguments")
        } else {
            format!("{handler} arguments (challenge {} of {count})", i + 1)
        };
        let triplet = [&*triplet[0], &*triplet[1], &*triplet[2]];
        let challenge = parse_challenge(triplet, &DEHYDRATED_NAMES, &what)?;
        let remaining = u32::try_from(count - i - 1).unwrap_or(u32::MAX);
        challenges.push(challenge.with_context(remaining, &all_domains));
    }
    let settings = load_settings(&call.hook, DEHYDRATED_DEFAULT_CONFIG, "dehydrated")?;
    let reporter = Reporter::new("dehydrated-hook", settings.verbosity, stderr);
    if deploying {
        deploy(&settings, &challenges, &reporter, Some(stdout))
    } else {
        clean(&settings, &challenges, &reporter)
    }
}

/// Runs `uacme-hook`. What it returns goes to [`uacme_exit_code`].
pub fn run_uacme(call: &UacmeCall, stderr: Box<dyn Write>) -> Result<UacmeOutcome, Error> {
    let (method, kind) = (&call.method, &call.challenge_type);
    let deploying = match method.to_str() {
        Some("begin") => true,
        Some("done" | "failed") => false,
        _ => {
            return Err(Error::config(
                "invalid uacme hook arguments, nothing was sent",
                format!(
                    "METHOD {} is not begin, done or failed: run uacme-hook from uacme \
                     (uacme -h uacme-hook issue ...)",
                    echo(&method.to_string_lossy())
                ),
            ));
        }
    };
    // uacme offers every challenge type in turn until a hook accepts one; declining the others is
    // the normal course, so it is silent.
    if kind != "http-01" {
        return Ok(UacmeOutcome::Declined);
    }
    let what = format!("{} arguments", method.to_string_lossy());
    let arguments = [&*call.ident, &*call.token, &*call.auth];
    let challenge = parse_challenge(arguments, &UACME_NAMES, &what)?;
    let settings = load_settings(&call.hook, UACME_DEFAULT_CONFIG, "uacme")?;
    let reporter = Reporter::new("uacme-hook", settings.verbosity, stderr);
    let challenges = [challenge];
    // uacme prints nothing unless asked (-v), so neither does its hook on success.
    if deploying {
        deploy(&settings, &challenges, &reporter, None)?;
    } else {
        clean(&settings, &challenges, &reporter)?;
    }
    Ok(UacmeOutcome::Accepted)
}

/// The end of `uacme-hook`'s `main`: 0 when accepted, 1 without a word when declined, and the
/// error on stderr with 1 when something failed (uacme takes any non-zero `begin` as declined).
pub fn uacme_exit_code(result: Result<UacmeOutcome, Error>) -> ExitCode {
    match result {
        Ok(UacmeOutcome::Declined) => ExitCode::FAILURE,
        other => exit_code("uacme-hook", other),
    }
}

/// The settings: the options and `CERTBOT_DJANGO_*` variables over the config file, which is
/// `--config` (or `CERTBOT_DJANGO_CONFIG`), else `default`, which must then exist.
fn load_settings(args: &Options, default: &str, client: &str) -> Result<Settings, Error> {
    let mut args = args.clone();
    if args.config.is_none() {
        let path = PathBuf::from(default);
        if let Err(err) = std::fs::metadata(&path)
            && err.kind() == std::io::ErrorKind::NotFound
        {
            return Err(Error::ConfigFile {
                path,
                problem: format!(
                    "it does not exist, and CERTBOT_DJANGO_CONFIG is not set: write the settings \
                     there (see examples/django-hooks.toml), or name the file in \
                     CERTBOT_DJANGO_CONFIG in {client}'s environment"
                ),
            });
        }
        args.config = Some(path);
    }
    Settings::load(&args)
}

/// Pushes every challenge over one session (one request with `HOOK_CHAIN=yes` and batching
/// on), self-checks every name, and writes each challenge's result line to `stdout` if given.
/// If it fails, the challenges it may have stored are deleted before the error is returned.
fn deploy(
    settings: &Settings,
    challenges: &[Challenge],
    reporter: &Reporter,
    stdout: Option<&mut dyn Write>,
) -> Result<(), Error> {
    let lines = authenticate_all(settings, challenges, reporter, OnError::RollBack)?;
    if let Some(out) = stdout {
        for line in lines.iter().filter(|l| !l.starts_with(' ')) {
            writeln!(out, "{line}").map_err(Error::Output)?;
        }
    }
    Ok(())
}

/// Deletes every challenge over one session (one request with `HOOK_CHAIN=yes` and batching
/// on), even after one failed, so one bad answer leaves no others behind. Returns the first
/// failure.
fn clean(settings: &Settings, challenges: &[Challenge], reporter: &Reporter) -> Result<(), Error> {
    if let [one] = challenges {
        return cleanup(settings, one, reporter).map(|_| ());
    }
    let deadline = Deadline::new(settings.timeout);
    let identifiers: Vec<Identifier> = challenges.iter().map(|c| c.identifier().clone()).collect();
    let session = Session::open_for(settings, &identifiers, deadline, reporter)?;
    let sites = session.sites(challenges)?;
    let all: Vec<usize> = (0..challenges.len()).collect();
    let deleted = sites.delete(challenges, &all, settings.batch)?;
    reporter.step(format_args!(
        "done: {} challenges deleted ({} were not there) in {} request(s)",
        deleted.deleted, deleted.absent, deleted.requests
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "-vaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const THUMB: &str = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

    fn validation() -> String {
        format!("{TOKEN}.{THUMB}")
    }

    fn triplet<'a>(identifier: &'a str, token: &'a str, validation: &'a str) -> [&'a OsStr; 3] {
        [identifier.as_ref(), token.as_ref(), validation.as_ref()]
    }

    #[test]
    fn positional_arguments_become_the_same_challenge_as_certbots_environment() {
        let c = parse_challenge(
            triplet("A.Example", TOKEN, &validation()),
            &DEHYDRATED_NAMES,
            "deploy_challenge arguments",
        )
        .unwrap()
        .with_context(1, "a.example,b.example");
        let env = |name: &str| -> Option<OsString> {
            match name {
                "CERTBOT_DOMAIN" => Some("A.Example".into()),
                "CERTBOT_TOKEN" => Some(TOKEN.into()),
                "CERTBOT_VALIDATION" => Some(validation().into()),
                "CERTBOT_REMAINING_CHALLENGES" => Some("1".into()),
                "CERTBOT_ALL_DOMAINS" => Some("a.example,b.example".into()),
                _ => None,
            }
        };
        assert_eq!(c, Challenge::from_env(env).unwrap());
        assert_eq!(c.identifier().to_string(), "a.example");
        assert_eq!(c.token(), TOKEN);
        assert_eq!(c.validation(), validation());
        assert_eq!(c.remaining_challenges(), Some(1));
        assert_eq!(c.all_domains(), Some("a.example,b.example"));
    }

    #[test]
    fn invalid_arguments_are_named_as_the_client_names_them() {
        let err = |t: [&OsStr; 3], names: &ArgNames| {
            parse_challenge(t, names, "begin arguments")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(triplet("a.example", "../x", "x"), &UACME_NAMES),
            "invalid begin arguments, nothing was sent: TOKEN \"../x\" is invalid: it may only \
             contain letters, digits, '-' and '_' (base64url)"
        );
        let e = err(
            triplet("a.example", TOKEN, &format!("other.{THUMB}")),
            &DEHYDRATED_NAMES,
        );
        assert!(
            e.contains("TOKEN_VALUE \"other.") && e.ends_with("is not TOKEN_FILENAME"),
            "{e}"
        );
        let e = err(triplet("a b", TOKEN, &validation()), &DEHYDRATED_NAMES);
        assert!(e.contains(": DOMAIN \"a b\" is invalid: "), "{e}");
        // dns-01's digest is no key authorization.
        let e = err(triplet("a.example", TOKEN, THUMB), &UACME_NAMES);
        assert!(e.contains(": AUTH \"nP1q"), "{e}");
    }

    #[test]
    fn a_missing_default_config_file_says_how_to_name_one() {
        let err = load_settings(
            &Options::default(),
            "/nonexistent/dir/django-hooks.toml",
            "dehydrated",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "config file /nonexistent/dir/django-hooks.toml: it does not exist, and \
                 CERTBOT_DJANGO_CONFIG is not set"
            ) && err.ends_with("in dehydrated's environment"),
            "{err}"
        );
    }

    #[test]
    fn unknown_dehydrated_handlers_do_nothing_at_all() {
        for handler in [
            "deploy_cert",
            "generate_csr",
            "this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script",
        ] {
            let call = DehydratedCall {
                handler: handler.into(),
                args: vec!["x".into(), "y".into()],
                ..DehydratedCall::default()
            };
            let mut out = Vec::new();
            let env = |_: &str| -> Option<OsString> { panic!("no environment read") };
            run_dehydrated(&call, &env, &mut out, Box::new(std::io::sink())).unwrap();
            assert!(out.is_empty());
        }
    }
}
