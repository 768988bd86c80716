//! `deploy-hook`: certbot's `--deploy-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{DeployCli, exit_code, run_deploy};
use clap::Parser;

fn main() -> ExitCode {
    let cli = DeployCli::parse();
    let env = |name: &str| std::env::var_os(name);
    exit_code(
        "deploy-hook",
        run_deploy(
            cli,
            &env,
            &mut std::io::stdout(),
            Box::new(std::io::stderr()),
        ),
    )
}
