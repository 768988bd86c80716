//! Man pages and shell completions for `auth-hook`, `cleanup-hook`, `deploy-hook`,
//! `dehydrated-hook` and `uacme-hook`, generated from the same clap definitions the binaries
//! parse with ([`hook_cli::AuthCli`], [`hook_cli::CleanupCli`],
//! [`hook_cli::DeployCli`],
//! [`hook_cli::DehydratedCli`], [`hook_cli::UacmeCli`]), so they cannot
//! drift from `--help`.
//!
//! A separate crate so that clap_complete and clap_mangen never end up in the hook binaries:
//! certbot starts a hook once per domain, and a lean binary starts fast.
//! `cargo run -p hook-docs -- OUT_DIR` writes the files; [`generate`] is what it calls.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use hook_cli::{AuthCli, CleanupCli, DehydratedCli, DeployCli, UacmeCli};

/// The shells completions are written for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes into `out_dir` (created if missing) a man page per command and subcommand
/// (`auth-hook.1`, `auth-hook-check.1`, ..., `cleanup-hook.1`, `dehydrated-hook.1`,
/// `uacme-hook.1`) and bash, zsh and fish completions for every hook (`auth-hook.bash`,
/// `_auth-hook`, `auth-hook.fish`, ...).
/// Returns the files written, sorted.
pub fn generate(out_dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let mut written = Vec::new();
    for (name, command) in [
        ("auth-hook", AuthCli::command()),
        ("cleanup-hook", CleanupCli::command()),
        ("deploy-hook", DeployCli::command()),
        ("dehydrated-hook", DehydratedCli::command()),
        ("uacme-hook", UacmeCli::command()),
    ] {
        written.extend(man_pages(command.clone(), out_dir)?);
        for shell in SHELLS {
            let mut command = command.clone();
            written.push(clap_complete::generate_to(
                shell,
                &mut command,
                name,
                out_dir,
            )?);
        }
    }
    written.sort();
    written.dedup();
    Ok(written)
}

/// One page per command and visible subcommand, as `clap_mangen::generate_to` writes them, but
/// returning the paths.
fn man_pages(command: clap::Command, out_dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(command: &clap::Command, out_dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out_dir, written)?;
        }
        written.push(clap_mangen::Man::new(command.clone()).generate_to(out_dir)?);
        Ok(())
    }
    // Built, subcommands get their display names (auth-hook-check); `help` is clap's own.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    walk(&command, out_dir, &mut written)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_and_completions_name_every_option_of_both_hooks() {
        let dir = std::env::temp_dir().join(format!("hook-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = generate(&dir).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let completions = [
            "auth-hook.bash",
            "_auth-hook",
            "auth-hook.fish",
            "cleanup-hook.bash",
            "_cleanup-hook",
            "cleanup-hook.fish",
            "deploy-hook.bash",
            "_deploy-hook",
            "deploy-hook.fish",
            "dehydrated-hook.bash",
            "_dehydrated-hook",
            "dehydrated-hook.fish",
            "uacme-hook.bash",
            "_uacme-hook",
            "uacme-hook.fish",
        ];
        let man_pages = [
            "auth-hook.1",
            "auth-hook-check.1",
            "auth-hook-keygen.1",
            "auth-hook-public-key.1",
            "cleanup-hook.1",
            "deploy-hook.1",
            "dehydrated-hook.1",
            "uacme-hook.1",
        ];
        for expected in man_pages.iter().chain(&completions) {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        // Every long option of the hooks, from the clap definitions themselves.
        let options = |command: clap::Command| -> Vec<String> {
            command
                .get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        };
        let hook_options = options(CleanupCli::command());
        assert!(hook_options.contains(&"key-file".to_string()));
        let check = AuthCli::command()
            .find_subcommand("check")
            .cloned()
            .unwrap();
        let check_options = options(check);
        assert!(check_options.contains(&"domain".to_string()));
        // roff escapes '-' as '\-' in the man pages.
        let man = |text: &str, option: &str| {
            text.contains(&format!("\\-\\-{}", option.replace('-', "\\-")))
        };
        for (page, options) in [
            ("auth-hook.1", &hook_options),
            ("cleanup-hook.1", &hook_options),
            ("deploy-hook.1", &hook_options),
            ("dehydrated-hook.1", &hook_options),
            ("uacme-hook.1", &hook_options),
            ("auth-hook-check.1", &check_options),
        ] {
            let text = read(page);
            assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page} is roff");
            for option in options.iter() {
                assert!(man(&text, option), "{page} lacks --{option}");
            }
        }
        for completion in completions {
            let text = read(completion);
            for option in hook_options.iter() {
                assert!(
                    text.contains(option.as_str()),
                    "{completion} lacks {option}"
                );
            }
        }
        // The client protocols are on the pages of their hooks, with the default config paths.
        let dehydrated = read("dehydrated-hook.1");
        for needle in [
            "deploy_challenge",
            "clean_challenge",
            "HOOK_CHAIN",
            "/etc/dehydrated/",
        ] {
            assert!(
                dehydrated.contains(needle),
                "dehydrated-hook.1 lacks {needle}"
            );
        }
        let deploy = read("deploy-hook.1");
        for needle in ["RENEWED_LINEAGE", "certbot reconfigure", "\\-\\-lineage"] {
            assert!(deploy.contains(needle), "deploy-hook.1 lacks {needle}");
        }
        let uacme = read("uacme-hook.1");
        for needle in ["begin http\\-01", "declined", "/etc/ssl/uacme/"] {
            assert!(uacme.contains(needle), "uacme-hook.1 lacks {needle}");
        }
        for completion in completions.iter().filter(|c| c.contains("auth-hook")) {
            let text = read(completion);
            assert!(
                text.contains("check") && text.contains("domain"),
                "{completion}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
