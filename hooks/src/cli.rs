//! Every command line the hooks take: the clap types and their help texts, in one place, and
//! their conversion into the library's typed inputs.
//!
//! Parsing is all this module does: clap reads the arguments and the `CERTBOT_DJANGO_*` (and
//! certbot's `RENEWED_*`) variables they fall back to, and each parsed command line becomes the
//! plain struct a `run_*` function of `certbot_django_hooks` takes ([`Options`], ...). The
//! library layers the config file and the defaults under it and validates the result.
//! `crates/hook-docs` renders these help texts into the man pages and completions.

use std::ffi::OsString;
use std::path::PathBuf;

use certbot_django_hooks::{
    CheckOptions, DEFAULT_USERNAME, DehydratedCall, DeployOptions, KeyType, KeygenOptions,
    OnFailure, Options, UacmeCall, Verbosity,
};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

/// `--on-failure`'s parser: the library's values, named and explained in the help.
fn on_failure_parser() -> impl TypedValueParser<Value = OnFailure> {
    PossibleValuesParser::new(OnFailure::ALL.map(|v| PossibleValue::new(v.name()).help(v.help())))
        .try_map(|name| name.parse::<OnFailure>())
}

/// `--key-type`'s parser: the library's key types, named and explained in the help.
fn key_type_parser() -> impl TypedValueParser<Value = KeyType> {
    PossibleValuesParser::new(KeyType::ALL.map(|k| PossibleValue::new(k.name()).help(k.help())))
        .try_map(|name| name.parse::<KeyType>())
}

/// Options shared by both hooks.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct HookArgs {
    /// Base URL of the Django site that runs the challenge API. "{domain}" is replaced by the
    /// domain being validated. Config key: server. [default: https://{domain}]
    #[arg(long, value_name = "URL", env = "CERTBOT_DJANGO_SERVER")]
    pub server: Option<String>,

    /// Django user the key is registered to. Config key: username. [default: certbot]
    #[arg(long, value_name = "NAME", env = "CERTBOT_DJANGO_USERNAME")]
    pub username: Option<String>,

    /// Private key (PEM: PKCS#8 Ed25519 or RSA, or PKCS#1 RSA) that signs the requests. Must be a
    /// regular file, not accessible by group or others. Config key: key_file.
    #[arg(
        long,
        value_name = "PATH",
        env = "CERTBOT_DJANGO_KEY_FILE",
        conflicts_with = "key_directory"
    )]
    pub key_file: Option<PathBuf>,

    /// Directory of per-domain keys in the older certbot-django plugin's layout:
    /// DIR/certbot_django_id_rsa_<domain without dots>. Config key: key_directory.
    #[arg(long, value_name = "DIR", env = "CERTBOT_DJANGO_KEY_DIRECTORY")]
    pub key_directory: Option<PathBuf>,

    /// TOML file with any of these settings, keys in snake_case (server, username, key_file,
    /// key_directory, ca_bundle, timeout, self_check, self_check_url, resolve = [..],
    /// self_check_nodes = [..], on_failure, batch). Relative
    /// paths in it are relative to the file. Options and environment variables override it. Like
    /// OpenSSH's ~/.ssh/config, it must be a regular file that neither group nor others may
    /// write, owned by the user running the hook or root.
    #[arg(long, value_name = "FILE", env = "CERTBOT_DJANGO_CONFIG")]
    pub config: Option<PathBuf>,

    /// Extra CA certificates (PEM) to trust for the site's https certificate, on top of the
    /// system's. Config key: ca_bundle.
    #[arg(long, value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,

    /// Deadline for the whole hook run, retries and self-check included (1 to 3600). Config key:
    /// timeout. [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// auth-hook: URL polled after the push until it serves the validation, as the CA will
    /// fetch it. "{domain}" and "{token}" are replaced. Redirects are followed (at most 10) only
    /// to ports 80 and 443 and this URL's own port. Config key: self_check_url.
    /// [default: http://{domain}/.well-known/acme-challenge/{token}]
    #[arg(long, value_name = "TEMPLATE")]
    pub self_check_url: Option<String>,

    /// Connect to ADDR instead of what DNS says for HOST, for the API requests and the
    /// self-check (curl style; HOST may be "*" for every host; several ADDRs separated by ",";
    /// curl's HOST:PORT:ADDR is accepted and applies to every port). Repeatable. Config key:
    /// resolve = ["HOST:ADDR", ...].
    #[arg(long = "resolve", value_name = "HOST:ADDR")]
    pub resolve: Vec<String>,

    /// auth-hook: also fetch the challenge from this app server directly (plain http, with the
    /// Host the CA sends), as the load balancer may send the CA to any node; the check fails
    /// naming a node that does not serve it. Repeatable. Config key: self_check_nodes =
    /// ["HOST:PORT", ...].
    #[arg(long = "self-check-node", value_name = "HOST[:PORT]")]
    pub self_check_node: Vec<String>,

    /// auth-hook: skip the self-check and trust the API's answer. Config key: self_check = false.
    #[arg(long)]
    pub no_self_check: bool,

    /// auth-hook: when the validation is known to fail (push refused, self-check failed,
    /// deadline passed), the hook deletes its challenge, then: stop-certbot sends certbot the
    /// first of SIGINT, SIGTERM, SIGHUP, SIGQUIT it neither ignores nor blocks, so it does not ask
    /// the CA (no failed validation counted; certbot exits non-zero); exit only exits non-zero
    /// (certbot asks the CA anyway, which fails, but goes on with other certificates);
    /// auto is exit under 'certbot renew' and stop-certbot otherwise. Config key: on_failure.
    /// [default: auto]
    #[arg(long, value_name = "WHAT", value_parser = on_failure_parser())]
    pub on_failure: Option<OnFailure>,

    /// One request per challenge instead of one per certificate. By default, under certbot 1.4
    /// or later, each auth hook but the last keeps its challenge in a private spool
    /// ($TMPDIR/certbot-django-hooks-UID, mode 0700) and exits at once; the last pushes them all
    /// in one request per site URL and self-checks every name, 16 at a time; the first cleanup
    /// hook deletes them all in one request. A site without the batch endpoint gets one request
    /// per challenge, over the same client. Config key: batch = false.
    #[arg(long)]
    pub no_batch: bool,

    /// Print one line per step, with timings, on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print no warnings; errors are still printed.
    #[arg(short, long)]
    pub quiet: bool,
}

