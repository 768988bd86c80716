//! `auth-hook check`: prove the whole setup without the CA, one line per step.
//!
//! A first run that fails costs a failed validation at the CA (Let's Encrypt allows 5 per
//! hostname per hour), and only the CA's terse answer says why. The check runs what the hooks
//! run, with the same settings and the same code ([`crate::session::Session`]), against a probe
//! challenge: the domain, the key, the server (DNS, TLS, the API mounted), the signed push, the
//! self-check of the public URL, and the delete.
//!
//! Output is for people and for scripts: exactly one line per step on stdout, starting with the
//! step's name (`key: ok (...)`, `push: failed: ...`, `delete: skipped (...)`), a passed
//! self-check followed by its indented line per address and node (the lines auth-hook prints),
//! then, only for an unregistered key, how to register it (the public key and the commands).
//! The probe is deleted whenever the push may have stored it, even after a later step failed;
//! the run's deadline keeps time back for that.

use std::io::Write;
use std::time::Duration;

use crate::api::{ApiClient, DeleteOutcome};
use crate::challenge::{Challenge, ChallengeError, Identifier};
use crate::config::{Options, Settings};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::key::Signer;
use crate::output::Reporter;
use crate::readiness::wait_until_served;
use crate::session::Session;
use crate::text::one_line;
use crate::urls::Endpoint;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Probe tokens start with this, so a probe left behind is recognisable in the site's admin.
pub const PROBE_TOKEN_PREFIX: &str = "auth-hook-check-";
/// Longest time kept back from the push and self-check for deleting the probe.
const MAX_DELETE_RESERVE: Duration = Duration::from_secs(10);
/// Longest step line: an error quoting a site's body stays readable.
const MAX_LINE: usize = 2000;

/// The six steps, in order; their names start the output lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `--domain`, and the probe challenge for it.
    Domain,
    /// Configuration and private key.
    Key,
    /// DNS, TLS and the API mounted.
    Server,
    /// The signed push of the probe.
    Push,
    /// The public URL serves the probe.
    SelfCheck,
    /// The probe deleted.
    Delete,
}

/// Every step, in order.
const STEPS: [Step; 6] = [
    Step::Domain,
    Step::Key,
    Step::Server,
    Step::Push,
    Step::SelfCheck,
    Step::Delete,
];

impl Step {
    /// The name that starts the step's line.
    pub fn name(self) -> &'static str {
        match self {
            Step::Domain => "domain",
            Step::Key => "key",
            Step::Server => "server",
            Step::Push => "push",
            Step::SelfCheck => "self-check",
            Step::Delete => "delete",
        }
    }
}

/// Writes the step lines, flushing each so a slow self-check shows where it is.
struct Lines<'w> {
    out: &'w mut dyn Write,
    first_failure: Option<Step>,
}

impl Lines<'_> {
    fn ok(&mut self, step: Step, detail: impl AsRef<str>) -> Result<(), Error> {
        self.write(step, &format!("ok ({})", detail.as_ref()))
    }

    fn failed(&mut self, step: Step, error: &Error) -> Result<(), Error> {
        self.first_failure.get_or_insert(step);
        self.write(
            step,
            &format!("failed: {}", crate::error::chain_text(error)),
        )
    }

    /// `step` failed: its line, and a skipped line for each later step.
    fn fail_from(&mut self, step: Step, error: &Error) -> Result<(), Error> {
        self.failed(step, error)?;
        let reason = format!("the {} step failed", step.name());
        for later in STEPS.iter().skip_while(|s| **s != step).skip(1) {
            self.skipped(*later, &reason)?;
        }
        Err(Error::Check { step: step.name() })
    }

    fn skipped(&mut self, step: Step, reason: impl AsRef<str>) -> Result<(), Error> {
        self.write(step, &format!("skipped ({})", reason.as_ref()))
    }

    /// A line under a step's own (the self-check's one line per address and node), indented
    /// so that a script reading step lines by their name skips it.
    fn detail(&mut self, text: &str) -> Result<(), Error> {
        writeln!(self.out, "  {}", one_line(text, MAX_LINE))
            .and_then(|()| self.out.flush())
            .map_err(Error::Output)
    }

    fn write(&mut self, step: Step, text: &str) -> Result<(), Error> {
        writeln!(self.out, "{}: {}", step.name(), one_line(text, MAX_LINE))
            .and_then(|()| self.out.flush())
            .map_err(Error::Output)
    }
}

/// What `auth-hook check` probes: the domain, and the hook's options, exactly as on the auth
/// hook's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The domain to push a probe for and fetch it from.
    pub domain: String,
    /// The hook's options.
    pub hook: Options,
}

