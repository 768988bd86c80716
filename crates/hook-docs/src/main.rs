//! `cargo run -p hook-docs -- OUT_DIR`: writes the hooks' man pages and bash, zsh and fish
//! completions into OUT_DIR. The work is in the library, where the test exercises it.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out_dir), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: cargo run -p hook-docs -- OUT_DIR\n\
             writes auth-hook.1, auth-hook-check.1, ..., cleanup-hook.1, deploy-hook.1, dehydrated-hook.1, \
             uacme-hook.1 and the bash, zsh and fish completions of every hook into OUT_DIR"
        );
        return ExitCode::from(2);
    };
    let out_dir = PathBuf::from(out_dir);
    match hook_docs::generate(&out_dir) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hook-docs: cannot write into {}: {err}", out_dir.display());
            ExitCode::FAILURE
        }
    }
}
