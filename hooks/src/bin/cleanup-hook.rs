//! `cleanup-hook`: certbot's `--manual-cleanup-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{exit_code, run_cleanup};
use clap::Parser;
use hook_cli::CleanupCli;

fn main() -> ExitCode {
    let cli = CleanupCli::parse();
    let env = |name: &str| std::env::var_os(name);
    exit_code(
        "cleanup-hook",
        run_cleanup(&cli.hook.into(), &env, Box::new(std::io::stderr())),
    )
}
