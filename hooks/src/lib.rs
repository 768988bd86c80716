//! The hooks' command lines: the clap types, their help texts and their conversion into the
//! typed inputs of the `certbot_django_hooks` library, which does all the work.
//!
//! One crate holds every hook binary (`src/bin/<hook>.rs`: parse, call one `run_*` function,
//! turn the result into an exit code) and this library, which `crates/hook-docs` also reads to
//! write the man pages and shell completions. The library below has no CLI dependency.

mod cli;

pub use cli::{
    AuthCli, AuthCommand, CheckArgs, CleanupCli, DehydratedCli, DeployCli, HookArgs, KeygenArgs,
    PublicKeyArgs, UacmeCli,
};
