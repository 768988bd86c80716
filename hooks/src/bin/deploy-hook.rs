//! `deploy-hook`: certbot's `--deploy-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments (certbot's `RENEWED_*` variables
//! among them) and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{exit_code, run_deploy};
use clap::Parser;
use hook_cli::DeployCli;

fn main() -> ExitCode {
    let cli = DeployCli::parse();
    exit_code(
        "deploy-hook",
        run_deploy(
            &cli.into(),
            &mut std::io::stdout(),
            Box::new(std::io::stderr()),
        ),
    )
}
