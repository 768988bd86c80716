//! `auth-hook`: certbot's `--manual-auth-hook` for Django sites, and its key and check
//! subcommands. All logic is in the `certbot_django_hooks` library; this only parses arguments,
//! calls it, and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{exit_code, run_auth, run_check, run_keygen, run_public_key};
use clap::Parser;
use hook_cli::{AuthCli, AuthCommand};

fn main() -> ExitCode {
    let cli = AuthCli::parse();
    let env = |name: &str| std::env::var_os(name);
    let stdout = &mut std::io::stdout().lock();
    let stderr = Box::new(std::io::stderr());
    let result = match cli.command {
        Some(AuthCommand::Keygen(args)) => run_keygen(&args.into(), &env, stdout, stderr),
        Some(AuthCommand::Check(args)) => run_check(&(*args).into(), stdout, stderr),
        Some(AuthCommand::PublicKey(args)) => run_public_key(&args.key_file, stdout),
        None => run_auth(&cli.hook.into(), &env, stdout, stderr),
    };
    exit_code("auth-hook", result)
}
