//! `dehydrated-hook`: dehydrated's `HOOK` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{exit_code, run_dehydrated};
use clap::Parser;
use hook_cli::DehydratedCli;

fn main() -> ExitCode {
    let cli = DehydratedCli::parse();
    let env = |name: &str| std::env::var_os(name);
    let result = run_dehydrated(
        &cli.into(),
        &env,
        &mut std::io::stdout().lock(),
        Box::new(std::io::stderr()),
    );
    exit_code("dehydrated-hook", result)
}
