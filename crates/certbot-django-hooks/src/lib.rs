//! The library behind `auth-hook` and `cleanup-hook`, certbot's manual hooks for Django sites.
//!
//! certbot runs the hooks once per domain. They read the challenge from the `CERTBOT_*`
//! environment ([`challenge`]), sign a JWT ([`jwt`]) with a private key ([`key`]), store or
//! delete the challenge through the site's API ([`api`]), and, for the auth hook, wait until the
//! public URL serves it ([`self_check`]). [`config`] builds the settings; [`transport`] holds the
//! HTTP plumbing; [`files`] the reading of the key, config and CA files; [`output`] the stderr
//! reporting; [`error`] the one error type; [`commands`] the
//! command lines and the `run_*` entry points the binaries call; [`check`] the `auth-hook check`
//! doctor, which runs all of it against a probe challenge; [`protocols`] the same hooks for
//! dehydrated and uacme, whose challenges come as arguments; [`fail_closed`] how a failing auth
//! hook keeps certbot from asking the CA for a validation that would fail.

mod advice;
pub mod api;
pub mod challenge;
pub mod check;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod error;
pub mod fail_closed;
pub mod files;
pub mod jwt;
pub mod key;
pub mod output;
pub mod protocols;
mod random;
pub mod self_check;
pub mod transport;

pub use api::{ApiClient, DeleteOutcome};
pub use challenge::{Challenge, ChallengeError, Identifier};
pub use check::{CheckArgs, run_check};
pub use commands::{AuthCli, CleanupCli, authenticate, cleanup, exit_code, run_auth, run_cleanup};
pub use config::{HookArgs, Settings};
pub use deploy::{CertificateFacts, DeployCli, run_deploy};
pub use error::Error;
pub use key::{KeyError, KeyType, Signer, load_key_file};
pub use protocols::{DehydratedCli, UacmeCli, run_dehydrated, run_uacme, uacme_exit_code};