/// Runs the check, writing the step lines to `stdout` and `-v` progress to `stderr`. `Ok` only
/// when every step passed; otherwise [`Error::Check`] names the first step that failed.
pub fn run_check(
    args: &CheckOptions,
    stdout: &mut dyn Write,
    stderr: Box<dyn Write>,
) -> Result<(), Error> {
    // Not from Settings, which may itself be what fails.
    let reporter = Reporter::new("auth-hook", args.hook.verbosity, stderr);
    let mut lines = Lines {
        out: stdout,
        first_failure: None,
    };

    // 1. The domain, and a probe for it.
    let probe = match probe_for(&args.domain) {
        Ok(probe) => probe,
        Err(err) => return lines.fail_from(Step::Domain, &err),
    };
    lines.ok(
        Step::Domain,
        format!("{}, probe token {}", probe.identifier(), probe.token()),
    )?;
    reporter.step(format_args!(
        "probe challenge {} for {}",
        probe.token(),
        probe.identifier()
    ));

    // 2. Configuration and key. The push and the self-check end early enough to leave the
    // delete its share of --timeout.
    let settings = match Settings::load(&args.hook).and_then(|settings| {
        // Fails now, not after the push, if the self-check URL template does not fit the domain.
        settings.self_check_url(&probe)?;
        Ok(settings)
    }) {
        Ok(settings) => settings,
        Err(err) => return lines.fail_from(Step::Key, &err),
    };
    let deadline = Deadline::new(settings.timeout);
    let session = match Session::open(&settings, probe.identifier(), deadline, &reporter) {
        Ok(session) => session,
        Err(err) => return lines.fail_from(Step::Key, &err),
    };
    let mut detail = format!(
        "{}, {}",
        session.signer().key_type(),
        session.key_path().display()
    );
    if let Some(config) = &settings.config_file {
        detail.push_str(&format!("; config {}", config.display()));
    }
    lines.ok(Step::Key, detail)?;
    let reserve = (settings.timeout / 4).min(MAX_DELETE_RESERVE);
    let early = deadline.reserving(reserve);

    // 3. The server: DNS, TLS, the API mounted.
    let api = match session
        .api_until(early)
        .and_then(|api| api.check_mounted().map(|took| (api, took)))
    {
        Ok((api, took)) => {
            let url = api.challenges_url();
            let tls = if url.scheme() == "https" {
                ", certificate trusted"
            } else {
                ""
            };
            lines.ok(
                Step::Server,
                format!(
                    "{url} is the challenge API: 401 asking for a JWT, {} ms{tls}",
                    took.as_millis()
                ),
            )?;
            api
        }
        Err(err) => return lines.fail_from(Step::Server, &err),
    };

    // 4. The signed push.
    let pushed = api.push(&probe);
    let mut unregistered = false;
    let may_be_stored = match &pushed {
        Ok(status) => {
            lines.ok(
                Step::Push,
                format!(
                    "probe {} for {} stored as user '{}' ({status})",
                    probe.token(),
                    probe.identifier(),
                    settings.username
                ),
            )?;
            true
        }
        Err(err) => {
            lines.failed(Step::Push, err)?;
            unregistered = err.status() == Some(401);
            err.push_may_have_stored()
        }
    };

    // 5. The self-check, as the auth hook does it.
    if pushed.is_err() {
        lines.skipped(Step::SelfCheck, "the push failed")?;
    } else if !settings.self_check {
        lines.skipped(
            Step::SelfCheck,
            "--no-self-check (or self_check = false): the public URL was not checked",
        )?;
    } else {
        let served = settings.self_check_url(&probe).and_then(|url| {
            wait_until_served(
                &url,
                probe.validation(),
                &settings.resolve,
                &settings.self_check_nodes,
                early,
                &reporter,
            )
            .map(|served| (url, served))
        });
        match served {
            Ok((url, served)) => {
                lines.ok(
                    Step::SelfCheck,
                    format!(
                        "{url} served the probe after {} attempt(s), {:.3} s",
                        served.attempts,
                        served.elapsed.as_secs_f64()
                    ),
                )?;
                for line in &served.lines {
                    lines.detail(line)?;
                }
            }
            Err(err) => lines.failed(Step::SelfCheck, &err)?,
        }
    }

    // 6. The delete, whenever the push may have stored the probe, within the whole deadline.
    if may_be_stored {
        let deleted = api.with_deadline(deadline).delete(probe.token());
        match (deleted, &pushed) {
            (Ok(DeleteOutcome::Deleted), _) => lines.ok(Step::Delete, "probe removed")?,
            (Ok(DeleteOutcome::AlreadyGone), Err(_)) => lines.ok(
                Step::Delete,
                "the site has no probe: the failed push stored nothing",
            )?,
            (Ok(DeleteOutcome::AlreadyGone), Ok(_)) => lines.failed(
                Step::Delete,
                &Error::Api {
                    endpoint: Endpoint::DeleteChallenge,
                    url: api.challenge_url(probe.token()).to_string(),
                    status: Some(404),
                    problem: "the site answered 404 for the probe it had just stored: the \
                              DELETE does not reach the app that stored it (check that \
                              {server}/.well-known/challenges/<token>/ is routed to the Django \
                              app, and that every node shares one database), so cleanup-hook \
                              would leave challenges behind"
                        .into(),
                },
            )?,
            (Err(err), _) => {
                lines.failed(Step::Delete, &err)?;
                reporter.warn(format_args!(
                    "the probe challenge {} may still be on the site: {}",
                    probe.token(),
                    crate::advice::leftover_challenge(&probe)
                ));
            }
        }
    } else {
        lines.skipped(Step::Delete, "the push failed, so nothing was stored")?;
    }

    if unregistered {
        write_registration(
            lines.out,
            session.signer(),
            &settings.username,
            session.key_path(),
            &api,
        )?;
    }
    match lines.first_failure {
        None => Ok(()),
        Some(step) => Err(Error::Check { step: step.name() }),
    }
}