const AUTH_ABOUT: &str = "certbot --manual-auth-hook: store the HTTP-01 challenge on a Django site \
and wait until the site serves it.";
const AUTH_LONG_ABOUT: &str =
    "certbot --manual-auth-hook: store the HTTP-01 challenge on a Django \
site and wait until the site serves it.

certbot runs this once per domain with CERTBOT_DOMAIN (or CERTBOT_IDENTIFIER), CERTBOT_TOKEN and \
CERTBOT_VALIDATION set. It POSTs the challenge to {server}/.well-known/challenges/, signed with \
your private key (the site holds only the public key), then polls the URL the CA will fetch until \
it answers with the validation, through every address of the name and every --self-check-node. \
On success it prints one result line on stdout, then one indented line per address and node \
checked; it exits non-zero on any failure, always within --timeout (see --on-failure).

One request per certificate: under certbot 1.4 or later (CERTBOT_REMAINING_CHALLENGES set), each \
run but the last only keeps its challenge in a private spool and exits at once; the last pushes \
them all in one request per site URL (one, when --server names a single URL rather than \
{domain}) and self-checks every name, 16 at a time, before it prints a result line for each. \
--no-batch, an older certbot, or a hook run by hand: one push and self-check per run.

Each setting comes from its option, else its environment variable (shown as [env: ...]), else the \
--config file, else its default. certbot saves the hook command line for renewals but not the \
environment: put settings in options or in a config file.

  certbot certonly --manual --preferred-challenges http \\
    --manual-auth-hook \\
      'auth-hook --config /etc/letsencrypt/django-hooks.toml' \\
    --manual-cleanup-hook \\
      'cleanup-hook --config /etc/letsencrypt/django-hooks.toml' \\
    -d example.com -d www.example.com";

