//! `cleanup-hook`: certbot's `--manual-cleanup-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{CleanupCli, run_cleanup};
use clap::Parser;

fn main() -> ExitCode {
    let cli = CleanupCli::parse();
    let env = |name: &str| std::env::var_os(name);
    match run_cleanup(cli, &env, Box::new(std::io::stderr())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            report("cleanup-hook", &err);
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
