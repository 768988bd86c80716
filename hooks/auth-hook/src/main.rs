//! `auth-hook`: certbot's `--manual-auth-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{AuthCli, run_auth};
use clap::Parser;

fn main() -> ExitCode {
    let cli = AuthCli::parse();
    let env = |name: &str| std::env::var_os(name);
    match run_auth(
        cli,
        &env,
        &mut std::io::stdout().lock(),
        Box::new(std::io::stderr()),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report("auth-hook", &err);
            ExitCode::FAILURE
        }
    }
}

/// Prints the error and its causes on stderr, one per line.
fn report(program: &str, err: &dyn std::error::Error) {
    eprintln!("{program}: error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}