/// `auth-hook`: the certbot auth hook, plus key management and the setup check.
///
/// The hook's options go either before a subcommand's name or after it, never both: options given
/// before `check` would otherwise be silently ignored, so clap refuses them.
#[derive(Parser, Debug)]
#[command(
    name = "auth-hook",
    version,
    about = AUTH_ABOUT,
    long_about = AUTH_LONG_ABOUT,
    args_conflicts_with_subcommands = true
)]
pub struct AuthCli {
    /// Key management instead of the hook.
    #[command(subcommand)]
    pub command: Option<AuthCommand>,
    /// The hook's options.
    #[command(flatten)]
    pub hook: HookArgs,
}

/// `auth-hook` subcommands.
#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Create a private key (mode 0600, never overwriting) and print its public key to register
    /// on the site.
    Keygen(KeygenArgs),
    /// Print the public key of a private key file, to register on the site.
    PublicKey(PublicKeyArgs),
    /// Prove the whole setup without the CA: key, server, a signed probe push, the self-check,
    /// and the probe's delete, one line each.
    #[command(long_about = CHECK_LONG_ABOUT)]
    Check(Box<CheckArgs>),
}

const CHECK_LONG_ABOUT: &str = "Prove the whole setup without the CA, with the options the hooks \
will get: the domain, the key, the server, a signed probe push, the self-check, and the probe's delete.

Each step prints one line on stdout, starting with its name: 'key: ok (...)', 'server: failed: \
... (the fix)', 'push: skipped (...)'. Steps after a failed one are skipped, except the delete, \
which runs whenever the push may have stored the probe, so nothing is left behind. If the site \
does not know the key, the public key and the command to register it follow. Exits 0 only when \
every step passed.

  1. domain      --domain is a name certbot could validate; a probe challenge (a random token)
  2. key         the config file and the private key: readable, mode 0600, RSA or Ed25519
  3. server      DNS, TLS, and the API at {server}/.well-known/challenges/ (401 without a JWT)
  4. push        the probe, signed with the key
  5. self-check  the public URL serves it, as the auth hook checks (unless --no-self-check)
  6. delete      the probe is removed

  auth-hook check --config /etc/letsencrypt/django-hooks.toml \\
    --domain example.com";

/// `auth-hook keygen` options.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the new private key. An existing file is never replaced.
    #[arg(long, value_name = "PATH")]
    pub key_file: PathBuf,
    /// Ed25519 (the default) needs asymmetric-jwt-auth 1.0 or later on the site; RSA works with
    /// older versions.
    #[arg(long, value_parser = key_type_parser(), default_value = "ed25519")]
    pub key_type: KeyType,
    /// RSA key size: 2048, 3072, 4096 or 8192.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub rsa_bits: u32,
    /// The Django user the key will be registered to (used in the instructions printed).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_USERNAME)]
    pub username: String,
}

/// `auth-hook public-key` options.
#[derive(Args, Debug)]
pub struct PublicKeyArgs {
    /// The private key file.
    #[arg(long, value_name = "PATH", env = "CERTBOT_DJANGO_KEY_FILE")]
    pub key_file: PathBuf,
}

const CLEANUP_ABOUT: &str = "certbot --manual-cleanup-hook: delete the HTTP-01 challenge from the \
Django site.";
const CLEANUP_LONG_ABOUT: &str =
    "certbot --manual-cleanup-hook: delete the HTTP-01 challenge from \
the Django site.

certbot runs this once per domain after validation, with the same CERTBOT_* variables as the auth \
hook. It DELETEs {server}/.well-known/challenges/<CERTBOT_TOKEN>/ and nothing else; a challenge \
that is already gone (404) counts as done. It exits non-zero on failure, always within --timeout.

When the auth hooks pushed the certificate's challenges in one request, the first cleanup run \
deletes them all in one request and the later runs send nothing (if that request failed, each \
deletes its own); the last run removes the spool. --no-batch: each run deletes its own.

Takes the same options as auth-hook, so both can share a command line or config file; the \
self-check options are accepted and ignored. Each setting comes from its option, else its \
environment variable (shown as [env: ...]), else the --config file, else its default.";

