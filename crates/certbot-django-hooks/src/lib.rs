//! The library behind the hooks for Django sites: certbot's `auth-hook`, `cleanup-hook` and
//! `deploy-hook`, and the same hooks for dehydrated and uacme.
//!
//! certbot runs the hooks once per domain. They read the challenge from the `CERTBOT_*`
//! environment ([`challenge`]), sign a request-bound JWT ([`jwt`]) with a private key ([`key`]),
//! store or delete the challenge through the site's API ([`api`]), and, for the auth hook, wait
//! until the public URL serves it wherever the CA may fetch it ([`self_check`], by the CA's
//! rules in [`ca_policy`]).
//!
//! Around them: [`config`] builds the settings; [`deadline`] bounds every wait; [`resolve`]
//! holds the `--resolve` rules and the resolver, [`client`] builds the HTTP clients, [`failure`]
//! classifies requests that got no answer, [`http_date`] reads `Date` and `Retry-After`,
//! [`reserved`] knows loopback and the addresses the CA refuses, and [`text`] makes outside text
//! safe for a message; [`files`] reads the key, config and CA files; [`output`] the stderr
//! reporting; [`error`] the one error type; [`commands`] the command lines and the `run_*`
//! entry points the binaries call; [`check`] the `auth-hook check` doctor; [`protocols`]
//! dehydrated and uacme; [`deploy`] the deploy hook; [`fail_closed`] how a failing auth hook
//! keeps certbot from asking the CA for a validation that would fail.

mod advice;
pub mod api;
pub mod ca_policy;
pub mod challenge;
pub mod check;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod deadline;
pub mod deploy;
pub mod error;
pub mod fail_closed;
pub mod failure;
pub mod files;
pub mod http_date;
pub mod jwt;
pub mod key;
pub mod output;
pub mod protocols;
mod random;
pub mod reserved;
pub mod resolve;
pub mod self_check;
pub mod session;
pub mod text;
pub mod urls;

pub use api::{ApiClient, DeleteOutcome};
pub use challenge::{Challenge, ChallengeError, Identifier};
pub use check::{CheckArgs, run_check};
pub use commands::{AuthCli, CleanupCli, authenticate, cleanup, exit_code, run_auth, run_cleanup};
pub use config::{HookArgs, Settings};
pub use deploy::{CertificateFacts, DeployCli, run_deploy};
pub use error::Error;
pub use key::{KeyError, KeyType, Signer, load_key_file};
pub use protocols::{DehydratedCli, UacmeCli, run_dehydrated, run_uacme, uacme_exit_code};
