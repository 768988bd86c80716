//! The library behind the hooks for Django sites: certbot's `auth-hook`, `cleanup-hook` and
//! `deploy-hook`, and the same hooks for dehydrated and uacme. It has no command line of its own:
//! the binaries (`hooks/`, which own clap, the help texts, man pages and completions) parse their
//! arguments into the typed inputs below ([`Options`], [`KeygenOptions`], [`CheckOptions`],
//! [`DeployOptions`], [`DehydratedCall`], [`UacmeCall`]) and call one `run_*` function; everything
//! they do is here.
//!
//! One module per concern, so that a newcomer knows which file to open:
//! - the run: `config` (the options over the config file and the defaults, validated into
//!   `Settings`), `commands` (certbot's hooks and keygen), `preflight` (`auth-hook check`,
//!   proving the setup without the CA), `dehydrated_uacme` (the two other clients' hook
//!   protocols), `certificate_report` (the deploy hook), `session` (deadline, keys and one API
//!   client per site, opened once per process, and the pushes and deletes of several challenges
//!   over it), `spool` (certbot's earlier auth hooks' challenges, kept for the last one to push
//!   in one request), `certbot_process` (finding certbot above the hook, and stopping it before a
//!   validation that would fail: `--on-failure`);
//! - the challenge and its credentials: `challenge` (the `CERTBOT_*` environment as a validated
//!   challenge), `key` (a key file as a signer), `jwt` (the request-bound token), `random`;
//! - talking to the site: `urls` (every URL built), `api` (the challenge API client),
//!   `refusal` (the codes the site refuses with), `readiness` (the self-check: polling until the
//!   challenge is served everywhere) and `ca_policy` (the CA's redirect and body rules it follows);
//! - HTTP plumbing: `deadline`, `resolve` (`--resolve` rules and the resolver), `client`,
//!   `transport_error` (why a request got no answer), `http_date`, `reserved` (loopback and the
//!   addresses the CA refuses);
//! - what the operator reads: `error` (the one error type), `advice` (fixes several messages
//!   share), `text` (outside text made safe for a message), `output` (stderr reporting); and
//!   `files` (reading the key, config and CA files without blocking).

// Private modules: the binaries, the tests, the fuzz targets and the example use only what is
// re-exported below, so everything else can change without breaking them.
mod advice;
mod api;
mod ca_policy;
mod certbot_process;
mod certificate_report;
mod challenge;
mod client;
mod commands;
mod config;
mod deadline;
mod dehydrated_uacme;
mod error;
mod files;
mod http_date;
mod jwt;
mod key;
mod output;
mod preflight;
mod random;
mod readiness;
mod refusal;
mod reserved;
mod resolve;
mod session;
mod spool;
mod text;
mod transport_error;
mod urls;

// What the binaries use: typed inputs, one `run_*` per command, and the exit code.
pub use certbot_process::OnFailure;
pub use certificate_report::{DeployOptions, run_deploy};
pub use commands::{KeygenOptions, exit_code, run_auth, run_cleanup, run_keygen, run_public_key};
pub use config::Options;
pub use dehydrated_uacme::{DehydratedCall, UacmeCall, run_dehydrated, run_uacme, uacme_exit_code};
pub use error::{Error, KeyError};
pub use output::Verbosity;
pub use preflight::{CheckOptions, run_check};

// What the tests, the fuzz targets and the client_build_cost example use.
pub use challenge::{
    Challenge, ChallengeError, Identifier, MAX_TOKEN_LEN, MAX_VALIDATION_LEN, validate_token,
    validate_validation,
};
pub use client::{TlsMode, build_client};
pub use config::{DEFAULT_USERNAME, FileConfig, KeySource, Settings};
pub use jwt::{RequestBinding, fresh_token, sign};
pub use key::{KeyType, Signer, generate_key, load_key_file, write_new_key_file};
pub use resolve::{ResolveHost, ResolveRule};
pub use text::one_line;
pub use urls::challenge as challenge_url;