/// `cleanup-hook`: the certbot cleanup hook.
#[derive(Parser, Debug)]
#[command(name = "cleanup-hook", version, about = CLEANUP_ABOUT, long_about = CLEANUP_LONG_ABOUT)]
pub struct CleanupCli {
    /// The hook's options.
    #[command(flatten)]
    pub hook: HookArgs,
}

/// `auth-hook check` options: the hook's own, plus the domain to probe.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The domain to check, as certbot would pass it with -d: the probe is pushed for it and
    /// fetched from its public URL.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    /// The hook's options, exactly as on the auth hook's command line.
    #[command(flatten)]
    pub hook: HookArgs,
}

const DEHYDRATED_ABOUT: &str = "dehydrated HOOK: store HTTP-01 challenges on a Django site, wait \
until the site serves them, and delete them after validation.";
const DEHYDRATED_LONG_ABOUT: &str = "dehydrated HOOK: store HTTP-01 challenges on a Django site, \
wait until the site serves them, and delete them after validation.

dehydrated runs the hook as HOOK HANDLER ARGS... This one handles two handlers and exits 0, \
doing nothing, on every other (deploy_cert, startup_hook, exit_hook, generate_csr, ...):

  deploy_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE
      push each challenge, then poll the URL the CA will fetch until it answers TOKEN_VALUE, as \
auth-hook does
  clean_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE
      delete each challenge, as cleanup-hook does; one already gone counts as done

With HOOK_CHAIN=yes dehydrated passes every challenge of the certificate in one call, as \
repeated DOMAIN TOKEN_FILENAME TOKEN_VALUE triplets. Every argument is checked before anything \
is sent. The chain goes in one request per site URL (one, when server names a single URL rather \
than {domain}), then every name is self-checked, 16 at a time; clean_challenge deletes the chain \
in one request too (batch = false in the config file: one request per challenge; a site without \
the batch endpoint gets one per challenge, over the same client). --timeout applies to the whole \
call. If deploy_challenge fails, the challenges it stored are deleted again, because dehydrated \
does not run clean_challenge after a failed deploy. Only CHALLENGETYPE=http-01 is supported.

dehydrated passes no options, so the settings come from the config file that \
CERTBOT_DJANGO_CONFIG names (export it in dehydrated's config), else from \
/etc/dehydrated/django-hooks.toml; CERTBOT_DJANGO_* variables override the file. The keys are \
the options below in snake_case, as for auth-hook. In dehydrated's config (dehydrated still \
writes each challenge file into WELLKNOWN, which must exist but need not be served):

  CHALLENGETYPE=http-01
  HOOK=/usr/local/bin/dehydrated-hook
  HOOK_CHAIN=yes
  export CERTBOT_DJANGO_CONFIG=/etc/dehydrated/django-hooks.toml";

/// `dehydrated-hook`: dehydrated's `HOOK`.
#[derive(Parser, Debug)]
#[command(
    name = "dehydrated-hook",
    version,
    about = DEHYDRATED_ABOUT,
    long_about = DEHYDRATED_LONG_ABOUT
)]
pub struct DehydratedCli {
    /// The hook's options; dehydrated passes none, so they normally come from the config file.
    #[command(flatten)]
    pub hook: HookArgs,
    /// The handler dehydrated runs: deploy_challenge and clean_challenge are handled, every other
    /// name exits 0 without doing anything.
    #[arg(value_name = "HANDLER")]
    pub handler: String,
    /// The handler's arguments: DOMAIN TOKEN_FILENAME TOKEN_VALUE, repeated with HOOK_CHAIN=yes.
    /// Taken as they come, even when they start with '-' (a token may).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<OsString>,
}

const UACME_ABOUT: &str = "uacme -h hook: store the HTTP-01 challenge on a Django site, wait until \
the site serves it, and delete it after validation.";
const UACME_LONG_ABOUT: &str = "uacme -h hook: store the HTTP-01 challenge on a Django site, wait \
until the site serves it, and delete it after validation.

