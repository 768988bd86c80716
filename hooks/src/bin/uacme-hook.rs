//! `uacme-hook`: uacme's `-h` hook program for Django sites. All logic is in the
//! `certbot_django_hooks` library; this only parses arguments and reports the outcome.

use std::process::ExitCode;

use certbot_django_hooks::{run_uacme, uacme_exit_code};
use clap::Parser;
use hook_cli::UacmeCli;

fn main() -> ExitCode {
    let cli = UacmeCli::parse();
    uacme_exit_code(run_uacme(&cli.into(), Box::new(std::io::stderr())))
}
