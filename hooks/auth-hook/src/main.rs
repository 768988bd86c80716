//! `auth-hook`: certbot's `--manual-auth-hook` for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{AuthCli, exit_code, run_auth};
use clap::Parser;

fn main() -> ExitCode {
    let cli = AuthCli::parse();
    let env = |name: &str| std::env::var_os(name);
    let result = run_auth(
        cli,
        &env,
        &mut std::io::stdout().lock(),
        Box::new(std::io::stderr()),
    );
    exit_code("auth-hook", result)
}