uacme runs the hook as HOOK METHOD TYPE IDENT TOKEN AUTH, once for each challenge it is offered \
until one is accepted:

  begin http-01 IDENT TOKEN AUTH
      push the challenge, then poll the URL the CA will fetch until it answers AUTH, as auth-hook \
does; exit 0 to accept it
  done http-01 IDENT TOKEN AUTH, failed http-01 IDENT TOKEN AUTH
      delete it, as cleanup-hook does; one already gone counts as done
  any other TYPE (dns-01, tls-alpn-01)
      declined: exit 1 without a word, and uacme tries the next challenge

Every argument is checked before anything is sent. If begin fails after storing the challenge, it \
is deleted again, because uacme calls neither done nor failed for a challenge it counts as \
declined.

uacme passes no options, so the settings come from the config file that CERTBOT_DJANGO_CONFIG \
names, else from /etc/ssl/uacme/django-hooks.toml; CERTBOT_DJANGO_* variables override the file. \
The keys are the options below in snake_case, as for auth-hook.

  uacme -h /usr/local/bin/uacme-hook issue example.com www.example.com";

/// `uacme-hook`: uacme's `-h` hook program.
#[derive(Parser, Debug)]
#[command(
    name = "uacme-hook",
    version,
    about = UACME_ABOUT,
    long_about = UACME_LONG_ABOUT
)]
pub struct UacmeCli {
    /// The hook's options; uacme passes none, so they normally come from the config file.
    #[command(flatten)]
    pub hook: HookArgs,
    /// begin, done or failed.
    #[arg(value_name = "METHOD")]
    pub method: OsString,
    /// The challenge type: http-01 is handled, every other is declined.
    #[arg(value_name = "TYPE")]
    pub challenge_type: OsString,
    /// The identifier (domain name or IP address) being validated.
    #[arg(value_name = "IDENT", allow_hyphen_values = true)]
    pub ident: OsString,
    /// The challenge token; taken as it comes, even when it starts with '-'.
    #[arg(value_name = "TOKEN", allow_hyphen_values = true)]
    pub token: OsString,
    /// The key authorization the URL must serve: TOKEN.THUMBPRINT.
    #[arg(value_name = "AUTH", allow_hyphen_values = true)]
    pub auth: OsString,
}

const DEPLOY_ABOUT: &str = "certbot --deploy-hook: send a new certificate and its chain \
(public data, never the key) to the Django site.";
const DEPLOY_LONG_ABOUT: &str = "certbot --deploy-hook: send a new certificate and its \
chain to the Django site, which verifies it, reads its names and validity itself, and then \
knows when each of its names expires and says when a renewal is late (manage.py \
acme_challenge_status).

certbot runs this after each successful issuance or renewal, with RENEWED_LINEAGE (the live \
directory of the certificate) and RENEWED_DOMAINS set. It reads RENEWED_LINEAGE/fullchain.pem \
(the certificate, then its intermediates: public data), never the private key, and POSTs the \
certificates as JSON to {server}/.well-known/certificates/, signed with the same key as the \
other hooks; {domain} in --server is the first name of RENEWED_DOMAINS. The site refuses a \
certificate that does not chain to its trust anchors or names anything outside the key's \
scope; a site older than this hook answers 400 and must be upgraded. Exits non-zero on any \
failure, always within --timeout; certbot logs a failed deploy hook but keeps the certificate.

Takes the same options and config file as auth-hook and cleanup-hook (the self-check options are \
accepted and ignored). To add it to certificates certbot already manages:

  certbot reconfigure --cert-name example.com \\
    --deploy-hook 'deploy-hook --config /etc/letsencrypt/django-hooks.toml'

To report an existing certificate now, run it by hand:

  deploy-hook --config /etc/letsencrypt/django-hooks.toml \\
    --lineage /etc/letsencrypt/live/example.com";