/// Step 1: the domain, and a probe for it.
fn probe_for(domain: &str) -> Result<Challenge, Error> {
    let identifier = Identifier::parse(domain).map_err(|err| match err {
        ChallengeError::InvalidIdentifier { value, reason } => Error::Config {
            origin: "--domain".into(),
            problem: format!("{value} is invalid: {reason}"),
        },
        other => Error::Environment(other),
    })?;
    new_probe(identifier)
}

/// A probe challenge with a fresh random token and key authorization, shaped like the CA's
/// (a base64url token, `<token>.<43 base64url characters>`), so the site validates it as real.
pub fn new_probe(identifier: Identifier) -> Result<Challenge, Error> {
    let random = || -> Result<String, Error> {
        Ok(URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>("the probe challenge")?))
    };
    let token = format!("{PROBE_TOKEN_PREFIX}{}", random()?);
    let validation = format!("{token}.{}", random()?);
    Ok(Challenge::for_identifier(identifier, &token, &validation)?)
}

/// Whether a failed push may still have stored the probe: it got no answer (the request may
/// have arrived), or a 5xx (the app may have failed after writing). A 3xx or 4xx is a refusal.
/// For a 401 on the push: the public key (never the private key) and how to register it.
fn write_registration(
    out: &mut dyn Write,
    signer: &Signer,
    username: &str,
    key_path: &std::path::Path,
    api: &ApiClient<'_>,
) -> Result<(), Error> {
    let admin = crate::urls::admin_add_key(api.base_url()).to_string();
    write!(
        out,
        "\nThe site refused the key: it is probably not registered for user '{username}' (kid \
         {kid}). Its public key:\n\
         {pem}\
         {register}\
         If it is registered, check --username and this machine's clock.\n",
        kid = signer.kid(),
        pem = signer.public_key_pem(),
        register = crate::advice::register_fully(
            username,
            crate::advice::PublicKeyAt::Printed { key_path },
            &admin
        ),
    )
    .and_then(|()| out.flush())
    .map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::{validate_token, validate_validation};

    #[test]
    fn probes_are_fresh_recognisable_and_valid_challenges() {
        let id = Identifier::parse("example.com").unwrap();
        let a = new_probe(id.clone()).unwrap();
        let b = new_probe(id).unwrap();
        assert_ne!(a.token(), b.token());
        assert!(a.token().starts_with(PROBE_TOKEN_PREFIX), "{}", a.token());
        validate_token(a.token()).unwrap();
        validate_validation(a.token(), a.validation()).unwrap();
        // The site stores at most 127 characters per value.
        assert!(a.validation().len() <= 127, "{}", a.validation().len());
    }

    #[test]
    fn only_an_unanswered_or_failed_push_may_have_stored_the_probe() {
        let api = |endpoint, status| Error::Api {
            endpoint,
            url: "http://x/".into(),
            status,
            problem: String::new(),
        };
        let push = |status| api(Endpoint::PushChallenge, status);
        assert!(push(None).push_may_have_stored());
        assert!(push(Some(503)).push_may_have_stored());
        for refused in [301, 400, 401, 403, 404, 429] {
            assert!(!push(Some(refused)).push_may_have_stored(), "{refused}");
        }
        // A delete or a report that got no answer stored no challenge.
        assert!(!api(Endpoint::DeleteChallenge, None).push_may_have_stored());
        assert!(!api(Endpoint::ReportCertificate, Some(503)).push_may_have_stored());
        assert!(!Error::Signing("x".into()).push_may_have_stored());
    }

    #[test]
    fn a_bad_domain_fails_its_own_step_naming_the_option_and_skips_the_rest() {
        let args = CheckOptions {
            domain: "*.example.com".into(),
            hook: Options::default(),
        };
        let mut out = Vec::new();
        let err = run_check(&args, &mut out, Box::new(std::io::sink())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "check failed at the domain step: its line on standard output says how to fix it"
        );
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        assert!(
            lines[0].starts_with("domain: failed: --domain: \"*.example.com\" is invalid"),
            "{out}"
        );
        assert_eq!(lines[1], "key: skipped (the domain step failed)");
        assert_eq!(lines[5], "delete: skipped (the domain step failed)");
    }
}