/// `deploy-hook`: the certbot deploy hook.
#[derive(Parser, Debug)]
#[command(name = "deploy-hook", version, about = DEPLOY_ABOUT, long_about = DEPLOY_LONG_ABOUT)]
pub struct DeployCli {
    /// The certificate's live directory; its cert.pem is reported. certbot sets
    /// RENEWED_LINEAGE.
    #[arg(long, value_name = "DIR", env = "RENEWED_LINEAGE")]
    pub lineage: Option<PathBuf>,
    /// The certificate's names, space-separated; the first one is {domain} in --server. certbot
    /// sets RENEWED_DOMAINS. [default: the certificate's first name]
    #[arg(long, value_name = "NAMES", env = "RENEWED_DOMAINS")]
    pub domains: Option<String>,
    /// The hook's options.
    #[command(flatten)]
    pub hook: HookArgs,
}

impl From<HookArgs> for Options {
    fn from(args: HookArgs) -> Self {
        Options {
            server: args.server,
            username: args.username,
            key_file: args.key_file,
            key_directory: args.key_directory,
            config: args.config,
            ca_bundle: args.ca_bundle,
            timeout: args.timeout,
            self_check_url: args.self_check_url,
            resolve: args.resolve,
            self_check_node: args.self_check_node,
            no_self_check: args.no_self_check,
            on_failure: args.on_failure,
            no_batch: args.no_batch,
            verbosity: Verbosity::from_flags(args.verbose, args.quiet),
        }
    }
}

impl From<KeygenArgs> for KeygenOptions {
    fn from(args: KeygenArgs) -> Self {
        KeygenOptions {
            key_file: args.key_file,
            key_type: args.key_type,
            rsa_bits: args.rsa_bits,
            username: args.username,
        }
    }
}

impl From<CheckArgs> for CheckOptions {
    fn from(args: CheckArgs) -> Self {
        CheckOptions {
            domain: args.domain,
            hook: args.hook.into(),
        }
    }
}

impl From<DeployCli> for DeployOptions {
    fn from(cli: DeployCli) -> Self {
        DeployOptions {
            lineage: cli.lineage,
            domains: cli.domains,
            hook: cli.hook.into(),
        }
    }
}

impl From<DehydratedCli> for DehydratedCall {
    fn from(cli: DehydratedCli) -> Self {
        DehydratedCall {
            hook: cli.hook.into(),
            handler: cli.handler,
            args: cli.args,
        }
    }
}

impl From<UacmeCli> for UacmeCall {
    fn from(cli: UacmeCli) -> Self {
        UacmeCall {
            hook: cli.hook.into(),
            method: cli.method,
            challenge_type: cli.challenge_type,
            ident: cli.ident,
            token: cli.token,
            auth: cli.auth,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// The width of a classic terminal: clap wraps help text to the terminal (or `COLUMNS`).
    const WIDTH: usize = 80;

    /// The example commands of a help text: each line that starts a command (two spaces, then
    /// a program name) and the continuation lines after a trailing backslash, as written.
    fn example_lines(text: &str) -> Vec<&str> {
        let programs = [
            "certbot ",
            "auth-hook ",
            "cleanup-hook ",
            "deploy-hook ",
            "uacme ",
        ];
        let mut lines = Vec::new();
        let mut continued = false;
        for line in text.lines() {
            let starts = line
                .strip_prefix("  ")
                .is_some_and(|rest| programs.iter().any(|p| rest.starts_with(p)));
            if starts || continued {
                lines.push(line);
            }
            continued = (starts || continued) && line.ends_with('\\');
        }
        lines
    }

    fn rendered(mut cmd: clap::Command, sub: Option<&str>) -> String {
        cmd.build();
        let mut cmd = match sub {
            Some(name) => cmd.find_subcommand(name).unwrap().clone(),
            None => cmd,
        }
        .term_width(WIDTH);
        cmd.render_long_help().to_string()
    }

    #[test]
    fn every_example_command_keeps_its_lines_whole_in_an_80_column_terminal() {
        let texts = [
            (AUTH_LONG_ABOUT, rendered(AuthCli::command(), None)),
            (
                CHECK_LONG_ABOUT,
                rendered(AuthCli::command(), Some("check")),
            ),
            (
                DEHYDRATED_LONG_ABOUT,
                rendered(DehydratedCli::command(), None),
            ),
            (UACME_LONG_ABOUT, rendered(UacmeCli::command(), None)),
            (DEPLOY_LONG_ABOUT, rendered(DeployCli::command(), None)),
        ];
        let mut examples = 0;
        for (source, help) in &texts {
            let help_lines: Vec<&str> = help.lines().map(str::trim_end).collect();
            for line in example_lines(source) {
                examples += 1;
                assert!(
                    line.len() <= WIDTH,
                    "an example line is wider than {WIDTH} columns:\n{line}"
                );
                assert!(
                    help_lines.contains(&line),
                    "the example line {line:?} is wrapped in the help:\n{help}"
                );
            }
        }
        // certbot certonly (6 lines), check (2), uacme (1), reconfigure (2), deploy-hook (2).
        assert_eq!(examples, 13);
    }

    const TOKEN: &str = "-vaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const THUMB: &str = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

    fn validation() -> String {
        format!("{TOKEN}.{THUMB}")
    }

    #[test]
    fn dehydrated_arguments_starting_with_a_hyphen_are_values_not_options() {
        let cli = DehydratedCli::try_parse_from([
            "dehydrated-hook",
            "-v",
            "deploy_challenge",
            "a.example",
            TOKEN,
            &validation(),
            "b.example",
            "-q",
            "--timeout",
        ])
        .unwrap();
        let call = DehydratedCall::from(cli);
        assert_eq!(call.hook.verbosity, Verbosity::Verbose);
        assert_eq!(call.handler, "deploy_challenge");
        assert_eq!(call.args.len(), 6);
        assert_eq!(call.args[1], TOKEN);
        assert_eq!(call.args[4], "-q");
    }

    #[test]
    fn dehydrated_handlers_without_arguments_parse() {
        let cli = DehydratedCli::try_parse_from(["dehydrated-hook", "startup_hook"]).unwrap();
        assert_eq!(cli.handler, "startup_hook");
        assert!(cli.args.is_empty());
    }

    #[test]
    fn uacme_takes_exactly_five_arguments_even_with_a_leading_hyphen() {
        let cli = UacmeCli::try_parse_from([
            "uacme-hook",
            "begin",
            "http-01",
            "a.example",
            TOKEN,
            &validation(),
        ])
        .unwrap();
        assert_eq!(cli.token, TOKEN);
        let dashes = format!("-{TOKEN}");
        let cli = UacmeCli::try_parse_from([
            "uacme-hook",
            "done",
            "http-01",
            "a.example",
            &dashes,
            &format!("{dashes}.{THUMB}"),
        ])
        .unwrap();
        let call = UacmeCall::from(cli);
        assert_eq!(call.token, dashes.as_str());
        assert_eq!(call.hook.verbosity, Verbosity::Normal);
        for wrong in [&["begin", "http-01"][..], &["a", "b", "c", "d", "e", "f"]] {
            let argv = std::iter::once("uacme-hook").chain(wrong.iter().copied());
            assert!(UacmeCli::try_parse_from(argv).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn the_library_values_are_the_ones_the_options_accept() {
        for value in OnFailure::ALL {
            let cli =
                CleanupCli::try_parse_from(["cleanup-hook", "--on-failure", value.name()]).unwrap();
            assert_eq!(Options::from(cli.hook).on_failure, Some(value));
        }
        assert!(CleanupCli::try_parse_from(["cleanup-hook", "--on-failure", "never"]).is_err());
        for kind in KeyType::ALL {
            let cli = AuthCli::try_parse_from([
                "auth-hook",
                "keygen",
                "--key-file",
                "k",
                "--key-type",
                kind.name(),
            ])
            .unwrap();
            let Some(AuthCommand::Keygen(args)) = cli.command else {
                panic!("keygen");
            };
            assert_eq!(KeygenOptions::from(args).key_type, kind);
        }
        let cli = AuthCli::try_parse_from(["auth-hook", "keygen", "--key-file", "k"]).unwrap();
        let Some(AuthCommand::Keygen(args)) = cli.command else {
            panic!("keygen");
        };
        assert_eq!(args.key_type, KeyType::Ed25519);
        assert_eq!(args.username, "certbot");
    }
}
